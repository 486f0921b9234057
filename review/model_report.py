"""What a training run shows a data scientist: metrics per segment, the calibration plot, the
lift and gains chart by decile, the SHAP summary, and the model card.

Pure functions: frames in, tables, PNG bytes and markdown out; the training flow logs them to
MLflow with the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.evaluation import (
    calibration_table,
    decile_table,
    dpd_bucket,
    recovery_captured,
    segment_metrics,
)
from models.identification import identification_summary
from review.figures import _png

SHAP_SAMPLE_ROWS = 2000  # TreeSHAP on a sample: the summary's shape settles well before this


def propensity_segments(block: pd.DataFrame) -> dict[str, pd.Series]:
    """The segments collection managers read results by: product, days-past-due bucket, region."""
    return {
        "product": block["product"].astype("str"),
        "dpd_bucket": dpd_bucket(block["days_past_due"]).astype("str"),
        # Region is the borrower's (the evidence block's group column), not a model input.
        "region": block["group_region"].astype("str"),
    }


def calibration_figure(tables: Mapping[str, pd.DataFrame], title: str) -> bytes:
    """Reliability diagram: observed pay rate against mean prediction per bin, one line per
    block (e.g. valid and test), the diagonal for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfect calibration")
    for name, table in tables.items():
        ax.plot(
            table["mean_p_pay"],
            table["pay_rate"],
            marker="o",
            label=f"{name} ({int(table['rows'].sum()):,} rows)",
        )
    ax.set_xlabel("mean predicted p_pay")
    ax.set_ylabel("observed pay rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def lift_figure(deciles: pd.DataFrame, title: str) -> bytes:
    """Pay rate and lift by score decile (bars) and cumulative gains of payers and money (lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(deciles["decile"], deciles["pay_rate"], color="#3b6fb6")
    left.set_xticks(deciles["decile"])
    left.set_xlabel("score decile (1 = highest p_pay)")
    left.set_ylabel("observed pay rate")
    left.set_title("Pay rate by decile")
    for x, y, lift in zip(deciles["decile"], deciles["pay_rate"], deciles["lift"], strict=True):
        left.annotate(f"x{lift:.1f}", (x, y), ha="center", va="bottom", fontsize=7)
    share = np.arange(0, len(deciles) + 1) / len(deciles)
    right.plot(share, [0, *deciles["cumulative_payers_share"]], marker="o", label="payers")
    if "cumulative_paid_share" in deciles:
        right.plot(share, [0, *deciles["cumulative_paid_share"]], marker="s", label="money paid")
    right.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="random")
    right.set_xlabel("share of loans, best scores first")
    right.set_ylabel("cumulative share captured")
    right.set_title("Gains")
    right.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return _png(fig)


def shap_summary(model, block: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, bytes]:
    """Mean |SHAP| per feature (table) and the beeswarm (PNG) on a seeded sample of ``block``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    sample = block.sample(n=min(SHAP_SAMPLE_ROWS, len(block)), random_state=seed) if len(block) else block
    contributions, _ = model.shap_values(sample)
    importance = (
        contributions.abs().mean().sort_values(ascending=False).rename("mean_abs_shap").rename_axis("feature")
    ).reset_index()
    data = model._matrix(sample)
    numeric = data.apply(
        lambda c: c.cat.codes.astype("float64") if hasattr(c, "cat") else c.astype("float64")
    )
    explanation = shap.Explanation(
        values=contributions.to_numpy(), data=numeric.to_numpy(), feature_names=list(contributions.columns)
    )
    plt.figure(figsize=(7, 5))
    shap.plots.beeswarm(explanation, max_display=15, show=False)
    return importance, _png(plt.gcf())


def model_card(facts: Mapping[str, object]) -> str:
    """The model card (markdown): what the model predicts, on which data, how well, for what use,
    and what it must not be used for. ``facts`` holds the run's figures (see the train flow)."""
    metrics = facts["metrics"]
    data = facts["data"]
    segments: pd.DataFrame = facts["segments"]
    worst = segments.dropna(subset=["auc"]).sort_values("auc").head(3)
    lines = [
        f"# Model card: {facts['model_name']} (trained as of {facts['as_of']})",
        "",
        "## What it predicts",
        f"{facts['label']}",
        "",
        "## Intended use",
        "Ranking overdue accounts for tonight's collection work queue (with the best-channel model's",
        "incremental value), and the expected recovery shown to officers. Decisions stay with people:",
        "the queue says who to contact, officers decide how.",
        "",
        "## Not for",
        "- Credit decisions (granting, pricing or limits): it was trained on overdue accounts only.",
        "- Judging a borrower's character: p_pay describes this book's history under the old contact policy.",
        "- Any decision that uses a protected attribute: gender and age are not inputs and a test proves",
        "  they cannot change a score; the review report checks proxies and group disparities.",
        "",
        "## Data",
        f"- Source: `{facts['data_source']}`, feature catalog version {facts['catalog_version']}, "
        f"{facts['n_features']} features, seed {facts['seed']}.",
    ]
    for block in ("train", "valid", "test"):
        summary = data.get(block)
        if summary:
            lines.append(
                f"- {block}: {summary['rows']:,} snapshot rows, {summary['snapshots']} snapshot days "
                f"{summary['first_snapshot']} to {summary['last_snapshot']}, pay rate {summary['pay_rate']:.1%}."
            )
    if facts.get("out_of_time_plan"):
        lines.append(f"- The {facts['out_of_time_plan']}.")
    lines += [
        "- Out of time only: validation and test are the newest snapshot days, embargoed so no label",
        "  window overlaps a later block's features.",
        *_inputs_lines(data),
        "",
        "## Performance (out of time)",
        "| block | AUC | days-past-due heuristic AUC | plain LightGBM AUC | Brier | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for block in ("valid", "test"):
        lines.append(
            f"| {block} | {metrics[f'{block}_auc']:.3f} | {_figure(metrics, f'{block}_heuristic_dpd_auc')} | "
            f"{_figure(metrics, f'{block}_plain_lightgbm_auc')} | "
            f"{metrics[f'{block}_brier']:.4f} | {metrics[f'{block}_ece']:.4f} |"
        )
    lines += [
        "",
        "The baselines are fitted and measured on the same blocks: the heuristic ranks by days past due",
        "alone; the plain LightGBM has the library's defaults, no monotone constraints and the same inputs.",
        "The promotion gate refuses a challenger that does not beat both on its test block.",
    ]
    lines += [f"\n**Warning**: the model {sentence}." for sentence in _baseline_shortfalls(metrics)]
    if "test_recovery_captured_at_capacity" in metrics:
        lines.append(
            f"\nRecovery captured at capacity: {metrics['test_recovery_captured_at_capacity']:.1%} of the "
            f"money paid in the {facts['window_days']} days after each test day came from that day's top "
            f"{facts.get('capacity_per_day', '?')} loans by expected recovery (p_pay x qualifying amount)."
        )
    lines += [
        "",
        "## Weakest segments (test AUC)",
        "| segment | value | rows | AUC | ECE |",
        "|---|---|---|---|---|",
    ]
    for row in worst.itertuples(index=False):
        lines.append(f"| {row.segment} | {row.value} | {row.rows:,} | {row.auc:.3f} | {row.ece:.4f} |")
    lines += [
        "",
        "## Known limits",
        "- Trained on the outcomes of the old contact policy: accounts it rarely contacted are scored",
        "  with less evidence; the best-channel model's exploration and control slots exist to fix that.",
        "- Drift: the nightly run compares tonight's features and score with this run's reference",
        "  distributions (PSI) and warns or stops when they move.",
        "- Calibration holds on the test window; it degrades when collection practice or the economy",
        "  changes. Retrain monthly and promote only through the gate.",
        "",
        "Artifacts of this run: segment_metrics.csv, calibration.png, lift_gains.png, deciles.csv,",
        "shap_summary.png, shap_importance.csv, evaluation_block.parquet (the gate's evidence).",
    ]
    return "\n".join(lines) + "\n"


def _figure(metrics: Mapping[str, float], key: str) -> str:
    value = metrics.get(key, float("nan"))
    return f"{value:.3f}" if value == value else "-"


def _baseline_shortfalls(metrics: Mapping[str, float]) -> list[str]:
    """Each baseline the model does not beat on the test block (margin 0), as a sentence."""
    from models.gate import baseline_warnings, training_baseline_excess

    excess = training_baseline_excess(metrics)
    return [s for s in baseline_warnings(excess, {}) if "not measured" not in s]


def _inputs_lines(data: Mapping[str, object]) -> list[str]:
    """The card's lines on what training decided on the book: inputs dropped as constant or
    missing on the train block, and whether the monotone constraints were kept."""
    lines = []
    inputs = data.get("model_inputs")
    if isinstance(inputs, Mapping):
        dropped = inputs.get("dropped") or {}
        if dropped:
            listed = ", ".join(f"`{name}` ({why})" for name, why in dropped.items())
            lines.append(
                f"- Inputs: {inputs['used']} of {inputs['of']} features; dropped as carrying no information "
                f"on the train block (never a reason): {listed}."
            )
        else:
            lines.append(f"- Inputs: all {inputs['used']} features vary on the train block; none dropped.")
    monotone = data.get("monotone_constraints")
    if isinstance(monotone, Mapping):
        choice = monotone.get("choice")
        lines.append(
            f"- Monotone constraints of the catalog {choice}: validation AUC "
            f"{monotone['valid_auc_constrained']:.4f} with them, {monotone['valid_auc_unconstrained']:.4f} "
            "without (same parameters; the validation block decides, a tie keeps them)."
        )
    return lines


@dataclass(frozen=True)
class TrainingReport:
    """What a propensity training run logs beside the model: extra metrics, tables (by file
    name) and files (PNG bytes or markdown, by file name)."""

    metrics: dict[str, float]
    frames: dict[str, pd.DataFrame]
    files: dict[str, bytes | str]


def _metric_key(text: str) -> str:
    # MLflow metric names allow letters, digits, _ - . / and spaces only ("181+" is not one).
    return re.sub(r"[^\w\-./ ]", "_", text.replace("+", "plus"))


def propensity_report(
    model,
    split: Mapping[str, pd.DataFrame],
    evidence: pd.DataFrame,
    *,
    capacity: int,
    seed: int,
    card_facts: Mapping[str, object],
) -> TrainingReport:
    """Segments, deciles, calibration, SHAP summary and model card of a propensity model.

    ``evidence`` is the test block with its ``group_*`` columns (the promotion gate's evidence);
    ``card_facts`` adds what the model card states beyond the figures computed here (model name,
    as-of, label text, data source, metrics and data summary of the run).
    """
    test = evidence
    p_test = model.predict_proba(test)[:, 1]
    segments = segment_metrics(test, test["label"], p_test, propensity_segments(test))
    deciles = decile_table(test["label"], p_test, test["amount_paid_in_window"])
    calibration = {
        name: calibration_table(block["label"], model.predict_proba(block)[:, 1])
        for name, block in (("valid", split["valid"]), ("test", test))
    }
    importance, beeswarm = shap_summary(model, test, seed)
    captured = recovery_captured(test, p_test, capacity)
    metrics = {"test_recovery_captured_at_capacity": captured}
    for row in segments.itertuples(index=False):
        for name in ("auc", "brier", "ece"):
            value = getattr(row, name)
            if value == value:
                metrics[_metric_key(f"segment.{row.segment}.{row.value}.{name}")] = float(value)
    card = model_card(
        {
            **card_facts,
            "metrics": {**card_facts["metrics"], **metrics},
            "segments": segments,
            "capacity_per_day": capacity,
        }
    )
    frames = {
        "segment_metrics.csv": segments,
        "deciles.csv": deciles,
        "calibration.csv": pd.concat(
            [table.assign(block=name) for name, table in calibration.items()], ignore_index=True
        ),
        "shap_importance.csv": importance,
    }
    files = {
        "calibration.png": calibration_figure(calibration, "Calibration out of time"),
        "lift_gains.png": lift_figure(deciles, "Test block: lift and gains by decile"),
        "shap_summary.png": beeswarm,
        "model_card.md": card,
    }
    return TrainingReport(metrics=metrics, frames=frames, files=files)


def channel_model_card(facts: Mapping[str, object]) -> str:
    """The best-channel model's card (markdown): the funnel it estimates, its data, its
    out-of-time figures per treatment and the assumption the decisions rest on."""
    metrics = facts["metrics"]
    segments: pd.DataFrame = facts["segments"]
    lines = [
        f"# Model card: {facts['model_name']} (trained as of {facts['as_of']})",
        "",
        "## What it predicts",
        f"P(a qualifying payment within {facts['window_days']} days | the account, and a contact through a",
        "channel or none). Three boosters: self-cure (no contact), reach (the attempt gets through), and the",
        "response when reached or not; uplift = p_reach x (P(pay | reached) - P(pay | not reached)).",
        "",
        "## Intended use",
        "Choosing tonight's channel per loan and its incremental value (uplift x amount - cost), within",
        "team capacities, for the collection queue. Not for credit decisions or for judging borrowers.",
        "",
        "## Data",
        f"- Source: `{facts['data_source']}`, feature catalog version {facts['catalog_version']}, seed {facts['seed']}.",
        f"- Response rows: one per historical attempt and per sampled account-day without contact; treatments "
        f"in training: {facts['treatments']}.",
        "",
        "## Performance (out of time, each row under its own treatment)",
        f"- test AUC {metrics.get('test_auc', float('nan')):.3f}, Brier {metrics.get('test_brier', float('nan')):.4f}, "
        f"ECE {metrics.get('test_ece', float('nan')):.4f}; reach AUC {metrics.get('test_reach_auc', float('nan')):.3f}; "
        f"response-when-reached AUC {metrics.get('test_response_when_reached_auc', float('nan')):.3f}.",
        "",
        "| treatment | rows | pay rate | mean prediction | AUC |",
        "|---|---|---|---|---|",
    ]
    for row in segments[segments["segment"] == "treatment"].itertuples(index=False):
        lines.append(
            f"| {row.value} | {row.rows:,} | {row.pay_rate:.3f} | {row.mean_p_pay:.3f} | {row.auc:.3f} |"
        )
    identification = facts.get("identification")
    if identification is not None and len(identification):
        lines += [
            "",
            "## Where the history identifies each channel's effect",
            f"Overlap weight w = min(1, old policy's propensity / {facts.get('min_propensity', 0.01):g}) per",
            "account-day; the queue uses w x learnt + (1 - w) x the stated prior (channel_model.prior_lift).",
            "A cell is identified when its mean weight is at least 0.5 with 20 or more attempts",
            "(identification.csv has every cell).",
            "",
            "| channel | account-days in identified cells | identified cells (days-past-due bucket / product) |",
            "|---|---|---|",
        ]
        for channel, part in identification.groupby("channel", sort=True):
            cells = part[part["identified"]]
            share = cells["account_days"].sum() / max(part["account_days"].sum(), 1)
            named = ", ".join(f"{r.dpd_bucket} / {r.product}" for r in cells.itertuples(index=False))
            lines.append(f"| {channel} | {share:.0%} | {named or 'none: the prior decides'} |")
    lines += [
        "",
        "## Known limits",
        "- The funnel assumes an attempt that does not get through changes nothing; reached and unreached",
        "  attempts were chosen by the same old rule book, which is what makes their contrast an effect.",
        "- History was not randomised: inverse-propensity weights correct the self-cure baseline for the old",
        "  policy; the queue's exploration and control slots give the next retraining randomised evidence.",
        "- Channels the old policy rarely used (field visits) are learnt from few attempts.",
        "",
        "Artifacts of this run: segment_metrics.csv, calibration.png, lift_gains.png, deciles.csv,",
        "evaluation_block.parquet (the gate's evidence).",
    ]
    return "\n".join(lines) + "\n"


def channel_report(
    model, split: Mapping[str, pd.DataFrame], *, card_facts: Mapping[str, object]
) -> TrainingReport:
    """Calibration, lift by decile, metrics per treatment and days-past-due bucket, and the model
    card of the best-channel model on its out-of-time test block (rows under their own treatment)."""
    test = split["test"]
    p_test = model.predict_proba(test)[:, 1]
    segments = segment_metrics(
        test,
        test["label"],
        p_test,
        {
            "treatment": test["channel"].astype("str"),
            "dpd_bucket": dpd_bucket(test["days_past_due"]).astype("str"),
        },
    )
    deciles = decile_table(test["label"], p_test)
    calibration = {
        name: calibration_table(block["label"], model.predict_proba(block)[:, 1])
        for name, block in (("valid", split["valid"]), ("test", test))
    }
    metrics = {}
    for row in segments.itertuples(index=False):
        if row.auc == row.auc:
            metrics[_metric_key(f"segment.{row.segment}.{row.value}.auc")] = float(row.auc)
    identification = getattr(model, "identification_", None)
    if identification is not None:
        for channel, share in identification_summary(identification).items():
            metrics[f"identified_share.{channel}"] = share
    card = channel_model_card(
        {
            **card_facts,
            "segments": segments,
            "identification": identification,
            "min_propensity": getattr(model, "min_propensity", 0.01),
        }
    )
    return TrainingReport(
        metrics=metrics,
        frames={
            "segment_metrics.csv": segments,
            "deciles.csv": deciles,
            "calibration.csv": pd.concat(
                [table.assign(block=name) for name, table in calibration.items()], ignore_index=True
            ),
            **({"identification.csv": identification} if identification is not None else {}),
        },
        files={
            "calibration.png": calibration_figure(calibration, "Response model: calibration out of time"),
            "lift_gains.png": lift_figure(deciles, "Response model, test block: lift and gains by decile"),
            "model_card.md": card,
        },
    )


__all__ = [
    "TrainingReport",
    "calibration_figure",
    "channel_model_card",
    "channel_report",
    "lift_figure",
    "model_card",
    "propensity_report",
    "propensity_segments",
    "shap_summary",
]
