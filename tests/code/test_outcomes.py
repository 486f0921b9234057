"""Outcomes of past queues (monitoring/outcomes.py) and the queue history (adapters/archive.py), on
small inline frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from adapters.archive import ArchiveConflict, QueueArchive
from monitoring.outcomes import (
    CLOSED,
    HISTORY_COLUMNS,
    PARTIAL,
    SUPERSEDED,
    ShadowScore,
    backfill_report,
    calibration_table,
    challenger_table,
    control_table,
    decile_table,
    difference_and_se,
    exploration_table,
    mean_and_se,
    queue_history,
    realized_outcomes,
    uplift_table,
)

AS_OF = dt.date(2026, 6, 1)


def rows(n: int, *, as_of: dt.date = AS_OF, run_id: str = "run-1", **columns) -> pd.DataFrame:
    """``n`` archive rows of one night: queued within capacity at ranks 1..n unless overridden."""
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp(as_of),
            "run_id": run_id,
            "archived_at": pd.Timestamp("2026-06-01T02:00", tz="UTC"),
            "loan_id": [f"L{i:03d}" for i in range(n)],
            "borrower_id": [f"B{i:03d}" for i in range(n)],
            "disposition": "queued",
            "detail": "",
            "model_version": "recover-propensity/1",
            "p_pay": 0.5,
            "rank": pd.array(np.arange(1, n + 1), dtype="Int64"),
            "queued": True,
            "within_capacity": True,
            "team": "sms-west",
            "recommended_channel": "sms",
            "p_response": 0.3,
            "p_self_cure": 0.2,
            "incremental_value": 10.0,
            "channel_cost": 0.05,
            "exploration": False,
            "control": False,
            "left_alone_reason": None,
            "best_channel": None,
            "days_past_due": 20.0,
            "amount_overdue": 100.0,
            "outstanding_balance": 500.0,
            "installment_amount": 50.0,
            "qualifying_amount": 50.0,
            "challenger_version": None,
            "p_pay_challenger": np.nan,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame[HISTORY_COLUMNS]


def left_alone(frame: pd.DataFrame, mask, *, control: bool = True) -> pd.DataFrame:
    """Turn the rows under ``mask`` into left-alone loans (the control group by default)."""
    frame = frame.copy()
    mask = np.asarray(mask, dtype=bool)
    frame.loc[mask, ["disposition", "queued", "within_capacity", "exploration"]] = [
        "left_alone",
        False,
        False,
        False,
    ]
    frame.loc[mask, "control"] = control
    frame["rank"] = pd.array(np.where(mask, pd.NA, frame["rank"]), dtype="Int64")
    # The queue's ranks stay dense among the queued rows.
    queued = ~mask
    frame.loc[queued, "rank"] = pd.array(np.arange(1, queued.sum() + 1), dtype="Int64")
    return frame


def payments(*entries: tuple[str, str, float]) -> pd.DataFrame:
    loan, paid_at, amount = zip(*entries, strict=True) if entries else ((), (), ())
    return pd.DataFrame(
        {
            "payment_id": [f"P{i}" for i in range(len(loan))],
            "loan_id": pd.Series(loan, dtype="str"),
            "paid_at": pd.to_datetime(pd.Series(paid_at, dtype="str"), utc=True),
            "amount": pd.Series(amount, dtype="float64"),
            "method": "card",
        }
    )


# --- the outcome window ---------------------------------------------------------------------------


def test_a_payment_at_the_cut_off_does_not_count_one_at_the_window_end_does_and_later_ones_do_not():
    history = rows(1)
    paid = payments(
        ("L000", "2026-05-31T23:59:59Z", 1.0),  # before the queue: history, not outcome
        ("L000", "2026-06-01T00:00:00Z", 2.0),  # at the as-of cut-off itself: not counted
        ("L000", "2026-07-01T00:00:00Z", 40.0),  # exactly as_of + 30 days: counted
        ("L000", "2026-07-01T00:00:01Z", 800.0),  # after the window: not counted
    )
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 2))
    assert out["collected"].tolist() == [40.0]
    assert out["status"].tolist() == [CLOSED]
    assert out["window_end"].iloc[0] == pd.Timestamp("2026-07-01")


def test_the_work_days_own_payments_count_the_queue_knew_only_events_before_the_cut_off():
    # The queue of June 1 knows events strictly before 00:00 UTC of June 1 and is worked that
    # day: a payment that afternoon is its outcome (the model's label window starts there too).
    out = realized_outcomes(
        rows(1), payments(("L000", "2026-06-01T15:30:00Z", 60.0)), window_days=30, until=dt.date(2026, 7, 1)
    )
    assert out["collected"].tolist() == [60.0]
    assert out[["paid_any", "paid", "cured"]].iloc[0].tolist() == [True, True, False]


def test_paid_means_the_qualifying_amount_and_cured_the_amount_overdue_within_tolerance():
    history = rows(3)
    paid = payments(
        ("L000", "2026-06-05T10:00:00Z", 49.995),  # qualifying 50 within the 0.01 tolerance
        ("L001", "2026-06-05T10:00:00Z", 30.0),
        ("L001", "2026-06-20T10:00:00Z", 70.0),  # 100 in two payments: cured
        ("L002", "2026-06-05T10:00:00Z", 10.0),
    )
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 1))
    assert out["collected"].tolist() == [50.0, 100.0, 10.0]  # rounded to cents
    assert out["paid"].tolist() == [True, True, False]
    assert out["cured"].tolist() == [False, True, False]
    assert out["paid_any"].all()


def test_partial_windows_are_flagged_with_their_money_so_far_and_left_out_of_the_reports():
    first = rows(2, as_of=dt.date(2026, 6, 1), run_id="a")
    second = rows(2, as_of=dt.date(2026, 6, 20), run_id="b")
    history = pd.concat([first, second], ignore_index=True)
    paid = payments(("L000", "2026-06-10T10:00:00Z", 50.0), ("L001", "2026-06-25T10:00:00Z", 80.0))
    report = backfill_report(history, paid, window_days=30, until=dt.date(2026, 7, 5))
    queues = report.tables["queues"].set_index("run_id")
    assert queues.loc["a", "status"] == CLOSED and queues.loc["b", "status"] == PARTIAL
    assert queues.loc["a", "collected"] == 130.0  # both payments fall in June 1's window
    assert queues.loc["b", "collected"] == 80.0  # June 20's window so far
    assert report.tables["deciles"]["loans"].sum() == 2  # the closed queue's rows only
    assert report.facts.queues_closed == 1 and report.facts.queues_partial == 1
    # Rows in = rows reported: every archived row is in exactly one run of the queue table.
    assert queues["loans"].sum() == len(history)


def test_a_window_ending_exactly_on_the_backfill_date_is_closed():
    out = realized_outcomes(rows(1), payments(), window_days=30, until=dt.date(2026, 7, 1))
    assert out["status"].tolist() == [CLOSED]
    out = realized_outcomes(rows(1), payments(), window_days=30, until=dt.date(2026, 6, 30))
    assert out["status"].tolist() == [PARTIAL]


def test_a_re_run_of_a_night_supersedes_the_earlier_run():
    early = rows(3, run_id="early", archived_at=pd.Timestamp("2026-06-01T02:00", tz="UTC"))
    late = rows(2, run_id="late", archived_at=pd.Timestamp("2026-06-01T05:00", tz="UTC"))
    history = pd.concat([late, early], ignore_index=True)
    report = backfill_report(history, payments(), window_days=5, until=dt.date(2026, 7, 1))
    status = report.tables["queues"].set_index("run_id")["status"]
    assert status.to_dict() == {"early": SUPERSEDED, "late": CLOSED}
    assert report.facts.rows_closed == 2 and report.facts.rows_superseded == 3
    assert report.tables["deciles"]["loans"].sum() == 2


# --- the reports ------------------------------------------------------------------------------------


def test_deciles_follow_each_nights_own_rank_and_share_out_what_the_queue_collected():
    small = rows(10, as_of=dt.date(2026, 6, 1), run_id="a")
    large = rows(20, as_of=dt.date(2026, 6, 2), run_id="b")
    history = pd.concat([small, large], ignore_index=True)
    # The top loan of each queue pays 100; the bottom loan of the large queue pays 50.
    paid = payments(
        ("L000", "2026-06-01T12:00:00Z", 100.0),
        ("L019", "2026-06-10T12:00:00Z", 50.0),
    )
    # L000 is rank 1 in both queues; its June 1 payment is before June 2's window.
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 15))
    table = decile_table(out).set_index("decile")
    assert table.index.tolist() == list(range(1, 11))
    assert table["loans"].tolist() == [3] * 10  # one from the small queue, two from the large
    assert table.loc[1, "collected"] == 100.0 and table.loc[10, "collected"] == 50.0
    assert table.loc[1, "share_of_collected"] == pytest.approx(2 / 3)
    assert table["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert table.loc[1, "pay_rate"] == pytest.approx(1 / 3)
    assert table.loc[5, "collected"] == 0.0


def test_exploration_against_model_picks_only_counts_contacts_within_capacity():
    history = rows(8, exploration=[False] * 4 + [True] * 4)
    history.loc[3, "within_capacity"] = False  # queued beyond capacity: not contacted
    paid = payments(*[(f"L00{i}", "2026-06-03T10:00:00Z", 50.0) for i in range(4)])
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 1))
    table = exploration_table(out).set_index("group")
    assert table.loc["model picks", "loans"] == 3 and table.loc["exploration", "loans"] == 4
    assert table.loc["model picks", "pay_rate"] == 1.0 and table.loc["exploration", "pay_rate"] == 0.0
    assert table.loc["model - exploration", "pay_rate"] == 1.0
    assert table.loc["model - exploration", "collected_per_loan"] == 50.0


@pytest.mark.parametrize("control_pays", [False, True])
def test_realized_uplift_has_the_sign_of_the_difference_and_an_interval_around_it(control_pays):
    history = left_alone(rows(40), [i % 4 == 0 for i in range(40)])  # 10 controls, 30 contacted
    history["exploration"] = history["queued"] & (np.arange(40) % 4 == 1)
    treated_pay = [i for i in range(40) if i % 4 and i % 3 == 0]  # a third of the contacted
    control_pay = [i for i in range(40) if i % 4 == 0 and i % 8 == 0] if control_pays else []
    paid = payments(*[(f"L{i:03d}", "2026-06-05T10:00:00Z", 50.0) for i in [*treated_pay, *control_pay]])
    if control_pays:  # controls pay more than the contacted: the uplift turns negative
        paid = payments(
            *[(f"L{i:03d}", "2026-06-05T10:00:00Z", 50.0) for i in range(40) if i % 4 == 0],
            *[(f"L{i:03d}", "2026-06-05T10:00:00Z", 50.0) for i in treated_pay],
        )
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 1))
    uplift = uplift_table(out).set_index("comparison")
    engine = uplift.loc["engine (intent to treat)"]
    assert engine["treated_loans"] == 30 and engine["control_loans"] == 10
    expected = engine["pay_rate_treated"] - engine["pay_rate_control"]
    assert engine["uplift_pay_rate"] == pytest.approx(expected)
    assert (engine["uplift_pay_rate"] < 0) if control_pays else (engine["uplift_pay_rate"] > 0)
    assert engine["uplift_pay_rate_se"] > 0
    assert engine["uplift_pay_rate_low"] < engine["uplift_pay_rate"] < engine["uplift_pay_rate_high"]
    assert engine["uplift_per_loan"] == pytest.approx(50.0 * expected)
    assert uplift.loc["random contact", "treated_loans"] == 10  # the exploration picks
    assert uplift["randomised"].all()
    groups = control_table(out).set_index("group")
    assert groups.loc["control", "loans"] == 10 and groups.loc["contacted", "loans"] == 30
    assert groups.loc["model picks", "loans"] + groups.loc["exploration", "loans"] == 30


def test_model_picks_are_compared_with_the_controls_the_engine_would_have_contacted():
    history = left_alone(rows(6), [True, True, True, False, False, False])
    history["incremental_value"] = [5.0, -1.0, 2.0, 10.0, 10.0, 10.0]  # one control worth nothing
    out = realized_outcomes(history, payments(), window_days=30, until=dt.date(2026, 7, 1))
    picks = uplift_table(out).set_index("comparison").loc["model picks"]
    assert picks["treated_loans"] == 3 and picks["control_loans"] == 2


def test_a_loan_in_many_nights_counts_once_in_the_standard_error():
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    loans = np.arange(len(y)).astype(str)
    mean, se = mean_and_se(y, loans)
    assert mean == pytest.approx(y.mean())
    assert se == pytest.approx(y.std(ddof=1) / np.sqrt(len(y)))  # one row per loan: the usual s.e.
    # The same loans on a second night with the same outcome: no new information, same s.e.
    _, twice = mean_and_se(np.tile(y, 2), np.tile(loans, 2))
    assert twice == pytest.approx(se)
    difference, difference_se = difference_and_se(y[:4], loans[:4], y[4:], loans[4:])
    assert difference == pytest.approx(y[:4].mean() - y[4:].mean())
    assert difference_se > 0


def test_champion_and_challenger_are_judged_on_their_own_top_k():
    history = left_alone(rows(4), [False, False, True, True], control=False)
    # Two loans queued tonight (k = 2): the champion's top two are L000 and L001, the
    # challenger's L002 and L003, and only L002 pays.
    history["p_pay"] = [0.9, 0.8, 0.2, 0.1]
    history["challenger_version"] = "recover-propensity/2"
    history["p_pay_challenger"] = [0.1, 0.2, 0.9, 0.8]
    history.loc[2:3, "left_alone_reason"] = "contact unlikely to help"
    out = realized_outcomes(
        history, payments(("L002", "2026-06-02T10:00:00Z", 60.0)), window_days=30, until=dt.date(2026, 7, 1)
    )
    table = challenger_table(out).set_index("model")
    assert table["top_k"].tolist() == [2, 2]
    assert table.loc["champion", "top_k_collected"] == 0.0
    assert table.loc["challenger", "top_k_collected"] == 60.0
    assert table.loc["challenger", "auc"] == 1.0
    assert table.loc["champion", "auc"] == pytest.approx(1 / 3)  # the payer is its third
    assert table.loc["challenger", "version"] == "recover-propensity/2"
    assert challenger_table(realized_outcomes(rows(2), payments(), window_days=30, until=AS_OF)).empty


def test_calibration_puts_predicted_beside_realized_in_equal_width_bins():
    history = rows(4, p_pay=[0.05, 0.15, 0.95, 0.92])
    paid = payments(("L002", "2026-06-02T10:00:00Z", 60.0), ("L003", "2026-06-02T10:00:00Z", 60.0))
    out = realized_outcomes(history, paid, window_days=30, until=dt.date(2026, 7, 1))
    table = calibration_table(out).set_index("bin")
    assert table.index.tolist() == ["0.0-0.1", "0.1-0.2", "0.9-1.0"]
    assert table.loc["0.9-1.0", "loans"] == 2 and table.loc["0.9-1.0", "pay_rate"] == 1.0
    assert table.loc["0.9-1.0", "gap"] == pytest.approx(1.0 - 0.935)


def test_the_report_logs_numbers_only_and_counts_unknown_loans():
    history = left_alone(rows(20), [i % 5 == 0 for i in range(20)])
    paid = payments(*[(f"L{i:03d}", "2026-06-02T10:00:00Z", 60.0) for i in range(0, 20, 3)])
    report = backfill_report(
        history,
        paid,
        window_days=30,
        until=dt.date(2026, 7, 1),
        known_loans=pd.Series([f"L{i:03d}" for i in range(18)]),
    )
    assert report.facts.unknown_loans == 2
    assert {"top_decile_share_of_collected", "realized_uplift_pay_rate", "calibration_error"} <= set(
        report.metrics
    )
    assert all(isinstance(value, float) and value == value for value in report.metrics.values())


# --- building and archiving a night's history --------------------------------------------------


def night():
    features = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4"],
            "borrower_id": ["B1", "B2", "B3", "B4"],
            "as_of": pd.Timestamp(AS_OF),
            "days_past_due": [10.0, 40.0, 5.0, 90.0],
            "amount_overdue": [80.0, 300.0, 20.0, 900.0],
            "outstanding_balance": [400.0, 900.0, 100.0, 2000.0],
            "installment_amount": [50.0, 100.0, 40.0, 150.0],
        },
        index=[7, 8, 9, 10],
    )
    p_pay = pd.Series([0.6, 0.3, 0.8, 0.1], index=features.index)
    queue = pd.DataFrame(
        {
            "loan_id": ["L2", "L1"],
            "rank": [1, 2],
            "within_capacity": [True, False],
            "team": ["call-west", "sms-west"],
            "recommended_channel": ["call", "sms"],
            "p_response": [0.4, 0.7],
            "p_self_cure": [0.2, 0.6],
            "incremental_value": [58.0, 7.95],
            "channel_cost": [2.0, 0.05],
            "exploration": [False, True],
        }
    )
    dispositions = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4"],
            "disposition": ["queued", "queued", "left_alone", "suppressed"],
            "detail": ["", "", "control group", "bankruptcy"],
        }
    )
    alone = pd.DataFrame(
        {
            "loan_id": ["L3"],
            "reason": ["control group: randomly held out from contact to measure uplift"],
            "control": [True],
            "p_self_cure": [0.75],
            "best_channel": ["email"],
            "p_best_channel": [0.78],
            "best_incremental_value": [0.58],
        }
    )
    return features, p_pay, queue, dispositions, alone


def build(shadow: ShadowScore | None = None, run_id: str = "run-1") -> pd.DataFrame:
    features, p_pay, queue, dispositions, alone = night()
    return queue_history(
        features,
        p_pay,
        queue,
        dispositions,
        alone,
        run_id=run_id,
        as_of=AS_OF,
        model_version="recover-propensity/3",
        archived_at=pd.Timestamp("2026-06-01T03:00", tz="UTC"),
        challenger=shadow,
    )


def test_the_history_has_every_overdue_loan_once_with_its_place_in_the_night():
    features, *_ = night()
    history = build(
        ShadowScore("recover-propensity/4", pd.Series([0.5, 0.4, 0.3, 0.2], index=features.index))
    )
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["loan_id"].tolist() == ["L2", "L1", "L3", "L4"]  # by rank, the rest after
    by_loan = history.set_index("loan_id")
    assert by_loan["rank"].tolist()[:2] == [1, 2] and by_loan["rank"].isna().tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert by_loan.loc["L1", "exploration"] and not by_loan.loc["L1", "within_capacity"]
    assert by_loan.loc["L3", "control"] and by_loan.loc["L3", "left_alone_reason"].startswith("control group")
    assert by_loan.loc["L3", "incremental_value"] == 0.58 and by_loan.loc["L3", "best_channel"] == "email"
    assert pd.isna(by_loan.loc["L4", "recommended_channel"]) and pd.isna(by_loan.loc["L4", "p_self_cure"])
    assert by_loan.loc["L4", "disposition"] == "suppressed"
    assert by_loan["qualifying_amount"].tolist() == [100.0, 50.0, 20.0, 150.0]  # min(overdue, installment)
    assert by_loan["p_pay"].tolist() == [0.3, 0.6, 0.8, 0.1]
    assert by_loan["p_pay_challenger"].tolist() == [0.4, 0.5, 0.3, 0.2]
    assert (by_loan["challenger_version"] == "recover-propensity/4").all()
    assert build()["p_pay_challenger"].isna().all()


def test_the_archive_is_idempotent_per_run_and_never_rewritten(tmp_path):
    archive = QueueArchive(tmp_path / "history")
    first = archive.write(build())
    assert first.written and first.rows == 4
    assert first.path == tmp_path / "history" / "as_of=2026-06-01" / "run_id=run-1" / "queue_history.parquet"
    retried = build().assign(archived_at=pd.Timestamp("2026-06-01T03:05", tz="UTC"))
    assert not archive.write(retried).written  # a retry of the same run: nothing changes
    changed = build().assign(p_pay=0.99)
    with pytest.raises(ArchiveConflict):
        archive.write(changed)
    archive.write(build(run_id="run-2"))  # a re-run of the night: a partition of its own
    stored = archive.read()
    assert len(stored) == 8 and set(stored["run_id"]) == {"run-1", "run-2"}
    assert (
        stored.loc[stored["run_id"] == "run-1", "archived_at"] == pd.Timestamp("2026-06-01T03:00", tz="UTC")
    ).all()
    assert list(tmp_path.glob("history/**/*.tmp")) == []
    assert QueueArchive(tmp_path / "nothing").read().empty
