"""What a paying loan pays: the share of its arrears a qualifying payment brings in, learnt per book.

The response models predict *whether* a loan pays its qualifying amount in the window; what the
payment is worth depends on the book. On some books a borrower months behind who pays settles
the whole arrears (a collector's settlement), on others they pay one installment and stay
behind. Valuing every response at the whole arrears put loans five months behind at the top of
an independent book's queue; valuing it at one installment cost the project's own simulator,
where deep arrears settle in full, more than half of its gain. So the share is measured on the
training history: among the snapshots that paid their qualifying amount within the response
models' window (7 days by default: the event they predict), the mean of ``min(paid, arrears) /
arrears`` per number of installments overdue, shrunk toward the book's overall mean where a
bucket holds few rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_contracts.artifacts import PAYMENT_AMOUNT_ARTIFACT
from features.labels import amount_paid_in_window, pays_qualifying_amount

# Upper edges of the installments-overdue buckets (the last bucket is open).
DEFAULT_EDGES: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0)
# A bucket's mean counts as much as this many rows at the overall mean (shrinkage).
DEFAULT_PRIOR_ROWS = 30


@dataclass(frozen=True)
class PaymentShare:
    """Share of the arrears a paying loan pays, per bucket of installments overdue.

    ``edges`` are the buckets' upper edges (bucket k holds counts in (edges[k-1], edges[k]]; a
    last, open bucket holds the rest); ``shares`` has one more entry than ``edges``; ``overall``
    serves loans whose count is unknown; ``rows`` is the evidence per bucket.
    """

    edges: tuple[float, ...]
    shares: tuple[float, ...]
    overall: float
    rows: tuple[int, ...]

    def share(self, installments_overdue: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The share for each loan (``overall`` where the count is missing)."""
        count = np.asarray(installments_overdue, dtype="float64")
        bucket = np.searchsorted(np.asarray(self.edges), count, side="left")
        shares = np.asarray(self.shares, dtype="float64")[np.minimum(bucket, len(self.shares) - 1)]
        return np.where(np.isnan(count), self.overall, shares)

    def amount_at_stake(self, features: pd.DataFrame) -> np.ndarray:
        """What a qualifying payment is expected to bring in: amount overdue x share."""
        overdue = features["amount_overdue"].to_numpy(dtype="float64")
        return overdue * self.share(features["n_installments_overdue"])

    def to_document(self) -> dict[str, object]:
        """A JSON-ready record (logged beside the propensity model)."""
        return {
            "edges": list(self.edges),
            "shares": [round(s, 6) for s in self.shares],
            "overall": round(self.overall, 6),
            "rows": list(self.rows),
            "meaning": "share of the arrears paid within the window by loans that paid their "
            "qualifying amount in it, per bucket of installments overdue (upper edges; last bucket "
            "open)",
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PaymentShare:
        """The share a training run logged (:meth:`to_document`)."""
        return cls(
            edges=tuple(float(e) for e in document["edges"]),
            shares=tuple(float(s) for s in document["shares"]),
            overall=float(document["overall"]),
            rows=tuple(int(r) for r in document["rows"]),
        )


def payment_share_from(document: Mapping[str, Any] | None) -> PaymentShare | None:
    """The share a training run logged, or None (a champion trained before it was logged)."""
    return PaymentShare.from_document(document) if document else None


def payment_share_over(
    snapshots: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_days: int,
    qualifying_rule: str,
    tolerance: float = 0.01,
    timezone: str = "UTC",
) -> PaymentShare | None:
    """:func:`fit_payment_share` of training ``snapshots`` relabelled over ``window_days``: the
    response models' window, so the share prices the same event they predict (a qualifying
    payment within the window after a contact)."""
    paid = amount_paid_in_window(snapshots, payments, window_days=window_days, timezone=timezone)
    label = pays_qualifying_amount(snapshots, paid, rule=qualifying_rule, tolerance=tolerance)
    return fit_payment_share(snapshots.assign(label=label.to_numpy(), amount_paid_in_window=paid.to_numpy()))


def fit_payment_share(
    snapshots: pd.DataFrame,
    *,
    edges: Sequence[float] = DEFAULT_EDGES,
    prior_rows: int = DEFAULT_PRIOR_ROWS,
) -> PaymentShare | None:
    """The :class:`PaymentShare` of training ``snapshots`` (features, ``label`` and
    ``amount_paid_in_window``); None when no snapshot paid its qualifying amount."""
    paying = snapshots[(snapshots["label"] == 1) & (snapshots["amount_overdue"] > 0)]
    if paying.empty:
        return None
    overdue = paying["amount_overdue"].to_numpy(dtype="float64")
    paid = paying["amount_paid_in_window"].to_numpy(dtype="float64")
    share = np.clip(np.minimum(paid, overdue) / overdue, 0.0, 1.0)
    overall = float(share.mean())
    count = paying["n_installments_overdue"].to_numpy(dtype="float64")
    bucket = np.searchsorted(np.asarray(edges, dtype="float64"), count, side="left")
    known = ~np.isnan(count)
    shares, rows = [], []
    for k in range(len(edges) + 1):
        in_bucket = known & (np.minimum(bucket, len(edges)) == k)
        n = int(in_bucket.sum())
        total = float(share[in_bucket].sum())
        shares.append((total + prior_rows * overall) / (n + prior_rows))
        rows.append(n)
    return PaymentShare(
        edges=tuple(float(e) for e in edges), shares=tuple(shares), overall=overall, rows=tuple(rows)
    )


__all__ = [
    "PAYMENT_AMOUNT_ARTIFACT",
    "PaymentShare",
    "fit_payment_share",
    "payment_share_from",
    "payment_share_over",
]
