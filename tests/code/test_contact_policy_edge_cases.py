"""Edge cases of the contact-policy engine, one tiny hand-built book per case.

Each case states the exact verdict the engine must give: whether a channel is lawful on the work
day, its next lawful day and window (UTC and local, across DST changes), what blocks it, and
where the loan goes (queued, suppressed, promise follow-up, care).
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from data_contracts.enums import CHANNELS
from data_contracts.validation import validate_tables
from features.build import build_features
from features.point_in_time import as_of_instant
from scoring.dispositions import Decisions
from scoring.night import ContactSettings, decide_contacts
from scoring.policy.engine import PolicyResult
from tests.factories import borrower, flag, interaction, loan, payment, raw_tables, schedule

UTC = dt.UTC
AS_OF = dt.date(2026, 6, 10)  # an ordinary Wednesday: EDT (-04:00), BST (+01:00), IST (+05:30)
NY = "America/New_York"
IST = "Asia/Kolkata"
LONDON = "Europe/London"
CHATHAM = "Pacific/Chatham"
PREFERENCE = ["call", "sms", "email", "whatsapp", "field_visit", "letter"]
# Lawful hours of the calling channels per pack (letters have no hours: the whole local day).
HOURS = {"us_reg_f": ("08:00", "21:00"), "india_rbi": ("08:00", "19:00"), "uk_fca": ("08:00", "20:00")}
_ids = itertools.count(1)


def day(offset: int, as_of: dt.date = AS_OF) -> dt.date:
    return as_of + dt.timedelta(days=offset)


def utc_of(local_day: dt.date, clock: str, tz: str) -> pd.Timestamp:
    """The UTC instant of a wall-clock time on a local calendar day."""
    local = dt.datetime.combine(local_day, dt.time.fromisoformat(clock), tzinfo=ZoneInfo(tz))
    return pd.Timestamp(local.astimezone(UTC))


def contacts(
    when,
    *,
    tz: str = NY,
    as_of: dt.date = AS_OF,
    channel: str = "call",
    direction: str = "outbound",
    outcome: str = "no_answer",
    **extra,
) -> list[dict]:
    """Interactions on loan L1, one per ``when`` item: a day offset from ``as_of`` (local 11:00)
    or ``(offset, "HH:MM")`` on the borrower's local clock. All lie before the as-of cut-off."""
    rows = []
    for item in when:
        offset, clock = item if isinstance(item, tuple) else (item, "11:00")
        instant = utc_of(day(offset, as_of), clock, tz)
        assert instant < as_of_instant(as_of), f"{instant} is not before the as-of cut-off"
        rows.append(
            interaction(
                f"I{next(_ids)}",
                instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                channel=channel,
                direction=direction,
                outcome=outcome,
                **extra,
            )
        )
    return rows


def run(
    pack: str,
    as_of: dt.date = AS_OF,
    *,
    tz: str = NY,
    person: dict | None = None,
    interactions=(),
    flags=(),
    payments=(),
    preference=PREFERENCE,
) -> tuple[PolicyResult, Decisions]:
    """The engine's verdict on one overdue loan L1 of borrower B1 (consents to every channel
    unless ``person`` says otherwise)."""
    people = [borrower("B1", timezone=tz, consent_whatsapp=True, **(person or {}))]
    tables = valid_tables(
        as_of,
        borrowers=people,
        loans=[loan("L1", "B1")],
        installments=schedule("L1", first_due="2025-06-01"),
        payments=list(payments),
        interactions=list(interactions),
        account_flags=list(flags),
    )
    features = build_features(tables, as_of)
    assert list(features["loan_id"]) == ["L1"], "the loan is overdue"
    rules = ContactSettings(default_pack=pack, tolerance=0.01, grace_days=3, preference=tuple(preference))
    decided = decide_contacts(features, tables, as_of, rules)
    return decided.verdict, decided.decisions


def valid_tables(as_of: dt.date, **tables) -> dict[str, pd.DataFrame]:
    """Contract-typed tables, validated as of the work day: every row must be accepted (events
    strictly before the cut-off, flags starting no later than the work day)."""
    result = validate_tables(raw_tables(**tables), as_of=as_of)
    assert result.is_valid, result.failures.to_string()
    return result.tables


def window_row(result: PolicyResult, channel: str) -> pd.Series:
    rows = result.windows[(result.windows["loan_id"] == "L1") & (result.windows["channel"] == channel)]
    assert len(rows) == 1
    return rows.iloc[0]


def reasons(blocked_by: str) -> set[str]:
    return set(filter(None, blocked_by.split(",")))


# --- per channel: lawful today, next lawful day, blocking reasons ---------------------------------


def verdict(
    case_id: str,
    pack: str,
    channel: str,
    *,
    tz: str = NY,
    interactions=(),
    flags=(),
    person=None,
    lawful: bool,
    next_day: int | None,
    blocked_by=(),
):
    """A channel's verdict on the work day: lawful or not, the next lawful day as an offset from
    the work day (None: held indefinitely) and the reasons blocking it today."""
    return pytest.param(
        pack,
        tz,
        list(interactions),
        list(flags),
        person or {},
        channel,
        lawful,
        next_day,
        set(blocked_by),
        id=case_id,
    )


CAP = ("call_cap_7_in_7",)
TALKED = ("call_after_conversation",)
RPC = {"outcome": "right_party_contact"}
CHANNEL_CASES = [
    # Reg F 7-in-7: the planned call counts, so 6 earlier calls leave room and 7 do not; the
    # call is lawful again 7 days after the 7th most recent call.
    verdict("reg_f-6-calls-in-6-days-7th-lawful", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1]), lawful=True, next_day=0),
    verdict("reg_f-7-calls-block-until-oldest-plus-7", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1, -1]), lawful=False, next_day=1, blocked_by=CAP),
    verdict("reg_f-7-recent-calls-block-until-7th-most-recent-plus-7", "us_reg_f", "call",
            interactions=contacts([-4, -4, -3, -3, -2, -1, -1]), lawful=False, next_day=3, blocked_by=CAP),
    verdict("reg_f-8-calls-block-until-7th-most-recent-plus-7", "us_reg_f", "call",
            interactions=contacts([-6, -5, -5, -4, -3, -2, -1, -1]), lawful=False, next_day=2, blocked_by=CAP),
    # 23:30 EDT seven local days ago is 03:30 UTC six days ago: counted by local date, it is out.
    verdict("reg_f-call-at-23h30-local-7-days-ago-is-out-of-the-window", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1, (-7, "23:30")]), lawful=True, next_day=0),
    verdict("reg_f-inbound-calls-do-not-count", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1])
            + contacts([-3, -2, -1], direction="inbound", outcome="wrong_party"),
            lawful=True, next_day=0),
    verdict("reg_f-texts-do-not-count-toward-the-call-cap", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1]) + contacts([-2, -1], channel="sms", outcome="delivered"),
            lawful=True, next_day=0),
    # Reg F conversation cooldown: the conversation day is day 1 of 7.
    verdict("reg_f-conversation-6-days-ago-blocks-calls", "us_reg_f", "call",
            interactions=contacts([-6], **RPC), lawful=False, next_day=1, blocked_by=TALKED),
    verdict("reg_f-conversation-7-days-ago-does-not-block", "us_reg_f", "call",
            interactions=contacts([-7], **RPC), lawful=True, next_day=0),
    verdict("reg_f-conversation-at-22h-local-7-days-ago-does-not-block", "us_reg_f", "call",
            interactions=contacts([(-7, "22:00")], **RPC), lawful=True, next_day=0),
    # Chatham is UTC+12:45 in June: 09:00 local six days ago is 20:15 UTC seven days ago.
    verdict("reg_f-chatham-conversation-09h-local-6-days-ago-blocks-calls", "us_reg_f", "call", tz=CHATHAM,
            interactions=contacts([(-6, "09:00")], tz=CHATHAM, **RPC), lawful=False, next_day=1, blocked_by=TALKED),
    verdict("reg_f-inbound-conversation-blocks-calls", "us_reg_f", "call",
            interactions=contacts([-2], direction="inbound", outcome="refused"),
            lawful=False, next_day=5, blocked_by=TALKED),
    verdict("reg_f-unanswered-call-starts-no-cooldown", "us_reg_f", "call",
            interactions=contacts([-1]), lawful=True, next_day=0),
    verdict("reg_f-text-conversation-does-not-block-calls", "us_reg_f", "call",
            interactions=contacts([-1], channel="sms", **RPC), lawful=True, next_day=0),
    verdict("reg_f-call-conversation-does-not-block-texts", "us_reg_f", "sms",
            interactions=contacts([-1], **RPC), lawful=True, next_day=0),
    verdict("reg_f-cap-and-cooldown-the-later-wins", "us_reg_f", "call",
            interactions=contacts([-6, -5, -4, -3, -2, -1, -1]) + contacts([-2], **RPC),
            lawful=False, next_day=5, blocked_by=CAP + TALKED),
    # Flags are in force from starts_on through ends_on; a null ends_on is open.
    verdict("reg_f-dispute-closed-yesterday-does-not-block", "us_reg_f", "call",
            flags=[flag("L1", "dispute", "2026-05-01", "2026-06-09")], lawful=True, next_day=0),
    verdict("reg_f-dispute-ending-today-blocks-until-tomorrow", "us_reg_f", "letter",
            flags=[flag("L1", "dispute", "2026-05-01", "2026-06-10")],
            lawful=False, next_day=1, blocked_by=["open_dispute"]),
    verdict("reg_f-dispute-ending-in-4-days", "us_reg_f", "call",
            flags=[flag("L1", "dispute", "2026-05-01", "2026-06-14")],
            lawful=False, next_day=5, blocked_by=["open_dispute"]),
    verdict("reg_f-open-dispute-blocks-indefinitely", "us_reg_f", "email",
            flags=[flag("L1", "dispute", "2026-05-01")], lawful=False, next_day=None, blocked_by=["open_dispute"]),
    verdict("reg_f-a-closing-and-an-open-dispute-row-block-indefinitely", "us_reg_f", "call",
            flags=[flag("L1", "dispute", "2026-05-01", "2026-06-12"), flag("L1", "dispute", "2026-06-05")],
            lawful=False, next_day=None, blocked_by=["open_dispute"]),
    verdict("reg_f-cease-and-desist-starting-today-blocks", "us_reg_f", "letter",
            flags=[flag("L1", "cease_and_desist", "2026-06-10")],
            lawful=False, next_day=None, blocked_by=["cease_and_desist"]),
    verdict("reg_f-do-not-visit-blocks-visits", "us_reg_f", "field_visit",
            flags=[flag("L1", "do_not_visit", "2026-01-01")], lawful=False, next_day=None, blocked_by=["do_not_visit"]),
    verdict("reg_f-do-not-visit-leaves-calls", "us_reg_f", "call",
            flags=[flag("L1", "do_not_visit", "2026-01-01")], lawful=True, next_day=0),
    # Opt-outs (kept whatever their age), consent and contact details.
    verdict("reg_f-sms-opt-out-40-days-ago-beats-consent", "us_reg_f", "sms",
            interactions=contacts([-40], channel="sms", direction="inbound", outcome="opted_out"),
            person={"consent_sms": True}, lawful=False, next_day=None, blocked_by=["opted_out"]),
    verdict("reg_f-sms-opt-out-leaves-email", "us_reg_f", "email",
            interactions=contacts([-40], channel="sms", direction="inbound", outcome="opted_out"),
            lawful=True, next_day=0),
    verdict("reg_f-no-sms-consent", "us_reg_f", "sms",
            person={"consent_sms": False}, lawful=False, next_day=None, blocked_by=["no_consent"]),
    verdict("reg_f-no-phone-no-call", "us_reg_f", "call",
            person={"has_phone": False}, lawful=False, next_day=None, blocked_by=["no_contact_details"]),
    verdict("reg_f-do-not-contact-blocks-letters", "us_reg_f", "letter",
            person={"do_not_contact": True}, lawful=False, next_day=None, blocked_by=["do_not_contact"]),
    # India: at most 2 calls a local day (local day D starts at 18:30 UTC the day before) and 6
    # a week; one visit a week; no conversation cooldown.
    verdict("rbi-2-calls-earlier-today-local-block-a-3rd", "india_rbi", "call", tz=IST,
            interactions=contacts([(0, "00:30"), (0, "01:30")], tz=IST),
            lawful=False, next_day=1, blocked_by=["daily_call_cap"]),
    verdict("rbi-1-call-earlier-today-local-leaves-room", "india_rbi", "call", tz=IST,
            interactions=contacts([(0, "00:30")], tz=IST), lawful=True, next_day=0),
    verdict("rbi-2-calls-late-yesterday-local-do-not-count-today", "india_rbi", "call", tz=IST,
            interactions=contacts([(-1, "23:00"), (-1, "23:50")], tz=IST), lawful=True, next_day=0),
    verdict("rbi-6-calls-in-6-days-block-the-7th", "india_rbi", "call", tz=IST,
            interactions=contacts([-6, -5, -4, -3, -2, -1], tz=IST),
            lawful=False, next_day=1, blocked_by=["weekly_call_cap"]),
    # 00:15 IST six days ago is 18:45 UTC seven days ago: still in the 7 local days.
    verdict("rbi-call-just-after-local-midnight-6-days-ago-counts", "india_rbi", "call", tz=IST,
            interactions=contacts([(-6, "00:15"), -5, -4, -3, -2, -1], tz=IST),
            lawful=False, next_day=1, blocked_by=["weekly_call_cap"]),
    verdict("rbi-5-calls-in-5-days-leave-room", "india_rbi", "call", tz=IST,
            interactions=contacts([-5, -4, -3, -2, -1], tz=IST), lawful=True, next_day=0),
    verdict("rbi-has-no-conversation-cooldown", "india_rbi", "call", tz=IST,
            interactions=contacts([-1], tz=IST, **RPC), lawful=True, next_day=0),
    verdict("rbi-do-not-visit-blocks-visits", "india_rbi", "field_visit", tz=IST,
            flags=[flag("L1", "do_not_visit", "2026-01-01")], lawful=False, next_day=None, blocked_by=["do_not_visit"]),
    verdict("rbi-a-visit-6-days-ago-blocks-visits", "india_rbi", "field_visit", tz=IST,
            interactions=contacts([-6], tz=IST, channel="field_visit", **RPC),
            lawful=False, next_day=1, blocked_by=["weekly_visit_cap"]),
    # UK: 3 calls a local day, 10 outbound calls and messages a week.
    verdict("fca-3-calls-after-local-midnight-block-a-4th", "uk_fca", "call", tz=LONDON,
            interactions=contacts([(0, "00:10"), (0, "00:20"), (0, "00:30")], tz=LONDON),
            lawful=False, next_day=1, blocked_by=["daily_call_cap"]),
    verdict("fca-10-calls-and-texts-in-a-week-block-email", "uk_fca", "email", tz=LONDON,
            interactions=contacts([-6, -5, -4, -3, -2], tz=LONDON)
            + contacts([-6, -5, -4, -3, -2], tz=LONDON, channel="sms", outcome="delivered"),
            lawful=False, next_day=1, blocked_by=["weekly_contact_cap"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pack", "tz", "interactions", "flags", "person", "channel", "lawful", "next_offset", "blocked_by"),
    CHANNEL_CASES,
)
def test_channel_verdict_on_the_work_day(
    pack, tz, interactions, flags, person, channel, lawful, next_offset, blocked_by
):
    result, _ = run(pack, tz=tz, person=person, interactions=interactions, flags=flags)
    row = window_row(result, channel)
    assert bool(row["lawful_today"]) is lawful
    assert reasons(row["blocked_by"]) == blocked_by
    assert row["timezone"] == tz
    assert row["policy"] == pack
    if next_offset is None:
        assert pd.isna(row["next_lawful_day"])
        assert pd.isna(row["window_from_utc"]) and pd.isna(row["window_until_utc"])
        assert pd.isna(row["window_from_local"]) and pd.isna(row["window_until_local"])
        return
    lawful_day = day(next_offset)
    assert row["next_lawful_day"] == pd.Timestamp(lawful_day)
    if channel == "letter":  # no contact hours: the whole local day
        start, end = utc_of(lawful_day, "00:00", tz), utc_of(lawful_day + dt.timedelta(days=1), "00:00", tz)
    else:
        start, end = (utc_of(lawful_day, clock, tz) for clock in HOURS[pack])
    assert (row["window_from_utc"], row["window_until_utc"]) == (start, end)
    assert row["window_from_local"] == start.tz_convert(tz).isoformat()
    assert row["window_until_local"] == end.tz_convert(tz).isoformat()


# --- contact hours on DST change days -------------------------------------------------------------


def hours(
    case_id: str,
    pack: str,
    tz: str,
    as_of: dt.date,
    channel: str,
    *,
    local: tuple[str, str],
    utc: tuple[str, str],
    inside=(),
    outside=(),
    interactions=(),
):
    """A channel's window in local ISO text and UTC, with local clock times of the window's day
    that must fall inside and outside it."""
    return pytest.param(
        pack, tz, as_of, list(interactions), channel, local, utc, list(inside), list(outside), id=case_id
    )


CALL_CLOCKS = {"inside": ["08:00", "20:59", "20:59:59"], "outside": ["07:59", "07:59:59", "21:00", "23:00"]}
HOURS_CASES = [
    hours("reg_f-new-york-spring-forward-call", "us_reg_f", NY, dt.date(2026, 3, 8), "call",
          local=("2026-03-08T08:00:00-04:00", "2026-03-08T21:00:00-04:00"),
          utc=("2026-03-08T12:00:00Z", "2026-03-09T01:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-new-york-spring-forward-letter-23-hour-day", "us_reg_f", NY, dt.date(2026, 3, 8), "letter",
          local=("2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"),
          utc=("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"), inside=["00:00", "01:59", "03:00", "23:59:59"]),
    hours("reg_f-new-york-fall-back-call", "us_reg_f", NY, dt.date(2026, 11, 1), "call",
          local=("2026-11-01T08:00:00-05:00", "2026-11-01T21:00:00-05:00"),
          utc=("2026-11-01T13:00:00Z", "2026-11-02T02:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-new-york-fall-back-letter-25-hour-day", "us_reg_f", NY, dt.date(2026, 11, 1), "letter",
          local=("2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"),
          utc=("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"), inside=["00:00", "23:59:59"]),
    hours("reg_f-next-window-falls-on-spring-forward-day", "us_reg_f", NY, dt.date(2026, 3, 5), "call",
          interactions=contacts([-4], as_of=dt.date(2026, 3, 5), **RPC),
          local=("2026-03-08T08:00:00-04:00", "2026-03-08T21:00:00-04:00"),
          utc=("2026-03-08T12:00:00Z", "2026-03-09T01:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-los-angeles-spring-forward-sms", "us_reg_f", "America/Los_Angeles", dt.date(2026, 3, 8), "sms",
          local=("2026-03-08T08:00:00-07:00", "2026-03-08T21:00:00-07:00"),
          utc=("2026-03-08T15:00:00Z", "2026-03-09T04:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-phoenix-keeps-mst", "us_reg_f", "America/Phoenix", dt.date(2026, 3, 8), "call",
          local=("2026-03-08T08:00:00-07:00", "2026-03-08T21:00:00-07:00"),
          utc=("2026-03-08T15:00:00Z", "2026-03-09T04:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-sydney-dst-ends", "us_reg_f", "Australia/Sydney", dt.date(2026, 4, 5), "call",
          local=("2026-04-05T08:00:00+10:00", "2026-04-05T21:00:00+10:00"),
          utc=("2026-04-04T22:00:00Z", "2026-04-05T11:00:00Z"), **CALL_CLOCKS),
    hours("reg_f-chatham-dst-ends-window-opens-before-the-utc-cut-off", "us_reg_f", CHATHAM,
          dt.date(2026, 4, 5), "email",
          local=("2026-04-05T08:00:00+12:45", "2026-04-05T21:00:00+12:45"),
          utc=("2026-04-04T19:15:00Z", "2026-04-05T08:15:00Z"), **CALL_CLOCKS),
    hours("reg_f-kathmandu-quarter-hour-offset", "us_reg_f", "Asia/Kathmandu", AS_OF, "call",
          local=("2026-06-10T08:00:00+05:45", "2026-06-10T21:00:00+05:45"),
          utc=("2026-06-10T02:15:00Z", "2026-06-10T15:15:00Z"), **CALL_CLOCKS),
    hours("rbi-calls-end-at-19h", "india_rbi", IST, AS_OF, "call",
          local=("2026-06-10T08:00:00+05:30", "2026-06-10T19:00:00+05:30"),
          utc=("2026-06-10T02:30:00Z", "2026-06-10T13:30:00Z"),
          inside=["08:00", "18:59", "18:59:59"], outside=["07:59", "19:00", "20:30"]),
    hours("fca-london-bst-starts", "uk_fca", LONDON, dt.date(2026, 3, 29), "call",
          local=("2026-03-29T08:00:00+01:00", "2026-03-29T20:00:00+01:00"),
          utc=("2026-03-29T07:00:00Z", "2026-03-29T19:00:00Z"), inside=["08:00", "19:59"], outside=["07:59", "20:00"]),
    hours("fca-london-bst-ends", "uk_fca", LONDON, dt.date(2026, 10, 25), "call",
          local=("2026-10-25T08:00:00+00:00", "2026-10-25T20:00:00+00:00"),
          utc=("2026-10-25T08:00:00Z", "2026-10-25T20:00:00Z"), inside=["08:00", "19:59"], outside=["07:59", "20:00"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pack", "tz", "as_of", "interactions", "channel", "local", "utc", "inside", "outside"), HOURS_CASES
)
def test_contact_window_follows_the_local_clock(
    pack, tz, as_of, interactions, channel, local, utc, inside, outside
):
    result, _ = run(pack, as_of, tz=tz, interactions=interactions)
    row = window_row(result, channel)
    start, end = pd.Timestamp(utc[0]), pd.Timestamp(utc[1])
    assert (row["window_from_local"], row["window_until_local"]) == local
    assert (row["window_from_utc"], row["window_until_utc"]) == (start, end)
    lawful_day = dt.date.fromisoformat(local[0][:10])
    assert row["next_lawful_day"] == pd.Timestamp(lawful_day)
    assert bool(row["lawful_today"]) is (lawful_day == as_of)
    for clock in inside:
        assert start <= utc_of(lawful_day, clock, tz) < end, f"{clock} local should be inside"
    for clock in outside:
        assert not start <= utc_of(lawful_day, clock, tz) < end, f"{clock} local should be outside"


# --- where the loan goes ------------------------------------------------------------------------


def fate(
    case_id: str,
    pack: str,
    disposition: str,
    *,
    tz: str = NY,
    interactions=(),
    flags=(),
    payments=(),
    preference=PREFERENCE,
    suppressed_by=(),
    channel: str | None = None,
    broken: bool = False,
    care_contact_held: bool | None = None,
):
    """The loan's disposition; when suppressed, its reasons; when queued, its channel and
    whether a promise was broken; when routed to care, whether contact is held even for care."""
    return pytest.param(
        pack,
        tz,
        list(interactions),
        list(flags),
        list(payments),
        list(preference),
        disposition,
        set(suppressed_by),
        channel,
        broken,
        care_contact_held,
        id=case_id,
    )


def promise(offset: int, promised_date: str | None = None, *, tz: str = NY) -> list[dict]:
    """A promise to pay 100 made on an outbound call ``offset`` days from the work day."""
    return contacts(
        [offset], tz=tz, outcome="promise_to_pay", promised_amount=100.0, promised_date=promised_date
    )


SMS_OPT_OUT = contacts([-3], channel="sms", direction="inbound", outcome="opted_out")
DISPOSITION_CASES = [
    fate("reg_f-dispute-closed-yesterday-queued", "us_reg_f", "queued", channel="call",
         flags=[flag("L1", "dispute", "2026-05-01", "2026-06-09")]),
    fate("reg_f-dispute-ending-today-suppressed", "us_reg_f", "suppressed", suppressed_by=["open_dispute"],
         flags=[flag("L1", "dispute", "2026-05-01", "2026-06-10")]),
    fate("reg_f-open-dispute-suppressed", "us_reg_f", "suppressed", suppressed_by=["open_dispute"],
         flags=[flag("L1", "dispute", "2026-05-01")]),
    fate("reg_f-cease-and-desist-from-today-suppressed", "us_reg_f", "suppressed",
         suppressed_by=["cease_and_desist"], flags=[flag("L1", "cease_and_desist", "2026-06-10")]),
    fate("reg_f-sms-opt-out-queues-by-email", "us_reg_f", "queued", channel="email",
         interactions=SMS_OPT_OUT, preference=["sms", "email"]),
    fate("reg_f-only-preferred-channel-cooling-down-suppressed", "us_reg_f", "suppressed",
         suppressed_by=TALKED, interactions=contacts([-1], **RPC), preference=["call"]),
    fate("reg_f-cooling-down-call-queued-by-sms", "us_reg_f", "queued", channel="sms",
         interactions=contacts([-1], **RPC), preference=["call", "sms"]),
    fate("reg_f-vulnerable-to-care", "us_reg_f", "suppressed", suppressed_by=["vulnerable_customer"],
         flags=[flag("L1", "vulnerable", "2026-05-01")], care_contact_held=False),
    fate("fca-vulnerable-from-today-to-care", "uk_fca", "suppressed", tz=LONDON,
         suppressed_by=["vulnerable_customer"], flags=[flag("L1", "vulnerable", "2026-06-10")],
         care_contact_held=False),
    fate("fca-hardship-plan-to-care", "uk_fca", "suppressed", tz=LONDON, suppressed_by=["hardship_forbearance"],
         flags=[flag("L1", "hardship_plan", "2026-04-01", "2026-07-01")], care_contact_held=False),
    fate("fca-hardship-plan-and-cease-to-care-with-contact-held", "uk_fca", "suppressed", tz=LONDON,
         suppressed_by=["hardship_forbearance", "cease_and_desist"],
         flags=[flag("L1", "hardship_plan", "2026-04-01"), flag("L1", "cease_and_desist", "2026-05-01")],
         care_contact_held=True),
    fate("fca-care-beats-an-open-promise", "uk_fca", "suppressed", tz=LONDON,
         suppressed_by=["vulnerable_customer"], interactions=promise(-2, "2026-06-15", tz=LONDON),
         flags=[flag("L1", "vulnerable", "2026-05-01")], care_contact_held=False),
    fate("reg_f-open-promise-follow-up", "us_reg_f", "promise_follow_up", interactions=promise(-2, "2026-06-13")),
    fate("reg_f-undated-promise-5-days-old-still-open", "us_reg_f", "promise_follow_up",
         interactions=promise(-5)),
    fate("reg_f-hold-beats-an-open-promise", "us_reg_f", "suppressed", suppressed_by=["open_dispute"],
         interactions=promise(-2, "2026-06-13"), flags=[flag("L1", "dispute", "2026-06-01")]),
    fate("reg_f-broken-promise-queued-and-marked", "us_reg_f", "queued", channel="call", broken=True,
         interactions=promise(-20, "2026-05-31")),
    fate("reg_f-kept-promise-queued-unmarked", "us_reg_f", "queued", channel="call", broken=False,
         interactions=promise(-20, "2026-05-31"), payments=[payment("P1", "2026-05-30T15:00:00Z", 100.0)]),
    fate("reg_f-short-payment-promise-broken", "us_reg_f", "queued", channel="call", broken=True,
         interactions=promise(-20, "2026-05-31"), payments=[payment("P1", "2026-05-30T15:00:00Z", 40.0)]),
    fate("reg_f-undated-promise-12-days-old-broken", "us_reg_f", "queued", channel="call", broken=True,
         interactions=promise(-12)),
    fate("rbi-do-not-visit-queued-by-call", "india_rbi", "queued", tz=IST, channel="call",
         flags=[flag("L1", "do_not_visit", "2026-01-01")], preference=["field_visit", "call"]),
    fate("rbi-daily-cap-reached-calls-only-suppressed", "india_rbi", "suppressed", tz=IST,
         suppressed_by=["daily_call_cap"], interactions=contacts([(0, "00:30"), (0, "01:30")], tz=IST),
         preference=["call"]),
]  # fmt: skip


@pytest.mark.parametrize(
    (
        "pack",
        "tz",
        "interactions",
        "flags",
        "payments",
        "preference",
        "disposition",
        "suppressed_by",
        "channel",
        "broken",
        "care_contact_held",
    ),
    DISPOSITION_CASES,
)
def test_each_loan_gets_one_disposition(
    pack,
    tz,
    interactions,
    flags,
    payments,
    preference,
    disposition,
    suppressed_by,
    channel,
    broken,
    care_contact_held,
):
    result, decisions = run(
        pack, tz=tz, interactions=interactions, flags=flags, payments=payments, preference=preference
    )
    assert decisions.dispositions[["loan_id", "disposition"]].to_dict("records") == [
        {"loan_id": "L1", "disposition": disposition}
    ]
    assert list(decisions.candidates["loan_id"]) == (["L1"] if disposition == "queued" else [])
    assert list(decisions.promise_follow_up["loan_id"]) == (
        ["L1"] if disposition == "promise_follow_up" else []
    )
    assert set(decisions.suppressed["loan_id"]) == ({"L1"} if disposition == "suppressed" else set())
    assert set(decisions.suppressed["reason"]) == suppressed_by

    if disposition == "queued":
        queued = decisions.candidates.iloc[0]
        assert queued["recommended_channel"] == channel
        assert bool(queued["broken_promise"]) is broken
        assert queued["timezone"] == tz
        start, end = (utc_of(AS_OF, clock, tz) for clock in HOURS[pack])
        assert (queued["contact_from_utc"], queued["contact_until_utc"]) == (start, end)
        assert queued["contact_from_local"] == start.tz_convert(tz).isoformat()
        assert queued["contact_until_local"] == end.tz_convert(tz).isoformat()

    care = decisions.forbearance
    if care_contact_held is None:
        assert care.empty
    else:
        assert list(care["loan_id"]) == ["L1"]
        assert bool(care["contact_held"].iloc[0]) is care_contact_held
        assert set(care["reason"].iloc[0].split(",")) <= suppressed_by


def test_promise_follow_up_day_is_promised_date_plus_grace():
    _, decisions = run(
        "us_reg_f",
        interactions=contacts(
            [-2], outcome="promise_to_pay", promised_amount=100.0, promised_date="2026-06-13"
        ),
    )
    follow_up = decisions.promise_follow_up
    assert list(follow_up["loan_id"]) == ["L1"]
    # Due 2026-06-13, three grace days: the follow-up is the day after the grace ends.
    assert follow_up["follow_up_on"].iloc[0] == pd.Timestamp("2026-06-17")
    assert follow_up["status"].iloc[0] == "open"


def test_suppressed_until_tomorrow_names_the_next_lawful_contact():
    _, decisions = run("us_reg_f", flags=[flag("L1", "dispute", "2026-05-01", "2026-06-10")])
    suppressed = decisions.suppressed
    assert list(suppressed["rule_id"]) == ["open_dispute"]
    # The earliest window tomorrow over all channels: a letter from local midnight.
    assert suppressed["next_lawful_from_local"].iloc[0] == "2026-06-11T00:00:00-04:00"
    assert suppressed["next_lawful_from_utc"].iloc[0] == pd.Timestamp("2026-06-11T04:00:00Z")


def test_open_hold_has_no_next_lawful_contact():
    _, decisions = run("us_reg_f", flags=[flag("L1", "bankruptcy", "2026-05-01")])
    suppressed = decisions.suppressed
    assert list(suppressed["reason"]) == ["bankruptcy"]
    assert pd.isna(suppressed["next_lawful_from_utc"].iloc[0])
    assert pd.isna(suppressed["next_lawful_from_local"].iloc[0])


def test_every_channel_of_every_loan_has_one_window_row():
    result, _ = run("us_reg_f")
    assert sorted(result.windows["channel"]) == sorted(CHANNELS)
    assert result.windows["lawful_today"].all()
