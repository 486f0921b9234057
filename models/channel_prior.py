"""The best-channel model's stand-in where the history cannot teach channels: a stated prior.

A book delivered without contact history (or with too few contacts of both kinds, reached and
not, to learn from) identifies no channel's effect. The engine then does not fit a model that
would pretend to; it values each lawful channel by a prior the lender states in the config
(``channel_model.prior_lift``): the share of the gap to paying that one contact through the
channel closes within the response window,

    p_contact(c) = p_self_cure + prior_lift[c] x (1 - p_self_cure)

with ``p_self_cure`` the propensity champion's p_pay (with no contacts in the history, what the
book shows is what borrowers do when left alone). Ranked by (p_contact - p_self_cure) x amount
overdue - cost, the queue follows the prior's order and the channel costs, ties broken by the
configured channel preference; every reason says the choice came from the prior, and the
exploration share gives the randomised contacts a later training learns from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self, TypeGuard, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from data_contracts.enums import CHANNELS
from features.responses import NO_CONTACT
from models.evaluation import ProbabilityModel

PRIOR_LABEL = "prior"


# sklearn ships no type information, so its base classes are Any to the type checker.
class ChannelPriorModel(BaseEstimator):  # type: ignore[misc]
    """Channel response from a stated prior on top of the propensity model (module docstring).

    Parameters
    ----------
    propensity : the fitted propensity model (``predict_proba`` on account features).
    prior_lift : per channel, the share of the gap to paying one contact closes (0 to 1).
    reason : why no channel model was learnt; every channel reason and the manifest carry it.
    """

    def __init__(
        self,
        propensity: ProbabilityModel | None = None,
        prior_lift: Mapping[str, float] | None = None,
        reason: str = "",
    ) -> None:
        self.propensity = propensity
        self.prior_lift = prior_lift
        self.reason = reason

    def fit(self, X: pd.DataFrame | None = None, y: npt.ArrayLike | None = None) -> Self:
        """Nothing is learnt: checks the prior names every channel with a lift in [0, 1]."""
        lift = dict(self.prior_lift or {})
        missing = sorted(set(CHANNELS) - set(lift))
        if missing:
            raise ValueError(f"channel_model.prior_lift has no lift for {missing}")
        bad = sorted(channel for channel, value in lift.items() if not 0.0 <= float(value) <= 1.0)
        if bad:
            raise ValueError(f"channel_model.prior_lift must lie in [0, 1]; not so for {bad}")
        self.lift_ = {channel: float(value) for channel, value in lift.items()}
        return self

    def uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """The columns of :meth:`models.channel.ChannelResponseModel.uplift`, from the prior:
        reach and the response when reached are not modelled (NaN)."""
        check_is_fitted(self, "lift_")
        if len(X) == 0:
            columns = [
                "p_contact",
                "p_self_cure",
                "uplift",
                "p_reach",
                "p_if_reached",
                "p_if_not_reached",
                "learnt_uplift",
                "overlap_weight",
            ]
            return pd.DataFrame(columns=columns, index=X.index, dtype="float64")
        # None is only the unfitted default sklearn's clone needs; a model in use is given one.
        propensity = cast(ProbabilityModel, self.propensity)
        p_none = np.asarray(propensity.predict_proba(X)[:, 1], dtype="float64")
        channel = X["channel"].astype("str")
        lift = channel.map(self.lift_).fillna(0.0).to_numpy(dtype="float64")
        lift = np.where(channel.to_numpy() == NO_CONTACT, 0.0, lift)
        p_contact = np.clip(p_none + lift * (1.0 - p_none), 0.0, 1.0)
        missing = np.full(len(X), np.nan)
        return pd.DataFrame(
            {
                "p_contact": p_contact,
                "p_self_cure": p_none,
                "uplift": p_contact - p_none,
                "p_reach": missing,
                "p_if_reached": missing,
                "p_if_not_reached": missing,
                "learnt_uplift": missing,
                # Nothing is identified: every value is the prior's.
                "overlap_weight": np.zeros(len(X)),
            },
            index=X.index,
        )

    def channel_reasons(self, chosen: pd.Series, runner_up: pd.Series, n: int = 3) -> pd.DataFrame:
        """channel_reason_1..n of each choice: the prior, never a learnt effect. Every sentence
        is a fact of the prior (no claim that a rival would have done worse: a full team can
        give a loan its second channel), none favours another option."""
        check_is_fitted(self, "lift_")
        rows = []
        for ours, theirs in zip(chosen.astype("str"), runner_up.astype("str"), strict=True):
            if theirs == NO_CONTACT:
                against = (
                    f"Over no contact: valued as the prior's gain on the amount at stake less the {ours} "
                    "contact's cost"
                )
            else:
                against = (
                    f"Runner-up {theirs}: one contact closes {self.lift_.get(theirs, 0.0):.0%} of the gap by "
                    "the same prior; the choice weighs each channel's prior value net of its cost and the "
                    "teams' capacity"
                )
            sentences = [
                f"No channel model: {self.reason}; channels follow the configured prior and costs",
                f"Prior: one {ours} contact closes {self.lift_.get(ours, 0.0):.0%} of the gap to paying",
                against,
            ]
            rows.append(sentences[:n])
        return pd.DataFrame(
            rows, columns=[f"channel_reason_{k}" for k in range(1, n + 1)], index=chosen.index, dtype="str"
        )


def is_prior(model: object) -> TypeGuard[ChannelPriorModel]:
    """Whether ``model`` is the stated prior rather than a learnt best-channel model."""
    return isinstance(model, ChannelPriorModel)


__all__ = ["PRIOR_LABEL", "ChannelPriorModel", "is_prior"]
