"""Run outputs are published whole or not at all, and a new run's team folder replaces the old one."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from adapters import io


def _publish(out, run, teams, fail_on=None, monkeypatch=None):
    frames = {"queue": pd.DataFrame({"loan_id": [f"{run}-1"]})}
    frames |= {f"teams/{team}": pd.DataFrame({"loan_id": [f"{run}-{team}"]}) for team in teams}
    if fail_on is not None:
        real_replace = os.replace

        def flaky_replace(source, target):
            if str(target).endswith(fail_on) and ".staging-" in str(source):
                raise OSError("disk full")
            return real_replace(source, target)

        monkeypatch.setattr(io.os, "replace", flaky_replace)
    return io.publish_outputs(
        out,
        frames,
        {"run_id": run},
        run,
        files={"book.txt": lambda path: path.write_text(run)},
        replace_folders={"teams"},
    )


def _state(out):
    return {
        "manifest": json.loads((out / "manifest.json").read_text())["run_id"],
        "queue": pd.read_parquet(out / "queue.parquet")["loan_id"].tolist(),
        "book": (out / "book.txt").read_text(),
        "teams": sorted(p.name for p in (out / "teams").iterdir()),
        "leftovers": sorted(p.name for p in out.iterdir() if p.name.startswith(".")),
    }


def test_a_new_run_replaces_files_and_the_whole_team_folder(tmp_path):
    _publish(tmp_path, "r1", ["call-east", "sms-east"])
    written = _publish(tmp_path, "r2", ["call-east"])
    assert _state(tmp_path) == {
        "manifest": "r2",
        "queue": ["r2-1"],
        "book": "r2",
        "teams": ["call-east.csv", "call-east.parquet"],  # sms-east of r1 does not linger
        "leftovers": [],
    }
    assert set(written) >= {"queue.parquet", "queue.csv", "teams/call-east.csv", "book.txt", "manifest.json"}


@pytest.mark.parametrize("fail_on", ["queue.csv", "book.txt", "manifest.json"])
def test_a_failure_while_moving_files_in_puts_the_previous_run_back(tmp_path, monkeypatch, fail_on):
    _publish(tmp_path, "r1", ["call-east", "sms-east"])
    before = _state(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        _publish(tmp_path, "r2", ["call-east"], fail_on=fail_on, monkeypatch=monkeypatch)
    assert _state(tmp_path) == before
