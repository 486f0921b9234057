"""How likely a borrower is to accept a payment plan or a settlement, and to see it through.

Learnt from the book's own ``arrangements`` history (:func:`features.arrangements.offer_rows`)
where it holds enough offers of a kind, accepted and refused; otherwise the configured rule
stands in and every recommendation says so. The learnt model is a regularised logistic
regression on a few covariates an officer can read (days past due, the instalment against the
borrower's income, the term, the on-time share; the discount for settlements), so acceptance
moves the way the history shows and nowhere the history does not reach: covariates are clipped
to the range the history covers before predicting.

Causal note: an offer's acceptance is identified only among the accounts the lender made
offers to. A history whose offers were drawn at random within a band (as the simulator's old
rule book does: random terms, random discounts) identifies the curve within that band; outside
it the clipped covariates carry the band's edge, a stated extrapolation, not an effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

OfferKind = Literal["plan", "settlement"]
Basis = Literal["learned", "rule"]

PLAN_COVARIATES: tuple[str, ...] = (
    "log_days_past_due",
    "instalment_to_income",
    "log_n_instalments",
    "on_time_share",
)
SETTLEMENT_COVARIATES: tuple[str, ...] = ("discount", "log_days_past_due", "on_time_share")
COVARIATES: dict[str, tuple[str, ...]] = {"plan": PLAN_COVARIATES, "settlement": SETTLEMENT_COVARIATES}


def offer_covariates(kind: OfferKind, offers: pd.DataFrame) -> pd.DataFrame:
    """The covariates of ``kind`` from offer terms and account state: ``days_past_due``,
    ``instalment``, ``n_instalments``, ``monthly_income``, ``on_time_share``, ``discount``
    (columns a kind does not use may be absent). Unknown income stays missing (imputed)."""
    frame = pd.DataFrame(index=offers.index)
    frame["log_days_past_due"] = np.log1p(offers["days_past_due"].astype("float64").clip(lower=0))
    frame["on_time_share"] = offers["on_time_share"].astype("float64")
    if kind == "plan":
        income = offers["monthly_income"].astype("float64")
        frame["instalment_to_income"] = (offers["instalment"].astype("float64") / income).where(income > 0)
        frame["log_n_instalments"] = np.log(offers["n_instalments"].astype("float64").clip(lower=1))
    else:
        frame["discount"] = offers["discount"].astype("float64").fillna(0.0)
    return frame[list(COVARIATES[kind])]


# sklearn ships no type information, so its base classes are Any to the type checker.
class OfferAcceptance(BaseEstimator):  # type: ignore[misc]
    """Acceptance and fulfilment of one kind of offer (module docstring).

    Parameters
    ----------
    kind : "plan" or "settlement".
    prior_accept : the rule's acceptance where the history cannot teach it.
    prior_fulfilment : the rule's share of accepted arrangements kept (plans) or paid
        (settlements); the learnt share is shrunk towards it by ``prior_strength`` offers.
    min_offers, min_accepted : how much history a kind needs before it is learnt.
    """

    def __init__(
        self,
        kind: OfferKind = "plan",
        prior_accept: float = 0.3,
        prior_fulfilment: float = 0.6,
        prior_strength: float = 20.0,
        min_offers: int = 100,
        min_accepted: int = 10,
    ) -> None:
        self.kind = kind
        self.prior_accept = prior_accept
        self.prior_fulfilment = prior_fulfilment
        self.prior_strength = prior_strength
        self.min_offers = min_offers
        self.min_accepted = min_accepted

    def fit(self, offers: pd.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Learn from ``offers`` (:func:`features.arrangements.offer_rows`, any kind: the rows of
        this estimator's kind are used); ``y`` defaults to their ``accepted`` column."""
        mine = offers[offers["kind"] == self.kind] if "kind" in offers else offers
        accepted = (
            np.asarray(y, dtype=bool)[(offers["kind"] == self.kind).to_numpy()]
            if y is not None
            else mine["accepted"].to_numpy(dtype=bool)
        )
        self.n_offers_ = int(len(mine))
        self.n_accepted_ = int(accepted.sum())
        enough = (
            self.n_offers_ >= self.min_offers
            and self.min_accepted <= self.n_accepted_ <= self.n_offers_ - self.min_accepted
        )
        self.basis_: Basis = "learned" if enough else "rule"
        self.model_: Pipeline | None = None
        self.ranges_: dict[str, tuple[float, float]] = {}
        if enough:
            covariates = offer_covariates(self.kind, mine)
            self.ranges_ = {
                column: (float(covariates[column].min()), float(covariates[column].max()))
                for column in covariates.columns
                if covariates[column].notna().any()
            }
            self.model_ = make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(C=1.0, max_iter=500),
            ).fit(covariates, accepted)
        self.fulfilment_ = self._fulfilment(mine, accepted)
        return self

    def _fulfilment(self, mine: pd.DataFrame, accepted: np.ndarray) -> float:
        """Expected share of an accepted arrangement's money that is paid (a broken plan pays its
        instalments before the break), over those with a known outcome, shrunk to the prior."""
        if not len(mine):
            self.n_outcomes_ = 0
            return float(self.prior_fulfilment)
        known = accepted & mine["outcome_known"].to_numpy(dtype=bool)
        paid = mine["share_paid"] if "share_paid" in mine else mine["fulfilled"].astype("float64")
        kept = float(paid.to_numpy(dtype="float64")[known].sum())
        self.n_outcomes_ = int(known.sum())
        return (kept + self.prior_strength * self.prior_fulfilment) / (self.n_outcomes_ + self.prior_strength)

    def predict_proba(self, offers: pd.DataFrame) -> np.ndarray:
        """P(accept) of each offer in ``offers`` (terms and account state, as for :meth:`fit`):
        the learnt curve on covariates clipped to the history's range, else the rule."""
        check_is_fitted(self, "basis_")
        if self.model_ is None:
            return np.full(len(offers), float(self.prior_accept))
        covariates = offer_covariates(self.kind, offers)
        for column, (low, high) in self.ranges_.items():
            covariates[column] = covariates[column].clip(low, high)
        probabilities: np.ndarray = self.model_.predict_proba(covariates)[:, 1]
        return probabilities

    def describe(self) -> str:
        """Where the estimate comes from, in words a manager reads."""
        check_is_fitted(self, "basis_")
        if self.basis_ == "learned":
            return (
                f"learned from {self.n_offers_:,} past {self.kind} offers ({self.n_accepted_:,} accepted; "
                f"{self.fulfilment_:.0%} of the money of those with an outcome paid)"
            )
        return (
            f"the configured rule ({self.prior_accept:.0%} accept): the history holds {self.n_offers_:,} "
            f"{self.kind} offers, {self.n_accepted_:,} accepted; at least {self.min_offers} offers and "
            f"{self.min_accepted} of each answer are needed to learn"
        )


@dataclass(frozen=True)
class AcceptanceModels:
    """The night's acceptance estimates, one per kind of offer."""

    plan: OfferAcceptance
    settlement: OfferAcceptance


def fit_acceptance(
    offers: pd.DataFrame,
    *,
    plan_prior: tuple[float, float] = (0.3, 0.6),
    settlement_prior: tuple[float, float] = (0.2, 0.8),
    min_offers: int = 100,
) -> AcceptanceModels:
    """Fit both kinds on ``offers`` (:func:`features.arrangements.offer_rows`); each prior is
    (acceptance, fulfilment) of the configured rule."""
    plan = OfferAcceptance("plan", *plan_prior, min_offers=min_offers).fit(offers)
    settlement = OfferAcceptance("settlement", *settlement_prior, min_offers=min_offers).fit(offers)
    return AcceptanceModels(plan=plan, settlement=settlement)
