"""The `recover` CLI end to end: simulate -> validate -> train -> score, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.batches import AUTOMATED_CHANNELS
from data_contracts.outputs import QUEUE_COLUMNS
from features.catalog import FEATURE_NAMES
from recover.cli import app
from scoring.treatments import OUT_OF_CONTACT_REASONS
from tests.conftest import SMALL_BOOK_AS_OF
from tests.reason_checks import channel_problems, priority_problems, propensity_problems

pytestmark = pytest.mark.e2e

runner = CliRunner()
AS_OF = str(SMALL_BOOK_AS_OF)


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(small_book, prefect_harness):
    data_dir, _ = small_book
    result = invoke("train", "--data", data_dir, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    return result


def test_train_registers_a_champion_that_beats_the_heuristic(trained):
    import mlflow
    from mlflow import MlflowClient

    from adapters import tracking
    from recover.config import load_config

    assert "Registered recover-propensity/" in trained.output
    config = load_config()
    tracking.configure(config)
    client = MlflowClient(tracking.tracking_uri(config))
    version = client.get_model_version_by_alias("recover-propensity", "champion")
    run = mlflow.get_run(version.run_id)
    assert run.data.metrics["test_auc"] > run.data.metrics["test_heuristic_dpd_auc"]
    assert run.data.params["label_window_days"] == "30"
    validation = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/input_validation.json")
    assert validation["tables"]["loans"]["quarantined"] == 0
    # The nightly drift check's reference: the test block's bins, every feature and p_pay.
    reference = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/drift_reference.json")
    assert set(reference["features"]) == set(FEATURE_NAMES) and reference["score"]["name"] == "p_pay"
    assert sum(reference["score"]["shares"]) == pytest.approx(1)
    window = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/data_window.json")
    assert window["test"]["rows"] != window["train"]["rows"]  # so the check below tells them apart
    assert reference["rows"] == window["test"]["rows"]  # built from the (newest) test block
    assert reference["score"]["rows"] == window["test"]["rows"]


def test_training_logs_the_model_card_plots_segments_and_the_gate_evidence(trained):
    import mlflow
    from mlflow import MlflowClient

    from adapters import tracking
    from recover.config import load_config

    config = load_config()
    tracking.configure(config)
    client = MlflowClient(tracking.tracking_uri(config))
    version = client.get_model_version_by_alias("recover-propensity", "champion")
    logged = {artifact.path for artifact in client.list_artifacts(version.run_id)}
    assert {
        "model_card.md",
        "calibration.png",
        "lift_gains.png",
        "shap_summary.png",
        "segment_metrics.csv",
        "deciles.csv",
        "shap_importance.csv",
        "evaluation_block.parquet",
    } <= logged
    card = mlflow.artifacts.load_text(f"runs:/{version.run_id}/model_card.md")
    for heading in ("## What it predicts", "## Intended use", "## Not for", "## Data", "## Known limits"):
        assert heading in card
    metrics = mlflow.get_run(version.run_id).data.metrics
    assert 0 < metrics["test_recovery_captured_at_capacity"] <= 1
    assert any(key.startswith("segment.product.") and key.endswith(".auc") for key in metrics)
    assert any(key.startswith("segment.dpd_bucket.") for key in metrics)
    assert any(key.startswith("segment.region.") for key in metrics)

    channel = client.get_model_version_by_alias("recover-channel", "champion")
    logged = {artifact.path for artifact in client.list_artifacts(channel.run_id)}
    assert {
        "model_card.md",
        "calibration.png",
        "lift_gains.png",
        "segment_metrics.csv",
        "evaluation_block.parquet",
    } <= logged
    assert "uplift = p_reach" in mlflow.artifacts.load_text(f"runs:/{channel.run_id}/model_card.md")


def test_a_worse_retraining_on_the_same_data_is_refused_promotion(trained, small_book, tmp_path):
    """Done-when of the lifecycle issue: the same data, a worse configuration, `--promote`: the
    gate's table is shown, the champion stays, the refusal is recorded in MLflow."""
    import mlflow

    from adapters import tracking
    from recover.config import load_config

    config = load_config()
    champion_before = tracking.alias_version(config, "recover-propensity", "champion")
    worse = tmp_path / "worse.yaml"
    worse.write_text(
        "training:\n  lightgbm: {n_estimators: 15, num_leaves: 3, learning_rate: 0.02}\n"
        "channel_model:\n  lightgbm: {n_estimators: 10, learning_rate: 0.01}\n"
    )
    result = invoke("train", "--data", small_book[0], "--as-of", AS_OF, "--promote", "--config", worse)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "challenger >= champion - 0.002" in output  # the gate's table, with its rules
    assert "recover-propensity: not promoted: 'champion' stays" in output
    assert tracking.alias_version(config, "recover-propensity", "champion") == champion_before
    challenger = tracking.alias_version(config, "recover-propensity", "challenger")
    assert challenger is not None and challenger != champion_before

    from mlflow import MlflowClient

    client = MlflowClient(tracking.tracking_uri(config))
    tags = client.get_model_version("recover-propensity", challenger).tags
    assert tags["recover.gate"] == "refused"
    gate = mlflow.artifacts.load_dict(f"runs:/{tags['recover.gate_run_id']}/promotion_gate.json")
    table = {row["metric"]: row for row in gate["table"]}
    assert not table["auc"]["passed"] and table["auc"]["challenger"] < table["auc"]["champion"]
    assert gate["champion_version"] == champion_before and not gate["passed"]

    listed = invoke("models")
    assert listed.exit_code == 0
    assert "refused" in listed.output and "challenger" in listed.output and "champion" in listed.output

    again = invoke("promote", "--model", "recover-propensity")
    assert again.exit_code == 5, again.output
    assert tracking.alias_version(config, "recover-propensity", "champion") == champion_before


@pytest.fixture(scope="module")
def scored(trained, small_book, tmp_path_factory):
    """One nightly run on the small book: its output folder."""
    data_dir, _ = small_book
    out = tmp_path_factory.mktemp("scored") / "queue"
    result = invoke("score", "--data", data_dir, "--as-of", AS_OF, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_every_run_writes_its_fair_practice_review(scored):
    review = json.loads((scored / "review.json").read_text())
    queue = pd.read_parquet(scored / "queue.parquet")
    explanations = review["explanations"]
    assert explanations["queued_rows"] == len(queue) > 0
    assert explanations["share_with_three_reasons"] == 1.0
    assert explanations["share_with_three_channel_reasons"] == 1.0
    assert {row["feature"] for row in explanations["global_importance"]} <= set(FEATURE_NAMES)
    table = pd.DataFrame(review["disparities"]["table"])
    assert set(table["attribute"]) == {"gender", "age_band", "region"}
    assert set(table["metric"]) == {"queued", "field_visit", "contacts_30d", "suppressed", "p_pay"}
    reference = table[table["group"] == table["reference_group"]]
    assert np.allclose(reference["ratio_to_reference"].dropna(), 1.0)
    flagged = table[table["flagged"]]
    assert ((flagged["ratio_to_reference"] < 0.8) | (flagged["ratio_to_reference"] > 1.25)).all()
    assert (flagged["loans"] >= 30).all() and (flagged["p_adjusted"] < 0.05).all()
    training = review["at_training"]
    assert {row["attribute"] for row in training["performance_by_group"]} == {"gender", "age_band", "region"}
    assert set(training["proxy_check"]) == {"gender", "age_band"}
    assert review["compliance"]["suppressions"] == len(pd.read_parquet(scored / "suppressed.parquet"))
    manifest = json.loads((scored / "manifest.json").read_text())
    assert manifest["review"]["share_with_three_reasons"] == 1.0
    assert manifest["review"]["disparities_flagged"] == len(review["disparities"]["flagged"])
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        # Every filter spelled out: this client sends unset ones as null, which the server refuses.
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["fair-practice-review"])),
            flow_run_filter=FlowRunFilter(),
            task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC,
            limit=50,
            offset=0,
        )
    assert any(review["run"]["run_id"] in (artifact.data or "") for artifact in artifacts)
    page = (scored / "review.html").read_text()
    assert "Group disparities" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch from anywhere


def test_explain_breaks_one_account_down_and_draws_its_waterfall(scored, small_book, tmp_path):
    data_dir, _ = small_book
    row = pd.read_parquet(scored / "queue.parquet").iloc[0]
    result = invoke("explain", row["loan_id"], "--data", data_dir, "--as-of", AS_OF, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"calibrated p_pay {row['p_pay_30d']:.3f}" in flat
    assert "base value" in flat and "margin" in flat and "incremental value" in flat
    assert "p_pay if reached" in flat
    assert (tmp_path / f"explain-{row['loan_id']}-{AS_OF}.png").stat().st_size > 5000

    missing = invoke("explain", "NO-SUCH-LOAN", "--data", data_dir, "--as-of", AS_OF, "--out", tmp_path)
    assert missing.exit_code == 2 and "not in the loan book" in missing.output


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
def test_the_review_renders_offline_in_a_headless_browser(scored):
    from playwright.sync_api import sync_playwright

    requests, blocked = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))

            def only_local(route):
                if route.request.url.startswith(("file:", "data:")):
                    return route.continue_()
                blocked.append(route.request.url)
                return route.abort()

            page.route("**/*", only_local)
            page.goto((scored / "review.html").as_uri())
            page.wait_for_load_state("networkidle")
            title = page.title()
            headings = page.locator("h2").all_inner_texts()
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
            )
            flagged_rows = page.locator("tr.flag").count()
        finally:
            browser.close()
    assert title.startswith("Fair-practice review")
    assert {"Group disparities", "Compliance summary", "Scores and priorities"} <= set(headings)
    assert len(images) >= 4 and all(loaded for _, loaded in images), images
    assert (
        flagged_rows == json.loads((scored / "review.json").read_text())["disparities"]["flagged"].__len__()
    )
    assert not blocked and all(url.startswith(("file:", "data:")) for url in requests), requests


def test_score_writes_a_ranked_explained_queue(scored):
    out = scored

    queue = pd.read_parquet(out / "queue.parquet")
    assert list(queue.columns) == QUEUE_COLUMNS
    assert list(pd.read_csv(out / "queue.csv", nrows=0).columns) == QUEUE_COLUMNS
    assert list(queue["rank"]) == list(range(1, len(queue) + 1))
    # Within today's capacity first, then overflow; each part by value per unit of contact cost
    # (scoring.rank_by), and each team (one channel) in value order.
    assert queue["within_capacity"].is_monotonic_decreasing
    for _, part in queue.groupby("within_capacity"):
        assert part["priority_score"].is_monotonic_decreasing
    per_cost = queue["incremental_value"] / queue["channel_cost"].clip(lower=0.01)
    assert np.allclose(queue["priority_score"], per_cost)
    for _, team in queue[queue["within_capacity"]].groupby("team"):
        assert team.sort_values("team_rank")["incremental_value"].is_monotonic_decreasing
    assert (queue.loc[~queue["exploration"], "incremental_value"] > 0).all()
    assert queue["p_response"].between(0, 1).all() and queue["p_self_cure"].between(0, 1).all()
    assert queue["p_pay_30d"].between(0, 1).all()
    # Reasons read back from the night cannot contradict what they explain (issue 27): p_pay
    # reasons against their reference never backwards, channel reasons for the chosen channel or
    # "Despite", priority reasons that add up to the incremental value.
    for row in queue.to_dict("records"):
        reasons = [row["reason_1"], row["reason_2"], row["reason_3"]]
        assert not propensity_problems(reasons), (row["loan_id"], reasons)
        channel = [row["channel_reason_1"], row["channel_reason_2"], row["channel_reason_3"]]
        assert not channel_problems(
            channel, row["recommended_channel"], row["runner_up_channel"], exploration=row["exploration"]
        ), (row["loan_id"], channel)
        assert not priority_problems(row["priority_reason"], row), (row["loan_id"], row["priority_reason"])
    # Every queued row says why its channel beat the runner-up (another channel or no contact).
    assert queue["runner_up_channel"].notna().all()
    assert (queue["runner_up_channel"] != queue["recommended_channel"]).all()
    # A channel whose effect the history barely identifies for the loan says first that its value
    # is mostly the stated prior; the learnt reasons follow.
    on_prior = queue["channel_reason_1"].str.startswith("The history rarely used ")
    assert queue.loc[on_prior, "channel_reason_1"].str.contains("stated prior").all()
    for column in ("channel_reason_1", "channel_reason_2", "channel_reason_3"):
        learnt = (
            queue[column][~on_prior & ~queue["exploration"]]
            if column == "channel_reason_1"
            else queue[column][~queue["exploration"]]
        )
        assert learnt.str.contains(r"\(favours [a-z_ ]+ over [a-z_ ]+\)$|^Despite |^Nothing else").all()
    assert queue["model_version"].str.match(r"^recover-propensity/\d+$").all()

    manifest = json.loads((out / "manifest.json").read_text())
    suppressed = pd.read_parquet(out / "suppressed.parquet")
    follow_up = pd.read_parquet(out / "promise_follow_up.parquet")
    dispositions = pd.read_parquet(out / "dispositions.parquet")
    counts = manifest["counts"]
    assert counts["queued"] == len(queue)
    left_alone = pd.read_parquet(out / "left_alone.parquet")
    assert set(left_alone["reason"]) <= {
        "likely to pay without contact",
        "contact unlikely to help",
        "control group: randomly held out from contact to measure uplift",
        # Treatments that take a loan out of tonight's contacts (scoring/treatments.py).
        *OUT_OF_CONTACT_REASONS.values(),
    }
    assert left_alone["control"].any() and queue["exploration"].any()
    # Every overdue loan exactly once: queued, held back, waiting on a promise, or left alone.
    assert counts["overdue"] == len(queue) + suppressed["loan_id"].nunique() + len(follow_up) + len(
        left_alone
    )
    assert not set(left_alone["loan_id"]) & (set(queue["loan_id"]) | set(suppressed["loan_id"]))
    assert dispositions["loan_id"].is_unique and len(dispositions) == counts["overdue"]
    assert not set(queue["loan_id"]) & set(suppressed["loan_id"])
    assert not (set(queue["loan_id"]) | set(suppressed["loan_id"])) & set(follow_up["loan_id"])
    assert (suppressed["policy"] == "us_reg_f").all() and (suppressed["policy_version"] != "").all()
    assert manifest["policy"]["packs"] == {"us_reg_f": suppressed["policy_version"].iloc[0]}

    # Every queued contact lies in its lawful window: 08:00-21:00 on the borrower's clock
    # (a letter is not time-bound: the whole day).
    for row in queue.itertuples():
        start = row.contact_from_utc.tz_convert(row.timezone)
        end = row.contact_until_utc.tz_convert(row.timezone)
        expected = (0, 0, 0, 0) if row.recommended_channel == "letter" else (8, 0, 21, 0)
        assert (start.hour, start.minute, end.hour, end.minute) == expected
        assert str(start.date()) == AS_OF

    windows = pd.read_parquet(out / "contact_windows.parquet")
    assert len(windows) == 6 * counts["overdue"]
    teams = sorted(p.stem for p in (out / "teams").glob("*.csv"))
    assert teams == sorted(queue["team"].unique())
    team = pd.read_csv(out / "teams" / f"{teams[0]}.csv")
    assert list(team["team_rank"]) == list(range(1, len(team) + 1))
    # CSV instants keep their time of day and offset.
    assert team["contact_from_utc"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").all()

    # The morning workbook: the day's kinds of work, not channel x region; platforms get files.
    workbook = openpyxl.load_workbook(out / "team_queues.xlsx")
    names = workbook.sheetnames
    assert names[0] == "Summary" and "Read me" in names
    assert {"Calls", "Field visits", "Promises", "Care", "Disputes"} <= set(names)
    assert not set(queue["team"]) & set(names)
    assert not [name for name in names for channel in AUTOMATED_CHANNELS if channel in name.lower()]
    contacts = queue.groupby("contact_id").agg(
        team=("team", "first"),
        channel=("recommended_channel", "first"),
        within=("within_capacity", "any"),
        exploration=("exploration", "any"),
    )
    sheet = workbook["Calls"]
    calls = contacts[contacts["channel"] == "call"]
    assert sheet.freeze_panes == "A2" and sheet.max_row == len(calls) + 1
    rows = pd.DataFrame(list(sheet.values)[1:], columns=[cell.value for cell in sheet[1]])
    assert set(rows["Contact id"]) == set(calls.index)
    marked = rows.set_index("Contact id")["Exploration"] == "Randomised pick"
    assert marked.to_dict() == calls["exploration"].to_dict()
    assert list(rows["Today or later"]) == sorted(rows["Today or later"], key=lambda v: v != "Today")
    summary = workbook["Summary"]
    top = next(r for r in range(1, summary.max_row + 1) if summary.cell(r, 1).value == "Team")
    header = [cell.value for cell in summary[top]]
    shown = {
        summary.cell(r, 1).value: {h: summary.cell(r, c).value for c, h in enumerate(header, start=1) if h}
        for r in range(top + 1, top + 1 + len(manifest["teams"]))
    }
    for team in manifest["teams"]:
        row = shown[team["team"]]
        assert row["Capacity a day"] == (team["capacity"] if team["capacity"] is not None else "no limit")
        assert row["Within capacity"] == int(contacts.loc[contacts["team"] == team["team"], "within"].sum())
        assert row["Why (capacity)"] == team["capacity_note"]
    for channel in AUTOMATED_CHANNELS:
        batch = pd.read_csv(out / "batches" / f"{channel}.csv", dtype=str)
        today = contacts[(contacts["channel"] == channel) & contacts["within"]]
        assert set(batch["contact_id"]) == set(today.index)
    assert manifest["as_of"] == AS_OF and manifest["model"]["name"] == "recover-propensity"
    assert set(manifest["input_rows"]) == {
        "borrowers",
        "loans",
        "installments",
        "payments",
        "interactions",
        "account_flags",
        "contact_points",  # the optional tables, which the simulated book carries
        "arrangements",
    }
    assert {"validate inputs", "build features", "score, explain and rank"} <= set(
        manifest["timings_seconds"]
    )
    assert not list(out.glob(".staging-*"))


def test_score_twice_gives_the_same_queue(trained, small_book, tmp_path):
    data_dir, _ = small_book
    for name in ("a", "b"):
        assert invoke("score", "--data", data_dir, "--as-of", AS_OF, "--out", tmp_path / name).exit_code == 0
    a, b = (pd.read_parquet(tmp_path / n / "queue.parquet").drop(columns="run_id") for n in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("pack", ["india_rbi", "uk_fca"])
def test_score_applies_the_chosen_rule_pack(trained, small_book, tmp_path, pack):
    data_dir, _ = small_book
    out = tmp_path / pack
    result = invoke("score", "--data", data_dir, "--as-of", AS_OF, "--out", out, "--policy", pack)
    assert result.exit_code == 0, result.output
    queue = pd.read_parquet(out / "queue.parquet")
    assert (queue["policy"] == pack).all()
    last_hour = {"india_rbi": 19, "uk_fca": 20}[pack]
    calls = queue[queue["recommended_channel"] != "letter"]
    assert len(calls)
    for row in calls.itertuples():
        assert row.contact_until_utc.tz_convert(row.timezone).hour == last_hour


def test_score_refuses_an_unknown_rule_pack(small_book, tmp_path):
    result = invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", tmp_path, "--policy", "mars")
    assert result.exit_code == 2
    assert "unknown policy pack 'mars'" in result.output
    assert not (tmp_path / "queue.parquet").exists()


def test_validate_accepts_the_simulated_book(small_book):
    result = invoke("validate", "--data", small_book[0], "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def _copy_book(small_book, tmp_path):
    target = tmp_path / "book"
    shutil.copytree(small_book[0], target, ignore=shutil.ignore_patterns("truth"))
    return target


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda d: (d / "payments.parquet").unlink(), ["payments", "table missing"]),
        (
            lambda d: (
                pd.read_parquet(d / "loans.parquet").drop(columns="principal").to_parquet(d / "loans.parquet")
            ),
            ["loans", "principal", "column missing"],
        ),
        (
            lambda d: (
                pd.read_parquet(d / "loans.parquet").assign(principal="lots").to_parquet(d / "loans.parquet")
            ),
            ["loans", "principal", "type: expected float64"],
        ),
    ],
    ids=["missing table", "missing column", "wrong type"],
)
@pytest.mark.parametrize("command", ["validate", "train", "score"])
def test_bad_input_fails_naming_table_column_and_rule(
    command, corrupt, expected, small_book, tmp_path, prefect_harness
):
    data_dir = _copy_book(small_book, tmp_path)
    corrupt(data_dir)
    out = tmp_path / "out"
    args = {
        "validate": ["validate", "--data", data_dir],
        "train": ["train", "--data", data_dir, "--as-of", AS_OF],
        "score": ["score", "--data", data_dir, "--as-of", AS_OF, "--out", out],
    }[command]
    result = invoke(*args)
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    for fragment in expected:
        assert fragment in text
    published = ["queue.parquet", "queue.csv", "suppressed.parquet", "manifest.json"]
    assert not any((out / name).exists() for name in published)


def test_score_without_a_champion_says_so(small_book, tmp_path, monkeypatch, prefect_harness):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "empty-state"))
    result = invoke("score", "--data", small_book[0], "--as-of", AS_OF, "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert "recover train" in " ".join(result.output.split())
    assert not (tmp_path / "out" / "queue.parquet").exists()


def test_simulate_train_score_on_a_small_book(tmp_path, monkeypatch, prefect_harness):
    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    data, out = tmp_path / "book", tmp_path / "queue"
    assert invoke("simulate", "--out", data, "--loans", 2000, "--seed", 3, "--as-of", AS_OF).exit_code == 0
    assert (data / "truth").is_dir() and (data / "loans.parquet").exists()
    trained = invoke("train", "--data", data, "--as-of", AS_OF)
    assert trained.exit_code == 0, trained.output
    scored = invoke("score", "--data", data, "--as-of", AS_OF, "--out", out)
    assert scored.exit_code == 0, scored.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["queued"] > 0
    assert manifest["counts"]["scored"] == manifest["counts"]["overdue"] >= manifest["counts"]["queued"]
    # The run says what it knew: 00:00 of the work day in New York (us_reg_f's clock), everywhere.
    cutoff = pd.Timestamp(f"{AS_OF}T00:00", tz="America/New_York").tz_convert("UTC")
    assert manifest["data_cutoff_utc"] == cutoff.isoformat()
    assert f"Data cut-off {AS_OF}T00:00 America/New_York" in " ".join(scored.output.split())
    for name in ("queue", "suppressed", "dispositions", "contact_windows"):
        assert (pd.read_parquet(out / f"{name}.parquet")["data_cutoff_utc"] == cutoff).all(), name


def test_a_damaged_delivery_is_quarantined_and_scoring_goes_on(trained, tmp_path):
    data, out = tmp_path / "damaged", tmp_path / "run"
    simulated = invoke(
        "simulate", "--out", data, "--loans", 1500, "--seed", 11, "--as-of", AS_OF, "--corrupt", 0.004
    )
    assert simulated.exit_code == 0, simulated.output
    assert (data / "payments.csv").exists()
    log = pd.read_parquet(data / "truth" / "corruption_log.parquet")

    checked = invoke("validate", "--data", data, "--as-of", AS_OF, "--out", tmp_path / "checked")
    assert checked.exit_code == 1
    scored = invoke("score", "--data", data, "--as-of", AS_OF, "--out", out)
    assert scored.exit_code == 0, scored.output

    manifest = json.loads((out / "manifest.json").read_text())
    quarantine = pd.read_parquet(out / "quarantine" / "quarantine.parquet")
    for table, counts in manifest["validation"]["tables"].items():
        assert (
            counts["rows_in"]
            == counts["accepted"] + counts["quarantined"] + counts["duplicates_collapsed"] + counts["held"]
        )
        assert (quarantine["table"] == table).sum() == counts["quarantined"]
    # An event moved after the cut-off is a later night's event, not a bad row: it is held.
    moved_later = log[log["corruption"] == "future_event"]
    for table, rows in moved_later.groupby("table"):
        assert manifest["validation"]["tables"][table]["held"] >= len(rows)
    damaged_in_place = log[
        ~log["corruption"].isin(["exact_duplicate", "conflicting_duplicate", "future_event"])
    ]
    for table, rows in damaged_in_place.groupby("table"):
        # every damaged row is in the quarantine, named by its CSV line, with its reasons
        quarantined = quarantine[quarantine["table"] == table]
        assert set(rows["row"]) <= set(quarantined["row"])
        assert (quarantined["line"] == quarantined["row"] + 2).all()
    assert set(quarantine["run_id"]) == {manifest["run_id"]}
    assert manifest["counts"]["queued"] > 0


def test_too_many_bad_rows_stop_the_run_and_publish_nothing(trained, tmp_path):
    data, out = tmp_path / "broken", tmp_path / "run"
    assert (
        invoke(
            "simulate", "--out", data, "--loans", 600, "--seed", 5, "--as-of", AS_OF, "--corrupt", 0.03
        ).exit_code
        == 0
    )
    result = invoke("score", "--data", data, "--as-of", AS_OF, "--out", out)
    assert result.exit_code == 2
    assert "ceiling" in " ".join(result.output.split())
    assert not (out / "queue.parquet").exists() and not (out / "manifest.json").exists()
    assert (out / "quarantine" / "quarantine.parquet").exists()


def test_policies_lists_every_pack_with_its_rules():
    result = invoke("policies")
    assert result.exit_code == 0, result.output
    for text in ("us_reg_f", "india_rbi", "uk_fca", "(default)", "call_cap_7_in_7", "Reg F"):
        assert text in result.output


def test_evaluate_policy_prints_saves_and_logs_the_comparison(prefect_harness, tmp_path):
    out = tmp_path / "evaluation"
    result = invoke(
        "evaluate-policy",
        "--loans",
        "1500",
        "--days",
        "10",
        "--policies",
        "random,engine,engine_without_control,state_oracle,oracle",
        "--futures",
        "2",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "oracle" in result.output and "engine - oracle" in result.output
    assert "engine - state_oracle" in result.output and "engine - engine_without_control" in result.output
    table = pd.read_csv(out / "policy_evaluation.csv", index_col="policy")
    assert list(table.index) == ["random", "engine", "engine_without_control", "state_oracle", "oracle"]
    assert (table["contacts"] > 0).all() and (table["futures"] == 2).all()
    assert np.allclose(table["net_recovery"], table["recovered"] - table["contact_cost"], atol=0.01)
    runs = pd.read_csv(out / "policy_evaluation_by_future.csv")
    assert sorted(runs["future"].unique()) == [0, 1] and len(runs) == 5 * 2
    net = runs.pivot(index="future", columns="policy", values="net_recovery")
    assert net.mean()["engine"] == pytest.approx(table.loc["engine", "net_recovery"], abs=0.01)
    paired_gain = (net["engine"] - net["random"]).mean()
    assert table.loc["engine", "gain_over_random"] == pytest.approx(paired_gain, abs=0.02)
    assert "share_of_oracle_gain" in table.columns  # NaN when the oracle gained nothing over random
    daily = pd.read_csv(out / "recovered_per_day.csv")
    assert len(daily) == 5 * 10
    assert (out / "recovered_per_day.png").stat().st_size > 1000
    facts = json.loads((out / "policy_evaluation.json").read_text())
    assert facts["seeds"]["simulation"] == 42 and facts["book"]["n_loans"] == 1500
    assert "with_ipw" in facts["uplift_on_randomised_units"]
    assert facts["futures"] == 2 and facts["engine_vs"]["random"]["futures"] == 2
    assert facts["control_group"] == {"share": 0.02, "period_days": 30, "left_alone_by_every_policy": True}


def test_evaluate_policy_refuses_an_unknown_policy(tmp_path):
    result = invoke("evaluate-policy", "--policies", "random,psychic", "--out", tmp_path)
    assert result.exit_code != 0 and "psychic" in result.output


def test_only_a_missing_model_maps_to_exit_code_3_not_every_lookup_error():
    """KeyError is a LookupError: a broken model input must surface, not pose as "no champion"."""
    import typer

    from recover.cli.runtime import EXIT_NO_MODEL, run_guarded

    def no_champion():
        raise LookupError("no model 'recover-propensity' with alias 'champion'")

    def broken():
        raise KeyError("model inputs missing from the frame: ['x']")

    with pytest.raises(typer.Exit) as exited:
        run_guarded(no_champion)
    assert exited.value.exit_code == EXIT_NO_MODEL
    with pytest.raises(KeyError, match="model inputs missing"):
        run_guarded(broken)
