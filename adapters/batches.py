"""Batch files for the sending platform: the contacts of the automated channels (SMS, e-mail,
WhatsApp, letters), one CSV per channel (``batches/<channel>.csv``).

People work calls and field visits from the workbook; messages and letters are sent by a
platform, so they are handed over as files with the fields a platform needs (where to send, in
which language, when it is lawful, the template's amounts) and no model internals.

The input is the contacts frame (scoring.worklist.contact_worklist): one row per contact, with
``contact_id, team, rank, recommended_channel, borrower_id, display_name, contact_point,
preferred_language, loan_ids, n_loans, amount_overdue, next_due_date, contact_from_local,
contact_until_local, exploration, within_capacity``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.parsing import csv_text

# Channels a platform sends; every other channel is worked by people from the workbook.
AUTOMATED_CHANNELS: tuple[str, ...] = ("sms", "email", "whatsapp", "letter")
BATCH_FOLDER = "batches"

# (batch field, contacts frame column), in the file's column order.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("contact_id", "contact_id"),
    ("channel", "recommended_channel"),
    ("borrower_id", "borrower_id"),
    ("display_name", "display_name"),
    ("contact_point", "contact_point"),
    ("preferred_language", "preferred_language"),
    ("loan_ids", "loan_ids"),
    ("n_loans", "n_loans"),
    ("amount_overdue", "amount_overdue"),
    ("next_due_date", "next_due_date"),
    ("send_from_local", "contact_from_local"),
    ("send_until_local", "contact_until_local"),
    ("team", "team"),
    ("rank", "rank"),
    ("exploration", "exploration"),
)
# Described for people in data_contracts.column_docs.BATCH_FIELD_DOCS (tested).
BATCH_FIELDS: tuple[str, ...] = tuple(field for field, _ in _FIELDS)


def is_automated(channel: str) -> bool:
    """True for a channel a platform sends (no sheet in the workbook)."""
    return channel in AUTOMATED_CHANNELS


def joined_ids(value: object) -> object:
    """A list of loan ids as one cell ('L1, L2'); text and missing values as they are."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(item) for item in value)
    return value


def batch_frames(contacts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One frame per automated channel (every one of them, empty when the night has none): the
    channel's contacts within today's capacity, in the night's rank order, with the batch
    fields. Overflow rows are left out: they wait for a later night's batch."""
    today = contacts[contacts["within_capacity"].astype(bool)]
    frames = {}
    for channel in AUTOMATED_CHANNELS:
        rows = today[today["recommended_channel"] == channel].sort_values("rank", kind="stable")
        frame = pd.DataFrame(
            {
                field: rows[column] if column in rows else pd.Series(None, index=rows.index, dtype="object")
                for field, column in _FIELDS
            }
        )
        frame["loan_ids"] = frame["loan_ids"].map(joined_ids)
        frame["amount_overdue"] = frame["amount_overdue"].astype("float64").round(2)
        frames[channel] = frame.reset_index(drop=True)
    return frames


def batch_writers(contacts: pd.DataFrame) -> dict[str, Callable[[Path], None]]:
    """For ``publish_outputs(files=...)``: ``batches/<channel>.csv`` -> a function writing it."""

    def writer(frame: pd.DataFrame) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            csv_text(frame).to_csv(path, index=False)

        return write

    return {
        f"{BATCH_FOLDER}/{channel}.csv": writer(frame) for channel, frame in batch_frames(contacts).items()
    }
