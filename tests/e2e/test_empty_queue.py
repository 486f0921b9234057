"""A night where no contact is worth its cost publishes an empty, valid queue (every overdue
loan left alone with its reason), not a crash."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from recover.cli import app
from tests.conftest import SMALL_BOOK_AS_OF

pytestmark = pytest.mark.e2e

PRICELESS = """
decisions:
  channel_cost: {call: 1.0e9, sms: 1.0e9, email: 1.0e9, whatsapp: 1.0e9, field_visit: 1.0e9, letter: 1.0e9}
  exploration_share: 0.0
"""


def test_a_night_with_nothing_worth_contacting_publishes_an_empty_queue(
    champions, small_book, prefect_harness, tmp_path
):
    settings = tmp_path / "settings.yaml"
    settings.write_text(PRICELESS)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["score", "--data", str(small_book[0]), "--as-of", str(SMALL_BOOK_AS_OF), "--out", str(out)]
        + ["--config", str(settings)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    queue = pd.read_parquet(out / "queue.parquet")
    assert queue.empty
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["queued"] == 0
    left_alone = pd.read_parquet(out / "left_alone.parquet")
    assert (left_alone["reason"] != "").all() and len(left_alone) > 0
