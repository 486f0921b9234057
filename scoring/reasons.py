"""Plain-language reasons from SHAP contributions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from features.catalog import spec

RAISES = "raises likelihood"
LOWERS = "lowers likelihood"


def _context(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """Values that phrases may quote besides the features themselves."""
    kept = row.get("n_promises_kept_180d") or 0.0
    broken = row.get("n_promises_broken_180d") or 0.0
    # A record of a frame of model rows: its keys are column names, all strings.
    return cast("dict[str, Any]", {**row, "n_promises_resolved_180d": kept + broken})


def top_reasons(features: pd.DataFrame, contributions: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The ``n`` features that moved each account's score most, as sentences.

    Ranked by absolute SHAP contribution; each sentence quotes the account's value and says
    whether it raises or lowers the likelihood of payment, e.g.
    "Kept 3 of the last 3 promises to pay (raises likelihood)". Columns reason_1..reason_n.
    """
    names = list(contributions.columns)
    values = contributions.to_numpy()
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :n]
    records = features[names].to_dict("records")
    reasons = []
    for i, row in enumerate(records):
        context = _context(row)
        sentences = []
        for j in order[i]:
            direction = RAISES if values[i, j] > 0 else LOWERS
            sentences.append(f"{spec(names[j]).describe_value(context)} ({direction})")
        reasons.append(sentences)
    columns = [f"reason_{k}" for k in range(1, n + 1)]
    return pd.DataFrame(reasons, index=features.index, columns=columns).astype("str")


def channel_reasons(
    chosen: pd.DataFrame,
    rival: pd.DataFrame,
    chosen_contributions: pd.DataFrame,
    rival_contributions: pd.DataFrame,
    n: int = 3,
) -> pd.DataFrame:
    """Why each loan's chosen channel rather than its runner-up (the next best channel, or no
    contact), as sentences.

    ``chosen`` and ``rival`` are aligned model rows (same loans, same order) with their
    ``channel``; the contributions are the best-channel model's SHAP values for those rows. The
    features whose contributions differ most between the two rows are the reasons, each phrased
    with the chosen row's values and saying which option it favours, e.g. "Paid within a week
    after 75% of recent sms attempts (favours sms over call)". Columns channel_reason_1..n.
    """
    names = list(chosen_contributions.columns)
    difference = chosen_contributions.to_numpy() - rival_contributions[names].to_numpy()
    order = np.argsort(-np.abs(difference), axis=1, kind="stable")[:, :n]
    records = chosen.to_dict("records")
    ours = chosen["channel"].astype("str").to_numpy()
    theirs = rival["channel"].astype("str").to_numpy()
    reasons = []
    for i, row in enumerate(records):
        other = "no contact" if theirs[i] == "none" else theirs[i]
        context = _context(row)
        sentences = []
        for j in order[i]:
            favoured = f"favours {ours[i]} over {other}" if difference[i, j] >= 0 else f"favours {other}"
            sentences.append(f"{spec(names[j]).describe_value(context)} ({favoured})")
        reasons.append(sentences)
    columns = [f"channel_reason_{k}" for k in range(1, n + 1)]
    return pd.DataFrame(reasons, index=chosen.index, columns=columns).astype("str")
