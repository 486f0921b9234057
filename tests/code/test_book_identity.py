"""What a training run records about what it learned from: the content digest of the validated
input tables, the code version, and which features carried no information on the train block."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from data_contracts.digest import book_profile, table_digest, tables_digest
from models.training import describe_dropped, informative_features


def _book() -> dict[str, pd.DataFrame]:
    return {
        "loans": pd.DataFrame(
            {
                "loan_id": pd.array(["L1", "L2", "L3"], dtype="string"),
                "principal": [1000.0, 2500.0, 400.0],
                "disbursed": pd.to_datetime(["2025-01-02", "2025-02-03", "2025-03-04"]),
            }
        ),
        "payments": pd.DataFrame(
            {
                "loan_id": pd.array(["L1", "L1", "L3"], dtype="string"),
                "amount": [50.0, 50.0, 20.0],
                "paid_at": pd.to_datetime(["2025-04-01", "2025-05-01", "2025-04-09"], utc=True),
            }
        ),
        "promises": pd.DataFrame(
            {"loan_id": pd.array([], dtype="string"), "amount": pd.Series([], dtype=float)}
        ),
    }


def test_the_same_content_gives_the_same_digest():
    book = _book()
    copy = {name: frame.copy(deep=True) for name, frame in book.items()}
    assert tables_digest(book) == tables_digest(copy)
    assert re.fullmatch(r"[0-9a-f]{64}", tables_digest(book))
    # Table order of the mapping does not matter: tables are taken by name.
    assert tables_digest(dict(reversed(list(book.items())))) == tables_digest(book)


def test_one_changed_cell_changes_the_digest_of_its_table_and_of_the_book():
    book = _book()
    changed = {**book, "payments": book["payments"].copy()}
    changed["payments"].loc[2, "amount"] = 20.01
    assert table_digest(changed["payments"]) != table_digest(book["payments"])
    assert table_digest(changed["loans"]) == table_digest(book["loans"])
    assert tables_digest(changed) != tables_digest(book)


def test_row_and_column_order_do_not_change_the_digest():
    """A database returns rows in no fixed order: the same rows are the same book."""
    book = _book()
    shuffled = {
        name: frame.sample(frac=1.0, random_state=1)[list(reversed(frame.columns))]
        for name, frame in book.items()
    }
    assert tables_digest(shuffled) == tables_digest(book)
    reindexed = {
        name: frame.reset_index(drop=True).set_axis(range(10, 10 + len(frame)))
        for name, frame in book.items()
    }
    assert tables_digest(reindexed) == tables_digest(book)


@pytest.mark.parametrize(
    "change",
    [
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),  # a duplicated row
        lambda f: f.iloc[1:],  # a missing row
        lambda f: f.rename(columns={"amount": "amount_paid"}),  # a renamed column
        lambda f: f.assign(amount=f["amount"].astype("float32")),  # another column type
        lambda f: f.assign(amount=[50.0, 20.0, 50.0]),  # values moved between rows
    ],
)
def test_any_other_change_to_a_table_changes_the_digest(change):
    book = _book()
    assert tables_digest({**book, "payments": change(book["payments"])}) != tables_digest(book)


def test_an_empty_table_has_a_digest_and_table_names_count():
    book = _book()
    assert table_digest(book["promises"]) != table_digest(book["promises"].rename(columns={"amount": "x"}))
    renamed = {("flags" if name == "promises" else name): frame for name, frame in book.items()}
    assert tables_digest(renamed) != tables_digest(book)


def test_the_profile_is_one_small_row_per_table():
    profile = book_profile(_book())
    assert profile["table"].tolist() == ["loans", "payments", "promises"]
    assert profile["rows"].tolist() == [3, 3, 0]
    assert profile["columns"].tolist() == [3, 3, 2]
    assert profile.loc[1, "digest"] == table_digest(_book()["payments"])


def test_the_code_version_is_the_commit_in_a_checkout_and_the_package_version_without_git(monkeypatch):
    from adapters import tracking

    tracking.code_version.cache_clear()
    try:
        assert re.fullmatch(r"git:[0-9a-f]{40}(\+dirty)?|recover .+", tracking.code_version())
        tracking.code_version.cache_clear()
        monkeypatch.setenv("PATH", "")  # no git at all: the fallback, never an error
        assert tracking.code_version().startswith("recover ")
        tags = tracking.code_tags()
        assert set(tags) == {"recover.code_version", "recover.code_fingerprint"}
        assert re.fullmatch(r"[0-9a-f]{20}", tags["recover.code_fingerprint"])
    finally:
        tracking.code_version.cache_clear()


def test_features_constant_or_missing_on_the_train_block_are_found_with_why():
    frame = pd.DataFrame(
        {
            "varies": [1.0, 2.0, 3.0, 1.0],
            "constant": [0.0, 0.0, 0.0, 0.0],
            "all_missing": [np.nan] * 4,
            "value_or_missing": [3.0, np.nan, 3.0, np.nan],  # missingness still tells rows apart
            "one_product": pd.Series(["card"] * 4, dtype="string"),
            "flag": [True, False, True, True],
        }
    )
    used, dropped = informative_features(frame, list(frame.columns))
    assert used == ["varies", "value_or_missing", "flag"]
    assert dropped == {
        "constant": "constant (0.0)",
        "all_missing": "all missing",
        "one_product": "constant (card)",
    }
    assert (
        describe_dropped(dropped)
        == "constant (constant (0.0)), all_missing (all missing), one_product (constant (card))"
    )
    assert describe_dropped({}) == "none"


def test_the_book_is_logged_as_the_runs_training_dataset(tmp_path, monkeypatch):
    import mlflow

    from adapters import tracking
    from recover.config import load_config

    monkeypatch.setenv("RECOVER_STATE_DIR", str(tmp_path / "state"))
    config = load_config()
    experiment_id = tracking.configure(config)
    book = _book()
    for source, kind, uri in (
        (str(tmp_path / "book"), "local", str(tmp_path / "book")),
        ("postgresql+psycopg://collector:secret@db.internal/lender", "recover_tables", "collector:***@db"),
    ):
        book = {**book, "loans": book["loans"].assign(principal=book["loans"]["principal"] + 1)}
        with mlflow.start_run(experiment_id=experiment_id) as run:
            digest = tracking.log_book(book, source)
        logged = mlflow.get_run(run.info.run_id)
        (given,) = logged.inputs.dataset_inputs
        assert digest == tables_digest(book) and logged.data.tags["recover.data_digest"] == digest
        assert given.dataset.digest == digest[:32] and given.dataset.source_type == kind
        assert uri in given.dataset.source and "secret" not in given.dataset.source
        assert [(tag.key, tag.value) for tag in given.tags] == [("mlflow.data.context", "training")]


def test_a_feature_that_only_follows_the_snapshot_date_is_dropped():
    """A cohort book (every loan opened on one day): loan age is the calendar, not the account."""
    as_of = pd.to_datetime(["2005-06-01"] * 3 + ["2005-07-01"] * 3)
    frame = pd.DataFrame(
        {
            "as_of": as_of,
            "loan_age_days": [92, 92, 92, 122, 122, 122],
            "days_past_due": [0, 30, 61, 0, 31, 0],
        }
    )
    used, dropped = informative_features(frame, ["loan_age_days", "days_past_due"])
    assert used == ["days_past_due"]
    assert dropped == {"loan_age_days": "varies only with the snapshot date"}
    # One snapshot says nothing about the calendar: only truly constant columns go.
    single = frame[frame["as_of"] == as_of[0]]
    assert informative_features(single, ["loan_age_days"])[1] == {"loan_age_days": "constant (92)"}
