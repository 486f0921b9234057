"""Monitoring: drift of the night's inputs and scores, and the outcomes of past queues (backfill)."""
