"""One contact per borrower and day, the officer's context, and the officer's work list."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from data_contracts.outputs import LEFT_ALONE_COLUMNS, Contacts
from data_contracts.validation import validate_tables
from scoring.contacts import (
    CHANNEL_NOT_LAWFUL_FOR_LOAN,
    NO_COMMON_WINDOW,
    contacted_via_other_loan,
    officer_context,
    one_contact_per_borrower,
)
from scoring.dispositions import Decisions, check_partition
from scoring.worklist import contact_worklist, primary_points
from tests.factories import borrower, interaction, loan, raw_tables, schedule

DAY = dt.date(2025, 3, 3)
COST = {"call": 2.0, "sms": 0.1, "email": 0.0, "whatsapp": 0.1, "field_visit": 25.0, "letter": 1.0}


def _utc(hour: int) -> pd.Timestamp:
    return pd.Timestamp(f"2025-03-03T{hour:02d}:00Z")


def _window(loan_id: str, borrower_id: str, channel: str, lawful: bool, start=8, end=21, left=3) -> dict:
    return {
        "loan_id": loan_id,
        "borrower_id": borrower_id,
        "channel": channel,
        "lawful_today": lawful,
        "window_from_utc": _utc(start) if lawful else pd.NaT,
        "window_until_utc": _utc(end) if lawful else pd.NaT,
        "window_from_local": f"2025-03-03T{start:02d}:00:00+00:00" if lawful else None,
        "window_until_local": f"2025-03-03T{end:02d}:00:00+00:00" if lawful else None,
        "attempts_left_today": left if lawful else 0,
    }


def _option(loan_id: str, channel: str, p_contact: float, p_self_cure: float = 0.1, amount=1000.0) -> dict:
    return {
        "loan_id": loan_id,
        "channel": channel,
        "p_contact": p_contact,
        "p_self_cure": p_self_cure,
        "p_reach": 0.5,
        "amount_overdue": amount,
        "amount_at_stake": amount,
        "overlap_weight": 1.0,
        "resource": f"{channel}-east",
    }


def _queued(loan_id: str, borrower_id: str, channel: str, value: float, window: dict, option: dict) -> dict:
    return {
        "loan_id": loan_id,
        "borrower_id": borrower_id,
        "as_of": pd.Timestamp(DAY),
        "days_past_due": 40,
        "amount_overdue": option["amount_overdue"],
        "recommended_channel": channel,
        "contact_from_utc": window["window_from_utc"],
        "contact_until_utc": window["window_until_utc"],
        "contact_from_local": window["window_from_local"],
        "contact_until_local": window["window_until_local"],
        "attempts_left_today": window["attempts_left_today"],
        "incremental_value": value,
        "p_contact": option["p_contact"],
        "p_self_cure": option["p_self_cure"],
        "p_reach": 0.5,
        "overlap_weight": 1.0,
        "within_capacity": True,
        "exploration": False,
        "resource": option["resource"],
        "channel_cost": COST[channel],
    }


def _night(windows: list[dict], options: list[dict], queued: list[dict]):
    """A settled night of hand-built frames: (decisions, left_alone, options, windows)."""
    windows_frame = pd.DataFrame(windows).astype({"attempts_left_today": "Int64"})
    candidates = pd.DataFrame(queued).astype({"attempts_left_today": "Int64"})
    for column in ("contact_from_utc", "contact_until_utc"):
        candidates[column] = candidates[column].astype("datetime64[ns, UTC]")
    dispositions = candidates[["loan_id", "borrower_id", "as_of"]].assign(
        disposition="queued",
        detail="",
        policy="us_reg_f",
        policy_version="1",
        control=False,
        exploration=False,
    )
    empty = pd.DataFrame({"loan_id": pd.Series(dtype="str")})
    decisions = Decisions(
        dispositions=dispositions,
        suppressed=empty,
        promise_follow_up=empty,
        forbearance=empty,
        candidates=candidates,
    )
    left_alone = pd.DataFrame({column: [] for column in [*LEFT_ALONE_COLUMNS, "best_channel_cost"]})
    left_alone["control"] = left_alone["control"].astype(bool)
    return decisions, left_alone, pd.DataFrame(options), windows_frame


def _two_loans(l2_call_lawful: bool = True, l2_call_window=(9, 20)):
    """Borrower B1: L1 best through a call (value 198), L2 through a letter (value 49); the
    call is lawful for L2 in ``l2_call_window`` when ``l2_call_lawful``. Borrower B2: L3 alone."""
    windows = [
        _window("L1", "B1", "call", True, 8, 21, left=5),
        _window("L1", "B1", "letter", True, 0, 23),
        _window("L2", "B1", "call", l2_call_lawful, *l2_call_window, left=2),
        _window("L2", "B1", "letter", True, 0, 23),
        _window("L3", "B2", "sms", True, 8, 21),
    ]
    options = [
        _option("L1", "call", 0.3),
        _option("L1", "letter", 0.15),
        _option("L2", "letter", 0.15, amount=1000.0),
        _option("L3", "sms", 0.2),
    ]
    if l2_call_lawful:
        options.append(_option("L2", "call", 0.25))
    queued = [
        _queued("L1", "B1", "call", 198.0, windows[0], options[0]),
        _queued("L2", "B1", "letter", 49.0, windows[3], options[2]),
        _queued("L3", "B2", "sms", 99.9, windows[4], options[3]),
    ]
    return _night(windows, options, queued)


def test_two_loans_of_one_borrower_become_one_contact_through_the_lead_channel():
    decisions, left_alone, options, windows = _two_loans()
    settled, alone = one_contact_per_borrower(decisions, left_alone, options, windows, COST, as_of=DAY)
    queued = settled.candidates.set_index("loan_id")
    assert set(queued.index) == {"L1", "L2", "L3"}
    assert queued.loc["L1", "contact_id"] == queued.loc["L2", "contact_id"] == "20250303-B1"
    assert queued.loc["L3", "contact_id"] == "20250303-B2"
    assert queued.loc["L1", "contact_loans"] == queued.loc["L2", "contact_loans"] == "L1; L2"
    assert queued.loc["L2", "recommended_channel"] == "call"
    # L2 takes the call option's response and value, and keeps its own attempts (per debt).
    assert queued.loc["L2", "p_contact"] == pytest.approx(0.25)
    assert queued.loc["L2", "incremental_value"] == pytest.approx((0.25 - 0.1) * 1000 - COST["call"])
    assert queued.loc["L2", "channel_cost"] == COST["call"]
    assert queued.loc["L2", "resource"] == "call-east"
    assert queued.loc["L2", "attempts_left_today"] == 2 and queued.loc["L1", "attempts_left_today"] == 5
    # The window satisfies both loans: 09:00-20:00 inside L1's 08:00-21:00.
    for loan_id in ("L1", "L2"):
        assert queued.loc[loan_id, "contact_from_utc"] == _utc(9)
        assert queued.loc[loan_id, "contact_until_utc"] == _utc(20)
        assert queued.loc[loan_id, "contact_from_local"] == "2025-03-03T09:00:00+00:00"
    assert queued.loc["L3", "contact_from_utc"] == _utc(8)
    assert alone.empty
    assert (settled.dispositions["disposition"] == "queued").all()


def test_a_loan_whose_channel_is_not_lawful_leaves_the_queue_and_the_partition_holds():
    decisions, left_alone, options, windows = _two_loans(l2_call_lawful=False)
    settled, alone = one_contact_per_borrower(decisions, left_alone, options, windows, COST, as_of=DAY)
    queued = settled.candidates
    assert set(queued["loan_id"]) == {"L1", "L3"}
    assert queued.set_index("loan_id").loc["L1", "contact_loans"] == "L1"
    assert list(alone["loan_id"]) == ["L2"]
    row = alone.iloc[0]
    assert row["reason"] == CHANNEL_NOT_LAWFUL_FOR_LOAN and not row["control"]
    assert row["best_channel"] == "letter" and row["best_incremental_value"] == pytest.approx(49.0)
    assert contacted_via_other_loan(alone["reason"]).all()
    disposition = settled.dispositions.set_index("loan_id")
    assert disposition.loc["L2", "disposition"] == "left_alone"
    assert disposition.loc["L2", "detail"] == CHANNEL_NOT_LAWFUL_FOR_LOAN
    features = settled.dispositions[["loan_id"]]
    empty = pd.DataFrame({"loan_id": []})
    check_partition(
        features,
        settled.dispositions,
        queued,
        {"suppressed": empty, "promise_follow_up": empty, "forbearance": empty, "left_alone": alone},
    )
    assert set(alone.columns) >= set(LEFT_ALONE_COLUMNS) - {"run_id", "data_cutoff_utc"}


def test_a_loan_whose_window_misses_the_contacts_leaves_the_queue():
    decisions, left_alone, options, windows = _two_loans(l2_call_window=(21, 23))
    settled, alone = one_contact_per_borrower(decisions, left_alone, options, windows, COST, as_of=DAY)
    assert set(settled.candidates["loan_id"]) == {"L1", "L3"}
    assert list(alone["reason"]) == [NO_COMMON_WINDOW]
    lead = settled.candidates.set_index("loan_id").loc["L1"]
    assert (lead["contact_from_utc"], lead["contact_until_utc"]) == (_utc(8), _utc(21))


def test_the_same_night_gives_the_same_contacts():
    first = one_contact_per_borrower(*_two_loans(), COST, as_of=DAY)[0].candidates
    second = one_contact_per_borrower(*_two_loans(), COST, as_of=DAY)[0].candidates
    pd.testing.assert_frame_equal(first, second)


# --- the officer's context --------------------------------------------------------------------------


def _context_tables(extra_interactions=()):
    raw = raw_tables(
        borrowers=[borrower("B1", preferred_language="es")],
        loans=[loan("L1", "B1"), loan("L2", "B1")],
        installments=schedule("L1", first_due="2024-10-01", n=12)
        + schedule("L2", first_due="2024-10-15", n=12),
        interactions=[
            interaction("I1", "2025-02-20T15:00:00Z", loan_id="L1", channel="sms", outcome="delivered"),
            interaction(
                "I2",
                "2025-02-27T15:00:00Z",
                loan_id="L2",
                channel="call",
                outcome="promise_to_pay",
                promised_amount=80.0,
                promised_date="2025-03-05",
            ),
            *extra_interactions,
        ],
    )
    result = validate_tables(raw)
    assert result.is_valid, result.failures.to_string()
    return result.tables


def _ledger(tables, as_of: dt.date):
    from features.promises import promise_ledger

    return promise_ledger(
        tables["interactions"], tables["payments"], pd.Timestamp(as_of, tz="UTC"), tolerance=0.01
    )


def test_the_officer_context_reads_the_tables_before_the_cutoff():
    tables = _context_tables()
    loans = pd.DataFrame({"loan_id": ["L1"], "borrower_id": ["B1"]}, index=[7])
    context = officer_context(loans, tables, _ledger(tables, DAY), DAY).loc[7]
    assert context["preferred_language"] == "es"
    # The borrower's last contact, on any of their loans.
    assert context["last_contact_at"] == pd.Timestamp("2025-02-27T15:00:00Z")
    assert context["last_contact_channel"] == "call"
    assert context["last_contact_outcome"] == "promise_to_pay"
    assert context["next_due_date"] == pd.Timestamp("2025-03-01") + pd.DateOffset(months=1)
    assert context["open_promise_amount"] == pytest.approx(80.0)
    assert context["open_promise_date"] == pd.Timestamp("2025-03-05")


def test_an_event_after_the_cutoff_changes_no_context():
    loans = pd.DataFrame({"loan_id": ["L1"], "borrower_id": ["B1"]})
    before = _context_tables()
    after = _context_tables(
        [interaction("I9", "2025-03-03T10:00:00Z", loan_id="L1", channel="email", outcome="opted_out")]
    )
    expected = officer_context(loans, before, _ledger(before, DAY), DAY)
    later = officer_context(loans, after, _ledger(after, DAY), DAY)
    pd.testing.assert_frame_equal(expected, later)


def test_a_borrower_without_history_has_an_empty_context():
    tables = _context_tables()
    tables = {**tables, "interactions": tables["interactions"].iloc[:0]}
    loans = pd.DataFrame({"loan_id": ["L1"], "borrower_id": ["B1"]})
    context = officer_context(loans, tables, _ledger(tables, DAY), DAY).iloc[0]
    assert pd.isna(context["last_contact_at"]) and pd.isna(context["last_contact_channel"])
    assert pd.isna(context["open_promise_amount"])


# --- the officer's work list ------------------------------------------------------------------------


def _queue() -> pd.DataFrame:
    """A ranked queue: B1's contact (L1 lead and L2, through a call), B2's (L3, e-mail)."""
    rows = [
        ("L1", "B1", 1, "call", "call-east", 400.0, 120.0, "20250303-B1", "L1; L2", False),
        ("L3", "B2", 2, "email", "email-east", 300.0, 40.0, "20250303-B2", "L3", True),
        ("L2", "B1", 3, "call", "call-east", 100.0, 15.0, "20250303-B1", "L1; L2", False),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "loan_id",
            "borrower_id",
            "rank",
            "recommended_channel",
            "team",
            "amount_overdue",
            "incremental_value",
            "contact_id",
            "contact_loans",
            "exploration",
        ],
    )
    return frame.assign(
        as_of=pd.Timestamp(DAY),
        run_id="r1",
        within_capacity=True,
        contact_from_local="2025-03-03T09:00:00-05:00",
        contact_until_local="2025-03-03T20:00:00-05:00",
        timezone="America/New_York",
        contact_from_utc=pd.Timestamp("2025-03-03 14:00", tz="UTC"),
        contact_until_utc=pd.Timestamp("2025-03-04 01:00", tz="UTC"),
        preferred_language=["en", "fr", "en"],
        last_contact_at=pd.Series([_utc(1), pd.NaT, _utc(1)], dtype="datetime64[ns, UTC]"),
        last_contact_channel=["sms", None, "sms"],
        last_contact_outcome=["delivered", None, "delivered"],
        next_due_date=pd.to_datetime(["2025-03-20", "2025-03-11", "2025-03-10"]),
        open_promise_amount=[None, None, None],
        open_promise_date=pd.Series([pd.NaT] * 3, dtype="datetime64[ns]"),
        priority_reason=["A call is expected to add about 120", "An e-mail ...", "A call ... 15"],
    )


def _points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "borrower_id": ["B1", "B1", "B1", "B2", "B2"],
            "kind": ["phone", "phone", "email", "email", "phone"],
            "value": ["+1 555 0100", "+1 555 0199", "b1@example.com", "b2@example.com", "+1 555 0200"],
            "is_primary": [False, True, True, True, True],
            "verified_on": pd.to_datetime(["2025-01-01", None, None, None, None]),
        }
    )


def test_the_work_list_has_one_row_per_contact_with_its_point():
    borrowers = pd.DataFrame({"borrower_id": ["B1", "B2"], "display_name": ["Ada Adler", "Bo Brook"]})
    worklist = contact_worklist(_queue(), _points(), borrowers)
    Contacts.validate(worklist)
    assert list(worklist["contact_id"]) == ["20250303-B1", "20250303-B2"]
    first = worklist.iloc[0]
    assert first["rank"] == 1 and first["team_rank"] == 1 and first["n_loans"] == 2
    assert first["loan_ids"] == "L1; L2"
    assert first["amount_overdue"] == pytest.approx(500.0)
    assert first["incremental_value"] == pytest.approx(135.0)
    assert first["contact_point"] == "+1 555 0199"  # the primary phone, not the verified one
    assert first["display_name"] == "Ada Adler"
    assert first["priority_reason"] == "A call is expected to add about 120"
    assert first["next_due_date"] == pd.Timestamp("2025-03-10")
    second = worklist.iloc[1]
    assert second["contact_point"] == "b2@example.com" and bool(second["exploration"])


def test_a_book_without_contact_points_or_names_still_gets_its_work_list():
    queue = _queue().drop(columns="priority_reason")
    worklist = contact_worklist(queue)
    assert worklist["contact_point"].isna().all() and worklist["display_name"].isna().all()
    assert worklist["priority_reason"].isna().all()
    assert len(worklist) == 2


def test_whatsapp_falls_back_to_the_phone_and_letters_use_the_address():
    points = pd.DataFrame(
        {
            "borrower_id": ["B1", "B2", "B2"],
            "kind": ["phone", "address", "messaging"],
            "value": ["+1 555 0100", "1 Elm Street", "@b2"],
            "is_primary": [True, True, True],
            "verified_on": pd.Series([pd.NaT] * 3, dtype="datetime64[ns]"),
        }
    )
    queue = _queue()
    queue["recommended_channel"] = ["whatsapp", "letter", "whatsapp"]
    worklist = contact_worklist(queue, points).set_index("borrower_id")
    assert worklist.loc["B1", "contact_point"] == "+1 555 0100"
    assert worklist.loc["B2", "contact_point"] == "1 Elm Street"
    assert primary_points(points).loc[("B2", "messaging")] == "@b2"
