"""Tonight's contacts: from lawful channels and the response model to queued and left-alone loans.

Pure glue between the contact policy (which channels are lawful today), the best-channel model
(the response to each of them and to no contact) and the allocation under team capacities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd

from features.catalog import REACHED_INPUT
from features.responses import NO_CONTACT, option_rows
from models.channel_prior import is_prior
from models.payment_amount import PaymentShare
from scoring.allocation import (
    Allocation,
    AllocationSettings,
    incremental_values,
    with_repeat_contact_discount,
)
from scoring.dispositions import WINDOW_TO_QUEUE, Decisions
from scoring.frames import member_of
from scoring.reasons import channel_reasons, exploration_channel_reasons
from scoring.teams import team_capacity, team_names

if TYPE_CHECKING:
    from models.channel import ChannelResponseModel
    from models.channel_prior import ChannelPriorModel

    # The best-channel champion: a learnt response model or the stated prior.
    ChannelModel: TypeAlias = ChannelResponseModel | ChannelPriorModel

# The loan's recent contacts the repeat-contact discount counts (a point-in-time feature).
RECENT_CONTACTS = "n_outbound_contacts_7d"


def _amount_columns(options: pd.DataFrame) -> list[str]:
    """The amount columns an option frame carries (frames without a learnt share lack
    ``amount_at_stake``)."""
    return [c for c in ("amount_overdue", "amount_at_stake") if c in options]


def lawful_options(candidates: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """(loan_id, channel) of every channel lawful today for each candidate loan."""
    lawful = windows[windows["lawful_today"] & member_of(windows["loan_id"], candidates["loan_id"])]
    return lawful[["loan_id", "channel"]].reset_index(drop=True)


def score_options(
    candidates: pd.DataFrame,
    options: pd.DataFrame,
    history: pd.DataFrame,
    model: ChannelModel,
    *,
    payment_share: PaymentShare | None = None,
    repeat_contact_discount: float = 1.0,
) -> pd.DataFrame:
    """Each lawful option with the model's p_response (pay within the window after a contact
    through it), p_self_cure (same account, no contact) and p_reach (the attempt reaches them).

    ``payment_share`` (learnt with the propensity champion, :mod:`models.payment_amount`) adds
    the ``amount_at_stake`` a response is worth; ``repeat_contact_discount`` scales each
    contact's effect by the discount to the power of the loan's outbound contacts in the last 7
    days (:func:`scoring.allocation.repeat_contact_factor`)."""
    rows = option_rows(candidates, options, history)
    if rows.empty:
        return rows.assign(p_contact=[], p_self_cure=[], p_reach=[], overlap_weight=[], amount_at_stake=[])
    return response_options(
        rows,
        model.uplift(rows),
        payment_share=payment_share,
        repeat_contact_discount=repeat_contact_discount,
    )


def response_options(
    rows: pd.DataFrame,
    uplift: pd.DataFrame,
    *,
    payment_share: PaymentShare | None = None,
    repeat_contact_discount: float = 1.0,
) -> pd.DataFrame:
    """The option frame of model ``rows`` (account features and channel) and the response
    model's ``uplift`` of them: the one place the night, ``recover explain`` and the policy
    evaluation turn a model's answer into what a contact is worth. Without a ``payment_share``
    (a champion trained before it was learnt) a response is worth the amount overdue."""
    amount = rows["amount_overdue"].to_numpy(dtype="float64")
    at_stake = payment_share.amount_at_stake(rows) if payment_share is not None else amount
    options = pd.DataFrame(
        {
            "loan_id": rows["loan_id"].to_numpy(),
            "channel": rows["channel"].to_numpy(),
            "p_contact": uplift["p_contact"].to_numpy(),
            "p_self_cure": uplift["p_self_cure"].to_numpy(),
            "p_reach": uplift["p_reach"].to_numpy(),
            "amount_overdue": amount,
            "amount_at_stake": np.where(np.isnan(at_stake), amount, at_stake),
            # How far the history identifies this channel's effect here (1: fully; models
            # fitted before overlap was measured report 1).
            "overlap_weight": (
                uplift["overlap_weight"].to_numpy() if "overlap_weight" in uplift else np.ones(len(rows))
            ),
        }
    )
    recent = rows[RECENT_CONTACTS] if RECENT_CONTACTS in rows else pd.Series(0.0, index=rows.index)
    return with_repeat_contact_discount(options, recent.to_numpy(dtype="float64"), repeat_contact_discount)


def with_teams(options: pd.DataFrame, accounts: pd.DataFrame, split_by: Sequence[str]) -> pd.DataFrame:
    """Options with ``resource``: the team whose capacity a contact through that channel uses."""
    where = accounts.set_index("loan_id")
    keyed = pd.DataFrame(
        {
            "recommended_channel": options["channel"].to_numpy(),
            "region": options["loan_id"].map(where["region"]).astype("str").to_numpy(),
            "branch_id": options["loan_id"].map(where["branch_id"]).astype("str").to_numpy(),
        }
    )
    return options.assign(resource=team_names(keyed, split_by).to_numpy())


def team_capacities(
    options: pd.DataFrame,
    default: int | None,
    by_channel: Mapping[str, int | None],
    by_team: Mapping[str, int | None],
) -> dict[str, int | None]:
    """Daily capacity of every team an option could use (None = no limit)."""
    teams = options.drop_duplicates("resource")[["resource", "channel"]]
    return {
        team: team_capacity(team, channel, default, by_channel, by_team)
        for team, channel in teams.itertuples(index=False)
    }


def runner_up_channels(
    assignments: pd.DataFrame, options: pd.DataFrame, channel_cost: Mapping[str, float]
) -> pd.Series:
    """Per assigned loan, the option it was chosen over: its next best scored channel by
    incremental value, or ``none`` (no contact) when it had no other lawful channel or none
    worth anything."""
    scored = options[["loan_id", "channel", "p_contact", "p_self_cure", *_amount_columns(options)]].copy()
    scored["value"] = incremental_values(scored, channel_cost)
    chosen = assignments.set_index("loan_id")["channel"]
    others = scored[scored["channel"].to_numpy() != scored["loan_id"].map(chosen).to_numpy()]
    others = others[others["value"] > 0].sort_values(["loan_id", "value"], ascending=[True, False])
    best_other = others.drop_duplicates("loan_id").set_index("loan_id")["channel"]
    return pd.Series(
        chosen.index.map(best_other).astype("object").fillna(NO_CONTACT).astype("str"),
        index=chosen.index,
        name="runner_up",
    )


def explain_channels(
    queued: pd.DataFrame,
    runner_up: pd.Series,
    history: pd.DataFrame,
    model: ChannelModel,
    n: int = 3,
) -> pd.DataFrame:
    """``runner_up_channel`` and channel_reason_1..n of each queued loan (``queued`` carries the
    account features and ``recommended_channel``).

    With the stated prior in place of a model (:mod:`models.channel_prior`), the reasons say
    so. Otherwise they come from the SHAP values of the model that values the channels, the response
    when the attempt gets through (:class:`models.channel.ResponseWhenReachedModel`): against a
    rival channel, the chosen and the rival channel's rows, both reached; against no contact, the
    chosen channel reached and not reached (what getting through changes for this account; the
    ``reached`` arm itself differs by construction and is never a reason). The reasons that
    favour the chosen channel come first, those against it begin with "Despite", and the
    channel indicator is never one (:func:`scoring.reasons.channel_reasons`). Randomised
    exploration rows (``queued["exploration"]``) say instead that their channel was drawn at
    random and why that matters: what the model prefers is not why they are queued."""
    columns = ["runner_up_channel", *[f"channel_reason_{k}" for k in range(1, n + 1)]]
    if queued.empty:
        return pd.DataFrame(columns=columns, index=queued.index, dtype="str")
    chosen_channel = queued["recommended_channel"].astype("str").to_numpy()
    rival_channel = queued["loan_id"].map(runner_up).astype("str").to_numpy()
    if is_prior(model):
        # No learnt model to attribute the choice to: the reasons state the prior.
        reasons = model.channel_reasons(
            pd.Series(chosen_channel, index=queued.index), pd.Series(rival_channel, index=queued.index), n=n
        )
        reasons.insert(0, "runner_up_channel", rival_channel)
        return _with_exploration_reasons(reasons, queued, n)
    # Exploration rows say their channel was drawn at random, whatever the model prefers: only
    # the others are worth their TreeSHAP.
    explained = ~_explored(queued)
    learnt = _learnt_channel_reasons(
        queued[explained], chosen_channel[explained], rival_channel[explained], history, model, n
    )
    reasons = learnt.reindex(queued.index)
    reasons.insert(0, "runner_up_channel", rival_channel)
    if "overlap_weight" in queued:
        reasons = with_identification_reason(
            reasons, queued["recommended_channel"], queued["overlap_weight"], n
        )
    return _with_exploration_reasons(reasons, queued, n)


def _learnt_channel_reasons(
    queued: pd.DataFrame,
    chosen_channel: np.ndarray,
    rival_channel: np.ndarray,
    history: pd.DataFrame,
    model: ChannelResponseModel,
    n: int,
) -> pd.DataFrame:
    """channel_reason_1..n of ``queued`` from the response-when-reached model's TreeSHAP values
    (see :func:`channel_explanations`), indexed like ``queued``."""
    if queued.empty:
        return pd.DataFrame(columns=[f"channel_reason_{k}" for k in range(1, n + 1)], dtype="str")
    against_none = rival_channel == NO_CONTACT
    pairs = pd.DataFrame({"loan_id": queued["loan_id"].to_numpy()})
    both = pd.concat(
        [
            pairs.assign(channel=chosen_channel, reached=True),
            pairs.assign(
                channel=np.where(against_none, chosen_channel, rival_channel), reached=~against_none
            ),
        ],
        ignore_index=True,
    )
    # One feature join and one TreeSHAP pass for both options: rows [0, n) chosen, [n, 2n) rivals.
    rows = option_rows(queued, both, history).reset_index(drop=True)
    contributions, _ = model.response_model_.shap_values(rows)
    contributions = contributions.drop(columns=REACHED_INPUT.name)
    n_loans = len(pairs)
    chosen = rows.iloc[:n_loans]
    rival = rows.iloc[n_loans:].reset_index(drop=True).assign(channel=rival_channel)
    reasons = channel_reasons(
        chosen, rival, contributions.iloc[:n_loans], contributions.iloc[n_loans:].reset_index(drop=True), n=n
    )
    reasons.index = queued.index
    return reasons


def _explored(queued: pd.DataFrame) -> np.ndarray:
    """Which queued rows are randomised exploration (none without the column)."""
    if "exploration" not in queued:
        return np.zeros(len(queued), dtype=bool)
    return queued["exploration"].fillna(False).astype(bool).to_numpy()


def _with_exploration_reasons(reasons: pd.DataFrame, queued: pd.DataFrame, n: int) -> pd.DataFrame:
    """The channel reasons of randomised exploration rows replaced by what they are: a random
    draw among the lawful channels, kept so the engine can measure what each channel adds."""
    explored = _explored(queued)
    if not explored.any():
        return reasons
    rows = queued[explored]
    value = rows.get("incremental_value")
    randomised = exploration_channel_reasons(rows["recommended_channel"], value, n=n)
    out = reasons.copy()
    columns = list(randomised.columns)
    out.loc[explored, columns] = randomised.to_numpy()
    return out


def with_identification_reason(
    reasons: pd.DataFrame, channel: pd.Series, overlap_weight: pd.Series, n: int
) -> pd.DataFrame:
    """Where the history barely identifies the chosen channel's effect for the loan (overlap
    weight below one half), the first reason says its value is mostly the stated prior, so the
    learnt reasons that follow are not read as the whole story."""
    weak = overlap_weight.fillna(1.0).to_numpy(dtype="float64") < 0.5
    if not weak.any():
        return reasons
    out = reasons.copy()
    columns = [f"channel_reason_{k}" for k in range(1, n + 1)]
    statement = [
        f"The history rarely used {c} on accounts like this (overlap {w:.0%}): its value is mostly the "
        "stated prior (channel_model.prior_lift)"
        for c, w in zip(channel.astype("str")[weak], overlap_weight.fillna(1.0)[weak], strict=True)
    ]
    shifted = out.loc[weak, columns[:-1]].to_numpy()
    out.loc[weak, columns[1:]] = shifted
    out.loc[weak, columns[0]] = statement
    return out


def settle(
    decisions: Decisions, allocation: Allocation, windows: pd.DataFrame, settings: AllocationSettings
) -> tuple[Decisions, pd.DataFrame]:
    """Decisions after the allocation: queued candidates carry their allocated channel and its
    window; the others become ``left_alone`` with the reason. Returns (decisions, left_alone)."""
    chosen = allocation.assignments.set_index("loan_id")
    candidates = decisions.candidates
    queued = candidates[member_of(candidates["loan_id"], chosen.index)].copy()
    channel = queued["loan_id"].map(chosen["channel"])
    window = windows.set_index(["loan_id", "channel"])
    keys = pd.MultiIndex.from_arrays([queued["loan_id"], channel])
    queued["recommended_channel"] = channel.astype("str")
    for source, target in WINDOW_TO_QUEUE.items():
        # .array keeps the window's dtype (strings, timestamps) also on a night with no queue.
        queued[target] = window[source].reindex(keys).array
    queued["attempts_left_today"] = pd.array(
        window["attempts_left_today"].reindex(keys).to_numpy(), dtype="Int64"
    )
    for column in [
        "incremental_value",
        "p_contact",
        "p_self_cure",
        "p_reach",
        "within_capacity",
        "exploration",
        "resource",
        "overlap_weight",
        "amount_at_stake",
    ]:
        if column in chosen:
            queued[column] = queued["loan_id"].map(chosen[column]).to_numpy()
    queued["channel_cost"] = queued["recommended_channel"].map(dict(settings.channel_cost)).astype("float64")

    alone = allocation.left_alone
    reasons = alone.set_index("loan_id")["reason"]
    dispositions = decisions.dispositions.copy()
    is_alone = member_of(dispositions["loan_id"], reasons.index)
    dispositions.loc[is_alone, "disposition"] = "left_alone"
    dispositions.loc[is_alone, "detail"] = dispositions.loc[is_alone, "loan_id"].map(reasons).to_numpy()
    dispositions["control"] = member_of(dispositions["loan_id"], alone.loc[alone["control"], "loan_id"])
    dispositions["exploration"] = member_of(
        dispositions["loan_id"], allocation.assignments.loc[allocation.assignments["exploration"], "loan_id"]
    )
    left_alone = alone.merge(
        candidates[["loan_id", "borrower_id", "as_of", "days_past_due"]], on="loan_id", how="left"
    )
    left_alone = left_alone.merge(
        dispositions[["loan_id", "policy", "policy_version"]], on="loan_id", how="left"
    )
    left_alone["best_channel_cost"] = (
        left_alone["best_channel"].map(dict(settings.channel_cost)).astype("float64")
    )
    left_alone = left_alone.sort_values(["control", "loan_id"], ascending=[False, True], kind="stable")
    return replace(decisions, dispositions=dispositions, candidates=queued), left_alone.reset_index(drop=True)


def options_for_windows(
    windows: pd.DataFrame, options: pd.DataFrame, channel_cost: Mapping[str, float]
) -> pd.DataFrame:
    """The contact-windows frame with each scored (loan, channel)'s p_response, p_self_cure and
    incremental value (empty where the channel is not lawful or the loan was not a candidate)."""
    scored = options[["loan_id", "channel", "p_contact", "p_self_cure", *_amount_columns(options)]].copy()
    scored["incremental_value"] = incremental_values(scored, channel_cost)
    scored = scored.rename(columns={"p_contact": "p_response"}).drop(columns=_amount_columns(options))
    out = windows.merge(scored, on=["loan_id", "channel"], how="left", validate="one_to_one")
    out.index = windows.index
    return out.astype({"p_response": "float64", "p_self_cure": "float64", "incremental_value": "float64"})


__all__ = [
    "explain_channels",
    "lawful_options",
    "options_for_windows",
    "runner_up_channels",
    "response_options",
    "score_options",
    "settle",
]
