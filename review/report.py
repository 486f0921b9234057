"""The run's review document (review.json) and its self-contained page (review.html).

Pure functions: the document (:class:`ReviewDocument`) is built from frames the nightly flow
already has; the page embeds its plots as base64 PNG and carries no script, stylesheet or font
from anywhere else, so it opens offline and a reviewer's browser makes no request.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from features.catalog import spec
from review.disparity import DECISION_METRICS
from scoring.disputes import summarize_disputes


def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------ the document
# Field order is the key order of review.json (a public output): do not reorder.
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewRun(_Section):
    """The run the review is of: its id, work day, champion models and loan counts."""

    run_id: str
    as_of: str
    model: str
    channel_model: str
    overdue: int
    queued: int


class ReasonCoverage(_Section):
    """Share of queued rows with all three propensity reasons and all three channel reasons."""

    queued_rows: int
    share_with_three_reasons: float
    share_with_three_channel_reasons: float


class ImportanceRow(_Section):
    feature: str
    description: str
    mean_abs_shap: float | None


class ReasonCodeRow(_Section):
    reason_code: str
    feature: str
    direction: str
    loans: int
    share: float | None


class ExplanationsSection(ReasonCoverage):
    """The reason coverage, the 15 most important features and the 15 most frequent reasons."""

    global_importance: list[ImportanceRow]
    top_reason_codes: list[ReasonCodeRow]


class ValueSummary(_Section):
    """Count, mean and deciles / quartiles of a score; only ``count`` when there is no value."""

    count: int
    mean: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An empty score has no mean or quantiles: the document leaves the keys out.
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class Distributions(_Section):
    p_pay: ValueSummary
    priority_score: ValueSummary


class DisparityRow(_Section):
    """One metric of one group (review.disparity.DISPARITY_COLUMNS); NaN is None."""

    attribute: str
    group: str
    loans: int
    metric: str
    value: float | None
    reference_group: str | None
    ratio_to_reference: float | None
    p_value: float | None
    p_adjusted: float | None
    outside_bounds: bool
    flagged: bool


class DisparitiesSection(_Section):
    metrics: dict[str, str]  # metric -> what it measures (review.disparity.DECISION_METRICS)
    table: list[DisparityRow]
    flagged: list[DisparityRow]


class SuppressionCount(_Section):
    policy: str
    policy_version: str
    reason: str
    rule_id: str
    suppressions: int


class LateDispute(_Section):
    """An open dispute whose response deadline has passed."""

    dispute_id: str
    loan_id: str
    received_on: str
    respond_by: str
    days_late: int
    policy: str


class DisputeReview(_Section):
    """The open disputes (disputes.parquet): counts, one line, and every late response."""

    open: int
    overdue_responses: int
    due_within_7_days: int
    without_deadline: int
    summary: str
    late: list[LateDispute]


class ComplianceSummary(_Section):
    """Suppressions by reason, rule and rule-pack version; dispositions of every overdue loan;
    the open disputes and their late responses (absent when the review is built without them)."""

    rule_packs: dict[str, str]
    suppressions: int
    suppressed_loans: int
    suppressions_by_reason: list[SuppressionCount]
    dispositions: dict[str, int]
    disputes: DisputeReview | None = Field(None, exclude_if=lambda value: value is None)


class ReviewDocument(_Section):
    """Everything the review says (review.json: :meth:`to_json_dict`)."""

    run: ReviewRun
    settings: dict[str, Any]  # the review settings of the configuration, as given
    explanations: ExplanationsSection
    distributions: Distributions
    disparities: DisparitiesSection
    # The champion's fairness document logged at training (None when it has none): passed
    # through as logged, its shape is that of the model's training code.
    at_training: dict[str, Any] | None
    compliance: ComplianceSummary

    def to_json_dict(self) -> dict[str, Any]:
        """review.json's content: plain JSON values in field order (NaN and infinities None)."""
        document: dict[str, Any] = json_safe(self.model_dump(mode="json"))
        return document

    @property
    def disparity_bounds(self) -> Sequence[float]:
        bounds: Sequence[float] = self.settings.get("disparity_bounds", [0.8, 1.25])
        return bounds


def global_importance(contributions: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature over the explained loans, largest first."""
    mean_abs = contributions.abs().mean().sort_values(ascending=False)
    return pd.DataFrame(
        {
            "feature": mean_abs.index,
            "description": [spec(name).description for name in mean_abs.index],
            "mean_abs_shap": mean_abs.to_numpy(),
        }
    )


def reason_codes(contributions: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """How often each (feature, direction) is among a loan's top ``n`` reasons."""
    values = contributions.to_numpy()
    if not len(values):
        return pd.DataFrame(columns=["reason_code", "feature", "direction", "loans", "share"])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :n]
    rows = np.repeat(np.arange(len(values)), order.shape[1])
    picked = order.ravel()
    direction = np.where(values[rows, picked] > 0, "raises", "lowers")
    codes = pd.DataFrame({"feature": contributions.columns[picked], "direction": direction})
    counted = codes.value_counts().rename("loans").reset_index()
    counted["reason_code"] = counted["feature"] + ":" + counted["direction"]
    counted["share"] = counted["loans"] / len(values)
    return counted[["reason_code", "feature", "direction", "loans", "share"]]


def reason_coverage(queue: pd.DataFrame) -> ReasonCoverage:
    """Share of queued rows with all three propensity reasons and all three channel reasons."""

    def complete(columns: list[str]) -> float:
        if not len(queue):
            return 1.0
        filled = queue[columns].notna() & (queue[columns].astype("str").apply(lambda c: c.str.len()) > 0)
        return float(filled.all(axis=1).mean())

    return ReasonCoverage(
        queued_rows=int(len(queue)),
        share_with_three_reasons=complete(["reason_1", "reason_2", "reason_3"]),
        share_with_three_channel_reasons=complete(
            ["channel_reason_1", "channel_reason_2", "channel_reason_3"]
        ),
    )


def dispute_review(disputes: pd.DataFrame) -> DisputeReview:
    """The review's view of the night's dispute list (:func:`scoring.disputes.open_disputes`)."""
    summary = summarize_disputes(disputes)
    late = disputes[disputes["overdue_response"]]
    return DisputeReview(
        open=summary.open,
        overdue_responses=summary.overdue,
        due_within_7_days=summary.due_within_7_days,
        without_deadline=summary.no_deadline,
        summary=summary.sentence(),
        late=[
            LateDispute(
                dispute_id=str(row.dispute_id),
                loan_id=str(row.loan_id),
                received_on=str(pd.Timestamp(row.received_on).date()),
                respond_by=str(pd.Timestamp(row.respond_by).date()),
                days_late=-int(row.days_left),
                policy=str(row.policy),
            )
            for row in late.itertuples()
        ],
    )


def compliance_summary(
    suppressed: pd.DataFrame,
    dispositions: pd.DataFrame,
    packs: Mapping[str, str],
    disputes: pd.DataFrame | None = None,
) -> ComplianceSummary:
    """Suppressions by reason, rule and rule-pack version; dispositions of every overdue loan;
    with ``disputes`` (disputes.parquet), the open disputes and their late responses."""
    by_reason = (
        suppressed.groupby(["policy", "policy_version", "reason", "rule_id"], observed=True)
        .size()
        .rename("suppressions")
        .reset_index()
        .sort_values("suppressions", ascending=False, kind="stable")
    )
    return ComplianceSummary(
        rule_packs=dict(packs),
        suppressions=int(len(suppressed)),
        suppressed_loans=int(suppressed["loan_id"].nunique()) if len(suppressed) else 0,
        suppressions_by_reason=_rows(by_reason, SuppressionCount),
        dispositions=json_safe(dispositions["disposition"].value_counts().sort_index().to_dict()),
        disputes=dispute_review(disputes) if disputes is not None else None,
    )


def review_document(
    *,
    run: ReviewRun,
    coverage: ReasonCoverage,
    importance: pd.DataFrame,
    codes: pd.DataFrame,
    p_pay: pd.Series,
    priority: pd.Series,
    disparity: pd.DataFrame,
    training: Mapping[str, Any] | None,
    compliance: ComplianceSummary,
    settings: Mapping[str, Any],
) -> ReviewDocument:
    """Everything the review says (review.json: :meth:`ReviewDocument.to_json_dict`)."""
    return ReviewDocument(
        run=run,
        settings=json_safe(dict(settings)),
        explanations=ExplanationsSection(
            **coverage.model_dump(),
            global_importance=_rows(importance.head(15), ImportanceRow),
            top_reason_codes=_rows(codes.head(15), ReasonCodeRow),
        ),
        distributions=Distributions(p_pay=_summary(p_pay), priority_score=_summary(priority)),
        disparities=DisparitiesSection(
            metrics=DECISION_METRICS,
            table=_rows(disparity, DisparityRow),
            flagged=_rows(disparity[disparity["flagged"]], DisparityRow),
        ),
        at_training=json_safe(dict(training)) if training else None,
        compliance=compliance,
    )


_Row = TypeVar("_Row", bound=BaseModel)


def _rows(frame: pd.DataFrame, row: type[_Row]) -> list[_Row]:
    """A frame's rows as row models (NaN None)."""
    return [row.model_validate(record) for record in json_safe(frame.to_dict("records"))]


def _summary(values: pd.Series) -> ValueSummary:
    values = pd.Series(values, dtype="float64").dropna()
    if values.empty:
        return ValueSummary(count=0)
    quantiles = values.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    return ValueSummary.model_validate(
        json_safe(
            {
                "count": int(len(values)),
                "mean": float(values.mean()),
                **{f"p{int(q * 100)}": float(v) for q, v in quantiles.items()},
            }
        )
    )


def _frame(rows: Sequence[BaseModel]) -> pd.DataFrame:
    """Row models as a frame, for a table of the page."""
    return pd.DataFrame([row.model_dump() for row in rows])


# ---------------------------------------------------------------------------------- the page
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;padding:0 1rem}h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d6dae3}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}th,td{padding:.25rem .6rem;border:1px solid #d6dae3;
text-align:left}th{background:#f0f2f7}td.num{text-align:right}tr.flag td{background:#fde8e8}
.note{color:#5a6275;font-size:.88rem}.ok{color:#1d7a3a}.bad{color:#b3261e;font-weight:600}
img{max-width:100%;height:auto;border:1px solid #e3e6ee;margin:.4rem 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
"""


def _table(
    frame: pd.DataFrame, *, flag_column: str | None = None, formats: Mapping[str, str] | None = None
) -> str:
    formats = dict(formats or {})
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns if c != flag_column)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            if column == flag_column:
                continue
            value = row[column]
            if isinstance(value, float | np.floating):
                text = "" if not math.isfinite(value) else format(value, formats.get(column, ",.3f"))
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(value, int | np.integer) and not isinstance(value, bool):
                cells.append(f'<td class="num">{value:,}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        css = ' class="flag"' if flag_column and bool(row[flag_column]) else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_html(document: ReviewDocument, figures: Mapping[str, bytes]) -> str:
    """The self-contained review page: no external resource of any kind."""
    run, explanations = document.run, document.explanations
    disparities = _frame(document.disparities.table)
    flagged = document.disparities.flagged
    bounds = document.disparity_bounds
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        # Forbid every network fetch: the page must open offline and leak nothing.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>Fair-practice review {html.escape(run.as_of)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Fair-practice review: work day {html.escape(run.as_of)}</h1>",
        f"<p class='note'>Run {html.escape(run.run_id)} · propensity model "
        f"{html.escape(run.model)} · channel model {html.escape(run.channel_model)} · "
        f"{run.overdue:,} overdue loans, {run.queued:,} queued</p>",
        "<h2>Summary</h2><ul>",
        _coverage_item("Queued rows with three reasons", explanations.share_with_three_reasons),
        _coverage_item(
            "Queued rows with three channel reasons", explanations.share_with_three_channel_reasons
        ),
        f"<li>Disparities flagged (ratio to the reference group outside {bounds[0]}-{bounds[1]}): "
        f"<span class='{'bad' if flagged else 'ok'}'>{len(flagged)}</span></li>",
        "<li>Protected attributes used by a model: <span class='ok'>none</span> "
        "(gender and birth year never reach a model; see the feature catalog)</li>",
        "</ul>",
        "<h2>Why loans are chosen: explanations</h2>",
        "<p class='note'>SHAP values of the propensity model over the queued loans.</p>",
        "<div class='grid'>",
        _image(figures["importance"], "global SHAP importance") if "importance" in figures else "",
        _image(figures["beeswarm"], "SHAP beeswarm") if "beeswarm" in figures else "",
        "</div>",
        "<h3>Most frequent reason codes</h3>",
        _table(_frame(explanations.top_reason_codes), formats={"share": ".1%"}),
        "<h2>Scores and priorities</h2><div class='grid'>",
        _image(figures["p_pay"], "distribution of p_pay") if "p_pay" in figures else "",
        _image(figures["priority"], "distribution of priority") if "priority" in figures else "",
        "</div>",
        "<h2>Group disparities</h2>",
        "<p class='note'>Per overdue loan, by group; the reference group is the largest one; flagged "
        "rows (red) have a ratio outside the bounds, at least the minimum group size, and a difference "
        "chance does not explain (Benjamini-Hochberg adjusted p below the significance level).</p>",
    ]
    for metric, label in document.disparities.metrics.items():
        rows = disparities[disparities["metric"] == metric] if len(disparities) else disparities
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(
            _table(
                rows.drop(columns=["metric"]) if len(rows) else rows,
                flag_column="flagged",
                formats={"value": ".3f", "ratio_to_reference": ".2f"},
            )
        )
    parts += _training_parts(document.at_training)
    parts += _compliance_parts(document.compliance)
    parts.append("</body></html>")
    return "\n".join(parts)


def _training_parts(training: Mapping[str, Any] | None) -> list[str]:
    """The champion's fairness check as logged at training (a document of the training code)."""
    parts = ["<h2>At training time (logged with the model)</h2>"]
    if not training:
        parts.append("<p class='note'>The champion was trained before fairness checks were logged.</p>")
        return parts
    performance = pd.DataFrame(training.get("performance_by_group", []))
    parts.append("<h3>Out-of-time AUC and calibration error by group</h3>")
    parts.append(_table(performance, formats={"auc": ".3f", "calibration_error": ".3f"}))
    parts.append("<h3>Proxy check: how much the features reveal a protected attribute</h3>")
    for attribute, check in training.get("proxy_check", {}).items():
        if "skipped" in check:
            parts.append(f"<p>{html.escape(attribute)}: skipped ({html.escape(check['skipped'])})</p>")
            continue
        strong = check.get("strong_proxies", [])
        verdict = "bad" if check.get("predictable") or strong else "ok"
        parts.append(
            f"<p><b>{html.escape(attribute)}</b>: all features together predict it with AUC "
            f"<span class='{verdict}'>{check['predictability_auc']:.3f}</span>; strong proxies: "
            f"<span class='{verdict}'>{html.escape(', '.join(strong) or 'none')}</span></p>"
        )
    return parts


def _compliance_parts(compliance: ComplianceSummary) -> list[str]:
    packs = ", ".join(f"{name} {version}" for name, version in compliance.rule_packs.items())
    return [
        "<h2>Compliance summary</h2>",
        "<p>Rule packs: "
        + html.escape(packs)
        + f" · {compliance.suppressions:,} suppressions on {compliance.suppressed_loans:,} loans</p>",
        _table(_frame(compliance.suppressions_by_reason)),
        "<h3>Dispositions</h3>",
        _table(pd.DataFrame(list(compliance.dispositions.items()), columns=["disposition", "loans"])),
        *_dispute_parts(compliance.disputes),
    ]


def _dispute_parts(disputes: DisputeReview | None) -> list[str]:
    if disputes is None:
        return []
    parts = ["<h3>Disputes</h3>", f"<p>{html.escape(disputes.summary)}</p>"]
    if disputes.late:
        parts += [
            '<p style="color:#a00"><b>Responses overdue</b>: collection on these loans stays stopped and the answer is late.</p>',
            _table(pd.DataFrame([row.model_dump() for row in disputes.late])),
        ]
    return parts


def _coverage_item(label: str, share: float) -> str:
    css = "ok" if share == 1.0 else "bad"
    return f"<li>{html.escape(label)}: <span class='{css}'>{share:.1%}</span></li>"
