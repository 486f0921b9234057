"""The optional contact_points table and borrowers.display_name extend the input contract."""

from __future__ import annotations

import pandas as pd

from adapters.io import read_tables
from data_contracts.validation import PERSONAL_DATA_MASK, validate_tables
from tests.factories import borrower, raw_tables


def _points(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["borrower_id", "kind", "value", "is_primary", "verified_on"])


def test_a_book_without_contact_points_or_names_validates_as_before():
    result = validate_tables(raw_tables())
    assert result.is_valid and result.contact_details == {}
    assert "contact_points" not in result.counts()["table"].tolist()


def test_contact_points_and_names_are_validated_and_kept_apart_from_the_tables():
    raw = raw_tables(borrowers=[borrower("B1", display_name="Ada Adler")])
    raw["contact_points"] = _points(
        ("B1", "phone", "+15550000001", True, "2025-01-02"), ("B1", "email", "ada@example.com", True, None)
    )
    result = validate_tables(raw)
    assert result.is_valid
    # Features, explanations and the review read `tables`: no personal data there.
    assert "contact_points" not in result.tables
    assert "display_name" not in result.tables["borrowers"].columns
    assert list(result.contact_details["borrowers"]["display_name"]) == ["Ada Adler"]
    points = result.contact_details["contact_points"]
    assert list(points["value"]) == ["+15550000001", "ada@example.com"]
    assert points["is_primary"].dtype == bool
    counts = result.counts().set_index("table")
    assert counts.loc["contact_points", "accepted"] == 2


def test_a_bad_contact_point_is_quarantined_without_its_value():
    raw = raw_tables()
    raw["contact_points"] = _points(
        ("B1", "pager", "+15550000001", True, None), ("B9", "email", "nobody@example.com", True, None)
    )
    result = validate_tables(raw)
    quarantine = result.quarantine("r1")
    assert len(quarantine) == 2 and set(quarantine["table"]) == {"contact_points"}
    assert not quarantine["raw"].str.contains("example.com|5550000001").any()
    assert quarantine["raw"].str.contains(PERSONAL_DATA_MASK, regex=False).all()
    assert list(quarantine["key"]) == ["B1|pager", "B9|email"]
    assert not result.failures["value"].astype(str).str.contains("example.com").any()


def test_a_folder_without_contact_points_reads_and_one_with_them_reads_them(tmp_path):
    for name, frame in raw_tables().items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    assert "contact_points" not in read_tables(tmp_path)
    _points(("B1", "phone", "+15550000001", True, None)).to_csv(tmp_path / "contact_points.csv", index=False)
    assert len(read_tables(tmp_path)["contact_points"]) == 1
