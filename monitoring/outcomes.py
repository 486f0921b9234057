"""Outcomes of past queues: what the loans scored on a night paid in the window after it.

Pure functions on DataFrames. The nightly run archives one row per overdue loan it scored
(:func:`queue_history`, written by :mod:`adapters.archive`); `recover backfill` joins the
payments that arrived afterwards (:func:`realized_outcomes`) and reports realized recovery by
rank decile of the queue, exploration against model picks, the randomised contrasts with the
control group (realized uplift), calibration and, when a challenger was shadow-scored, the
champion against the challenger (:func:`backfill_report`).

The outcome window of a queue scored on as-of date D is the UTC instants (D, D + window]: the
queue knew every event strictly before 00:00 UTC of D, so the work day's own payments count (the
queue is worked that day), a payment at the cut-off instant itself does not, one at exactly
D + window does. That is the model's label window [D, D + 30 days) to within its two boundary
instants, so predicted and realized pay rates compare like with like. A queue whose window has
not closed by the backfill date (D + window > backfill date) is reported as ``partial`` in the
queue table, with what it collected so far, and left out of every other table.

A loan-night is one loan in one night's queue. The same loan is scored on many nights and its
windows overlap, so loan-nights are not independent: every standard error here is clustered by
loan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from features.labels import qualifying_amount as _qualifying_amount
from features.point_in_time import local_midnight, local_midnights

# One row per overdue loan scored on a night (the archive's columns, in this order).
HISTORY_COLUMNS: list[str] = [
    "as_of",
    "run_id",
    "archived_at",
    "loan_id",
    "borrower_id",
    "disposition",
    "detail",
    "model_version",
    "p_pay",
    "rank",
    "queued",
    "within_capacity",
    "team",
    "recommended_channel",
    "p_response",
    "p_self_cure",
    "incremental_value",
    "channel_cost",
    "exploration",
    "control",
    "left_alone_reason",
    "best_channel",
    "days_past_due",
    "amount_overdue",
    "outstanding_balance",
    "installment_amount",
    "qualifying_amount",
    "challenger_version",
    "p_pay_challenger",
]

CLOSED, PARTIAL, SUPERSEDED = "closed", "partial", "superseded"
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class ShadowScore:
    """The challenger's p_pay of every overdue loan (index aligned with the features)."""

    label: str
    p_pay: pd.Series


def queue_history(
    features: pd.DataFrame,
    p_pay: pd.Series,
    queue: pd.DataFrame,
    dispositions: pd.DataFrame,
    left_alone: pd.DataFrame,
    *,
    run_id: str,
    as_of: dt.date,
    model_version: str,
    archived_at: pd.Timestamp,
    qualifying_rule: str = "min_overdue_or_installment",
    challenger: ShadowScore | None = None,
) -> pd.DataFrame:
    """The archive rows of one night: every overdue loan scored (``features``, ``p_pay``), where
    it went (``dispositions``), its place in the ``queue`` (rank, capacity, channel, value) or
    why it was ``left_alone``, and the challenger's shadow p_pay when there is one."""
    loans = features["loan_id"].astype("str")
    n = len(features)
    by_loan = queue.set_index("loan_id")
    alone = left_alone.set_index("loan_id")
    disposition = dispositions.set_index("loan_id")

    def from_queue(column: str, otherwise=None) -> np.ndarray:
        values = loans.map(by_loan[column]) if len(by_loan) else pd.Series([otherwise] * n, index=loans.index)
        return values.to_numpy()

    def from_alone(column: str) -> pd.Series:
        return loans.map(alone[column]) if len(alone) else pd.Series([np.nan] * n, index=loans.index)

    queued = loans.isin(by_loan.index).to_numpy()
    is_alone = loans.isin(alone.index).to_numpy()
    qualifying = _qualifying_amount(features, qualifying_rule).to_numpy(dtype="float64")
    frame = pd.DataFrame(
        {
            "as_of": pd.Series(pd.Timestamp(as_of), index=features.index).astype("datetime64[ns]"),
            "run_id": run_id,
            "archived_at": pd.Timestamp(archived_at).tz_convert("UTC"),
            "loan_id": loans.to_numpy(),
            "borrower_id": features["borrower_id"].astype("str").to_numpy(),
            "disposition": loans.map(disposition["disposition"]).astype("str").to_numpy(),
            "detail": loans.map(disposition["detail"]).astype("str").to_numpy(),
            "model_version": model_version,
            "p_pay": np.asarray(p_pay.reindex(features.index), dtype="float64"),
            "rank": pd.array(from_queue("rank"), dtype="Int64"),
            "queued": queued,
            "within_capacity": np.where(queued, from_queue("within_capacity", False), False).astype(bool),
            "team": pd.Series(from_queue("team"), dtype="str").to_numpy(),
            "recommended_channel": pd.Series(from_queue("recommended_channel"), dtype="str").to_numpy(),
            "p_response": np.where(queued, from_queue("p_response"), from_alone("p_best_channel")),
            "p_self_cure": np.where(queued, from_queue("p_self_cure"), from_alone("p_self_cure")),
            "incremental_value": np.where(
                queued, from_queue("incremental_value"), from_alone("best_incremental_value")
            ),
            "channel_cost": np.where(queued, from_queue("channel_cost"), np.nan),
            "exploration": np.where(queued, from_queue("exploration", False), False).astype(bool),
            "control": np.where(is_alone, from_alone("control").fillna(False), False).astype(bool),
            "left_alone_reason": pd.Series(
                np.where(is_alone, from_alone("reason"), None), dtype="str"
            ).to_numpy(),
            "best_channel": pd.Series(
                np.where(is_alone, from_alone("best_channel"), None), dtype="str"
            ).to_numpy(),
            "days_past_due": features["days_past_due"].to_numpy(dtype="float64"),
            "amount_overdue": features["amount_overdue"].to_numpy(dtype="float64"),
            "outstanding_balance": features["outstanding_balance"].to_numpy(dtype="float64"),
            "installment_amount": features["installment_amount"].to_numpy(dtype="float64"),
            "qualifying_amount": qualifying,
            "challenger_version": challenger.label if challenger is not None else None,
            "p_pay_challenger": (
                np.asarray(challenger.p_pay.reindex(features.index), dtype="float64")
                if challenger is not None
                else np.full(n, np.nan)
            ),
        }
    )
    for column in ("p_response", "p_self_cure", "incremental_value", "channel_cost"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["challenger_version"] = frame["challenger_version"].astype("str")
    frame = frame.sort_values(["rank", "loan_id"], na_position="last", kind="stable")
    return frame[HISTORY_COLUMNS].reset_index(drop=True)


# --- joining the payments -----------------------------------------------------------------------


def latest_runs(history: pd.DataFrame) -> pd.Series:
    """True for rows of the run each as-of date kept: the one archived last (a re-run of a night
    replaces the queue the dialer read, so the last archived run is the queue that was worked)."""
    if history.empty:
        return pd.Series(False, index=history.index)
    runs = history[["as_of", "run_id", "archived_at"]].drop_duplicates(["as_of", "run_id"])
    kept = runs.sort_values(["as_of", "archived_at", "run_id"], kind="stable").drop_duplicates(
        "as_of", keep="last"
    )
    return history["run_id"].isin(set(kept["run_id"]))


def paid_through(payments: pd.DataFrame, loan_id: pd.Series, instant: pd.Series) -> np.ndarray:
    """Total each row's loan had paid at or before ``instant`` (UTC), in the rows' order."""
    if not len(loan_id):
        return np.zeros(0)
    ordered = payments.sort_values("paid_at", kind="stable")[["loan_id", "paid_at", "amount"]]
    ordered = ordered.assign(
        loan_id=ordered["loan_id"].astype("str"),
        cum_paid=ordered.groupby("loan_id", observed=True)["amount"].cumsum(),
        paid_at=ordered["paid_at"].astype("datetime64[ns, UTC]"),
    )
    keys = pd.DataFrame(
        {
            "loan_id": np.asarray(loan_id, dtype=object).astype(str),
            "instant": pd.to_datetime(pd.Series(np.asarray(instant)), utc=True).astype("datetime64[ns, UTC]"),
            "_row": np.arange(len(loan_id)),
        }
    )
    matched = pd.merge_asof(
        keys.sort_values("instant", kind="stable"),
        ordered[["loan_id", "paid_at", "cum_paid"]],
        left_on="instant",
        right_on="paid_at",
        by="loan_id",
        allow_exact_matches=True,
    )
    return matched.set_index("_row")["cum_paid"].reindex(keys["_row"]).fillna(0.0).to_numpy()


def realized_outcomes(
    history: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_days: int,
    until: dt.date,
    tolerance: float = 0.01,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """``history`` with what each loan paid in its queue's outcome window (as_of, as_of + window]
    (between the cut-offs of those days, 00:00 on the lender's clock ``timezone``): ``window_end``, ``status`` (closed, partial: the window ends after ``until``,
    the first date the payments do not cover; superseded: a run of that as-of replaced by a later
    one), ``collected`` (money paid in the window, so far for a partial one), ``paid_any``,
    ``paid`` (at least the qualifying amount: the model's label), ``cured`` (at least the amount
    overdue on the night)."""
    out = history.reset_index(drop=True).copy()
    days = pd.to_datetime(out["as_of"])
    start = local_midnights(days, timezone)
    end = local_midnights(days + pd.Timedelta(days=window_days), timezone)
    until_instant = local_midnight(pd.Timestamp(until), timezone)
    through_end = paid_through(payments, out["loan_id"], end)
    through_start = paid_through(payments, out["loan_id"], start)
    collected = np.round(through_end - through_start, 2)
    kept = latest_runs(out).to_numpy()
    out["window_end"] = (days + pd.Timedelta(days=window_days)).astype("datetime64[ns]")
    out["status"] = np.where(~kept, SUPERSEDED, np.where(end <= until_instant, CLOSED, PARTIAL))
    out["collected"] = collected
    out["paid_any"] = collected > 0
    out["paid"] = collected >= out["qualifying_amount"].to_numpy() - tolerance
    out["cured"] = collected >= out["amount_overdue"].to_numpy() - tolerance
    return out


# --- statistics ------------------------------------------------------------------------------------


def _clustered_variance(influence: np.ndarray, cluster: np.ndarray) -> float:
    """Cluster-robust variance of a sum of influence terms (small-sample factor G / (G - 1))."""
    codes, uniques = pd.factorize(pd.Series(cluster, dtype="str"))
    groups = len(uniques)
    if groups < 2:
        return float("nan")
    sums = np.bincount(codes, weights=influence, minlength=groups)
    return float(groups / (groups - 1) * np.sum(sums**2))


def mean_and_se(values, cluster) -> tuple[float, float]:
    """Mean of ``values`` and its standard error clustered by ``cluster`` (NaN when empty)."""
    y = np.asarray(values, dtype="float64")
    if not len(y):
        return float("nan"), float("nan")
    mean = float(y.mean())
    return mean, float(np.sqrt(_clustered_variance((y - mean) / len(y), np.asarray(cluster))))


def difference_and_se(treated, treated_cluster, control, control_cluster) -> tuple[float, float]:
    """mean(treated) - mean(control) and its standard error clustered by loan (a loan may sit
    in both groups on different nights; its terms are summed before squaring)."""
    t = np.asarray(treated, dtype="float64")
    c = np.asarray(control, dtype="float64")
    if not len(t) or not len(c):
        return float("nan"), float("nan")
    influence = np.concatenate([(t - t.mean()) / len(t), -(c - c.mean()) / len(c)])
    cluster = np.concatenate([np.asarray(treated_cluster), np.asarray(control_cluster)])
    return float(t.mean() - c.mean()), float(np.sqrt(_clustered_variance(influence, cluster)))


def _mean(values: pd.Series) -> float:
    """The mean of ``values`` as a float (NaN when there are none)."""
    return float(values.mean()) if len(values) else float("nan")


def _differences(treated: pd.DataFrame, control: pd.DataFrame) -> tuple[float, float, float, float]:
    """Treated minus control in pay rate and in money collected per loan, each with its standard
    error clustered by loan: (rate, rate_se, amount, amount_se)."""
    rate, rate_se = difference_and_se(
        treated["paid"], treated["loan_id"], control["paid"], control["loan_id"]
    )
    amount, amount_se = difference_and_se(
        treated["collected"], treated["loan_id"], control["collected"], control["loan_id"]
    )
    return rate, rate_se, amount, amount_se


# --- reports ---------------------------------------------------------------------------------------


def queue_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per archived run: its status, window end, loans scored, queued, within capacity,
    exploration, control, what its loans collected in the window (so far, for a partial one) and
    the share that paid. Every archived row is counted in exactly one run."""
    columns = [
        "as_of",
        "run_id",
        "status",
        "window_end",
        "model_version",
        "challenger_version",
        "loans",
        "queued",
        "within_capacity",
        "exploration",
        "control",
        "collected",
        "collected_by_queued",
        "pay_rate",
        "pay_rate_queued",
    ]
    if outcomes.empty:
        return pd.DataFrame(columns=columns)
    grouped = outcomes.assign(
        collected_by_queued=outcomes["collected"].where(outcomes["queued"], 0.0),
        paid_queued=outcomes["paid"].where(outcomes["queued"]).astype("float64"),
    ).groupby(["as_of", "run_id"], sort=True)
    table = grouped.agg(
        status=("status", "first"),
        window_end=("window_end", "first"),
        model_version=("model_version", "first"),
        challenger_version=("challenger_version", "first"),
        loans=("loan_id", "size"),
        queued=("queued", "sum"),
        within_capacity=("within_capacity", "sum"),
        exploration=("exploration", "sum"),
        control=("control", "sum"),
        collected=("collected", "sum"),
        collected_by_queued=("collected_by_queued", "sum"),
        pay_rate=("paid", "mean"),
        pay_rate_queued=("paid_queued", "mean"),
    ).reset_index()
    for column in ("queued", "within_capacity", "exploration", "control", "loans"):
        table[column] = table[column].astype("int64")
    return table[columns]


def rank_deciles(rows: pd.DataFrame) -> pd.Series:
    """Decile of each queued row's rank within its own night's queue (1 = the top tenth)."""
    size = rows.groupby(["as_of", "run_id"])["rank"].transform("size")
    rank = rows["rank"].astype("float64")
    return np.ceil(rank * 10 / size).clip(1, 10).astype("int64")


def decile_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Queued loan-nights by rank decile of their queue: loans, within capacity, exploration,
    mean p_pay beside the realized pay rate (the label: the qualifying amount paid in the
    window), any-payment and cure rates, money collected, per loan, and each decile's share of
    what the queue collected (cumulative too)."""
    queued = rows[rows["queued"]].copy()
    columns = [
        "decile",
        "loans",
        "within_capacity",
        "exploration",
        "p_pay_mean",
        "pay_rate",
        "pay_rate_se",
        "any_payment_rate",
        "cure_rate",
        "incremental_value_mean",
        "collected",
        "collected_per_loan",
        "share_of_collected",
        "cumulative_share",
    ]
    if queued.empty:
        return pd.DataFrame(columns=columns)
    queued["decile"] = rank_deciles(queued)
    out = []
    total = float(queued["collected"].sum())
    for decile, part in queued.groupby("decile", sort=True):
        rate, rate_se = mean_and_se(part["paid"], part["loan_id"])
        out.append(
            {
                "decile": int(decile),
                "loans": int(len(part)),
                "within_capacity": int(part["within_capacity"].sum()),
                "exploration": int(part["exploration"].sum()),
                "p_pay_mean": float(part["p_pay"].mean()),
                "pay_rate": rate,
                "pay_rate_se": rate_se,
                "any_payment_rate": float(part["paid_any"].mean()),
                "cure_rate": float(part["cured"].mean()),
                "incremental_value_mean": float(part["incremental_value"].mean()),
                "collected": float(part["collected"].sum()),
                "collected_per_loan": float(part["collected"].mean()),
            }
        )
    table = pd.DataFrame(out, columns=columns[:-2])
    table["share_of_collected"] = table["collected"] / total if total > 0 else np.nan
    table["cumulative_share"] = table["share_of_collected"].cumsum()
    return table[columns]


def _group_row(name: str, part: pd.DataFrame) -> dict:
    rate, rate_se = mean_and_se(part["paid"], part["loan_id"])
    amount, amount_se = mean_and_se(part["collected"], part["loan_id"])
    return {
        "group": name,
        "loans": int(len(part)),
        "distinct_loans": int(part["loan_id"].nunique()),
        "p_pay_mean": _mean(part["p_pay"]),
        "incremental_value_mean": _mean(part["incremental_value"]),
        "pay_rate": rate,
        "pay_rate_se": rate_se,
        "any_payment_rate": _mean(part["paid_any"]),
        "collected": float(part["collected"].sum()),
        "collected_per_loan": amount,
        "collected_per_loan_se": amount_se,
    }


GROUP_COLUMNS = [
    "group",
    "loans",
    "distinct_loans",
    "p_pay_mean",
    "incremental_value_mean",
    "pay_rate",
    "pay_rate_se",
    "any_payment_rate",
    "collected",
    "collected_per_loan",
    "collected_per_loan_se",
]


def exploration_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Contacted loan-nights (queued within capacity): the model's picks against the exploration
    picks (a random lawful channel on a random loan), and their difference (model - exploration).

    The two groups are different loans (the model picks for incremental value), so the raw
    difference is not the model's worth; the contrasts with the control group in
    :func:`uplift_table` are."""
    contacted = rows[rows["queued"] & rows["within_capacity"]]
    model = contacted[~contacted["exploration"]]
    explore = contacted[contacted["exploration"]]
    table = [_group_row("model picks", model), _group_row("exploration", explore)]
    rate, rate_se, amount, amount_se = _differences(model, explore)
    table.append(
        {
            "group": "model - exploration",
            "loans": int(len(contacted)),
            "distinct_loans": int(contacted["loan_id"].nunique()),
            "p_pay_mean": table[0]["p_pay_mean"] - table[1]["p_pay_mean"],
            "incremental_value_mean": table[0]["incremental_value_mean"] - table[1]["incremental_value_mean"],
            "pay_rate": rate,
            "pay_rate_se": rate_se,
            "any_payment_rate": table[0]["any_payment_rate"] - table[1]["any_payment_rate"],
            "collected": float("nan"),
            "collected_per_loan": amount,
            "collected_per_loan_se": amount_se,
        }
    )
    return pd.DataFrame(table, columns=GROUP_COLUMNS)


def _candidates(rows: pd.DataFrame) -> pd.DataFrame:
    """Loan-nights the allocation decided on (queued or left alone): the control group's
    population (it is drawn at random among them before anything else)."""
    return rows[rows["queued"] | (rows["disposition"] == "left_alone")]


def control_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Control against contacted: ``control`` (the random control group, left alone),
    ``contacted`` (queued within capacity), its ``model picks`` and ``exploration`` picks, and
    ``non-control`` (every candidate not in the control group, contacted or deliberately left
    alone: what the control group is compared with in the intent-to-treat contrast)."""
    candidates = _candidates(rows)
    contacted = candidates[candidates["queued"] & candidates["within_capacity"]]
    groups = {
        "control": candidates[candidates["control"]],
        "contacted": contacted,
        "model picks": contacted[~contacted["exploration"]],
        "exploration": contacted[contacted["exploration"]],
        "non-control": candidates[~candidates["control"]],
    }
    return pd.DataFrame([_group_row(name, part) for name, part in groups.items()], columns=GROUP_COLUMNS)


UPLIFT_COLUMNS = [
    "comparison",
    "treated",
    "control",
    "randomised",
    "treated_loans",
    "control_loans",
    "treated_within_capacity_share",
    "pay_rate_treated",
    "pay_rate_control",
    "uplift_pay_rate",
    "uplift_pay_rate_se",
    "uplift_pay_rate_low",
    "uplift_pay_rate_high",
    "collected_per_loan_treated",
    "collected_per_loan_control",
    "uplift_per_loan",
    "uplift_per_loan_se",
    "uplift_per_loan_low",
    "uplift_per_loan_high",
    "contact_cost_per_loan",
]


def uplift_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Realized uplift: treated minus control in pay rate and in money collected per loan, with
    clustered standard errors and 95% intervals. Every contrast is randomised (the control group
    is drawn at random among the candidates before the allocation; exploration draws random loans
    among the rest):

    - engine (intent to treat): every non-control candidate against every control loan, i.e.
      what the night's decisions (contact or deliberate no-contact) add over holding a loan out;
    - model picks: queued, not exploration (the loans the value ranking chose), against the
      control loans whose best option had a positive value (the ones it would have chosen);
    - random contact: exploration picks against every control loan.
    """
    candidates = _candidates(rows)
    control = candidates[candidates["control"]]
    targeted_control = control[control["incremental_value"] > 0]
    comparisons = [
        (
            "engine (intent to treat)",
            "non-control candidates",
            "control",
            candidates[~candidates["control"]],
            control,
        ),
        (
            "model picks",
            "queued, not exploration",
            "control with positive value",
            candidates[candidates["queued"] & ~candidates["exploration"]],
            targeted_control,
        ),
        (
            "random contact",
            "exploration",
            "control",
            candidates[candidates["queued"] & candidates["exploration"]],
            control,
        ),
    ]
    table = []
    for name, treated_name, control_name, treated, held in comparisons:
        rate, rate_se, amount, amount_se = _differences(treated, held)
        cost = treated["channel_cost"].where(treated["queued"] & treated["within_capacity"], 0.0).fillna(0.0)
        table.append(
            {
                "comparison": name,
                "treated": treated_name,
                "control": control_name,
                "randomised": True,
                "treated_loans": int(len(treated)),
                "control_loans": int(len(held)),
                "treated_within_capacity_share": _mean(treated["queued"] & treated["within_capacity"]),
                "pay_rate_treated": _mean(treated["paid"]),
                "pay_rate_control": _mean(held["paid"]),
                "uplift_pay_rate": rate,
                "uplift_pay_rate_se": rate_se,
                "uplift_pay_rate_low": rate - Z_95 * rate_se,
                "uplift_pay_rate_high": rate + Z_95 * rate_se,
                "collected_per_loan_treated": _mean(treated["collected"]),
                "collected_per_loan_control": _mean(held["collected"]),
                "uplift_per_loan": amount,
                "uplift_per_loan_se": amount_se,
                "uplift_per_loan_low": amount - Z_95 * amount_se,
                "uplift_per_loan_high": amount + Z_95 * amount_se,
                "contact_cost_per_loan": _mean(cost),
            }
        )
    return pd.DataFrame(table, columns=UPLIFT_COLUMNS)


CALIBRATION_COLUMNS = ["bin", "loans", "p_pay_mean", "pay_rate", "pay_rate_se", "gap"]


def calibration_table(rows: pd.DataFrame, score: str = "p_pay", bins: int = 10) -> pd.DataFrame:
    """Predicted against realized pay rate over every scored loan-night, in equal-width bins of
    the score; ``gap`` = realized - predicted."""
    scored = rows[rows[score].notna()]
    if scored.empty:
        return pd.DataFrame(columns=CALIBRATION_COLUMNS)
    which = np.minimum((scored[score].to_numpy() * bins).astype(int), bins - 1)
    table = []
    for b in np.unique(which):
        part = scored[which == b]
        rate, rate_se = mean_and_se(part["paid"], part["loan_id"])
        predicted = float(part[score].mean())
        table.append(
            {
                "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "loans": int(len(part)),
                "p_pay_mean": predicted,
                "pay_rate": rate,
                "pay_rate_se": rate_se,
                "gap": rate - predicted,
            }
        )
    return pd.DataFrame(table, columns=CALIBRATION_COLUMNS)


def expected_calibration_error(calibration: pd.DataFrame) -> float:
    """Mean |gap| over the calibration table's bins, weighted by their loan-nights."""
    if calibration.empty:
        return float("nan")
    weights = calibration["loans"] / calibration["loans"].sum()
    return float((weights * calibration["gap"].abs()).sum())


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(label)) < 2:
        return float("nan")
    return float(roc_auc_score(label, score))


def top_k(rows: pd.DataFrame, score: str, k: pd.Series) -> pd.Series:
    """True for each night's ``k[night]`` loan-nights of highest expected recovery by ``score``
    (score x amount overdue; ties by loan id)."""
    value = rows[score] * rows["amount_overdue"]
    ordered = rows.assign(_value=value).sort_values(
        ["as_of", "_value", "loan_id"], ascending=[True, False, True], kind="stable"
    )
    position = ordered.groupby("as_of", sort=False).cumcount()
    limit = ordered["as_of"].map(k).fillna(0)
    return (position < limit).reindex(rows.index)


CHALLENGER_COLUMNS = [
    "model",
    "version",
    "nights",
    "loans",
    "top_k",
    "top_k_pay_rate",
    "top_k_collected",
    "top_k_share_of_collected",
    "auc",
    "brier",
    "p_pay_mean",
    "pay_rate",
    "calibration_error",
]


def challenger_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Champion against the challenger's shadow score, on the nights both were scored: each
    model's top k by its own expected recovery (p_pay x amount overdue; k = the night's queued
    count) and what those loans paid, AUC and Brier score on the realized label, calibration.
    Empty when no challenger was shadow-scored. Both are judged on outcomes produced under the
    champion's queue (the challenger's choices were never worked)."""
    both = rows[rows["p_pay_challenger"].notna()]
    if both.empty:
        return pd.DataFrame(columns=CHALLENGER_COLUMNS)
    k = both.groupby("as_of")["queued"].sum()
    total = float(both["collected"].sum())
    label = both["paid"].to_numpy(dtype="int64")
    table = []
    for model, score, versions in (
        ("champion", "p_pay", both["model_version"]),
        ("challenger", "p_pay_challenger", both["challenger_version"]),
    ):
        top = top_k(both, score, k)
        chosen = both[top]
        p = both[score].to_numpy(dtype="float64")
        table.append(
            {
                "model": model,
                "version": ", ".join(sorted(versions.dropna().astype(str).unique())),
                "nights": int(both["as_of"].nunique()),
                "loans": int(len(both)),
                "top_k": int(top.sum()),
                "top_k_pay_rate": _mean(chosen["paid"]),
                "top_k_collected": float(chosen["collected"].sum()),
                "top_k_share_of_collected": float(chosen["collected"].sum()) / total if total > 0 else np.nan,
                "auc": _auc(label, p),
                "brier": float(np.mean((p - label) ** 2)),
                "p_pay_mean": float(p.mean()),
                "pay_rate": float(label.mean()),
                "calibration_error": expected_calibration_error(calibration_table(both, score)),
            }
        )
    return pd.DataFrame(table, columns=CHALLENGER_COLUMNS)


def challenger_overlap(rows: pd.DataFrame) -> float:
    """Share of the champion's top-k loan-nights that are also in the challenger's."""
    both = rows[rows["p_pay_challenger"].notna()]
    if both.empty:
        return float("nan")
    k = both.groupby("as_of")["queued"].sum()
    champion, challenger = top_k(both, "p_pay", k), top_k(both, "p_pay_challenger", k)
    return float((champion & challenger).sum() / champion.sum()) if champion.sum() else float("nan")


# --- the whole report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillFacts:
    """What a backfill joined: its date and outcome window, and how the archived queues and
    rows split by status (closed, partial, superseded). ``backfill.json``, the manifest and the
    MLflow run carry it as :meth:`to_dict`."""

    backfill_as_of: dt.date
    window_days: int
    window: str
    cutoff_timezone: str
    archived_rows: int
    runs: int
    queues_closed: int
    queues_partial: int
    runs_superseded: int
    rows_closed: int
    rows_partial: int
    rows_superseded: int
    queued_rows_closed: int
    first_closed_as_of: dt.date | None
    last_closed_as_of: dt.date | None
    # Archived rows naming loans the data does not know (None when the loans were not given).
    unknown_loans: int | None
    challenger_top_k_overlap: float

    def to_dict(self) -> dict:
        """The facts as JSON values, in field order (dates as ``YYYY-MM-DD`` strings)."""
        return {
            item.name: str(value) if isinstance(value := getattr(self, item.name), dt.date) else value
            for item in fields(self)
        }


@dataclass(frozen=True)
class BackfillReport:
    """The backfill's tables (by name), facts and metrics (numbers for MLflow)."""

    tables: dict[str, pd.DataFrame]
    facts: BackfillFacts
    metrics: dict[str, float] = field(default_factory=dict)


def backfill_report(
    history: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_days: int,
    until: dt.date,
    tolerance: float = 0.01,
    timezone: str = "UTC",
    known_loans: pd.Series | None = None,
) -> BackfillReport:
    """Every report of a backfill on ``until`` (the payments cover instants strictly before it).

    ``known_loans`` (the loans table's ids) counts archived loans the data does not know, the
    sign of a history from another book."""
    outcomes = realized_outcomes(
        history, payments, window_days=window_days, until=until, tolerance=tolerance, timezone=timezone
    )
    closed = outcomes[outcomes["status"] == CLOSED]
    queues = queue_table(outcomes)
    tables = {
        "queues": queues,
        "deciles": decile_table(closed),
        "exploration": exploration_table(closed),
        "control": control_table(closed),
        "uplift": uplift_table(closed),
        "calibration": calibration_table(closed),
        "challenger": challenger_table(closed),
    }
    facts = backfill_facts(
        history,
        queues,
        closed,
        window_days=window_days,
        until=until,
        timezone=timezone,
        known_loans=known_loans,
    )
    return BackfillReport(tables=tables, facts=facts, metrics=backfill_metrics(tables, facts))


def backfill_facts(
    history: pd.DataFrame,
    queues: pd.DataFrame,
    closed: pd.DataFrame,
    *,
    window_days: int,
    until: dt.date,
    timezone: str,
    known_loans: pd.Series | None,
) -> BackfillFacts:
    """The facts of a backfill from the archive (``history``), its queue table and its closed
    loan-nights."""
    by_status = queues.groupby("status")["loans"].agg(["size", "sum"])
    status = {name: by_status.reindex([name]).fillna(0).iloc[0] for name in (CLOSED, PARTIAL, SUPERSEDED)}
    closed_nights = queues[queues["status"] == CLOSED]["as_of"]
    return BackfillFacts(
        backfill_as_of=until,
        window_days=int(window_days),
        window="payments with cut-off(as_of) < paid_at <= cut-off(as_of + window_days)",
        cutoff_timezone=timezone,
        archived_rows=int(len(history)),
        runs=int(len(queues)),
        queues_closed=int(status[CLOSED]["size"]),
        queues_partial=int(status[PARTIAL]["size"]),
        runs_superseded=int(status[SUPERSEDED]["size"]),
        rows_closed=int(status[CLOSED]["sum"]),
        rows_partial=int(status[PARTIAL]["sum"]),
        rows_superseded=int(status[SUPERSEDED]["sum"]),
        queued_rows_closed=int(closed["queued"].sum()),
        first_closed_as_of=pd.Timestamp(closed_nights.min()).date() if len(closed_nights) else None,
        last_closed_as_of=pd.Timestamp(closed_nights.max()).date() if len(closed_nights) else None,
        unknown_loans=(
            int((~history["loan_id"].isin(set(known_loans))).sum()) if known_loans is not None else None
        ),
        challenger_top_k_overlap=challenger_overlap(closed),
    )


def backfill_metrics(tables: dict[str, pd.DataFrame], facts: BackfillFacts) -> dict[str, float]:
    """The numbers a backfill logs to MLflow (NaN ones left out)."""
    metrics: dict[str, float] = {
        key: float(getattr(facts, key))
        for key in ("queues_closed", "queues_partial", "runs_superseded", "rows_closed", "queued_rows_closed")
    }
    deciles = tables["deciles"]
    if len(deciles):
        top, bottom = deciles.iloc[0], deciles.iloc[-1]
        metrics.update(
            {
                "top_decile_share_of_collected": top["share_of_collected"],
                "top_decile_pay_rate": top["pay_rate"],
                "bottom_decile_pay_rate": bottom["pay_rate"],
                "queued_collected": float(deciles["collected"].sum()),
                "queued_pay_rate": float(
                    (deciles["pay_rate"] * deciles["loans"]).sum() / deciles["loans"].sum()
                ),
                "queued_p_pay_mean": float(
                    (deciles["p_pay_mean"] * deciles["loans"]).sum() / deciles["loans"].sum()
                ),
            }
        )
    names = {
        "engine (intent to treat)": "realized_uplift",
        "model picks": "model_picks_uplift",
        "random contact": "exploration_uplift",
    }
    for row in tables["uplift"].itertuples():
        prefix = names[row.comparison]
        metrics[f"{prefix}_pay_rate"] = row.uplift_pay_rate
        metrics[f"{prefix}_pay_rate_se"] = row.uplift_pay_rate_se
        metrics[f"{prefix}_per_loan"] = row.uplift_per_loan
        metrics[f"{prefix}_per_loan_se"] = row.uplift_per_loan_se
    metrics["calibration_error"] = expected_calibration_error(tables["calibration"])
    for row in tables["challenger"].itertuples():
        for column in ("auc", "brier", "top_k_collected", "top_k_pay_rate", "calibration_error"):
            metrics[f"{row.model}_{column}"] = getattr(row, column)
    return {key: float(value) for key, value in metrics.items() if value == value and value is not None}
