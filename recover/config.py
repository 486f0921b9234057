"""Typed configuration: YAML files in configs/ loaded into pydantic models.

Nothing is read at import time; call :func:`load_config`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_contracts.cutoff import iana_zone
from data_contracts.enums import CHANNELS, OPTIONAL_TABLES, TABLES
from scoring.policy.packs import Rule

if TYPE_CHECKING:
    from scoring.allocation import AllocationSettings
    from scoring.night import NightSettings
    from scoring.treatments import TreatmentSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


class SourceConfig(BaseModel):
    """Where each input table comes from in a database source.

    ``tables`` maps an input table name to a table name (optionally ``schema.table``) or to a SQL
    query; unmapped tables are read from a table of their own name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: dict[str, str] = {}

    @field_validator("tables")
    @classmethod
    def _known_tables_and_non_empty(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TABLES) - set(OPTIONAL_TABLES))
        if unknown:
            raise ValueError(f"unknown input tables {unknown}; known: {[*TABLES, *OPTIONAL_TABLES]}")
        blank = sorted(name for name, source in value.items() if not source.strip())
        if blank:
            raise ValueError(f"empty source for {blank}: give a table name or a SELECT/WITH query")
        return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowConfig(_Section):
    experiment: str = "recover"
    propensity_model_name: str = "recover-propensity"
    channel_model_name: str = "recover-channel"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    ui_url: str | None = Field(
        None,
        description="The MLflow UI serving this tracking store (e.g. http://mlflow.internal:5000): "
        "run summaries then link to the MLflow run.",
    )


class LabelConfig(_Section):
    window_days: int = Field(30, gt=0, description="Length of the label window in days.")
    qualifying_amount: Literal["min_overdue_or_installment", "amount_overdue", "one_installment"] = (
        "min_overdue_or_installment"
    )
    tolerance: float = Field(0.01, ge=0, description="Currency units ignored in comparisons.")


class LightGBMParams(_Section):
    n_estimators: int = Field(400, gt=0)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    max_depth: int = 5
    min_child_samples: int = Field(100, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(40, ge=1)
    tree_tolerance: float = Field(
        0.001,
        ge=0,
        lt=0.1,
        description="Keep the fewest trees whose validation score (AUC for the propensity model, "
        "log loss for the channel models) is within this of the score at the early-stopping point: "
        "explanations cost in proportion to trees. 0 keeps every tree up to early stopping.",
    )
    n_jobs: int = Field(2, ge=1)


class SearchConfig(_Section):
    """`recover train --search-trials N`: a time-boxed optuna search of the propensity model's
    LightGBM parameters, judged on the validation block (each trial a nested MLflow run)."""

    trials: int = Field(0, ge=0, description="Trials of the search; 0 trains with the parameters above.")
    timeout_seconds: float = Field(
        600.0, gt=0, description="The search stops after this long (the trial under way finishes)."
    )


class TrainingConfig(_Section):
    snapshot_every_days: int = Field(14, gt=0)
    snapshot_cadence: Literal["auto", "days", "monthly"] = Field(
        "auto",
        description="days: a snapshot every snapshot_every_days; monthly: on the as-of's day of each "
        "earlier month; auto: monthly when at least 80% of the loans pay monthly.",
    )
    min_history_days: int = Field(60, ge=0)
    validation_days: int = Field(56, gt=0)
    test_days: int = Field(56, gt=0)
    seed: int = 7
    lightgbm: LightGBMParams = LightGBMParams()
    search: SearchConfig = SearchConfig()


class ChannelModelConfig(_Section):
    """The contact-response (best-channel) model: P(pay within days | channel, or no contact)."""

    response_window_days: int = Field(
        7, gt=0, description="A contact 'worked' if a qualifying payment follows within these days."
    )
    every_days: int = Field(
        4, gt=0, description="One response day every N days of history (N not 7: weekdays rotate)."
    )
    attempts_every_days: int = Field(
        1,
        gt=0,
        description="The funnel (reach, response when reached) also learns from the attempts of "
        "every Nth day between response days; 1 = every attempt of the history.",
    )
    min_history_days: int = Field(60, ge=0)
    ipw: bool = Field(
        True, description="Weight rows by the inverse propensity of the historical contact policy."
    )
    weight_clip: float = Field(20.0, gt=1, description="Cap of the stabilised inverse-propensity weights.")
    lightgbm: LightGBMParams = LightGBMParams(n_estimators=300, colsample_bytree=0.9)
    min_attempts: int = Field(
        200,
        ge=1,
        description="Fewest outbound contacts in the history, some reaching the borrower and some "
        "not, before a best-channel model is fitted; below it the queue values channels by "
        "prior_lift (models/channel_prior.py) and says so.",
    )
    prior_lift: dict[str, float] = Field(
        default_factory=lambda: {
            "call": 0.06,
            "sms": 0.02,
            "email": 0.01,
            "whatsapp": 0.02,
            "field_visit": 0.10,
            "letter": 0.015,
        },
        description="Stated prior, used where the history does not identify a channel's effect (shrunk "
        "toward by the overlap weight, models/identification.py) and where no channel model is learnt "
        "at all: the share of the gap to paying "
        "(1 - p_self_cure) that one contact through the channel closes within the response window. "
        "An assumption, not an estimate: conversations move borrowers more than messages.",
    )

    min_propensity: float = Field(
        0.01,
        ge=0,
        le=1,
        description="The old policy's propensity of a channel on an account-day at which its "
        "effect counts as identified there; below it the effect is shrunk toward prior_lift in "
        "proportion (models/identification.py). 0: trust the learnt effect everywhere.",
    )

    @field_validator("prior_lift")
    @classmethod
    def _prior_names_every_channel(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(channel for channel, lift in value.items() if not 0.0 <= lift <= 1.0)
        if bad:
            raise ValueError(f"prior_lift must lie in [0, 1]; not so for {bad}")
        return _all_channels(value, "channel_model.prior_lift")


def _all_channels(value: dict, what: str) -> dict:
    missing = sorted(set(CHANNELS) - set(value))
    unknown = sorted(set(value) - set(CHANNELS))
    if missing or unknown:
        raise ValueError(f"{what} must name every channel exactly: missing {missing}, unknown {unknown}")
    return value


class DecisionsConfig(_Section):
    """How incremental value, exploration and the control group choose tonight's contacts."""

    channel_cost: dict[str, float] = Field(
        default_factory=lambda: {
            "call": 2.0,
            "sms": 0.05,
            "email": 0.02,
            "whatsapp": 0.05,
            "field_visit": 25.0,
            "letter": 1.0,
        },
        description="Cost of one contact per channel, in the book's currency.",
    )
    exploration_share: float = Field(0.05, ge=0, le=0.5, description="Share of queue slots given at random.")
    control_share: float = Field(
        0.02, ge=0, le=0.5, description="Share of contactable loans held out at random."
    )
    control_days: int = Field(
        30,
        ge=1,
        description="A control loan is drawn once per period of this many days and held out for all of "
        "it (set it to the outcome window, so control vs contacted compares contact with none).",
    )
    self_cure_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Left-alone loans at or above this p_self_cure are 'likely to pay without contact'.",
    )
    salt: str = Field(
        "recover", min_length=1, description="Seed of the randomised draws (hashed with loan and day)."
    )
    repeat_contact_discount: float = Field(
        0.75,
        gt=0,
        le=1,
        description="Each outbound contact of a loan in the last 7 days scales the next contact's "
        "expected effect by this factor (diminishing returns of repeated contact; a stated prior: "
        "the history's rule ladder confounds it). 1: no discount.",
    )

    @field_validator("channel_cost")
    @classmethod
    def _every_channel_costed(cls, value: dict[str, float]) -> dict[str, float]:
        if any(cost < 0 for cost in value.values()):
            raise ValueError("channel costs cannot be negative")
        return _all_channels(value, "decisions.channel_cost")


class SettlementBoundConfig(_Section):
    """A settlement discount band: from ``min_days_past_due``, for ``product`` (``*``: any)."""

    min_days_past_due: int = Field(ge=0)
    min_discount: float = Field(ge=0, lt=1)
    max_discount: float = Field(ge=0, lt=1)
    product: str = "*"

    @model_validator(mode="after")
    def _ordered(self) -> SettlementBoundConfig:
        if self.max_discount < self.min_discount:
            raise ValueError("max_discount must be at least min_discount")
        return self


class TreatmentsConfig(_Section):
    """Treatments beyond the next contact: plans, deferments, settlements, referral, tracing
    (scoring/treatments.py; docs/treatments.md)."""

    enabled: bool = True
    horizon_days: int = Field(180, ge=7, description="Horizon of 'continuing to collect'.")
    plan_income_share: float = Field(
        0.10, gt=0, le=1, description="Affordable instalment: share of monthly income."
    )
    plan_installment_multiple: float = Field(
        1.0, gt=0, description="Without income: at most this multiple of the loan's own monthly instalment."
    )
    plan_min_term: int = Field(2, ge=1)
    plan_max_term: int = Field(12, ge=1)
    plan_min_days_past_due: int = Field(15, ge=0)
    plan_cost: float = Field(2.0, ge=0)
    care_income_share: float = Field(0.05, gt=0, le=1, description="The care team's affordability rule.")
    deferment_days: int = Field(30, ge=1)
    deferment_max_days_past_due: int = Field(60, ge=0)
    deferment_min_on_time_share: float = Field(0.9, ge=0, le=1)
    deferment_min_loan_age_days: int = Field(180, ge=0)
    deferment_accept: float = Field(0.5, ge=0, le=1, description="Rule: share accepting a deferment.")
    deferment_cure_gain: float = Field(
        0.15, ge=0, le=1, description="Rule: extra cure chance a deferment gives."
    )
    deferment_cost: float = Field(2.0, ge=0)
    settlement_bounds: list[SettlementBoundConfig] = Field(
        default_factory=lambda: [
            SettlementBoundConfig(min_days_past_due=120, min_discount=0.10, max_discount=0.30),
            SettlementBoundConfig(min_days_past_due=180, min_discount=0.10, max_discount=0.50),
        ]
    )
    settlement_step: float = Field(0.05, gt=0, le=0.5)
    settlement_cost: float = Field(5.0, ge=0)
    referral_min_days_past_due: int = Field(120, ge=0)
    agency_recovery_rate: dict[int, float] = Field(
        default_factory=lambda: {120: 0.25, 180: 0.18, 365: 0.10},
        description="Agency's expected recovery share of the balance from each days-past-due step.",
    )
    agency_commission: float = Field(0.30, ge=0, lt=1)
    referral_fee: float = Field(25.0, ge=0)
    hold_running_arrangements: bool = Field(
        False, description="Do not chase a borrower keeping an accepted plan or settlement."
    )
    trace_failed_attempts: int = Field(3, ge=1)
    trace_lookback_days: int = Field(60, ge=1)
    plan_prior: tuple[float, float] = Field((0.30, 0.60), description="Rule: (accept, keep) of a plan.")
    settlement_prior: tuple[float, float] = Field(
        (0.20, 0.80), description="Rule: (accept, pay) of a settlement."
    )
    min_offers: int = Field(
        100, ge=1, description="Offers of a kind the history needs before acceptance is learnt."
    )

    @model_validator(mode="after")
    def _terms(self) -> TreatmentsConfig:
        if self.plan_max_term < self.plan_min_term:
            raise ValueError("plan_max_term must be at least plan_min_term")
        return self


class EvaluationConfig(_Section):
    """`recover evaluate-policy`: policies run forward in the simulator under equal capacity."""

    horizon_days: int = Field(60, gt=0)
    capacity_per_1000_loans: dict[str, float] = Field(
        default_factory=lambda: {
            "call": 6.0,
            "sms": 15.0,
            "email": 15.0,
            "whatsapp": 10.0,
            "field_visit": 0.4,
            "letter": 2.5,
        },
        description="Contacts per day per 1,000 loans in the simulated book, per channel.",
    )
    min_days_between: dict[str, int] = Field(
        default_factory=lambda: {
            "call": 5,
            "sms": 7,
            "email": 7,
            "whatsapp": 7,
            "field_visit": 30,
            "letter": 30,
        },
        description="Spacing of two contacts of a loan through the same channel, for every policy.",
    )
    conversation_cooldown_days: int = Field(7, ge=0)
    oracle_replicates: int = Field(
        16, ge=1, description="Monte-Carlo replicates of the oracle's truth per day."
    )
    random_seed: int = 11
    shared_control: bool = Field(
        True,
        description="Every compared policy leaves the engine's control group (decisions.control_*) "
        "alone, so policies are compared on the same workable loans; the holdout's own cost is the "
        "engine_without_control policy's gain over the engine.",
    )
    futures: int = Field(
        4,
        ge=1,
        description="Independent futures (draws of borrower luck) every policy is run in; results "
        "are means with standard errors, gains are paired within each future.",
    )

    @field_validator("capacity_per_1000_loans", "min_days_between")
    @classmethod
    def _every_channel(cls, value: dict) -> dict:
        return _all_channels(value, "evaluation settings")

    def capacity(self, n_loans: int) -> dict[str, int]:
        """Contacts per day per channel for a book of ``n_loans``."""
        return {
            channel: int(round(rate * n_loans / 1000))
            for channel, rate in self.capacity_per_1000_loans.items()
        }


class ScoringConfig(_Section):
    channel_preference: list[str] = list(CHANNELS)
    rank_by: Literal["value_per_cost", "value"] = Field(
        "value_per_cost",
        description="Order of the queue's overall rank (priority_score) within capacity: incremental "
        "value per unit of contact cost (what one shared contact budget buys first) or incremental "
        "value. A team of one channel is in value order either way.",
    )
    n_reasons: int = Field(3, ge=1, le=3)
    min_amount_overdue: float = Field(1.0, ge=0)
    explain: Literal["queued", "all"] = Field(
        "queued",
        description="Whose p_pay is explained (SHAP reasons): the queued loans (default: TreeSHAP is "
        "the run's dearest stage), or every scored loan (explanations.parquet; its cost is in the "
        "manifest's stage_detail_seconds).",
    )

    @model_validator(mode="before")
    @classmethod
    def _suppressions_live_in_packs(cls, data):
        if isinstance(data, dict) and "suppressing_flags" in data:
            raise ValueError(
                "scoring.suppressing_flags moved into the contact-policy rule packs "
                "(configs/policies/*.yaml, rule kind flag_hold); remove it from your config"
            )
        return data

    @field_validator("channel_preference")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {list(CHANNELS)}")
        return value


class PolicyConfig(_Section):
    """Which contact-policy rule pack judges each loan (packs live in configs/policies/)."""

    default: str = Field(
        "us_reg_f", description="Pack name or YAML path; `recover score --policy` overrides."
    )
    by_region: dict[str, str] = Field(default_factory=dict, description="Borrower region -> pack name.")
    packs_dir: Path = Field(PROJECT_ROOT / "configs" / "policies", description="Where named packs are found.")
    cadence: tuple[Rule, ...] = Field(
        (),
        description="The lender's own contact cadence (house policy, not law), added to every pack: "
        "rules of any kind, typically contact_gap (at most one field visit in 7 days, one letter "
        "in 5, one contact a day). Their ids must not repeat a pack's.",
    )


class CutoffConfig(_Section):
    """The night's data cut-off: a run for work day D reads every event before 00:00 of D in the
    lender's time zone, and none after (those are held for the next night)."""

    timezone: str | None = Field(
        None,
        description="IANA time zone of the lender's business day; null: the run's default rule "
        "pack's jurisdiction (us_reg_f: America/New_York), else schedule.timezone. Pick a zone "
        "whose midnight falls after the last lawful contact hour of every borrower.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else iana_zone(value, "cutoff.timezone")


class PromiseConfig(_Section):
    grace_days: int = Field(
        3, ge=0, le=60, description="Days after the promised date before a promise counts as broken."
    )


class TeamsConfig(_Section):
    """How the queue splits into team queues, and what each team can do in a day."""

    split_by: list[Literal["channel", "region", "branch"]] = Field(
        default_factory=lambda: ["channel", "region"], min_length=1
    )
    default_capacity: int | None = Field(200, ge=0, description="Contacts per team per day; null = no limit.")
    capacity_by_channel: dict[str, int | None] = Field(default_factory=dict)
    capacity_by_team: dict[str, int | None] = Field(default_factory=dict)

    @field_validator("capacity_by_channel")
    @classmethod
    def _known_channels(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {list(CHANNELS)}")
        return value


class ValidationConfig(_Section):
    max_bad_row_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="A run stops, publishing nothing, when any table has more quarantined rows than this share.",
    )


class PublishConfig(_Section):
    """Where `recover score --publish URL` writes the queue a dialer or CRM reads."""

    table: str = "recover_queue"
    suppressed_table: str = "recover_suppressed"
    contacts_table: str = Field(
        "recover_contacts",
        description="One row per contact (the officer's work list, with contact points), beside the queue.",
    )
    db_schema: str | None = Field(None, description="Database schema; None = the connection's default.")


# Groupings the review knows (review.groups.protected_groups builds them); the protected ones are
# those the proxy check looks for in the features.
ProtectedAttribute = Literal["gender", "age_band"]
ReviewAttribute = Literal["gender", "age_band", "region"]


class ReviewConfig(_Section):
    """The fair-practice review of every run (review.html / review.json)."""

    attributes: list[ReviewAttribute] = Field(
        default_factory=lambda: ["gender", "age_band", "region"],
        description="Groupings of the disparity table (gender, age_band, region).",
    )
    protected: list[ProtectedAttribute] = Field(
        default_factory=lambda: ["gender", "age_band"],
        description="Protected attributes of the proxy check at training time.",
    )
    age_band_edges: list[int] = Field(default_factory=lambda: [18, 25, 35, 45, 55, 65])
    disparity_bounds: tuple[float, float] = Field(
        (0.8, 1.25), description="A group's ratio to the reference group outside these bounds is flagged."
    )
    min_group_size: int = Field(30, ge=1, description="Smaller groups are reported, never flagged.")
    significance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="A disparity is flagged only when its Benjamini-Hochberg adjusted p-value is below this.",
    )
    proxy_mutual_information: float = Field(
        0.05, ge=0, description="A feature sharing this much information (nats) with an attribute is a proxy."
    )
    proxy_auc: float = Field(
        0.7,
        ge=0.5,
        le=1,
        description="Features predicting an attribute this well (AUC) together are flagged.",
    )


class GateMetrics(_Section):
    """One number per promotion-gate metric (null: not judged on that count). The baseline
    metrics (``auc_over_dpd_heuristic``, ``auc_over_plain_lightgbm``: the propensity model's AUC
    minus the baseline's on the same out-of-time rows) take a limit only: the margin by which the
    model must beat that baseline."""

    auc: float | None = None
    auc_over_dpd_heuristic: float | None = None
    auc_over_plain_lightgbm: float | None = None
    brier: float | None = None
    ece: float | None = None
    recovery_captured_at_capacity: float | None = None
    group_auc_gap: float | None = None
    worst_group_ece: float | None = None

    def given(self) -> dict[str, float]:
        """The metrics that have a number."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class PromotionConfig(_Section):
    """The promotion gate (`recover promote`, `recover train --promote`): on the challenger's
    out-of-time test block, the challenger may be worse than the champion by at most
    ``tolerance`` per metric and must meet the absolute ``limit`` (a floor for AUC and recovery
    captured, a ceiling for the lower-is-better brier, ece, group_auc_gap, worst_group_ece). A
    propensity challenger must also beat the days-past-due heuristic and a plain LightGBM on
    those rows by ``limit.auc_over_dpd_heuristic`` and ``limit.auc_over_plain_lightgbm`` (null:
    not judged; the first version, which no gate refuses, is still warned about)."""

    tolerance: GateMetrics = GateMetrics(
        auc=0.002,
        brier=0.001,
        ece=0.01,
        recovery_captured_at_capacity=0.005,
        group_auc_gap=0.02,
        worst_group_ece=0.02,
    )
    limit: GateMetrics = GateMetrics(ece=0.05, auc_over_dpd_heuristic=0.0, auc_over_plain_lightgbm=0.0)
    capacity_per_day: int | None = Field(
        None,
        ge=1,
        description="Loans a day the recovery-captured metric takes from the top; null: the teams' "
        "limited capacity (capacity_by_channel of every limited channel, per region when teams "
        "split by region).",
    )


class MonitoringConfig(_Section):
    """Drift of every nightly run from the champion's reference, its out-of-time test block (population stability index
    per feature and for p_pay; see monitoring/drift.py)."""

    drift_bins: int = Field(10, ge=2, le=100, description="Quantile bins per numeric feature and for p_pay.")
    drift_warn_psi: float = Field(
        0.1, gt=0, description="A PSI at or above this is a warning (manifest, Prefect run log)."
    )
    drift_fail_psi: float = Field(
        0.25, gt=0, description="A PSI at or above this stops the run before publishing (see drift_fail_on)."
    )
    drift_fail_on: Literal["score", "any"] = Field(
        "score",
        description="Whose PSI beyond drift_fail_psi stops the run: the score's alone, or any feature's too.",
    )
    min_reference_snapshots: int = Field(
        2,
        ge=1,
        description="A champion whose drift reference (its out-of-time test block) spans fewer snapshot "
        "days, as a short history's one-month block does, reports drift beyond drift_fail_psi without "
        "stopping the night: one month's change of a young book is not evidence of a broken feed.",
    )

    @model_validator(mode="after")
    def _fail_above_warn(self):
        if self.drift_fail_psi < self.drift_warn_psi:
            raise ValueError(
                f"monitoring.drift_fail_psi ({self.drift_fail_psi}) is below drift_warn_psi ({self.drift_warn_psi})"
            )
        return self


class OutcomesConfig(_Section):
    """`recover backfill`: realized recovery of past queues (monitoring/outcomes.py)."""

    window_days: int | None = Field(
        None,
        gt=0,
        description="Outcome window after each queue's as-of, in days; null = the label window "
        "(label.window_days), so realized pay rates compare with p_pay.",
    )


class ScheduleConfig(_Section):
    """`recover serve`: when the nightly scoring and the retraining run (Prefect deployments)."""

    timezone: str = Field(
        "America/New_York",
        description="The lender's time zone (IANA name): the crons are read in it, and a scheduled "
        "nightly run scores the work day that has begun in it.",
    )
    nightly_cron: str = Field("0 2 * * *", description="Nightly scoring: 02:00 every day.")
    training_cron: str = Field(
        "0 4 1 * *", description="Retraining (with the promotion gate): the 1st of each month, 04:00."
    )
    report_cron: str = Field(
        "0 6 1 * *",
        description="The month's report (KPIs and compliance audit) of the previous calendar month: "
        "the 1st of each month, 06:00.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return iana_zone(value, "schedule.timezone")

    @field_validator("nightly_cron", "training_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        import datetime as dt

        from cronsim import CronSim, CronSimError  # Prefect's own cron parser

        try:
            CronSim(value, dt.datetime(2026, 1, 1))
        except CronSimError as error:
            raise ValueError(
                f"{value!r} is not a cron expression (minute hour day month weekday): {error}"
            ) from None
        return value

    @field_validator("report_cron")
    @classmethod
    def _valid_report_cron(cls, value: str) -> str:
        return cls._valid_cron(value)


class OperationsConfig(_Section):
    """How a nightly run survives faults: retries, resuming a failed night, one publisher per night."""

    retries: int = Field(
        2, ge=0, le=10, description="Retries of each I/O task (reading sources, MLflow, publishing)."
    )
    retry_delay_seconds: list[float] = Field(
        [2.0, 10.0], description="Wait before each retry; the last value repeats (backoff)."
    )
    resume: bool = Field(
        True,
        description="Persist each completed stage of a night; a rerun of a failed night resumes after "
        "the last completed stage. A successful run forgets its stages.",
    )
    resume_hours: float = Field(
        36.0, gt=0, description="A failed night's stages older than this are recomputed, not reused."
    )
    lock_wait_seconds: float = Field(
        0.0,
        ge=0,
        description="A run for an as-of another run holds waits this long for it, then fails; 0: fails at once.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per log line (for log shippers)."
    )


class ClusterConfig(_Section):
    """Where the per-loan work runs: in this process (the default) or on a Dask cluster."""

    address: str | None = Field(
        None,
        description="Dask scheduler, e.g. tcp://scheduler:8786 (`--cluster` overrides it); null: in "
        "process, no cluster.",
    )
    partitions_per_worker: int = Field(
        2, ge=1, description="Partitions of the loans per Dask worker (features, scores, explanations)."
    )
    train_on_cluster: bool = Field(
        True, description="With an address, fit the boosters through lightgbm.dask on the cluster."
    )


class WebhookConfig(_Section):
    url: str | None = Field(None, description="POSTed a JSON event (Slack/Teams-style `text` included).")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(10.0, gt=0)


class SmtpConfig(_Section):
    host: str | None = Field(None, description="SMTP server; null: no e-mail.")
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str = Field(
        "RECOVER_SMTP_PASSWORD", description="Environment variable holding the password (never in YAML)."
    )
    sender: str = "recover@localhost"
    recipients: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(10.0, gt=0)


class NotificationsConfig(_Section):
    """Who hears of a run: a webhook and/or e-mail; on failure by default."""

    events: list[Literal["failure", "success"]] = Field(["failure"], description="Run outcomes that notify.")
    webhook: WebhookConfig = WebhookConfig()
    smtp: SmtpConfig = SmtpConfig()


class Config(_Section):
    """The whole engine configuration."""

    state_dir: Path = Path(".recover")
    mlflow: MlflowConfig = MlflowConfig()
    source: SourceConfig = SourceConfig()
    publish: PublishConfig = PublishConfig()
    validation: ValidationConfig = ValidationConfig()
    label: LabelConfig = LabelConfig()
    training: TrainingConfig = TrainingConfig()
    review: ReviewConfig = ReviewConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    scoring: ScoringConfig = ScoringConfig()
    channel_model: ChannelModelConfig = ChannelModelConfig()
    decisions: DecisionsConfig = DecisionsConfig()
    treatments: TreatmentsConfig = TreatmentsConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    policy: PolicyConfig = PolicyConfig()
    cutoff: CutoffConfig = CutoffConfig()
    promises: PromiseConfig = PromiseConfig()
    teams: TeamsConfig = TeamsConfig()
    outcomes: OutcomesConfig = OutcomesConfig()
    promotion: PromotionConfig = PromotionConfig()
    # The synthetic book's settings (simulation.config.SimulationConfig), kept as plain data so the
    # engine's nights and trainings never load the simulator: the commands that simulate read it
    # through simulation.config.simulation_config, and the CLI checks it when it loads the config.
    simulation: dict[str, Any] = Field(default_factory=dict)
    schedule: ScheduleConfig = ScheduleConfig()
    operations: OperationsConfig = OperationsConfig()
    cluster: ClusterConfig = ClusterConfig()
    notifications: NotificationsConfig = NotificationsConfig()

    def outcome_window_days(self) -> int:
        """Days after a queue's as-of in which its loans' payments count as its outcome."""
        return self.outcomes.window_days or self.label.window_days

    def resolved_state_dir(self) -> Path:
        """The state folder: $RECOVER_STATE_DIR, else ``state_dir`` (relative to the cwd)."""
        return Path(os.environ.get("RECOVER_STATE_DIR") or self.state_dir).resolve()


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: Path | None = None) -> Config:
    """Load configs/default.yaml, with ``path`` (a full or partial YAML file) merged over it."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text()) or {}
    if path is not None:
        data = _deep_merge(data, yaml.safe_load(Path(path).read_text()) or {})
    return Config.model_validate(data)


# --- the plain settings the engine's layers read, built from the config in one place -------------


def allocation_settings(config: Config) -> AllocationSettings:
    """How the night's contacts are chosen (section ``decisions``), for scoring.allocation; the
    run manifest states them, so both hold the same fields."""
    from scoring.allocation import AllocationSettings

    return AllocationSettings(**config.decisions.model_dump())


def night_settings(config: Config, policy: str | None = None) -> NightSettings:
    """Everything a night decides by (scoring.night), from the config; ``policy`` names the
    default rule pack in place of ``policy.default`` (`recover score --policy`)."""
    from scoring.night import ContactSettings, NightSettings, TeamSettings

    teams = config.teams
    return NightSettings(
        contacts=ContactSettings(
            default_pack=policy or config.policy.default,
            by_region=dict(config.policy.by_region),
            packs_dir=config.policy.packs_dir,
            house_rules=tuple(config.policy.cadence),
            tolerance=config.label.tolerance,
            grace_days=config.promises.grace_days,
            preference=tuple(config.scoring.channel_preference),
        ),
        allocation=allocation_settings(config),
        teams=TeamSettings(
            split_by=tuple(teams.split_by),
            default_capacity=teams.default_capacity,
            capacity_by_channel=dict(teams.capacity_by_channel),
            capacity_by_team=dict(teams.capacity_by_team),
        ),
        n_reasons=config.scoring.n_reasons,
        rank_by=config.scoring.rank_by,
        explain=config.scoring.explain,
        response_window_days=config.channel_model.response_window_days,
        treatments=treatment_settings(config),
    )


def treatment_settings(config: Config) -> TreatmentSettings:
    """What the treatments are valued by (section ``treatments``), for scoring.treatments."""
    from scoring.treatments import SettlementBound, TreatmentSettings

    section = config.treatments.model_dump(exclude={"settlement_bounds", "agency_recovery_rate"})
    return TreatmentSettings(
        **section,
        response_window_days=config.channel_model.response_window_days,
        settlement_bounds=tuple(
            SettlementBound(**bound.model_dump()) for bound in config.treatments.settlement_bounds
        ),
        agency_recovery_rate=tuple(sorted(config.treatments.agency_recovery_rate.items())),
        channel_cost=dict(config.decisions.channel_cost),
    )
