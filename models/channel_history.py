"""Whether a book's contact history can teach a best-channel model at all.

Training fits the best-channel model only when the response rows hold enough outbound contacts
of both kinds, reached and not; otherwise the queue values channels by the stated prior
(:mod:`models.channel_prior`) and every output says why.
"""

from __future__ import annotations

import pandas as pd

from features.responses import NO_CONTACT


def channel_history_gap(responses: pd.DataFrame, min_attempts: int) -> str | None:
    """Why the history cannot teach a best-channel model, or None when it can: it needs at
    least ``min_attempts`` outbound contacts, some that reached the borrower and some that did
    not (the funnel contrasts the two). A book delivered without its contact history is the
    usual case; the queue then values channels by the stated prior (models/channel_prior.py)."""
    attempts = responses[responses["channel"] != NO_CONTACT]
    if attempts.empty:
        return "the history holds no outbound contact before the as-of date"
    if len(attempts) < min_attempts:
        return (
            f"the history holds {len(attempts)} outbound contacts, fewer than the "
            f"{min_attempts} channel_model.min_attempts asks for"
        )
    reached = attempts["reached"].astype(bool)
    if reached.all() or not reached.any():
        state = "reached the borrower" if reached.all() else "failed to reach the borrower"
        return f"every one of the history's {len(attempts)} outbound contacts {state}"
    return None
