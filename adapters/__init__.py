"""Adapters: the engine's I/O at the edges (files, databases, the DuckDB store, publishing, the
archive, Excel workbooks, MLflow tracking and notifications)."""
