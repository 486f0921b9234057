"""Treatments beyond the next contact: what to offer, whom to refer, whom to trace.

For every overdue loan the night recommends one treatment:

- ``contact``: a contact through the chosen channel, nothing offered (what the queue always did);
- ``payment_plan``: an affordable instalment and term that clear the arrears;
- ``deferment``: a short payment holiday where the arrears look like a temporary shock;
- ``settlement``: the balance settled for less, within the lender's bounds for the product and
  the days past due, only where it beats continuing to collect;
- ``referral``: the account handed to an agency or to legal action, where the agency's net
  recovery beats what further in-house collection is expected to bring;
- ``trace``: no working contact point, so the account goes to tracing, not to a contact queue;
- ``hold``: nothing tonight (a hold of the rule pack, a promise or an arrangement running, the
  control group, or no treatment worth its cost).

How each is valued (all in the loan's currency, stated so a manager can check them):

- *continuing to collect* over ``horizon_days``: the loan's best channel response per response
  window, repeated over the horizon, times the amount a response brings, capped at the balance:
  ``min(balance, horizon/window x p_contact_best x amount_at_stake)``. An optimistic figure on
  purpose: a settlement or a referral has to beat in-house collection at its best.
- an *offer* (plan, deferment, settlement) rides on a contact: it is presented when the contact
  reaches the borrower. Its gain over a plain contact is
  ``p_accept x (fulfilment x money it brings - what continuing would bring) - offer cost``; the
  queue's ``treatment_value`` adds ``p_reach x`` that gain to the contact's incremental value.
- a *referral*: ``agency rate(dpd) x balance x (1 - commission) - fee - continuing to collect``.

Offers do not change who is contacted tonight (the allocation ranks contacts by their own
incremental value: an offer's acceptance is a stated rule unless the book's arrangements history
teaches it, and a rule must not reorder the queue); referrals, tracing and running arrangements
take a loan out of the contact allocation. Plans and settlements respect the rule pack: a held
account is offered nothing, and a hardship or vulnerable account (the care list) gets the care
team's affordable plan or a deferment, never a settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_contracts.columnar import is_in
from features.build import PERIODS_PER_MONTH
from features.point_in_time import AsOf, as_of_date, events_before
from models.acceptance import AcceptanceModels

OFFERS: tuple[str, ...] = ("payment_plan", "deferment", "settlement")
# Loans whose treatment keeps them out of tonight's contact allocation, and the left-alone reason.
OUT_OF_CONTACT_REASONS = {
    "referral": "referred to an agency: its net recovery beats further in-house collection",
    "trace": "no working contact point: sent to tracing",
    "hold": "an arrangement is running: not chased while it is kept",
}
FAILED_CONTACT_OUTCOMES = ("wrong_party", "undelivered")
AGENCY_TEAM, TRACING_TEAM, CARE_TEAM = "agency", "tracing", "care"


@dataclass(frozen=True)
class SettlementBound:
    """The discounts the lender allows for ``product`` (``*``: any) from ``min_days_past_due``."""

    min_days_past_due: int
    min_discount: float
    max_discount: float
    product: str = "*"


@dataclass(frozen=True)
class TreatmentSettings:
    """What the treatments are valued by (configs/default.yaml, section ``treatments``)."""

    enabled: bool = True
    horizon_days: int = 180
    response_window_days: int = 7
    # Payment plans: instalment at most income_share x monthly income (else installment_multiple
    # x the loan's own monthly instalment), term within [min_term, max_term] months.
    plan_income_share: float = 0.10
    plan_installment_multiple: float = 1.0
    plan_min_term: int = 2
    plan_max_term: int = 12
    plan_min_days_past_due: int = 15
    plan_cost: float = 2.0
    care_income_share: float = 0.05
    # Deferments: a payment holiday for a temporary shock.
    deferment_days: int = 30
    deferment_max_days_past_due: int = 60
    deferment_min_on_time_share: float = 0.9
    deferment_min_loan_age_days: int = 180
    deferment_accept: float = 0.5
    deferment_cure_gain: float = 0.15
    deferment_cost: float = 2.0
    # Settlements.
    settlement_bounds: tuple[SettlementBound, ...] = (
        SettlementBound(120, 0.10, 0.30),
        SettlementBound(180, 0.10, 0.50),
    )
    settlement_step: float = 0.05
    settlement_cost: float = 5.0
    # Referral to an agency or legal action.
    referral_min_days_past_due: int = 120
    agency_recovery_rate: tuple[tuple[int, float], ...] = ((120, 0.25), (180, 0.18), (365, 0.10))
    agency_commission: float = 0.30
    referral_fee: float = 25.0
    # True: a borrower keeping an accepted plan or settlement is not chased. Off by default: in
    # the policy evaluation holding them cost more than it saved (docs/results.md).
    hold_running_arrangements: bool = False
    # Tracing.
    trace_failed_attempts: int = 3
    trace_lookback_days: int = 60
    # Rules where the arrangements history cannot teach acceptance: (accept, fulfilment).
    plan_prior: tuple[float, float] = (0.30, 0.60)
    settlement_prior: tuple[float, float] = (0.20, 0.80)
    min_offers: int = 100
    channel_cost: Mapping[str, float] = field(default_factory=dict)


# --- signals --------------------------------------------------------------------------------------


def trace_signals(
    interactions: pd.DataFrame, features: pd.DataFrame, as_of: AsOf, settings: TreatmentSettings
) -> pd.Series:
    """Why each loan of ``features`` needs tracing (absent: it does not): its last
    ``trace_failed_attempts`` outbound attempts within ``trace_lookback_days`` all reached a
    wrong party or were undelivered, or the borrower has no phone and no e-mail on file."""
    before = events_before(interactions, "occurred_at", as_of)
    since = pd.Timestamp(as_of_date(as_of)) - pd.Timedelta(days=settings.trace_lookback_days)
    outbound = before[
        (before["direction"] == "outbound")
        & is_in(before["loan_id"], features["loan_id"])
        & (before["occurred_at"].dt.tz_localize(None) >= since)
    ]
    last = (
        outbound.sort_values("occurred_at", kind="stable")
        .groupby("loan_id")
        .tail(settings.trace_failed_attempts)
    )
    # A vectorised count (a lambda per loan cost 16 s at 100k overdue loans).
    counted = (
        last.assign(failed=last["outcome"].isin(FAILED_CONTACT_OUTCOMES).astype("int64"))
        .groupby("loan_id")["failed"]
        .agg(attempts="size", failed="sum")
    )
    dead = counted[
        (counted["attempts"] >= settings.trace_failed_attempts) & (counted["failed"] == counted["attempts"])
    ]
    reasons = pd.Series(
        f"the last {settings.trace_failed_attempts} attempts reached a wrong party or were undelivered",
        index=dead.index,
        dtype="str",
    )
    means = features.set_index("loan_id")[["has_phone", "has_email"]]
    no_means = means.index[~means["has_phone"].astype(bool) & ~means["has_email"].astype(bool)]
    reasons = pd.concat([reasons, pd.Series("no phone and no e-mail on file", index=no_means, dtype="str")])
    return reasons[~reasons.index.duplicated()].rename_axis("loan_id")


def continuing_value(options: pd.DataFrame, balance: pd.Series, settings: TreatmentSettings) -> pd.DataFrame:
    """Per loan of ``options``: the best channel's p_contact, p_reach and amount at stake, and
    what continuing to collect brings over the horizon (module docstring), capped at ``balance``
    (indexed by loan_id)."""
    value = (options["p_contact"] - options["p_self_cure"]) * options["amount_at_stake"] - options[
        "channel"
    ].map(dict(settings.channel_cost)).astype("float64").fillna(0.0)
    best = (
        options.assign(contact_value=value)
        .sort_values(["contact_value", "channel"], ascending=[False, True], kind="stable")
        .drop_duplicates("loan_id")
        .set_index("loan_id")
    )
    windows = settings.horizon_days / settings.response_window_days
    expected = windows * best["p_contact"] * best["amount_at_stake"]
    best["continue_value"] = np.minimum(expected, balance.reindex(best.index).fillna(np.inf))
    return best[["channel", "p_contact", "p_reach", "amount_at_stake", "contact_value", "continue_value"]]


# --- offers ---------------------------------------------------------------------------------------


def plan_terms(accounts: pd.DataFrame, settings: TreatmentSettings, *, care: bool = False) -> pd.DataFrame:
    """The affordable plan of each account (indexed like ``accounts``): ``instalment``,
    ``n_instalments``, ``affordable_instalment`` and ``affordable`` (the arrears clear within
    the maximum term at an affordable instalment), ``affordability`` in words."""
    income = accounts["monthly_income"].astype("float64")
    share = settings.care_income_share if care else settings.plan_income_share
    monthly_installment = accounts["installment_amount"].astype("float64") * accounts[
        "installment_frequency"
    ].map(PERIODS_PER_MONTH).astype("float64")
    by_income = share * income
    limit = by_income.where(income > 0, settings.plan_installment_multiple * monthly_installment)
    arrears = accounts["amount_overdue"].astype("float64")
    term = np.ceil(arrears / limit).clip(settings.plan_min_term, settings.plan_max_term)
    instalment = np.ceil(arrears / term * 100.0) / 100.0
    words = np.where(
        income > 0,
        [f"{share:.0%} of the declared income"] * len(accounts),
        [f"{settings.plan_installment_multiple:g}x the loan's own monthly instalment"] * len(accounts),
    )
    return pd.DataFrame(
        {
            "instalment": instalment,
            "n_instalments": term.astype("int64"),
            "affordable_instalment": limit,
            "affordable": (instalment <= limit + 0.005) & (arrears >= 1.0),
            "affordability": words,
        },
        index=accounts.index,
    )


def _settlement_bounds(accounts: pd.DataFrame, settings: TreatmentSettings) -> pd.DataFrame:
    """The bound that applies to each account (a product's own before ``*``; the highest
    ``min_days_past_due`` reached), NaN where no settlement is allowed."""
    result = pd.DataFrame(
        {"min_discount": np.nan, "max_discount": np.nan, "bound_from_dpd": np.nan}, index=accounts.index
    )
    dpd = accounts["days_past_due"].astype("float64")
    ordered = sorted(settings.settlement_bounds, key=lambda b: (b.product != "*", b.min_days_past_due))
    for bound in ordered:  # later (more specific, later-stage) bounds overwrite earlier ones
        applies = dpd >= bound.min_days_past_due
        if bound.product != "*":
            applies &= accounts["product"] == bound.product
        result.loc[applies, ["min_discount", "max_discount", "bound_from_dpd"]] = (
            bound.min_discount,
            bound.max_discount,
            float(bound.min_days_past_due),
        )
    return result


def settlement_terms(
    accounts: pd.DataFrame, continuing: pd.Series, acceptance: AcceptanceModels, settings: TreatmentSettings
) -> pd.DataFrame:
    """The best settlement of each account within its bounds: the discount (on a grid of
    ``settlement_step``) that maximises p_accept x (p_paid x amount to accept - ``continuing``)
    - cost; ``discount`` NaN where no bound applies."""
    bounds = _settlement_bounds(accounts, settings)
    eligible = bounds["min_discount"].notna()
    best = pd.DataFrame(
        {"discount": np.nan, "amount_to_accept": np.nan, "p_accept": np.nan, "gain": -np.inf},
        index=accounts.index,
    )
    if not eligible.any():
        return best.join(bounds)
    rows = accounts[eligible]
    balance = rows["outstanding_balance"].astype("float64")
    steps = np.arange(0.0, 1.0 + 1e-9, settings.settlement_step)
    for step in steps:
        discount = (bounds.loc[eligible, "min_discount"] + step).clip(
            upper=bounds.loc[eligible, "max_discount"]
        )
        amount = np.floor((1.0 - discount) * balance * 100.0) / 100.0
        offers = rows.assign(discount=discount, instalment=amount, n_instalments=1)
        p_accept = acceptance.settlement.predict_proba(offers)
        gain = (
            p_accept
            * (acceptance.settlement.fulfilment_ * amount - continuing.reindex(rows.index).fillna(0.0))
            - settings.settlement_cost
        )
        better = gain > best.loc[eligible, "gain"]
        idx = better[better].index
        best.loc[idx, "discount"] = discount[idx]
        best.loc[idx, "amount_to_accept"] = amount[idx]
        best.loc[idx, "p_accept"] = pd.Series(p_accept, index=rows.index)[idx]
        best.loc[idx, "gain"] = gain[idx]
    return best.join(bounds)


def deferment_eligible(accounts: pd.DataFrame, settings: TreatmentSettings) -> pd.Series:
    """A temporary shock rather than unwillingness: a hardship signal, or a first miss after a
    long clean record (on-time share at least ``deferment_min_on_time_share``, at most one
    instalment overdue, no broken promise in 180 days, a loan at least
    ``deferment_min_loan_age_days`` old), within ``deferment_max_days_past_due``."""
    clean = (
        (accounts["on_time_share"].astype("float64") >= settings.deferment_min_on_time_share)
        & (accounts["n_installments_overdue"].astype("float64") <= 1)
        & (accounts["n_promises_broken_180d"].astype("float64") == 0)
        & (accounts["loan_age_days"].astype("float64") >= settings.deferment_min_loan_age_days)
    )
    shock = clean | accounts["hardship_plan_active"].astype(bool)
    return shock & (accounts["days_past_due"].astype("float64") <= settings.deferment_max_days_past_due)


def agency_rate(days_past_due: pd.Series, settings: TreatmentSettings) -> pd.Series:
    """The agency's expected recovery share of the balance at each account's days past due
    (the configured step function; 0 before its first step)."""
    rate = pd.Series(0.0, index=days_past_due.index)
    for from_dpd, share in sorted(settings.agency_recovery_rate):
        rate[days_past_due.astype("float64") >= from_dpd] = share
    return rate


@dataclass(frozen=True)
class TreatmentPlan:
    """Tonight's treatment of every contact candidate (indexed by loan_id): ``treatment``, the
    offer's terms, its acceptance, the values compared and ``treatment_reason``; and how
    acceptance was estimated (``acceptance_basis`` per kind, in words)."""

    frame: pd.DataFrame
    acceptance_basis: dict[str, str]

    def out_of_contact(self) -> pd.Index:
        """The candidates referred, traced or held by a running arrangement."""
        return self.frame.index[self.frame["treatment"].isin(list(OUT_OF_CONTACT_REASONS))]


# --- the night's choice ---------------------------------------------------------------------------

OFFER_TERM_COLUMNS = [
    "offer_instalment",
    "offer_n_instalments",
    "offer_discount",
    "offer_amount_to_accept",
    "offer_holiday_days",
]


def _offer_gains(
    accounts: pd.DataFrame, acceptance: AcceptanceModels, settings: TreatmentSettings, *, care: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each offer's gain over a plain contact (-inf where not allowed) and its terms."""
    arrears = accounts["amount_overdue"].astype("float64")
    dpd = accounts["days_past_due"].astype("float64")
    continuing = accounts["continue_value"].astype("float64").fillna(0.0)
    plan = plan_terms(accounts, settings, care=care)
    plan_money = plan["instalment"] * plan["n_instalments"]
    plan_offers = accounts.assign(
        instalment=plan["instalment"], n_instalments=plan["n_instalments"], discount=0.0
    )
    p_plan = pd.Series(acceptance.plan.predict_proba(plan_offers), index=accounts.index)
    plan_ok = plan["affordable"] & (care | (dpd >= settings.plan_min_days_past_due))
    plan_gain = p_plan * (acceptance.plan.fulfilment_ * plan_money - np.minimum(continuing, plan_money))
    plan_gain = (plan_gain - settings.plan_cost).where(plan_ok, -np.inf)

    defer_ok = deferment_eligible(accounts, settings) | care
    defer_gain = (
        settings.deferment_accept * settings.deferment_cure_gain * arrears - settings.deferment_cost
    ).where(defer_ok, -np.inf)
    if care:  # the care team never pushes a settlement
        settle = pd.DataFrame(
            {"gain": -np.inf, "discount": np.nan, "amount_to_accept": np.nan, "p_accept": np.nan},
            index=accounts.index,
        )
    else:
        settle = settlement_terms(accounts, continuing, acceptance, settings)
    gains = pd.DataFrame(
        {"payment_plan": plan_gain, "deferment": defer_gain, "settlement": settle["gain"].astype("float64")}
    )
    terms = pd.DataFrame(
        {
            "plan_instalment": plan["instalment"],
            "plan_n_instalments": plan["n_instalments"],
            "plan_p_accept": p_plan,
            "plan_affordability": plan["affordability"],
            "settlement_discount": settle["discount"],
            "settlement_amount": settle["amount_to_accept"],
            "settlement_p_accept": settle["p_accept"],
        },
        index=accounts.index,
    )
    return gains, terms


def _with_offer(
    frame: pd.DataFrame,
    gains: pd.DataFrame,
    terms: pd.DataFrame,
    settings: TreatmentSettings,
    acceptance: AcceptanceModels,
    fallback: str,
) -> pd.DataFrame:
    """``frame`` with the best offer (``fallback`` where none has a positive gain) and its terms."""
    best = gains.idxmax(axis=1).where(gains.max(axis=1) > 0, fallback)
    frame = frame.assign(treatment=best, offer_gain=gains.max(axis=1).where(best != fallback, 0.0))
    is_plan, is_defer, is_settle = best == "payment_plan", best == "deferment", best == "settlement"
    frame["offer_instalment"] = terms["plan_instalment"].where(
        is_plan, terms["settlement_amount"].where(is_settle)
    )
    frame["offer_n_instalments"] = pd.array(
        terms["plan_n_instalments"].where(is_plan, np.where(is_settle, 1, np.nan)).to_numpy(dtype="float64"),
        dtype="Int64",
    )
    frame["offer_discount"] = terms["settlement_discount"].where(is_settle)
    frame["offer_amount_to_accept"] = (terms["plan_instalment"] * terms["plan_n_instalments"]).where(
        is_plan, terms["settlement_amount"].where(is_settle)
    )
    frame["offer_holiday_days"] = pd.array(np.where(is_defer, settings.deferment_days, np.nan), dtype="Int64")
    frame["p_accept"] = terms["plan_p_accept"].where(
        is_plan,
        terms["settlement_p_accept"].where(is_settle, np.where(is_defer, settings.deferment_accept, np.nan)),
    )
    frame["fulfilment"] = np.where(
        is_plan, acceptance.plan.fulfilment_, np.where(is_settle, acceptance.settlement.fulfilment_, np.nan)
    )
    frame["plan_affordability"] = terms["plan_affordability"]
    return frame


def choose_treatments(
    candidates: pd.DataFrame,
    options: pd.DataFrame,
    in_force: pd.DataFrame,
    trace: pd.Series,
    acceptance: AcceptanceModels,
    settings: TreatmentSettings,
) -> TreatmentPlan:
    """The treatment of every contact candidate (module docstring), in this precedence: an
    arrangement running (hold), no working contact point (trace), a referral worth more than
    in-house collection at its best, the offer with the largest positive gain, a plain contact.

    ``options``: the scored lawful channel options (p_contact, p_self_cure, p_reach,
    amount_at_stake); ``in_force``: :func:`features.arrangements.arrangements_in_force`;
    ``trace``: :func:`trace_signals`."""
    accounts = candidates.set_index("loan_id")
    accounts = accounts.join(continuing_value(options, accounts["outstanding_balance"], settings))
    gains, terms = _offer_gains(accounts, acceptance, settings)
    frame = _with_offer(accounts[[]], gains, terms, settings, acceptance, fallback="contact")
    continuing = accounts["continue_value"].astype("float64").fillna(0.0)
    balance = accounts["outstanding_balance"].astype("float64")
    dpd = accounts["days_past_due"].astype("float64")
    referral = (
        agency_rate(dpd, settings) * balance * (1.0 - settings.agency_commission) - settings.referral_fee
    )
    referral_gain = referral - continuing
    p_reach = accounts["p_reach"].astype("float64").fillna(0.0)
    in_house = accounts["contact_value"].astype("float64").fillna(0.0).clip(lower=0.0) + p_reach * frame[
        "offer_gain"
    ].clip(lower=0.0)
    refer = (dpd >= settings.referral_min_days_past_due) & (referral_gain > 0) & (referral_gain > in_house)
    frame.loc[refer, "treatment"] = "referral"
    frame.loc[is_in(frame.index, trace.index), "treatment"] = "trace"
    if settings.hold_running_arrangements:
        frame.loc[is_in(frame.index, in_force["loan_id"]), "treatment"] = "hold"
    offered = frame["treatment"].isin(OFFERS)
    frame.loc[~offered, OFFER_TERM_COLUMNS + ["p_accept", "fulfilment"]] = np.nan
    frame.loc[~offered, "offer_gain"] = 0.0
    frame = frame.assign(
        continue_value=continuing,
        referral_net_recovery=referral.where(dpd >= settings.referral_min_days_past_due),
        contact_value=accounts["contact_value"].astype("float64"),
        p_reach=p_reach,
        best_channel=accounts["channel"],
    )
    basis = _acceptance_basis(acceptance, settings)
    frame["treatment_reason"] = treatment_reasons(
        frame.join(accounts[["amount_overdue", "outstanding_balance", "days_past_due"]]),
        trace,
        in_force.set_index("loan_id"),
        basis,
        settings,
    )
    return TreatmentPlan(frame=frame, acceptance_basis=basis)


def care_treatments(
    forbearance: pd.DataFrame,
    features: pd.DataFrame,
    acceptance: AcceptanceModels,
    settings: TreatmentSettings,
) -> pd.DataFrame:
    """The care team's offer to each forbearance loan whose contact is not held: an affordable
    plan (``care_income_share`` of income) or a deferment; never a settlement. Valued against
    nothing: collection is held for them."""
    open_care = forbearance.loc[~forbearance["contact_held"].astype(bool), "loan_id"]
    accounts = features[is_in(features["loan_id"], open_care)].set_index("loan_id").assign(continue_value=0.0)
    gains, terms = _offer_gains(accounts, acceptance, settings, care=True)
    frame = _with_offer(accounts[[]], gains, terms, settings, acceptance, fallback="hold")
    basis = _acceptance_basis(acceptance, settings)
    frame["treatment_reason"] = [
        _offer_reason(row, basis, settings, care=True)
        if row.treatment in OFFERS
        else "In the care team's hands: no affordable plan clears the arrears within the longest term; no collection push"
        for row in frame.join(
            accounts[["amount_overdue", "outstanding_balance", "days_past_due"]]
        ).itertuples()
    ]
    return frame.assign(team=CARE_TEAM)


# --- words ----------------------------------------------------------------------------------------


def _acceptance_basis(acceptance: AcceptanceModels, settings: TreatmentSettings) -> dict[str, str]:
    return {
        "payment_plan": acceptance.plan.describe(),
        "settlement": acceptance.settlement.describe(),
        "deferment": (
            f"the configured rule ({settings.deferment_accept:.0%} accept, {settings.deferment_cure_gain:.0%} "
            "more cure): the arrangements history holds no deferments"
        ),
    }


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _offer_reason(
    row: Any, basis: Mapping[str, str], settings: TreatmentSettings, *, care: bool = False
) -> str:
    treatment = row.treatment
    arrears, gain = float(row.amount_overdue), float(row.offer_gain)
    who = "The care team offers" if care else "Offer"
    if treatment == "payment_plan":
        n, instalment = int(row.offer_n_instalments), float(row.offer_instalment)
        return (
            f"{who} a payment plan of {n} monthly instalments of {_money(instalment)} clearing the arrears of "
            f"{_money(arrears)} (at most {row.plan_affordability}): "
            f"{float(row.p_accept):.0%} expected to accept ({basis['payment_plan']}); "
            f"expected gain {_money(gain)} over {'nothing' if care else 'continuing to collect'}"
        )
    if treatment == "deferment":
        return (
            f"{who} a {settings.deferment_days}-day payment holiday: the arrears look like a temporary shock "
            f"(a hardship signal or a first miss after a clean record); {basis['deferment']}; "
            f"expected gain {_money(gain)}"
        )
    discount, amount = float(row.offer_discount), float(row.offer_amount_to_accept)
    return (
        f"Offer to settle the balance of {_money(float(row.outstanding_balance))} for {_money(amount)} "
        f"({discount:.0%} off, within the bounds for {int(row.days_past_due)} days past due): "
        f"{float(row.p_accept):.0%} expected to accept ({basis['settlement']}); it beats continuing "
        f"to collect ({_money(float(row.continue_value))} over {settings.horizon_days} days) "
        f"by {_money(gain)} expected"
    )


def _running_reason(in_force: pd.DataFrame, loan_id: str) -> str:
    """Why a loan with an arrangement running is not chased."""
    if loan_id not in in_force.index:
        return "Hold: an arrangement is running; not chased while it is kept"
    what = "a payment plan" if in_force.at[loan_id, "kind"] == "plan" else "a settlement"
    since = pd.Timestamp(str(in_force.at[loan_id, "offered_on"])).date()
    until = pd.Timestamp(str(in_force.at[loan_id, "ends_on"])).date()
    return f"Hold: {what} accepted on {since} is running until {until}; not chased while it is kept"


def treatment_reasons(
    frame: pd.DataFrame,
    trace: pd.Series,
    in_force: pd.DataFrame,
    basis: Mapping[str, str],
    settings: TreatmentSettings,
) -> list[str]:
    """Why each row of ``frame`` (indexed by loan_id, :func:`choose_treatments`' columns) gets
    its treatment, with the figures compared."""
    reasons = []
    row: Any  # itertuples() rows: the stubs type their fields as any scalar
    for row in frame.itertuples():
        treatment = row.treatment
        if treatment in OFFERS:
            reasons.append(_offer_reason(row, basis, settings))
        elif treatment == "referral":
            reasons.append(
                f"Refer to the agency: its expected net recovery of {_money(row.referral_net_recovery)} "
                f"({settings.agency_commission:.0%} commission and a fee of {_money(settings.referral_fee)} deducted) "
                f"beats {_money(row.continue_value)} from in-house collection at its best over "
                f"{settings.horizon_days} days, at {int(row.days_past_due)} days past due"
            )
        elif treatment == "trace":
            reasons.append(f"Trace before any contact: {trace.get(row.Index, 'no working contact point')}")
        elif treatment == "hold":
            reasons.append(_running_reason(in_force, str(row.Index)))
        else:
            reasons.append(
                "Contact, nothing to offer: no plan, deferment or settlement is expected to bring more than the "
                "contact itself"
            )
    return reasons


def no_treatments(candidates: pd.DataFrame) -> TreatmentPlan:
    """Every candidate contacted, nothing offered (``treatments.enabled: false``)."""
    frame = pd.DataFrame(index=pd.Index(candidates["loan_id"], name="loan_id"))
    frame["treatment"] = "contact"
    for column in [*OFFER_TERM_COLUMNS, "p_accept", "fulfilment", "continue_value", "referral_net_recovery"]:
        frame[column] = np.nan
    frame["offer_gain"] = 0.0
    frame["treatment_reason"] = (
        "Contact: treatments beyond contact are switched off (treatments.enabled: false)"
    )
    return TreatmentPlan(frame=frame, acceptance_basis={})


def out_of_contact_rows(
    options: pd.DataFrame, plan: TreatmentPlan, channel_cost: Mapping[str, float]
) -> pd.DataFrame:
    """Left-alone rows (the allocation's columns) for the candidates a treatment takes out of
    tonight's contact allocation: their best channel and its value, and the treatment's reason."""
    out = plan.out_of_contact()
    mine = options[is_in(options["loan_id"], out)]
    cost = mine["channel"].map(dict(channel_cost)).astype("float64")
    value = (mine["p_contact"] - mine["p_self_cure"]) * mine["amount_at_stake"] - cost
    best = (
        mine.assign(value=value)
        .sort_values(["value", "channel"], ascending=[False, True], kind="stable")
        .drop_duplicates("loan_id")
    )
    treatment = best["loan_id"].map(plan.frame["treatment"])
    return best.assign(reason=treatment.map(OUT_OF_CONTACT_REASONS), control=False).rename(
        columns={"channel": "best_channel", "value": "best_incremental_value", "p_contact": "p_best_channel"}
    )


def treatment_list(
    features: pd.DataFrame,
    dispositions: pd.DataFrame,
    queue: pd.DataFrame,
    plan: TreatmentPlan,
    care: pd.DataFrame,
    trace: pd.Series,
    held: pd.Index,
) -> pd.DataFrame:
    """treatments.parquet: one row per overdue loan with its treatment (queued loans: the
    queue's; loans taken out of contact: referral, trace or hold; the care list's open loans:
    the care team's offer; loans with no lawful channel and no working contact point: trace;
    everything else: hold, with the disposition's detail). ``held``: loans an account-level
    hold suppresses (never traced, never offered anything)."""
    frame = dispositions[
        ["as_of", "loan_id", "borrower_id", "disposition", "detail", "policy", "policy_version"]
    ]
    frame = frame.merge(
        features[["loan_id", "product", "days_past_due", "amount_overdue", "outstanding_balance"]],
        on="loan_id",
    ).set_index("loan_id")
    frame["treatment"] = "hold"
    frame["treatment_reason"] = "Hold: " + frame["detail"].where(frame["detail"] != "", frame["disposition"])
    for column in ["team", "channel"]:
        frame[column] = pd.Series(pd.NA, index=frame.index, dtype="str")
    for column in [
        *OFFER_TERM_COLUMNS,
        "p_accept",
        "expected_value",
        "continue_value",
        "referral_net_recovery",
    ]:
        frame[column] = np.nan

    queued = queue.set_index("loan_id")
    chosen = plan.frame
    taken_out = chosen.loc[is_in(chosen.index, plan.out_of_contact()) & is_in(chosen.index, frame.index)]
    frame.loc[taken_out.index, "treatment"] = taken_out["treatment"]
    frame.loc[taken_out.index, "treatment_reason"] = taken_out["treatment_reason"]
    frame.loc[taken_out.index, "team"] = taken_out["treatment"].map(
        {"referral": AGENCY_TEAM, "trace": TRACING_TEAM}
    )
    frame.loc[taken_out.index, ["continue_value", "referral_net_recovery"]] = taken_out[
        ["continue_value", "referral_net_recovery"]
    ]
    frame.loc[taken_out.index, "expected_value"] = (
        taken_out["referral_net_recovery"] - taken_out["continue_value"]
    ).where(taken_out["treatment"] == "referral")

    no_channel = frame.index[(frame["disposition"] == "suppressed") & ~is_in(frame.index, held)]
    traced = no_channel.intersection(trace.index)
    frame.loc[traced, "treatment"] = "trace"
    frame.loc[traced, "team"] = TRACING_TEAM
    frame.loc[traced, "treatment_reason"] = "Trace before any contact: " + trace.loc[traced]

    offered = care[care["treatment"].isin(OFFERS)]
    frame.loc[offered.index, ["treatment", "treatment_reason", "team", "p_accept"]] = offered[
        ["treatment", "treatment_reason", "team", "p_accept"]
    ]
    frame.loc[offered.index, OFFER_TERM_COLUMNS] = offered[OFFER_TERM_COLUMNS].astype("float64")
    frame.loc[offered.index, "expected_value"] = offered["offer_gain"]

    on_queue = frame.index.intersection(queued.index)
    for column in ["treatment", "treatment_reason", "team", "p_accept", *OFFER_TERM_COLUMNS]:
        frame.loc[on_queue, column] = queued.loc[on_queue, column].astype(frame[column].dtype)
    frame.loc[on_queue, "channel"] = queued.loc[on_queue, "recommended_channel"].astype("str")
    frame.loc[on_queue, "expected_value"] = queued.loc[on_queue, "treatment_value"]
    frame.loc[on_queue, "continue_value"] = chosen["continue_value"].reindex(on_queue)
    for column in ["offer_n_instalments", "offer_holiday_days"]:
        frame[column] = pd.array(frame[column].to_numpy(dtype="float64"), dtype="Int64")
    return frame.reset_index()


def queue_treatment_columns(queued: pd.DataFrame, plan: TreatmentPlan) -> pd.DataFrame:
    """The treatment columns of each queued loan (indexed like ``queued``): its offer and terms,
    ``treatment_value`` = the contact's incremental value + p_reach x the offer's gain, and the
    reason."""
    chosen = plan.frame.reindex(queued["loan_id"])
    chosen.index = queued.index
    gain = chosen["offer_gain"].astype("float64").fillna(0.0)
    columns = pd.DataFrame(
        {
            "treatment": chosen["treatment"].fillna("contact").astype("str"),
            "offer_instalment": chosen["offer_instalment"].astype("float64"),
            "offer_n_instalments": pd.array(
                chosen["offer_n_instalments"].to_numpy(dtype="float64"), dtype="Int64"
            ),
            "offer_discount": chosen["offer_discount"].astype("float64"),
            "offer_amount_to_accept": chosen["offer_amount_to_accept"].astype("float64"),
            "offer_holiday_days": pd.array(
                chosen["offer_holiday_days"].to_numpy(dtype="float64"), dtype="Int64"
            ),
            "p_accept": chosen["p_accept"].astype("float64"),
            "treatment_value": queued["incremental_value"].astype("float64")
            + queued["p_reach"].astype("float64").fillna(0.0) * gain,
            "treatment_reason": chosen["treatment_reason"].fillna("Contact").astype("str"),
        },
        index=queued.index,
    )
    return columns
