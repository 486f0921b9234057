"""Response to a contact: P(qualifying payment within days | channel c, or no contact).

Three LightGBM boosters, each answering one question collection teams already ask:

* the **self-cure** baseline P(pay | no contact): one classifier over every treatment (an
  S-learner: the account features, the channel, ``none`` for account-days without contact, and
  the channel's history with the borrower), read at ``channel = none``;
* the **reach** model P(the attempt gets through | channel): the right party answers the call or
  the door, or the message or letter is delivered;
* the **response when reached** P(pay | channel, reached or not), fitted on the historical
  attempts alone with the ``reached`` arm as an input.

The uplift of a channel is then the collections funnel, right-party rate times what reaching the
borrower adds:

    uplift(c) = P(reach | c) x [P(pay | c, reached) - P(pay | c, not reached)]

This rests on one assumption, stated here because the whole decision layer leans on it: an
attempt that does not get through (no answer, undelivered) does not change what the borrower
does. Whether an attempt gets through is chance given the borrower's reachability (which the
reach history measures), so reached and unreached attempts through the same channel were chosen
by the same old rule book for the same accounts: their difference is the contact's effect
without the old policy's selection, and it is learnt where the channel was actually used, not
extrapolated from the uncontacted rows. Measured on the default simulated book, the contrast of
contacted with uncontacted rows (the S-learner's own uplift) ranked true call uplift with a rank
correlation of -0.08; the funnel ranks it at about +0.1 to +0.18, and in the 60-day policy
evaluation over 8 futures the engine's gain over random rose from 54% to 94% of the
16-replicate oracle's. The funnel learns from every historical attempt (the self-cure rows sample
days): learnt from one day in four, it put a field visit's effect at a quarter of the truth.
Against the 64-replicate oracle the engine reaches 76% over 16 futures in this version (README,
"Proof: the policy evaluation" for the figures, "Known limits" for what still misses).

History was not randomised: the old rule book called the worst accounts and texted the early
ones, so "called -> paid less" is selection, not effect. :class:`ContactPolicyModel` learns that
old policy, and its stabilised inverse-propensity weights make the treated and untreated rows of
the self-cure S-learner comparable (``ipw=True``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from data_contracts.enums import CHANNELS
from features.catalog import CATEGORICAL_FEATURES, FEATURE_NAMES, REACHED_INPUT, spec
from features.responses import CHANNEL_FEATURES, NO_CONTACT, TREATMENTS, sampled_mask
from models.boosting import CalibratedBooster, lgbm_classifier, model_matrix
from models.identification import identification_table, overlap_weights, prior_effect, shrink_to_prior

RESPONSE_PARAMS: dict[str, object] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 5,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.9,
    "reg_lambda": 1.0,
    "n_jobs": 2,
}
POLICY_PARAMS: dict[str, object] = {
    "n_estimators": 60,
    "learning_rate": 0.15,
    "num_leaves": 15,
    "max_depth": 5,
    "min_child_samples": 50,
    "n_jobs": 2,
}


def _split_inputs(features: Sequence[str]) -> tuple[list[str], list[str]]:
    numeric = [name for name in features if name not in CATEGORICAL_FEATURES]
    categorical = [name for name in features if name in CATEGORICAL_FEATURES]
    return numeric, categorical


# sklearn ships no type information, so its base classes are Any to the type checker.
class ContactPolicyModel(BaseEstimator):  # type: ignore[misc]
    """P(treatment | account) of the policy that produced the history (multiclass LightGBM).

    ``treatment`` is ``none`` or a channel. Used for inverse-propensity weights and to show how
    far from random the old contacts were.
    """

    def __init__(
        self,
        params: Mapping[str, object] | None = None,
        features: Sequence[str] = FEATURE_NAMES,
        random_state: int = 7,
    ) -> None:
        self.params = params
        self.features = features
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, treatment: npt.ArrayLike) -> Self:
        numeric, categorical = _split_inputs(self.features)
        self.categories_ = {name: sorted(X[name].dropna().astype(str).unique()) for name in categorical}
        self.feature_names_in_ = np.asarray([*numeric, *categorical], dtype=object)
        treatment = pd.Series(np.asarray(treatment), dtype="str")
        self.classes_ = np.array([t for t in TREATMENTS if (treatment == t).any()], dtype=object)
        codes = pd.Categorical(treatment, categories=self.classes_).codes
        self.classifier_ = lgbm_classifier(
            "multiclass", self.random_state, **{**POLICY_PARAMS, **(self.params or {})}
        ).fit(self._matrix(X), codes)
        self.marginal_ = np.bincount(codes, minlength=len(self.classes_)) / len(codes)
        return self

    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """P(each treatment | account), columns in ``classes_`` order."""
        check_is_fitted(self, "classifier_")
        if len(X) == 0:
            return pd.DataFrame(columns=list(self.classes_), dtype="float64")
        proba = self.classifier_.predict_proba(self._matrix(X))
        return pd.DataFrame(proba, index=X.index, columns=list(self.classes_))

    def weights(self, X: pd.DataFrame, treatment: npt.ArrayLike, *, clip: float = 20.0) -> np.ndarray:
        """Stabilised inverse-propensity weights P(t) / P(t | x), capped at ``clip`` and
        normalised to mean 1 (extreme weights come from near-deterministic old rules)."""
        treatment = pd.Series(np.asarray(treatment), dtype="str")
        proba = self.predict_proba(X).to_numpy()
        column = pd.Categorical(treatment, categories=self.classes_).codes
        if (column < 0).any():
            raise ValueError("treatments unseen when the policy model was fitted")
        own = np.clip(proba[np.arange(len(column)), column], 1e-6, 1.0)
        raw = self.marginal_[column] / own
        capped = np.minimum(raw, clip)
        weights: np.ndarray = capped / capped.mean()  # NumPy types np.clip and mean() as Any
        return weights

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        return model_matrix(X, list(self.feature_names_in_), self.categories_)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of weighted rows: (sum w)^2 / sum w^2."""
    weights = np.asarray(weights, dtype=float)
    return float(weights.sum() ** 2 / np.square(weights).sum()) if weights.size else 0.0


def _weighted_moments(values: pd.Series, weights: pd.Series, mask: pd.Series) -> tuple[float, float]:
    v, w = values[mask], weights[mask]
    if not len(v):
        return np.nan, np.nan
    mean = float(np.average(v, weights=w))
    return mean, float(np.average((v - mean) ** 2, weights=w))


def standardized_differences(
    X: pd.DataFrame, treatment: npt.ArrayLike, weights: np.ndarray | None, columns: Sequence[str]
) -> pd.DataFrame:
    """Standardised mean difference of each column between each channel's rows and the
    ``none`` rows, optionally weighted: |SMD| < 0.1 is the usual mark of balance."""
    treatment = pd.Series(np.asarray(treatment), dtype="str", index=X.index)
    w = pd.Series(np.ones(len(X)) if weights is None else np.asarray(weights), index=X.index)
    base = treatment == NO_CONTACT
    rows = []
    for channel in [t for t in TREATMENTS if t != NO_CONTACT and (treatment == t).any()]:
        arm = treatment == channel
        for column in columns:
            values = X[column].astype("float64")
            ok = values.notna()
            (m1, v1), (m0, v0) = (
                _weighted_moments(values, w, arm & ok),
                _weighted_moments(values, w, base & ok),
            )
            pooled = np.sqrt((v1 + v0) / 2.0)
            rows.append(
                {"channel": channel, "feature": column, "smd": (m1 - m0) / pooled if pooled > 0 else 0.0}
            )
    return pd.DataFrame(rows, columns=["channel", "feature", "smd"])


class ResponseWhenReachedModel(CalibratedBooster):
    """P(qualifying payment within the window | account, channel, the attempt got through or not).

    Fitted on historical attempts only (never on ``none`` rows): rows carry the account features,
    ``channel``, the channel-history features and ``reached``. The ``reached`` input is
    constrained monotone increasing (catalog): getting through to a borrower never lowers the
    chance that they pay, so the contrast below is never negative.
    """

    def __init__(
        self,
        params: Mapping[str, object] | None = None,
        features: Sequence[str] = FEATURE_NAMES,
        random_state: int = 7,
    ) -> None:
        self.params = params
        self.features = features
        self.random_state = random_state

    def fit(
        self, X: pd.DataFrame, y: npt.ArrayLike, *, eval_set: tuple[pd.DataFrame, npt.ArrayLike] | None = None
    ) -> Self:
        if (X["channel"] == NO_CONTACT).any():
            raise ValueError("the response-when-reached model learns from attempts only, not 'none' rows")
        numeric, categorical = _split_inputs(self.features)
        self.categories_ = {name: sorted(X[name].dropna().astype(str).unique()) for name in categorical}
        self.categories_["channel"] = list(CHANNELS)
        self.feature_names_in_ = np.asarray(
            [*numeric, *CHANNEL_FEATURES, REACHED_INPUT.name, *self.categories_], dtype=object
        )
        self._fit_booster(
            X,
            y,
            params={**RESPONSE_PARAMS, **(self.params or {})},
            monotone=[spec(name).monotone for name in self.feature_names_in_],
            eval_set=eval_set,
            eval_metric="binary_logloss",
        )
        return self

    def contrast(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(P(pay | reached), P(pay | not reached)) for each row's channel."""
        reached = self.predict_proba(X.assign(reached=True))[:, 1]
        unreached = self.predict_proba(X.assign(reached=False))[:, 1]
        return reached, unreached


class ChannelResponseModel(CalibratedBooster):
    """P(qualifying payment within the response window | account, treatment), by the funnel
    uplift(c) = P(reach | c) x [P(pay | c, reached) - P(pay | c, not reached)] (module docstring).

    The instance itself is the self-cure S-learner (its ``predict_proba`` scores a row under the
    row's own treatment; :meth:`uplift` reads it at ``none``); ``reach_model_`` and
    ``response_model_`` (:class:`ResponseWhenReachedModel`) are the funnel. Rows carry a
    ``channel`` column (``none`` or a channel), the channel-history features and, for fitting,
    ``reached``. Monotone constraints come from the feature catalog.

    Parameters
    ----------
    params : LightGBM parameters of the response boosters (``early_stopping_rounds`` honoured).
    features : account features, each with a catalog entry.
    ipw : weight the self-cure S-learner's rows by the inverse propensity of the historical policy.
    weight_clip : cap of the stabilised weights.
    prior_lift : the stated prior per channel (share of the gap to paying one contact closes);
        where the old policy gives no overlap the effect is shrunk toward it
        (:mod:`models.identification`). None: the learnt effect everywhere.
    min_propensity : the old policy's propensity at which a channel's effect counts as
        identified (overlap weight 1).
    random_state : seed of the boosters.
    """

    def __init__(
        self,
        params: Mapping[str, object] | None = None,
        features: Sequence[str] = FEATURE_NAMES,
        ipw: bool = True,
        weight_clip: float = 20.0,
        prior_lift: Mapping[str, float] | None = None,
        min_propensity: float = 0.01,
        random_state: int = 7,
    ) -> None:
        self.params = params
        self.features = features
        self.ipw = ipw
        self.weight_clip = weight_clip
        self.prior_lift = prior_lift
        self.min_propensity = min_propensity
        self.random_state = random_state

    def fit(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        *,
        reached: npt.ArrayLike | None = None,
        eval_set: tuple[pd.DataFrame, npt.ArrayLike] | None = None,
    ) -> Self:
        """Fit the old-policy model (when ``ipw``), the weighted self-cure S-learner, the reach
        model and the response-when-reached model; the S-learner and the response-when-reached
        booster early-stop and are Platt-calibrated on ``eval_set`` (its attempts, for the
        latter). ``reached`` (default: the ``reached`` column of ``X``, as is that of the
        evaluation rows) says whether each attempt got through. Rows with ``sampled_day`` False
        (attempts of the days between sampled response days) feed the reach and
        response-when-reached boosters only: the old-policy model and the S-learner need every
        account-day of a day, contacted or not."""
        reached = np.asarray(X["reached"] if reached is None else reached, dtype=bool)
        y = np.asarray(y)
        every_row = (X, y, reached)
        sampled = sampled_mask(X)
        X, y, reached = X[sampled], y[sampled], reached[sampled]
        full_eval = eval_set
        if eval_set is not None:
            eval_sampled = sampled_mask(eval_set[0])
            eval_set = (eval_set[0][eval_sampled], np.asarray(eval_set[1])[eval_sampled])
        numeric, categorical = _split_inputs(self.features)
        numeric = [*numeric, *CHANNEL_FEATURES]
        self.categories_ = {name: sorted(X[name].dropna().astype(str).unique()) for name in categorical}
        self.categories_["channel"] = list(TREATMENTS)
        self.feature_names_in_ = np.asarray([*numeric, *self.categories_], dtype=object)
        # Every input needs a catalog entry (KeyError otherwise): reasons speak of all of them.
        monotone = [spec(name).monotone for name in self.feature_names_in_]
        # The old policy's model serves the weights (ipw) and the overlap of every channel.
        self.policy_model_ = ContactPolicyModel(features=self.features, random_state=self.random_state).fit(
            X, X["channel"]
        )
        self.identification_ = identification_table(
            X, self.policy_model_.predict_proba(X), self.min_propensity
        )
        weights = self._weights(X)
        self.training_weights_ = {
            "effective_sample_size": effective_sample_size(weights),
            "rows": float(len(X)),
            "max_weight": float(weights.max()) if len(weights) else 0.0,
        }
        params = {**RESPONSE_PARAMS, **(self.params or {})}
        self._fit_booster(
            X,
            y,
            params=params,
            monotone=monotone,
            eval_set=eval_set,
            eval_metric="binary_logloss",
            sample_weight=weights,
            eval_weight=self._weights(eval_set[0]) if eval_set is not None else None,
        )

        X, y, reached = every_row
        treated = (X["channel"] != NO_CONTACT).to_numpy()
        if not treated.any() or reached[treated].all() or not reached[treated].any():
            raise ValueError("the history needs attempts that got through and attempts that did not")
        attempts = X[treated].assign(reached=reached[treated])
        self.reach_model_ = lgbm_classifier("binary", self.random_state, **POLICY_PARAMS).fit(
            self._matrix(attempts), reached[treated].astype(int)
        )
        eval_attempts = None
        if full_eval is not None:
            X_eval, y_eval = full_eval
            mask = (X_eval["channel"] != NO_CONTACT).to_numpy()
            if mask.any():
                eval_attempts = (X_eval[mask], np.asarray(y_eval)[mask])
        self.response_model_ = ResponseWhenReachedModel(
            params=self.params, features=self.features, random_state=self.random_state
        ).fit(attempts, y[treated], eval_set=eval_attempts)
        return self

    def _weights(self, X: pd.DataFrame) -> np.ndarray:
        if not self.ipw or self.policy_model_ is None:
            return np.ones(len(X))
        return self.policy_model_.weights(X, X["channel"], clip=self.weight_clip)

    def predict_reach(self, X: pd.DataFrame) -> np.ndarray:
        """P(the attempt gets through to the borrower) for the row's channel; NaN for ``none``."""
        check_is_fitted(self, "reach_model_")
        out = np.full(len(X), np.nan)
        treated = (X["channel"] != NO_CONTACT).to_numpy()
        if treated.any():
            # Probabilities of a dense frame are an array (lists and sparse are for pred_contrib).
            proba = cast(np.ndarray, self.reach_model_.predict_proba(self._matrix(X[treated])))
            out[treated] = proba[:, 1]
        return out

    def uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """For rows with a channel: p_self_cure (the same account, no contact), p_reach,
        p_if_reached / p_if_not_reached (the response when the attempt gets through or not),
        uplift = p_reach x (p_if_reached - p_if_not_reached) and p_contact = p_self_cure + uplift.
        ``none`` rows get uplift 0 and NaN funnel columns."""
        check_is_fitted(self, "response_model_")
        # The no-contact counterfactual keeps the row's channel history: reading self-cure from
        # a blank history (as training's `none` rows have) credits the contact with everything
        # the history says about the borrower; measured worse (bench/policy_evaluation.py).
        p_none = self.predict_proba(X.assign(channel=NO_CONTACT))[:, 1]
        treated = (X["channel"] != NO_CONTACT).to_numpy()
        p_reach = self.predict_reach(X)
        if_reached = np.full(len(X), np.nan)
        if_not_reached = np.full(len(X), np.nan)
        if treated.any():
            if_reached[treated], if_not_reached[treated] = self.response_model_.contrast(X[treated])
        learnt = np.where(treated, p_reach * (if_reached - if_not_reached), 0.0)
        weight = self.overlap(X)
        effect = learnt
        if self.prior_lift is not None:
            prior = np.where(treated, prior_effect(X["channel"], p_none, self.prior_lift), 0.0)
            effect = shrink_to_prior(learnt, prior, weight)
        p_contact = np.clip(p_none + effect, 0.0, 1.0)
        return pd.DataFrame(
            {
                "p_contact": p_contact,
                "p_self_cure": p_none,
                "uplift": p_contact - p_none,
                "p_reach": p_reach,
                "p_if_reached": if_reached,
                "p_if_not_reached": if_not_reached,
                "learnt_uplift": learnt,
                "overlap_weight": weight,
            },
            index=X.index,
        )

    def overlap(self, X: pd.DataFrame) -> np.ndarray:
        """Per row, how far the history identifies the effect of the row's channel for this
        account (:func:`models.identification.overlap_weights`; 1 for ``none`` rows and for
        models fitted before overlap was measured)."""
        policy = getattr(self, "policy_model_", None)
        weight = np.ones(len(X))
        treated = (X["channel"] != NO_CONTACT).to_numpy()
        if policy is None or not treated.any():
            return weight
        proba = policy.predict_proba(X[treated])
        channel = X.loc[treated, "channel"].astype("str").to_numpy()
        columns = {name: i for i, name in enumerate(proba.columns)}
        index = np.array([columns.get(c, -1) for c in channel])
        values = proba.to_numpy()
        e = np.where(index >= 0, values[np.arange(len(index)), np.maximum(index, 0)], 0.0)
        weight[treated] = overlap_weights(e, getattr(self, "min_propensity", 0.0))
        return weight


__all__ = [
    "ChannelResponseModel",
    "ContactPolicyModel",
    "ResponseWhenReachedModel",
    "effective_sample_size",
    "standardized_differences",
]
