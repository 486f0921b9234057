"""Which channels can reach a borrower, and the skeleton's channel choice."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from data_contracts.enums import CHANNELS


def reachable_channels(borrowers: pd.DataFrame, do_not_visit: pd.Series) -> pd.DataFrame:
    """Boolean frame (index borrower rows as given, one column per channel).

    A channel reaches a borrower when its means exist and, for messages, consent was given;
    field visits are barred by an active do_not_visit flag; letters always reach.
    """
    reach = pd.DataFrame(index=borrowers.index)
    reach["call"] = borrowers["has_phone"].astype(bool)
    reach["sms"] = borrowers["has_phone"].astype(bool) & borrowers["consent_sms"].astype(bool)
    reach["whatsapp"] = borrowers["has_phone"].astype(bool) & borrowers["consent_whatsapp"].astype(bool)
    reach["email"] = borrowers["has_email"].astype(bool) & borrowers["consent_email"].astype(bool)
    reach["field_visit"] = ~do_not_visit.reindex(borrowers.index, fill_value=False).astype(bool)
    reach["letter"] = True
    return reach[list(CHANNELS)]


def first_reachable_channel(reach: pd.DataFrame, preference: Sequence[str]) -> pd.Series:
    """The first channel in ``preference`` that reaches each row (letter when none does)."""
    choice = pd.Series("letter", index=reach.index, dtype=object)
    for channel in reversed(list(preference)):
        choice = choice.mask(reach[channel], channel)
    return choice
