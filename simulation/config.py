"""Configuration of the synthetic loan-book simulator.

Every behavioural knob lives here so that experiments (e.g. a harsher shock
regime, a bigger call centre) are a config change, not a code change. Defaults
are calibrated so that the default book looks like a mid-sized consumer lender:
roughly 10-25% of active loans overdue at ``as_of`` and about half of the
overdue loans paying a qualifying amount within 30 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulation.catalog import PRODUCTS


def _default_product_mix() -> dict[str, float]:
    return {"personal_loan": 0.35, "microloan": 0.25, "bnpl": 0.25, "auto_loan": 0.15}


class SimulationConfig(BaseModel):
    """All parameters of one simulated loan book; same config => identical book."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- size, calendar, randomness -------------------------------------------------
    n_loans: int = Field(20_000, gt=0, description="Number of loans in the book.")
    seed: int = Field(42, ge=0, description="Master seed; every random stream is spawned from it.")
    as_of: dt.date = Field(
        dt.date(2026, 6, 1),
        description=(
            "Observation date: tables hold the events of the simulated days before it (local dates; "
            "an evening event of the day before is stamped after 00:00 UTC of it)."
        ),
    )
    history_days: int = Field(
        548, ge=120, description="Days simulated before as_of (simulation starts at as_of - history_days)."
    )
    forward_days: int = Field(
        60, ge=0, description="Days simulated on/after as_of to produce the ground-truth future."
    )

    # --- population ------------------------------------------------------------------
    second_loan_share: float = Field(
        0.10, ge=0.0, le=0.5, description="Share of borrowers who hold two loans."
    )
    product_mix: dict[str, float] = Field(
        default_factory=_default_product_mix,
        description="Relative frequency of each product (personal_loan, microloan, bnpl, auto_loan).",
    )
    disbursement_growth: float = Field(
        1.0,
        ge=0.0,
        description="Book growth: disbursement density on the last disbursement day is "
        "(1 + growth) times the density on the first day.",
    )
    min_loan_age_days: int = Field(
        45, ge=1, description="Loans are disbursed no later than as_of minus this many days."
    )
    underwriting_reject_share: float = Field(
        0.07, ge=0, lt=1, description="Share of applicants (lowest bureau scores) the lender declines."
    )
    has_phone_rate: float = Field(0.95, ge=0, le=1, description="Share of borrowers with a phone number.")
    has_email_rate: float = Field(
        0.80, ge=0, le=1, description="Base share of borrowers with an e-mail address."
    )
    consent_sms_rate: float = Field(0.85, ge=0, le=1, description="P(SMS consent | phone).")
    consent_email_rate: float = Field(0.75, ge=0, le=1, description="P(e-mail consent | e-mail address).")
    consent_whatsapp_rate: float = Field(
        0.50, ge=0, le=1, description="Average P(WhatsApp consent | phone); higher for younger borrowers."
    )
    do_not_contact_rate: float = Field(
        0.01, ge=0, le=1, description="Share of borrowers flagged do_not_contact."
    )
    do_not_visit_rate: float = Field(
        0.05, ge=0, le=1, description="Share of loans carrying a static do_not_visit flag from disbursement."
    )
    wrong_number_rate: float = Field(
        0.04, ge=0, le=1, description="Share of phone holders whose number on file reaches a wrong party."
    )
    missing_birth_year_rate: float = Field(0.03, ge=0, le=1, description="Share of null birth_year.")
    missing_gender_rate: float = Field(0.03, ge=0, le=1, description="Share of null gender.")
    missing_income_rate: float = Field(0.08, ge=0, le=1, description="Share of null monthly_income.")

    # --- repayment behaviour -----------------------------------------------------------
    never_pay_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Share of loans taken with no intention or means to repay (first-payment default, "
        "fraud): they essentially never pay, whatever the contact.",
    )
    ontime_intercept: float = Field(
        2.5, description="Log-odds of paying an installment on time for an average borrower."
    )
    ontime_decision_lead_days: int = Field(
        5, ge=1, le=6, description="How many days before a due date the borrower may already pay it."
    )
    late_slip_rate: float = Field(
        0.03,
        ge=0,
        le=1,
        description="P(a borrower who intends to pay an installment pays it 1..late_slip_max_days "
        "days late) -- trait-independent slips that cure on their own.",
    )
    late_slip_max_days: int = Field(12, ge=1, description="Longest trait-independent payment slip (days).")
    direct_debit_ontime_bonus: float = Field(
        0.6, description="Extra on-time log-odds for borrowers paying by direct debit."
    )
    affordability_weight: float = Field(
        0.8,
        ge=0,
        description="Log-odds drop per unit of log(monthly installment / income / affordability_reference), "
        "on every repayment decision.",
    )
    affordability_reference: float = Field(
        0.08, gt=0, description="Installment-to-income ratio with a neutral affordability effect."
    )
    ability_weight: float = Field(1.2, ge=0, description="Log-odds weight of latent ability to pay.")
    willingness_weight: float = Field(0.9, ge=0, description="Log-odds weight of latent willingness to pay.")
    overdue_ability_weight: float = Field(
        1.5, ge=0, description="Weight of effective ability in the daily payment log-odds of overdue loans."
    )
    overdue_willingness_weight: float = Field(
        1.3, ge=0, description="Weight of willingness in the daily payment log-odds of overdue loans."
    )
    overdue_hazard_intercept: float = Field(
        -0.7, description="Daily payment log-odds of an average overdue borrower at 0 days past due."
    )
    dpd_hazard_slope: float = Field(
        0.1,
        ge=0,
        description="Daily payment log-odds drop per unit of log(1 + delinquency spell days); the spell "
        "restarts with every payment.",
    )
    full_cure_intercept: float = Field(
        0.4, description="Log-odds that an overdue payment clears the whole overdue amount."
    )
    deep_settlement_slope: float = Field(
        0.6,
        ge=0,
        description="Increase of the full-cure log-odds per unit of log(1 + dpd/30): deep delinquents "
        "who pay tend to settle the whole overdue amount.",
    )
    one_installment_share: float = Field(
        0.65,
        ge=0,
        le=1,
        description="Of overdue payments that are not full cures, share paying one installment "
        "(the rest are partial payments).",
    )
    same_day_payment_share: float = Field(
        0.65,
        ge=0,
        le=1,
        description="Share of overdue payment decisions executed the same day (else 1-3 days later).",
    )
    shock_annual_rate: float = Field(
        0.3, ge=0, description="Average yearly rate of income shocks per borrower (higher for low ability)."
    )
    shock_severity: float = Field(
        3.0, ge=0, description="Drop of effective ability (log-odds) during a shock."
    )
    shock_min_days: int = Field(30, ge=1, description="Shortest income-shock duration.")
    shock_max_days: int = Field(120, ge=1, description="Longest income-shock duration.")

    # --- contact effects, promises ------------------------------------------------------
    contact_effect_days: float = Field(
        5.0, gt=0, description="Time constant (days) of the exponential decay of a contact's effect."
    )
    contact_effect_cap: float = Field(
        3.0, gt=0, description="Cap on the accumulated contact effect (daily payment log-odds)."
    )
    whatsapp_reply_rate: float = Field(
        0.12, ge=0, le=1, description="P(borrower replies | WhatsApp delivered) -> right_party_contact."
    )
    vulnerable_share_of_hardship: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of hardship plans (the longest) whose borrower is also flagged vulnerable.",
    )
    message_opt_out_rate: float = Field(
        0.01,
        ge=0,
        le=0.5,
        description="P(borrower opts out of the channel | SMS, e-mail or WhatsApp delivered); the lender "
        "honours it, but the borrowers table keeps the consent given at onboarding (a stale CRM).",
    )
    promise_intercept: float = Field(
        0.2, description="Log-odds of promising to pay on a right-party contact."
    )
    promise_keep_intercept: float = Field(
        0.6, description="Log-odds of keeping a promise for an average borrower."
    )
    broken_promise_penalty: float = Field(
        0.5, ge=0, description="Log-odds drop in promising/keeping per previously broken promise."
    )
    promise_max_days: int = Field(14, ge=1, description="Promised dates fall 1..this many days ahead.")
    inbound_before_payment_rate: float = Field(
        0.35, ge=0, le=1, description="P(borrower calls in | decided to pay in 1-3 days)."
    )
    spontaneous_inbound_rate: float = Field(
        0.002, ge=0, le=1, description="Daily P(an overdue borrower calls in without paying soon)."
    )

    # --- account flags ------------------------------------------------------------------
    dispute_rate_on_rpc: float = Field(
        0.015, ge=0, le=1, description="P(dispute_raised | right-party contact)."
    )
    dispute_min_days: int = Field(10, ge=1, description="Shortest dispute duration.")
    dispute_max_days: int = Field(60, ge=1, description="Longest dispute duration.")
    cease_and_desist_rate_per_contact: float = Field(
        0.0002,
        ge=0,
        le=1,
        description="P(cease_and_desist) per contacted day, multiplied by the recent contact load.",
    )
    bankruptcy_daily_rate: float = Field(
        0.0003,
        ge=0,
        le=1,
        description="Daily bankruptcy rate of 60+ dpd loans of an average-ability borrower.",
    )
    deceased_annual_rate: float = Field(0.001, ge=0, le=1, description="Yearly mortality of borrowers.")
    legal_hold_daily_rate: float = Field(
        0.002, ge=0, le=1, description="Daily P(legal_hold) for 120+ dpd loans."
    )
    legal_hold_permanent_share: float = Field(
        0.3, ge=0, le=1, description="Share of legal holds without a scheduled end."
    )
    hardship_rate_on_contact: float = Field(
        0.4, ge=0, le=1, description="P(hardship_plan) when a shocked overdue borrower is reached."
    )
    hardship_daily_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Daily P(shocked overdue borrower asks for a hardship plan unprompted).",
    )
    hardship_min_days: int = Field(60, ge=1, description="Shortest hardship plan.")
    hardship_max_days: int = Field(120, ge=1, description="Longest hardship plan.")

    # --- treatments beyond contact: offers, arrangements, agency referrals ---------------
    written_offer_uptake: float = Field(
        0.35,
        ge=0,
        le=1,
        description="P(a borrower acts on an offer delivered in writing: SMS, e-mail, WhatsApp, letter); "
        "an offer made in a conversation (call, visit) is always considered.",
    )
    plan_accept_intercept: float = Field(
        0.3, description="Log-odds that an average borrower accepts a plan at the reference burden."
    )
    plan_affordability_weight: float = Field(
        1.2,
        ge=0,
        description="Drop of plan acceptance and instalment-keeping log-odds per unit of "
        "log(instalment / true monthly income / affordability_reference).",
    )
    plan_keep_intercept: float = Field(
        3.0, description="Log-odds that an average borrower pays a plan instalment on its day."
    )
    plan_interval_days: int = Field(30, ge=7, description="Days between a plan's instalments.")
    plan_first_instalment_max_days: int = Field(
        5, ge=1, description="A plan's first instalment falls 1..this many days after acceptance."
    )
    settlement_accept_intercept: float = Field(
        -2.0, description="Log-odds that an average borrower accepts a settlement without discount."
    )
    settlement_discount_weight: float = Field(
        6.0, ge=0, description="Increase of settlement acceptance log-odds per unit of discount."
    )
    settlement_dpd_weight: float = Field(
        0.6,
        ge=0,
        description="Increase of settlement acceptance log-odds per unit of log(1 + dpd/30): late "
        "delinquents with little hope of clearing the debt take a settlement more readily.",
    )
    settlement_pay_intercept: float = Field(
        2.0, description="Log-odds that an average borrower who accepted a settlement pays it."
    )
    settlement_pay_days: int = Field(
        14, ge=1, description="An accepted settlement is paid within this many days, else broken."
    )
    deferment_accept_intercept: float = Field(
        -2.5, description="Log-odds that a borrower in no income shock accepts a payment holiday."
    )
    deferment_shock_weight: float = Field(
        3.5, ge=0, description="Increase of deferment acceptance log-odds for a borrower in an income shock."
    )
    deferment_cure_intercept: float = Field(
        1.0,
        description="Log-odds that a borrower whose income shock ended during the holiday clears the "
        "arrears when it ends (the others simply resume ordinary collection).",
    )
    agency_recovery_intercept: float = Field(
        -0.6, description="Log-odds that an agency recovers anything from an average referred borrower."
    )
    agency_dpd_weight: float = Field(
        0.6, ge=0, description="Drop of those log-odds per unit of log(1 + dpd/30) at referral."
    )
    agency_window_days: int = Field(
        120, ge=30, description="An agency's payments fall within this many days of the referral."
    )
    arrangements_in_history: bool = Field(
        True,
        description="The old rule book offers plans and settlements in right-party conversations "
        "(history_plan_* and history_settlement_*); False: a history of contacts only, as before.",
    )
    history_plan_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Share of the old rule book's calls and visits to plan-eligible "
        "loans that carry a plan offer (made when the borrower is reached).",
    )
    history_plan_min_dpd: int = Field(30, ge=1, description="Plans are offered from this many days past due.")
    history_plan_max_dpd: int = Field(120, ge=1, description="... up to this many days past due.")
    history_plan_terms: tuple[int, ...] = Field(
        (3, 6, 12),
        min_length=1,
        description="Plan terms (monthly instalments) drawn at random; "
        "the instalment is the arrears over the term.",
    )
    history_settlement_share: float = Field(
        0.20,
        ge=0,
        le=1,
        description="Share of the old rule book's calls and visits to loans past "
        "history_plan_max_dpd that carry a settlement offer.",
    )
    history_settlement_discount_min: float = Field(
        0.1, ge=0, lt=1, description="Smallest settlement discount (share of the balance), drawn uniformly."
    )
    history_settlement_discount_max: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Largest settlement discount: randomised, so the history "
        "identifies how acceptance rises with the discount.",
    )

    # --- historical contact policy -----------------------------------------------------
    call_capacity_share: float = Field(
        0.02,
        ge=0,
        description="Outbound calls per weekday as a share of active loans (Saturday 40%, Sunday none).",
    )
    field_visit_capacity_share: float = Field(
        0.001, ge=0, description="Field visits per day (Mon-Sat) as a share of active loans."
    )
    sms_capacity_share: float = Field(0.10, ge=0, description="SMS per day as a share of active loans.")
    email_capacity_share: float = Field(0.10, ge=0, description="E-mails per day as a share of active loans.")
    whatsapp_capacity_share: float = Field(
        0.05, ge=0, description="WhatsApp messages per day as a share of active loans."
    )
    letter_capacity_share: float = Field(
        0.02, ge=0, description="Letters per day (Mon-Sat) as a share of active loans."
    )
    call_min_dpd: int = Field(
        3, ge=1, description="The historical policy calls only loans at least this far past due."
    )
    call_score_noise: float = Field(
        0.5, ge=0, description="Noise (std) added to the call priority score (days-past-due and balance)."
    )
    field_visit_min_dpd: int = Field(45, ge=1, description="Minimum days past due for a field visit.")
    field_visit_min_balance: float = Field(
        1500.0, ge=0, description="Minimum outstanding balance (USD) for a field visit."
    )
    hardship_contact_leak: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Daily share of hardship-plan loans the historical policy still contacts.",
    )
    outside_hours_share: float = Field(
        0.005,
        ge=0,
        le=1,
        description=(
            "Share of the old rule book's outbound contacts logged outside 08:00-21:00 local time "
            "(never contacts made from the engine's queue)."
        ),
    )
    planted_breach_share: float = Field(
        0.002,
        ge=0,
        le=0.05,
        description=(
            "Per kind of rule, the share of the history's outbound contacts added as planted, logged "
            "breaches (truth/planted_breaches.parquet) that the compliance audit must find; 0: none."
        ),
    )
    planted_breach_min: int = Field(
        5, ge=0, description="At least this many planted breaches of each kind (where the book has room)."
    )
    n_call_agents: int = Field(40, ge=1, description="Size of the call-centre agent pool.")
    n_field_agents: int = Field(8, ge=1, description="Size of the field-agent pool.")

    # --- ground truth -------------------------------------------------------------------
    truth_horizon_days: int = Field(30, ge=1, description="Horizon of the pay-probability ground truth.")
    truth_mc_replicates: int = Field(
        24,
        ge=0,
        description="Monte-Carlo replicates per overdue loan for the pay-probability/uplift truth "
        "(0 disables the estimate).",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> SimulationConfig:
        unknown = set(self.product_mix) - set(PRODUCTS)
        if unknown:
            raise ValueError(f"unknown products in product_mix: {sorted(unknown)}")
        if not self.product_mix or sum(self.product_mix.values()) <= 0:
            raise ValueError("product_mix needs at least one product with positive weight")
        if any(weight < 0 for weight in self.product_mix.values()):
            raise ValueError("product_mix weights must be >= 0")
        if self.history_days <= self.min_loan_age_days + 30:
            raise ValueError(
                "history_days must leave at least 30 days of disbursements before as_of - min_loan_age_days"
            )
        for low, high in (
            ("shock_min_days", "shock_max_days"),
            ("dispute_min_days", "dispute_max_days"),
            ("hardship_min_days", "hardship_max_days"),
            ("history_plan_min_dpd", "history_plan_max_dpd"),
            ("history_settlement_discount_min", "history_settlement_discount_max"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must be <= {high}")
        if any(term < 1 for term in self.history_plan_terms):
            raise ValueError("history_plan_terms must be >= 1")
        return self

    @property
    def sim_start(self) -> dt.date:
        """First simulated day (day index 0)."""
        return self.as_of - dt.timedelta(days=self.history_days)

    @property
    def as_of_day(self) -> int:
        """Day index of as_of."""
        return self.history_days

    @property
    def end_day(self) -> int:
        """Exclusive day index where the forward simulation stops."""
        return self.history_days + self.forward_days


def simulation_config(
    settings: Mapping[str, Any] | SimulationConfig | None = None, **overrides: Any
) -> SimulationConfig:
    """The simulator's settings from the engine config's ``simulation`` section (plain data, or a
    :class:`SimulationConfig` already), with ``overrides`` on top; raises pydantic's
    ValidationError naming the bad field."""
    base = settings.model_dump() if isinstance(settings, SimulationConfig) else dict(settings or {})
    return SimulationConfig.model_validate({**base, **overrides})
