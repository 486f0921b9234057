"""The promotion gate's wiring: load challenger and champion, score both on the challenger's
out-of-time evidence, log the gate's table, and move the champion alias only when it passes.

Used by `recover promote` and by the train flow with ``promote``. The decision itself is the
pure :func:`models.gate.promotion_gate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from adapters import tracking
from data_contracts.artifacts import EVALUATION_BLOCK_ARTIFACT
from models.gate import (
    PLAIN_LIGHTGBM_COLUMN,
    GateResult,
    GateRules,
    channel_evidence,
    promotion_gate,
    propensity_evidence,
)
from recover.config import Config

# The challenger's out-of-time test block, logged with its training run: the same evidence is
# used whenever the gate runs, whichever champion it meets.


@dataclass(frozen=True)
class PromotionDecision:
    """What the gate decided for one registered model."""

    model: str
    challenger: str | None
    champion_before: str | None
    champion_after: str | None
    promoted: bool
    gate: GateResult | None
    gate_run_id: str | None
    note: str

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "challenger": self.challenger,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "promoted": self.promoted,
            "gate": self.gate.to_dict() if self.gate is not None else None,
            "gate_run_id": self.gate_run_id,
            "note": self.note,
        }


def gate_rules(config: Config) -> GateRules:
    return GateRules(tolerance=config.promotion.tolerance.given(), limit=config.promotion.limit.given())


def gate_capacity(config: Config, block: pd.DataFrame) -> int:
    """Loans a day the recovery-captured metric takes from the top: the configured number, else
    the daily capacity of every limited channel's teams (one team per region when the teams
    split by region; branches are not in the evidence, so a branch split counts one team)."""
    if config.promotion.capacity_per_day is not None:
        return config.promotion.capacity_per_day
    teams = config.teams
    per_team = sum(limit for limit in teams.capacity_by_channel.values() if limit is not None)
    n_teams = 1
    if "region" in teams.split_by and "group_region" in block.columns:
        n_teams = max(int(block["group_region"].nunique()), 1)
    return max(int(per_team * n_teams), 1)


def evidence_for(config: Config, kind: str, model, block: pd.DataFrame) -> dict[str, float]:
    """One model's gate metrics on the evidence block."""
    if kind == "propensity":
        return propensity_evidence(
            model,
            block,
            capacity=gate_capacity(config, block),
            attributes=config.review.attributes,
            min_group_size=config.review.min_group_size,
        )
    return channel_evidence(model, block)


def model_kinds(config: Config) -> dict[str, str]:
    """Registered model name -> which evidence it is judged on."""
    return {config.mlflow.propensity_model_name: "propensity", config.mlflow.channel_model_name: "channel"}


def gate_facts(
    config: Config,
    name: str,
    version: str,
    champion_before: str | None,
    run_id: str,
    block: pd.DataFrame,
    promote: bool,
) -> dict:
    """What the gate run logs beside its table: the versions judged and the evidence, the
    challenger's run ``run_id`` and its evaluation ``block``."""
    dates = pd.to_datetime(block["as_of"])
    facts = {
        "model": name,
        "challenger_version": version,
        "champion_version": champion_before or "none",
        "evidence": f"{EVALUATION_BLOCK_ARTIFACT} of run {run_id}",
        "evidence_rows": int(len(block)),
        "evidence_first_day": str(dates.min().date()),
        "evidence_last_day": str(dates.max().date()),
        "promote": promote,
    }
    if model_kinds(config)[name] == "propensity":
        facts["capacity_per_day"] = gate_capacity(config, block)
        # The baselines are judged on the block's own columns: days_past_due and the plain
        # LightGBM's predictions logged with the run (absent from blocks logged before them).
        facts["plain_lightgbm_in_evidence"] = PLAIN_LIGHTGBM_COLUMN in block.columns
    return facts


def run_gate(
    config: Config, name: str, version: str | None = None, *, promote: bool = True
) -> PromotionDecision:
    """Judge ``version`` (default: the challenger alias) of registered model ``name`` against
    the champion on the version's own evaluation block, log the gate run either way, and with
    ``promote`` move the champion alias (and clear the challenger alias) when it passes."""
    kind = model_kinds(config)[name]
    aliases = config.mlflow
    version = version or tracking.alias_version(config, name, aliases.challenger_alias)
    champion_before = tracking.alias_version(config, name, aliases.champion_alias)
    if version is None:
        return PromotionDecision(
            name, None, champion_before, champion_before, False, None, None, "no challenger to judge"
        )
    if version == champion_before:
        if promote:
            tracking.delete_alias(config, name, aliases.challenger_alias)
        return PromotionDecision(
            name, version, champion_before, champion_before, False, None, None, "already the champion"
        )
    challenger = tracking.load_version_number(config, name, version)
    block = tracking.load_run_frame(config, challenger.run_id, EVALUATION_BLOCK_ARTIFACT)
    if block is None:
        raise LookupError(
            f"{name}/{version} has no {EVALUATION_BLOCK_ARTIFACT}: it was trained before the gate "
            "existed; train again to give it evidence"
        )
    champion = (
        tracking.load_version(config, name, aliases.champion_alias) if champion_before is not None else None
    )
    challenger_evidence = evidence_for(config, kind, challenger.model, block)
    champion_evidence = evidence_for(config, kind, champion.model, block) if champion is not None else None
    result = promotion_gate(challenger_evidence, champion_evidence, gate_rules(config))
    facts = gate_facts(config, name, version, champion_before, challenger.run_id, block, promote)
    gate_run_id = tracking.log_gate(config, name, version, result, facts)
    promoted = bool(promote and result.passed)
    if promoted:
        tracking.point_alias(config, name, aliases.champion_alias, version)
        tracking.delete_alias(config, name, aliases.challenger_alias)
    note = result.verdict if promote else f"{result.verdict} (judged only; champion not moved)"
    return PromotionDecision(
        name,
        version,
        champion_before,
        version if promoted else champion_before,
        promoted,
        result,
        gate_run_id,
        note,
    )


def promote_models(
    config: Config, names: list[str] | None = None, *, promote: bool = True
) -> list[PromotionDecision]:
    """Run the gate for each registered model (default: both)."""
    return [run_gate(config, name, promote=promote) for name in names or list(model_kinds(config))]
