"""Protected groups of each loan: gender, age band and region, for the review only.

These attributes never reach a model (see features.catalog); they are joined here, after
scoring, to ask whether the engine's decisions differ between groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


def age_band(birth_year: pd.Series, as_of: dt.date, edges: Sequence[int]) -> pd.Series:
    """Age on ``as_of`` (from the birth year) in bands [e0, e1), ..., [e_last, +inf), e.g.
    "25-34" and "65+"; unknown or younger than the first edge gives "unknown"."""
    age = as_of.year - pd.to_numeric(birth_year, errors="coerce").astype("float64")
    labels = [f"{low}-{high - 1}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"{edges[-1]}+")
    bins = [*edges, np.inf]
    banded = pd.cut(age, bins=bins, labels=labels, right=False)
    return banded.astype("object").where(banded.notna(), UNKNOWN).astype("str")


def protected_groups(
    loans: pd.DataFrame, borrowers: pd.DataFrame, as_of: dt.date, age_edges: Sequence[int]
) -> pd.DataFrame:
    """One row per loan of ``loans`` (loan_id, borrower_id): its borrower's gender, age band and
    region; missing values become "unknown"."""
    who = borrowers.set_index("borrower_id")
    borrower = loans["borrower_id"]
    gender = borrower.map(who["gender"]).astype("object")
    region = borrower.map(who["region"]).astype("object")
    return pd.DataFrame(
        {
            "loan_id": loans["loan_id"].to_numpy(),
            "gender": gender.where(gender.notna(), UNKNOWN).astype("str").to_numpy(),
            "age_band": age_band(borrower.map(who["birth_year"]), as_of, age_edges).to_numpy(),
            "region": region.where(region.notna(), UNKNOWN).astype("str").to_numpy(),
        },
        index=loans.index,
    )
