"""The run's review document (review.json) and its self-contained page (review.html).

Pure functions: the document is built from frames the nightly flow already has; the page embeds
its plots as base64 PNG and carries no script, stylesheet or font from anywhere else, so it opens
offline and a reviewer's browser makes no request.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.catalog import spec
from review.disparity import DECISION_METRICS


def json_safe(value):
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


def reason_coverage(queue: pd.DataFrame) -> dict[str, float]:
    """Share of queued rows with all three propensity reasons and all three channel reasons."""

    def complete(columns: list[str]) -> float:
        if not len(queue):
            return 1.0
        filled = queue[columns].notna() & (queue[columns].astype("str").apply(lambda c: c.str.len()) > 0)
        return float(filled.all(axis=1).mean())

    return {
        "queued_rows": int(len(queue)),
        "share_with_three_reasons": complete(["reason_1", "reason_2", "reason_3"]),
        "share_with_three_channel_reasons": complete(
            ["channel_reason_1", "channel_reason_2", "channel_reason_3"]
        ),
    }


def compliance_summary(
    suppressed: pd.DataFrame, dispositions: pd.DataFrame, packs: Mapping[str, str]
) -> dict:
    """Suppressions by reason, rule and rule-pack version; dispositions of every overdue loan."""
    by_reason = (
        suppressed.groupby(["policy", "policy_version", "reason", "rule_id"], observed=True)
        .size()
        .rename("suppressions")
        .reset_index()
        .sort_values("suppressions", ascending=False, kind="stable")
    )
    return {
        "rule_packs": dict(packs),
        "suppressions": int(len(suppressed)),
        "suppressed_loans": int(suppressed["loan_id"].nunique()) if len(suppressed) else 0,
        "suppressions_by_reason": by_reason.to_dict("records"),
        "dispositions": dispositions["disposition"].value_counts().sort_index().to_dict(),
    }


def review_document(
    *,
    run: Mapping,
    coverage: Mapping,
    importance: pd.DataFrame,
    codes: pd.DataFrame,
    p_pay: pd.Series,
    priority: pd.Series,
    disparity: pd.DataFrame,
    training: Mapping | None,
    compliance: Mapping,
    settings: Mapping,
) -> dict:
    """Everything the review says, as JSON-able data (review.json)."""
    flagged = disparity[disparity["flagged"]]
    return json_safe(
        {
            "run": dict(run),
            "settings": dict(settings),
            "explanations": {
                **dict(coverage),
                "global_importance": importance.head(15).to_dict("records"),
                "top_reason_codes": codes.head(15).to_dict("records"),
            },
            "distributions": {
                "p_pay": _summary(p_pay),
                "priority_score": _summary(priority),
            },
            "disparities": {
                "metrics": DECISION_METRICS,
                "table": disparity.to_dict("records"),
                "flagged": flagged.to_dict("records"),
            },
            "at_training": dict(training) if training else None,
            "compliance": dict(compliance),
        }
    )


def _summary(values: pd.Series) -> dict:
    values = pd.Series(values, dtype="float64").dropna()
    if values.empty:
        return {"count": 0}
    quantiles = values.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    return {
        "count": int(len(values)),
        "mean": float(values.mean()),
        **{f"p{int(q * 100)}": float(v) for q, v in quantiles.items()},
    }


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


def render_html(document: Mapping, figures: Mapping[str, bytes]) -> str:
    """The self-contained review page: no external resource of any kind."""
    run = document["run"]
    explanations = document["explanations"]
    disparities = pd.DataFrame(document["disparities"]["table"])
    flagged = document["disparities"]["flagged"]
    bounds = document["settings"].get("disparity_bounds", [0.8, 1.25])
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        # Forbid every network fetch: the page must open offline and leak nothing.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>Fair-practice review {html.escape(str(run.get('as_of')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Fair-practice review: work day {html.escape(str(run.get('as_of')))}</h1>",
        f"<p class='note'>Run {html.escape(str(run.get('run_id')))} · propensity model "
        f"{html.escape(str(run.get('model')))} · channel model {html.escape(str(run.get('channel_model')))} · "
        f"{run.get('overdue', 0):,} overdue loans, {run.get('queued', 0):,} queued</p>",
        "<h2>Summary</h2><ul>",
        _coverage_item("Queued rows with three reasons", explanations["share_with_three_reasons"]),
        _coverage_item(
            "Queued rows with three channel reasons", explanations["share_with_three_channel_reasons"]
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
        _table(pd.DataFrame(explanations["top_reason_codes"]), formats={"share": ".1%"}),
        "<h2>Scores and priorities</h2><div class='grid'>",
        _image(figures["p_pay"], "distribution of p_pay") if "p_pay" in figures else "",
        _image(figures["priority"], "distribution of priority") if "priority" in figures else "",
        "</div>",
        "<h2>Group disparities</h2>",
        "<p class='note'>Per overdue loan, by group; the reference group is the largest one; flagged "
        "rows (red) have a ratio outside the bounds, at least the minimum group size, and a difference "
        "chance does not explain (Benjamini-Hochberg adjusted p below the significance level).</p>",
    ]
    for metric, label in document["disparities"]["metrics"].items():
        rows = disparities[disparities["metric"] == metric] if len(disparities) else disparities
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(
            _table(
                rows.drop(columns=["metric"]) if len(rows) else rows,
                flag_column="flagged",
                formats={"value": ".3f", "ratio_to_reference": ".2f"},
            )
        )
    parts.append("<h2>At training time (logged with the model)</h2>")
    training = document.get("at_training")
    if training:
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
    else:
        parts.append("<p class='note'>The champion was trained before fairness checks were logged.</p>")
    compliance = document["compliance"]
    parts += [
        "<h2>Compliance summary</h2>",
        "<p>Rule packs: "
        + html.escape(", ".join(f"{k} {v}" for k, v in compliance["rule_packs"].items()))
        + f" · {compliance['suppressions']:,} suppressions on {compliance['suppressed_loans']:,} loans</p>",
        _table(pd.DataFrame(compliance["suppressions_by_reason"])),
        "<h3>Dispositions</h3>",
        _table(pd.DataFrame(list(compliance["dispositions"].items()), columns=["disposition", "loans"])),
        "</body></html>",
    ]
    return "\n".join(parts)


def _coverage_item(label: str, share: float) -> str:
    css = "ok" if share == 1.0 else "bad"
    return f"<li>{html.escape(label)}: <span class='{css}'>{share:.1%}</span></li>"
