"""The pieces of nightly operations: work day, nights of a range, stage keys, the night lock,
the run summary."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from pipelines.runtime.operations import (
    NightLock,
    NightLockedError,
    StageCache,
    nights,
    prune_stage_records,
    source_fingerprint,
    work_day,
)
from review.run_summary import QUEUE_TOP_COLUMNS, queue_top, run_summary_markdown
from scoring.manifest import RunManifest

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "zone", "day"),
    [
        (dt.datetime(2026, 12, 2, 7, 0, tzinfo=UTC), "America/New_York", dt.date(2026, 12, 2)),  # 02:00 NY
        (dt.datetime(2026, 12, 2, 4, 0, tzinfo=UTC), "America/New_York", dt.date(2026, 12, 1)),  # 23:00 NY
        (dt.datetime(2026, 12, 1, 20, 45, tzinfo=UTC), "Asia/Kolkata", dt.date(2026, 12, 2)),  # 02:15 IST
        (dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/London", dt.date(2026, 3, 29)),  # DST day
    ],
)
def test_the_work_day_is_the_date_begun_in_the_lenders_zone(now, zone, day):
    assert work_day(zone, now) == day


def test_the_work_day_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        work_day("UTC", dt.datetime(2026, 1, 1))


def test_nights_of_a_range_are_every_date_in_order():
    assert nights(dt.date(2026, 2, 27), dt.date(2026, 3, 2)) == [
        dt.date(2026, 2, 27),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
    ]
    assert nights(dt.date(2026, 1, 1), dt.date(2026, 1, 1)) == [dt.date(2026, 1, 1)]
    with pytest.raises(ValueError, match="before it starts"):
        nights(dt.date(2026, 1, 2), dt.date(2026, 1, 1))


def night(**changes) -> dict:
    return {
        "as_of": "2026-06-01",
        "source": {"files": [["loans.parquet", 10, 1]]},
        "config": {"a": 1},
        **changes,
    }


def test_stage_keys_change_with_anything_that_changes_the_result(tmp_path):
    base = StageCache.for_night(tmp_path, night(), hours=36)
    assert StageCache.for_night(tmp_path, night(), hours=36).key("features") == base.key("features")
    for changed in (
        night(as_of="2026-06-02"),
        night(source={"files": [["loans.parquet", 11, 1]]}),
        night(config={"a": 2}),
        night(models={"propensity": ["recover-propensity/2", "run"]}),
    ):
        assert StageCache.for_night(tmp_path, changed, hours=36).key("features") != base.key("features")
    assert base.key("features") != base.key("validate")


def test_a_folder_fingerprint_changes_when_a_file_does(tmp_path):
    (tmp_path / "loans.csv").write_text("a\n1\n")
    before = source_fingerprint(tmp_path, tmp_path / "state")
    time.sleep(0.01)
    (tmp_path / "loans.csv").write_text("a\n2\n3\n")
    assert source_fingerprint(tmp_path, tmp_path / "state") != before


def test_a_database_fingerprint_is_its_url_without_reading_it(tmp_path):
    fingerprint = source_fingerprint("postgresql://collector@db.internal/book", tmp_path)
    assert fingerprint["kind"] == "database"
    assert "db.internal" in str(fingerprint["url"])
    with_password = source_fingerprint("postgresql://collector:secret@db.internal/book", tmp_path)
    assert "secret" not in json.dumps(with_password, default=str)


def write_record(folder, name, payload=b"result"):
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / name
    record.write_bytes(payload)
    return record


def test_forgetting_a_night_removes_its_records_and_results_only(tmp_path):
    cache = StageCache.for_night(tmp_path, night(), hours=36)
    other = StageCache.for_night(tmp_path, night(as_of="2026-06-02"), hours=36)
    mine = [write_record(cache.folder, cache.key(stage)) for stage in ("validate", "features")]
    theirs = write_record(other.folder, other.key("validate"))
    assert cache.completed() == ["validate", "features"]
    assert cache.forget() == 2
    assert cache.completed() == [] and not any(path.exists() for path in mine)
    assert other.completed() == ["validate"] and theirs.exists()


def test_records_older_than_the_resume_window_are_pruned(tmp_path):
    cache = StageCache.for_night(tmp_path, night(), hours=36)
    old = write_record(cache.folder, cache.key("validate"))
    fresh = write_record(cache.folder, cache.key("features"))
    two_days_ago = time.time() - 48 * 3600
    os.utime(cache.folder / cache.key("validate"), (two_days_ago, two_days_ago))
    assert prune_stage_records(tmp_path, dt.timedelta(hours=36)) == 1
    assert not old.exists() and fresh.exists()
    assert cache.completed() == ["features"]


class Counted:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self, *args):
        self.calls += 1
        return {"value": self.value, "args": args}


def test_a_completed_stage_is_persisted_and_reused_until_refreshed(tmp_path):
    cache = StageCache.for_night(tmp_path, night(), hours=36)
    stage = Counted(pd.DataFrame({"loan_id": ["L1", "L2"], "p": [0.1, 0.2]}))
    first = cache.run("features", stage, 1, "a")
    again = cache.run("features", stage, 1, "a")
    assert stage.calls == 1 and cache.completed() == ["features"]
    pd.testing.assert_frame_equal(again["value"], first["value"])
    assert again["args"] == (1, "a")
    cache.run("features", stage, 1, "a", refresh=True)
    assert stage.calls == 2
    assert not [p for p in cache.folder.iterdir() if p.name.endswith(".partial")]


def test_a_stale_or_unreadable_record_is_recomputed(tmp_path):
    cache = StageCache.for_night(tmp_path, night(), hours=36)
    stage = Counted(1)
    cache.run("features", stage)
    record = cache.folder / cache.key("features")
    two_days_ago = time.time() - 48 * 3600
    os.utime(record, (two_days_ago, two_days_ago))
    cache.run("features", stage)
    assert stage.calls == 2
    record.write_bytes(b"not a pickle")
    assert cache.run("features", stage)["value"] == 1 and stage.calls == 3


def test_a_disabled_cache_persists_nothing(tmp_path):
    cache = StageCache.for_night(tmp_path, night(), hours=36, enabled=False)
    stage = Counted(1)
    cache.run("features", stage)
    cache.run("features", stage)
    assert stage.calls == 2 and cache.completed() == [] and not cache.folder.exists()


def test_a_second_lock_on_the_same_night_fails_naming_the_holder(tmp_path):
    day = dt.date(2026, 6, 1)
    with NightLock(tmp_path, day, run_id="run-a"):
        with pytest.raises(NightLockedError, match="run_id run-a"), NightLock(tmp_path, day, run_id="run-b"):
            pass
        with NightLock(tmp_path, day + dt.timedelta(days=1), run_id="run-c"):
            pass  # another night is not blocked
    with NightLock(tmp_path, day, run_id="run-b"):
        pass  # released on exit


def test_a_waiting_lock_waits_then_fails(tmp_path):
    day = dt.date(2026, 6, 1)
    with NightLock(tmp_path, day, run_id="run-a"):
        started = time.monotonic()
        with (
            pytest.raises(NightLockedError, match=r"after waiting 0\.5 s"),
            NightLock(tmp_path, day, run_id="run-b", wait_seconds=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5


def test_a_killed_holder_releases_the_night(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import datetime as dt, sys, time\n"
            "from pipelines.runtime.operations import NightLock\n"
            f"with NightLock({str(tmp_path)!r}, dt.date(2026, 6, 1), run_id='doomed'):\n"
            "    print('locked', flush=True); time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(NightLockedError, match="doomed"),
            NightLock(tmp_path, dt.date(2026, 6, 1), run_id="next"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with NightLock(tmp_path, dt.date(2026, 6, 1), run_id="next"):
        pass


def manifest() -> RunManifest:
    tables = {
        "loans": {"rows_in": 10, "accepted": 8, "quarantined": 1, "duplicates_collapsed": 1, "held": 0},
        "payments": {"rows_in": 5, "accepted": 5, "quarantined": 0, "duplicates_collapsed": 0, "held": 0},
    }
    model = {
        "name": "recover-propensity",
        "version": "3",
        "label": "recover-propensity/3",
        "mlflow_run_id": "r3",
    }
    channel = {"name": "recover-channel", "version": "2", "label": "recover-channel/2", "mlflow_run_id": "r2"}
    return RunManifest.model_validate(
        {
            "run_id": "run-1",
            "as_of": "2026-06-01",
            "data_cutoff_utc": "2026-06-01T04:00:00+00:00",
            "cutoff": {"timezone": "America/New_York", "local": "2026-06-01T00:00 America/New_York"},
            "data_source": "book/",
            "input_rows": {"loans": 10, "payments": 5},
            "validation": {
                "data_cutoff_utc": "2026-06-01T04:00:00+00:00",
                "cutoff_timezone": "America/New_York",
                "tables": tables,
                "held_for_later_nights": {},
                "quarantined_by_rule": [],
            },
            "model": model,
            "channel_model": {**channel, "source": "model"},
            "decisions": {
                "channel_cost": {"call": 2.0},
                "exploration_share": 0.05,
                "control_share": 0.02,
                "control_days": 30,
                "self_cure_threshold": 0.5,
                "salt": "recover",
                "repeat_contact_discount": 0.75,
                "exploration": 1,
                "exploration_share_of_queue": 0.25,
                "control": 1,
                "left_alone_by_reason": {},
                "incremental_value_within_capacity": 12.5,
                "queued_by_channel": {"call": 4},
                "rank_by": "value_per_cost",
                "response_worth": {
                    "amount_at_stake": "amount_overdue (the champion logged no payment share)"
                },
            },
            "policy": {
                "packs": {"us_reg_f": "2026.11.1"},
                "default": "us_reg_f",
                "by_region": {},
                "cadence": [],
                "loans_by_pack": {"us_reg_f": 7},
                "regions_without_loans": [],
            },
            "counts": {
                "overdue": 7,
                "scored": 7,
                "suppressed": 2,
                "queued": 4,
                "promise_follow_up": 0,
                "forbearance": 1,
                "left_alone": 1,
                "within_capacity": 3,
                "dispositions": {"queued": 4, "suppressed": 2, "promise_follow_up": 0, "left_alone": 1},
            },
            "suppressed_by_reason": {"bankruptcy": 1, "open_dispute": 1},
            "teams": [],
            "review": {
                "share_with_three_reasons": 1.0,
                "share_with_three_channel_reasons": 1.0,
                "disparities_flagged": 0,
                "explain_seconds": {"propensity_reasons": 0.1, "channel_reasons": 0.1},
            },
            "drift": {
                "status": "warn",
                "stops_run": False,
                "score_psi": 0.02,
                "worst": {"name": "loan_age_days", "psi": 0.31},
                "warned": {"loan_age_days": 0.31},
                "failed": {},
                "blocking": {},
                "unreferenced": [],
                "downgraded": None,
                "thresholds": {"warn_psi": 0.1, "fail_psi": 0.25, "fail_on": "score"},
            },
            "timings_seconds": {},
            "stage_detail_seconds": {},
            "treatments": {
                "counts": {
                    "contact": 3,
                    "payment_plan": 1,
                    "deferment": 0,
                    "settlement": 0,
                    "referral": 1,
                    "trace": 0,
                    "hold": 2,
                },
                "acceptance": {"payment_plan": "the configured rule (30% accept)"},
                "expected_value_of_offers": 42.0,
                "expected_value_of_referrals": 310.0,
            },
            "disputes": {
                "open": 1,
                "overdue_responses": 1,
                "due_within_7_days": 0,
                "without_deadline": 0,
                "summary": "1 open dispute, 1 response overdue (D-L2-20260420 on loan L2, received 2026-04-20, "
                "12 days late), 0 due within 7 days",
            },
        }
    )


def test_the_run_summary_carries_inputs_decisions_holds_drift_and_links(tmp_path):
    link = {
        "run_id": "abc123",
        "experiment": "recover",
        "tracking_uri": "sqlite:///m.db",
        "url": "http://ml/#/r",
    }
    text = run_summary_markdown(manifest(), {"review.html": str(tmp_path / "review.html")}, link)
    assert "15 rows in = 13 accepted + 1 quarantined + 1 duplicate deliveries collapsed" in text
    assert "- queued: 4 (3 within today's capacity, 1 exploration)" in text
    assert "| bankruptcy | 1 |" in text and "| open_dispute | 1 |" in text
    assert "Status: **warn**" in text and "| loan_age_days | 0.310 |" in text
    assert "[abc123](http://ml/#/r)" in text and (tmp_path / "review.html").as_uri() in text
    assert (
        "- treatments: contact 3, payment plan 1, deferment 0, settlement 0, referral 1, trace 0, hold 2"
        in text
    )
    assert "1 response overdue (D-L2-20260420" in text and "**(responses overdue: see disputes.csv)**" in text


def test_the_top_of_the_queue_is_by_rank_without_contact_details():
    queue = pd.DataFrame(
        {
            "rank": [3, 1, 2],
            "loan_id": ["L3", "L1", "L2"],
            "borrower_id": ["B3", "B1", "B2"],
            "timezone": ["UTC"] * 3,
            "p_pay_30d": [0.123456, 0.5, 0.25],
        }
    )
    top = queue_top(queue, 2)
    assert top["loan_id"].tolist() == ["L1", "L2"]
    assert set(top.columns) <= set(QUEUE_TOP_COLUMNS) and "borrower_id" not in top.columns


def test_the_training_summary_names_the_champions_metrics_and_gate_verdicts():
    from models.gate import GateResult
    from pipelines.promotion import PromotionDecision
    from pipelines.results import ChannelTraining, PropensityTraining, TrainResult
    from review.run_summary import training_summary_markdown

    def decision(model, challenger, before, after, promoted, gate):
        return PromotionDecision(model, challenger, before, after, promoted, gate, gate_run_id=None, note="")

    passed = GateResult(passed=True, table=pd.DataFrame(), verdict="passed: auc +0.01")
    result = TrainResult(
        as_of=dt.date(2026, 6, 1),
        propensity=PropensityTraining(
            model="recover-propensity/2", mlflow_run_id="r1",
            metrics={"test_auc": 0.8361, "test_brier": 0.164, "segments": {"ignored": 1}},  # type: ignore[dict-item]
            data={}, fairness={}, out_of_time_plan="", search_run_id=None, lightgbm={},
        ),
        channel=ChannelTraining(model="recover-channel/1", not_fitted=None, metrics={}, treatments=[]),
        promotion=(
            decision("recover-propensity", "2", "1", "2", True, passed),
            decision("recover-channel", "1", None, "1", False, None),
        ),
        tracking_uri="x", input_rows={"loans": 10, "payments": 5}, validation={}, timings={},
    )  # fmt: skip
    text = training_summary_markdown(
        result, {"run_id": "r1", "experiment": "recover", "tracking_uri": "x", "url": None}
    )
    assert "15 input rows" in text and "recover-propensity/2 and recover-channel/1" in text
    assert "| test_auc | 0.8361 |" in text and "segments" not in text
    assert "| recover-propensity | 2 | 1 | 2 | yes | passed: auc +0.01 |" in text
    assert "no gate (first version)" in text and "`r1`" in text
