"""The run manifest (``manifest.json``): what a night read, used, decided and how long it took.

:class:`RunManifest` is the typed document, one model per section; :func:`build_manifest` is the
one function that builds it, from the night's typed results (:class:`scoring.night.NightResult`)
and the facts of the run around them (:class:`RunFacts`). The flow writes
``manifest.model_dump(mode="json")``; readers of the file parse it back with
``RunManifest.model_validate_json``. The keys, their order and their values are a public
interface (docs/outputs.md#the-manifest): a section that is absent on some nights (the
database report, the prior's lifts, the learnt payment share) is left out, never written empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from data_contracts.cutoff import Cutoff
from data_contracts.enums import DISPOSITIONS
from data_contracts.outputs import TREATMENTS
from models.channel_prior import is_prior
from models.payment_amount import PaymentShare
from scoring.disputes import summarize_disputes
from scoring.night import NightResult, NightSettings, regions_without_loans
from scoring.teams import team_summary


def _absent(value: object) -> bool:
    return value is None


def _optional() -> Any:
    """A field left out of the document when it is None (absent on some nights)."""
    return Field(None, exclude_if=_absent)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CutoffSection(_Section):
    timezone: str
    local: str


class TableCounts(_Section):
    """Rows in = accepted + quarantined + duplicates collapsed + held for a later night."""

    rows_in: int
    accepted: int
    quarantined: int
    duplicates_collapsed: int
    held: int


class HeldRows(_Section):
    """Valid rows after the cut-off, held for a later night: how many, and their time span."""

    rows: int
    column: str
    first: str
    last: str


class QuarantinedRule(_Section):
    table: str
    column: str
    rule: str
    rows: int


class ValidationSection(_Section):
    data_cutoff_utc: str | None
    cutoff_timezone: str | None
    tables: dict[str, TableCounts]
    held_for_later_nights: dict[str, HeldRows]
    quarantined_by_rule: list[QuarantinedRule]


class ModelSection(_Section):
    name: str
    version: str | None
    label: str
    mlflow_run_id: str | None


class ChannelModelSection(ModelSection):
    """The best-channel model used, or the stated prior (``source: prior``, the reason it stands
    in and its lifts)."""

    source: Literal["model", "prior"]
    not_fitted: str | None = _optional()
    prior_lift: dict[str, float] | None = _optional()


class ResponseWorth(_Section):
    """What a predicted response is worth: the learnt payment share (models/payment_amount.py),
    or the amount overdue when the champion logged none."""

    amount_at_stake: str
    edges: list[float] | None = _optional()
    shares: list[float] | None = _optional()
    overall: float | None = _optional()
    rows: list[int] | None = _optional()
    meaning: str | None = _optional()


class DecisionsSection(_Section):
    """The allocation's settings (config ``decisions``) and what it decided tonight."""

    channel_cost: dict[str, float]
    exploration_share: float
    control_share: float
    control_days: int
    self_cure_threshold: float
    salt: str
    repeat_contact_discount: float
    exploration: int
    exploration_share_of_queue: float
    control: int
    left_alone_by_reason: dict[str, int]
    incremental_value_within_capacity: float
    queued_by_channel: dict[str, int]
    rank_by: str
    response_worth: ResponseWorth


class PolicySection(_Section):
    packs: dict[str, str]
    default: str
    by_region: dict[str, str]
    cadence: list[str]
    loans_by_pack: dict[str, int]
    regions_without_loans: list[str]


class DispositionCounts(_Section):
    queued: int
    suppressed: int
    promise_follow_up: int
    left_alone: int


class Counts(_Section):
    overdue: int
    scored: int
    suppressed: int
    queued: int
    promise_follow_up: int
    forbearance: int
    left_alone: int
    within_capacity: int
    dispositions: DispositionCounts


class TeamRow(_Section):
    team: str
    queued: int
    within_capacity: int
    amount_overdue: float
    expected_recovery: float
    overflow: int
    # Appended (issue 27): the configured contacts a day (None: no limit), the slots left
    # unused (None: no limit) and, in words, why the team is full or why slots go unused.
    capacity: int | None = None
    unused_capacity: int | None = None
    capacity_note: str | None = None


class ExplainSeconds(_Section):
    propensity_reasons: float
    channel_reasons: float


class ReviewSection(_Section):
    share_with_three_reasons: float
    share_with_three_channel_reasons: float
    disparities_flagged: int
    explain_seconds: ExplainSeconds


class DriftThresholds(_Section):
    warn_psi: float
    fail_psi: float
    fail_on: str


class DriftWorst(_Section):
    name: str
    psi: float


class DriftChecked(_Section):
    """Tonight's PSI against the champion's reference (monitoring/drift.py)."""

    status: str
    stops_run: bool
    score_psi: float | None
    worst: DriftWorst | None
    warned: dict[str, float]
    failed: dict[str, float]
    blocking: dict[str, float]
    unreferenced: list[str]
    downgraded: str | None
    thresholds: DriftThresholds


class DriftNotChecked(_Section):
    """The champion has no drift reference (trained before drift monitoring)."""

    status: Literal["no reference"]
    detail: str
    thresholds: DriftThresholds


class DatabaseSection(_Section):
    """The queue published to a database table (``--publish-url``)."""

    target: str
    table: str
    queue_rows: int
    replaced_queue_rows: int
    seconds: float


class TreatmentsSection(_Section):
    """Tonight's treatments (treatments.parquet): loans per treatment (every treatment, zeros
    included), how acceptance was estimated per kind of offer, and the expected value of the
    offers and referrals recommended."""

    counts: dict[str, int]
    acceptance: dict[str, str]
    expected_value_of_offers: float
    expected_value_of_referrals: float


class DisputesSection(_Section):
    """The open disputes holding overdue loans (disputes.parquet) and their deadlines."""

    open: int
    overdue_responses: int
    due_within_7_days: int
    without_deadline: int
    summary: str


class RunManifest(_Section):
    """``manifest.json`` (see docs/outputs.md#the-manifest)."""

    run_id: str
    as_of: str
    # What the run knew: every event before this instant, none after (held for later nights).
    data_cutoff_utc: str
    cutoff: CutoffSection
    data_source: str
    input_rows: dict[str, int]
    validation: ValidationSection
    model: ModelSection
    channel_model: ChannelModelSection
    decisions: DecisionsSection
    policy: PolicySection
    counts: Counts
    # Loans held back per reason (a loan held for two reasons counts under both).
    suppressed_by_reason: dict[str, int]
    teams: list[TeamRow]
    review: ReviewSection
    # PSI of p_pay and of every feature against the champion's reference (drift.csv).
    drift: DriftChecked | DriftNotChecked
    timings_seconds: dict[str, float]
    # The parts of the channel-choice and scoring stages (a resumed stage: its first run's).
    stage_detail_seconds: dict[str, float]
    # Appended with treatments beyond the next contact (issue 28).
    treatments: TreatmentsSection
    disputes: DisputesSection
    database: DatabaseSection | None = _optional()

    def with_timings(self, timings: Mapping[str, float]) -> RunManifest:
        """This manifest with the night's stage timings as they stand now."""
        return self.model_copy(update={"timings_seconds": dict(timings)})


# --- building it ----------------------------------------------------------------------------------


class Registered(Protocol):
    """A model version the night used (a registered champion, or the stated prior)."""

    @property
    def model(self) -> object: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def label(self) -> str: ...
    @property
    def run_id(self) -> str | None: ...


@dataclass(frozen=True)
class RunFacts:
    """The facts of a run around its night: identity, cut-off, what was read (``validation``:
    pipelines.common.validation_summary), the champions used, the payment share that priced a
    response (None: the champion logged none) and the stated prior's lifts (config
    ``channel_model.prior_lift``)."""

    run_id: str
    as_of: dt.date
    cutoff: Cutoff
    data_source: str
    input_rows: Mapping[str, int]
    validation: Mapping[str, Any]
    model: Registered
    channel_model: Registered
    payment_share: PaymentShare | None
    prior_lift: Mapping[str, float]


def build_manifest(
    night: NightResult,
    run: RunFacts,
    settings: NightSettings,
    *,
    review: Mapping[str, Any],
    drift: Mapping[str, Any],
    timings: Mapping[str, float],
    database: Mapping[str, Any] | None = None,
) -> RunManifest:
    """The run's manifest. ``review`` is the run's review document (review/report.py), ``drift``
    the drift block (monitoring/drift.py), ``timings`` the stages' seconds so far and
    ``database`` the database publish's report, if any."""
    queue, companions = night.queue, night.companions
    cutoff = run.cutoff
    return RunManifest(
        run_id=run.run_id,
        as_of=str(run.as_of),
        data_cutoff_utc=cutoff.instant.isoformat(),
        cutoff=CutoffSection(timezone=cutoff.timezone, local=f"{cutoff.day}T00:00 {cutoff.timezone}"),
        data_source=run.data_source,
        input_rows=dict(run.input_rows),
        validation=ValidationSection.model_validate(run.validation),
        model=_model_section(run.model),
        channel_model=_channel_model_section(run.channel_model, run.prior_lift),
        decisions=_decisions_section(night, settings, run.payment_share),
        policy=_policy_section(night, settings),
        counts=_counts(night),
        suppressed_by_reason=_counted(companions["suppressed"]["reason"]),
        teams=[
            TeamRow.model_validate(row)
            for row in team_summary(
                queue,
                default_capacity=settings.teams.default_capacity,
                capacity_by_channel=settings.teams.capacity_by_channel,
                capacity_by_team=settings.teams.capacity_by_team,
            ).to_dict("records")
        ],
        review=_review_section(night, review),
        drift=_drift_section(drift),
        timings_seconds=dict(timings),
        stage_detail_seconds={**night.chosen.seconds, **night.scored.scores.seconds},
        treatments=_treatments_section(night),
        disputes=_disputes_section(night.companions["disputes"]),
        database=None if database is None else DatabaseSection.model_validate(database),
    )


def _treatments_section(night: NightResult) -> TreatmentsSection:
    treatments = night.companions["treatments"]
    counted = treatments["treatment"].value_counts()
    offers = treatments["treatment"].isin(["payment_plan", "deferment", "settlement"])
    referrals = treatments["treatment"] == "referral"
    plan = night.chosen.treatments
    return TreatmentsSection(
        counts={name: int(counted.get(name, 0)) for name in TREATMENTS},
        acceptance=dict(plan.acceptance_basis) if plan is not None else {},
        expected_value_of_offers=round(float(treatments.loc[offers, "expected_value"].sum()), 2),
        expected_value_of_referrals=round(float(treatments.loc[referrals, "expected_value"].sum()), 2),
    )


def _disputes_section(disputes: pd.DataFrame) -> DisputesSection:
    summary = summarize_disputes(disputes)
    return DisputesSection(
        open=summary.open,
        overdue_responses=summary.overdue,
        due_within_7_days=summary.due_within_7_days,
        without_deadline=summary.no_deadline,
        summary=summary.sentence(),
    )


def _counted(values: pd.Series) -> dict[str, int]:
    """How many rows carry each value, by value."""
    return {str(key): int(n) for key, n in values.value_counts().sort_index().items()}


def _model_fields(model: Registered) -> dict[str, Any]:
    """The fields of :class:`ModelSection` (the channel model's section carries them too)."""
    return {"name": model.name, "version": model.version, "label": model.label, "mlflow_run_id": model.run_id}


def _model_section(model: Registered) -> ModelSection:
    return ModelSection(**_model_fields(model))


def _channel_model_section(channel: Registered, prior_lift: Mapping[str, float]) -> ChannelModelSection:
    prior = is_prior(channel.model)
    return ChannelModelSection(
        **_model_fields(channel),
        # Where tonight's channel values came from: a learnt model, or the stated prior.
        source="prior" if prior else "model",
        not_fitted=getattr(channel, "reason", None) if prior else None,
        prior_lift=dict(prior_lift) if prior else None,
    )


def _decisions_section(
    night: NightResult, settings: NightSettings, payment_share: PaymentShare | None
) -> DecisionsSection:
    queue, left_alone = night.queue, night.companions["left_alone"]
    allocation = settings.allocation
    within = queue["within_capacity"].astype(bool)
    explored = float(queue.loc[within, "exploration"].mean()) if bool(within.any()) else 0.0
    return DecisionsSection(
        channel_cost=dict(allocation.channel_cost),
        exploration_share=allocation.exploration_share,
        control_share=allocation.control_share,
        control_days=allocation.control_days,
        self_cure_threshold=allocation.self_cure_threshold,
        salt=allocation.salt,
        repeat_contact_discount=allocation.repeat_contact_discount,
        exploration=int(queue["exploration"].sum()),
        # The share actually queued at random tonight (the configured share is of the queue the
        # value ranking fills, so it is close to exploration_share, never a fixed count).
        exploration_share_of_queue=round(explored, 4),
        control=int(left_alone["control"].sum()),
        left_alone_by_reason=_counted(left_alone["reason"]),
        incremental_value_within_capacity=round(float(queue.loc[within, "incremental_value"].sum()), 2),
        queued_by_channel=_counted(queue["recommended_channel"]),
        # What the overall rank follows and what a predicted response is worth.
        rank_by=settings.rank_by,
        response_worth=(
            ResponseWorth.model_validate(
                {"amount_at_stake": "amount_overdue x learnt share", **payment_share.to_document()}
            )
            if payment_share is not None
            else ResponseWorth(amount_at_stake="amount_overdue (the champion logged no payment share)")
        ),
    )


def _policy_section(night: NightResult, settings: NightSettings) -> PolicySection:
    contacts, verdict = settings.contacts, night.contacts.verdict
    return PolicySection(
        packs=verdict.packs,
        default=str(contacts.default_pack),
        by_region=dict(contacts.by_region),
        # The lender's cadence rules added to every pack (policy.cadence).
        cadence=[rule.id for rule in contacts.house_rules],
        loans_by_pack=_counted(verdict.accounts["policy"]),
        # Region names match exactly; a key no overdue loan carries may be a misspelling.
        regions_without_loans=regions_without_loans(contacts, verdict),
    )


def _counts(night: NightResult) -> Counts:
    queue, companions = night.queue, night.companions
    dispositions = companions["dispositions"]["disposition"].value_counts()
    return Counts(
        overdue=len(night.features),
        scored=int(night.scored.scores.p_pay.notna().sum()),
        suppressed=int(companions["suppressed"]["loan_id"].nunique()),
        queued=len(queue),
        promise_follow_up=len(companions["promise_follow_up"]),
        forbearance=len(companions["forbearance"]),
        left_alone=len(companions["left_alone"]),
        within_capacity=int(queue["within_capacity"].sum()),
        dispositions=DispositionCounts.model_validate(
            {name: int(dispositions.get(name, 0)) for name in DISPOSITIONS}
        ),
    )


def _review_section(night: NightResult, review: Mapping[str, Any]) -> ReviewSection:
    explanations = review["explanations"]
    return ReviewSection(
        share_with_three_reasons=explanations["share_with_three_reasons"],
        share_with_three_channel_reasons=explanations["share_with_three_channel_reasons"],
        disparities_flagged=len(review["disparities"]["flagged"]),
        explain_seconds=ExplainSeconds(
            propensity_reasons=round(night.scored.scores.explain_seconds, 3),
            channel_reasons=round(night.chosen.seconds["channel explanations"], 3),
        ),
    )


def _drift_section(drift: Mapping[str, Any]) -> DriftChecked | DriftNotChecked:
    if drift.get("status") == "no reference":
        return DriftNotChecked.model_validate(drift)
    return DriftChecked.model_validate(drift)


__all__ = [
    "ChannelModelSection",
    "Counts",
    "DatabaseSection",
    "DecisionsSection",
    "DriftChecked",
    "DriftNotChecked",
    "PolicySection",
    "Registered",
    "ReviewSection",
    "RunFacts",
    "RunManifest",
    "ValidationSection",
    "build_manifest",
]
