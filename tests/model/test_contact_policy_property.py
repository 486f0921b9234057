"""Property: on random small books, the contact-policy engine agrees with a naive oracle.

The oracle reads the raw rows (borrowers, interactions, flags, payments) one by one and judges a
single proposed contact ``(loan, channel, instant)`` by the rule semantics of the packs, in the
borrower's local calendar. It never calls the engine's rule or window functions: only the rule
parameters are read from the loaded :class:`RulePack` objects.

Books are drawn around DST change days in zones with DST and with odd offsets, so local-day
arithmetic (interactions near midnight, 23- and 25-hour days) is exercised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.enums import CHANNELS, FLAGS, OUTCOMES
from data_contracts.validation import validate_tables
from features.build import build_features
from scoring.dispositions import Decisions
from scoring.night import ContactSettings, decide_contacts
from scoring.policy.engine import PolicyResult
from scoring.policy.packs import (
    AttemptCap,
    BorrowerHold,
    BorrowerPermission,
    ContactHours,
    ConversationCooldown,
    FlagHold,
    OptOut,
    RulePack,
)
from tests.factories import borrower, flag, interaction, loan, payment, raw_tables, schedule

pytestmark = pytest.mark.slow

PACKS = ("us_reg_f", "india_rbi", "uk_fca")
TIMEZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/Phoenix",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Chatham",
    "Asia/Kathmandu",
)
# DST changes: US spring/fall 2026-03-08 / 2026-11-01, UK 2026-03-29, Sydney and Chatham end
# 2026-04-05, Chatham starts 2026-09-27, Sydney starts 2026-10-04; plus ordinary days.
AS_OF_DATES = (
    dt.date(2026, 3, 8),
    dt.date(2026, 11, 1),
    dt.date(2026, 3, 29),
    dt.date(2026, 4, 5),
    dt.date(2026, 9, 27),
    dt.date(2026, 10, 4),
    dt.date(2026, 6, 15),
    dt.date(2026, 1, 20),
)
REGIONS = ("north", "south")
UTC = dt.UTC
ONE_SECOND = dt.timedelta(seconds=1)
GRACE_DAYS = 3
TOLERANCE = 0.01
PROMISE_LOOKBACK = dt.timedelta(days=180)
UNDATED_PROMISE_DAYS = 7
# Far enough ahead that every dated block (flags end at most 30 days ahead, caps and cooldowns
# last at most a week) has run out: only indefinite blocks remain.
FAR_AHEAD = dt.timedelta(days=400)


# --- the raw book -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    interaction_id: str
    loan_id: str
    at: dt.datetime  # aware, UTC
    channel: str
    direction: str
    outcome: str
    promised_amount: float | None
    promised_date: dt.date | None


@dataclass(frozen=True)
class Flag:
    loan_id: str
    flag: str
    starts_on: dt.date
    ends_on: dt.date | None


@dataclass(frozen=True)
class Paid:
    payment_id: str
    loan_id: str
    at: dt.datetime  # aware, UTC
    amount: float


@dataclass(frozen=True)
class Book:
    as_of: dt.date
    borrowers: tuple[dict, ...]  # factory rows
    loans: tuple[tuple[str, str], ...]  # (loan_id, borrower_id)
    events: tuple[Event, ...]
    flags: tuple[Flag, ...]
    payments: tuple[Paid, ...]
    by_region: tuple[tuple[str, str], ...]
    preference: tuple[str, ...]

    @property
    def instant(self) -> dt.datetime:
        return dt.datetime.combine(self.as_of, dt.time(0), tzinfo=UTC)

    def tables(self) -> dict[str, pd.DataFrame]:
        result = validate_tables(
            raw_tables(
                borrowers=list(self.borrowers),
                loans=[loan(loan_id, borrower_id) for loan_id, borrower_id in self.loans],
                installments=sum(
                    (schedule(loan_id, first_due="2025-06-01") for loan_id, _ in self.loans), []
                ),
                payments=[
                    payment(p.payment_id, _iso(p.at), p.amount, loan_id=p.loan_id) for p in self.payments
                ],
                interactions=[
                    interaction(
                        e.interaction_id,
                        _iso(e.at),
                        loan_id=e.loan_id,
                        channel=e.channel,
                        direction=e.direction,
                        outcome=e.outcome,
                        promised_amount=e.promised_amount,
                        promised_date=e.promised_date.isoformat() if e.promised_date else None,
                    )
                    for e in self.events
                ],
                account_flags=[
                    flag(
                        f.loan_id,
                        f.flag,
                        f.starts_on.isoformat(),
                        f.ends_on.isoformat() if f.ends_on else None,
                    )
                    for f in self.flags
                ],
            ),
            as_of=self.as_of,
        )
        # Validated as of the work day: no row is quarantined (events strictly before the
        # cut-off, flags starting no later than the work day).
        assert result.is_valid, result.failures.to_string()
        return result.tables


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Biased draws: mostly outbound calls, so caps and cooldowns actually bite.
_CHANNEL_DRAW = st.sampled_from(("call", "call", "call", *CHANNELS))
_DIRECTION_DRAW = st.sampled_from(("outbound", "outbound", "inbound"))
_OUTCOME_DRAW = st.sampled_from(("no_answer", "right_party_contact", "opted_out", *OUTCOMES))
_RARELY = st.sampled_from((False, False, False, True))
_BURST = st.sampled_from((0, 0, 3, 6, 9))
_N_FLAGS = st.sampled_from((0, 0, 0, 1, 2))


@st.composite
def books(draw) -> Book:
    as_of = draw(st.sampled_from(AS_OF_DATES))
    instant = dt.datetime.combine(as_of, dt.time(0), tzinfo=UTC)
    n_borrowers = draw(st.integers(1, 6))
    borrowers, loans, events, flags, payments = [], [], [], [], []
    for b in range(n_borrowers):
        borrower_id = f"B{b}"
        borrowers.append(
            borrower(
                borrower_id,
                region=draw(st.sampled_from(REGIONS)),
                timezone=draw(st.sampled_from(TIMEZONES)),
                has_phone=draw(st.booleans()),
                has_email=draw(st.booleans()),
                consent_sms=draw(st.booleans()),
                consent_email=draw(st.booleans()),
                consent_whatsapp=draw(st.booleans()),
                do_not_contact=draw(_RARELY),
            )
        )
        for k in range(draw(st.integers(1, 2))):
            loans.append((f"L{b}_{k}", borrower_id))

    zones = {row["borrower_id"]: ZoneInfo(row["timezone"]) for row in borrowers}
    for loan_id, borrower_id in loans:
        # Instants drawn on the borrower's local clock (local day offset, minute of the day), so
        # every part of a local day is hit, before the cut-off and distinct per loan. A burst of
        # unanswered outbound calls in the last 8 local days makes the attempt caps bite.
        local_times = st.tuples(st.integers(-15, 0), st.integers(0, 1439))
        drawn = draw(st.lists(local_times, max_size=10, unique=True))
        burst = draw(st.lists(st.tuples(st.integers(-7, 0), st.integers(0, 1439)), max_size=draw(_BURST)))
        instants = {}
        for i, (offset, minute) in enumerate(drawn + burst):
            local = dt.datetime.combine(
                as_of + dt.timedelta(days=offset),
                dt.time(minute // 60, minute % 60),
                tzinfo=zones[borrower_id],
            )
            if local.astimezone(UTC) < instant:
                instants.setdefault(local.astimezone(UTC), i >= len(drawn))
        for i, (at, in_burst) in enumerate(instants.items()):
            outcome = "no_answer" if in_burst else draw(_OUTCOME_DRAW)
            promised_amount = promised_date = None
            if outcome == "promise_to_pay":
                promised_amount = draw(st.sampled_from((50.0, 100.0)))
                promised_date = draw(
                    st.one_of(st.none(), st.integers(-14, 6).map(lambda d: as_of + dt.timedelta(days=d)))
                )
            events.append(
                Event(
                    interaction_id=f"I_{loan_id}_{i}",
                    loan_id=loan_id,
                    at=at,
                    channel="call" if in_burst else draw(_CHANNEL_DRAW),
                    direction="outbound" if in_burst else draw(_DIRECTION_DRAW),
                    outcome=outcome,
                    promised_amount=promised_amount,
                    promised_date=promised_date,
                )
            )
        seen = set()
        for name in draw(st.lists(st.sampled_from(FLAGS), max_size=draw(_N_FLAGS))):
            starts_on = as_of - dt.timedelta(days=draw(st.integers(0, 30)))
            if (name, starts_on) in seen:
                continue
            seen.add((name, starts_on))
            end = draw(st.one_of(st.none(), st.sampled_from((-1, 0, 1)), st.integers(-3, 30)))
            ends_on = None if end is None else max(starts_on, as_of + dt.timedelta(days=end))
            flags.append(Flag(loan_id, name, starts_on, ends_on))
        for i, minutes_before in enumerate(
            draw(st.lists(st.integers(1, 20 * 1440), max_size=2, unique=True))
        ):
            payments.append(
                Paid(
                    f"P_{loan_id}_{i}",
                    loan_id,
                    instant - dt.timedelta(minutes=minutes_before),
                    draw(st.sampled_from((10.0, 50.0, 100.0))),
                )
            )

    override = draw(st.sampled_from((None, *PACKS)))
    preference = draw(st.permutations(CHANNELS))[: draw(st.integers(1, len(CHANNELS)))]
    return Book(
        as_of=as_of,
        borrowers=tuple(borrowers),
        loans=tuple(loans),
        events=tuple(events),
        flags=tuple(flags),
        payments=tuple(payments),
        by_region=(("south", override),) if override else (),
        preference=tuple(preference),
    )


# --- the oracle -----------------------------------------------------------------------------------


def _account_level(rule) -> bool:
    return isinstance(rule, FlagHold | BorrowerHold) and set(rule.channels) == set(CHANNELS)


@dataclass(frozen=True)
class PromiseState:
    at: dt.datetime
    deadline: dt.datetime
    status: str  # open, kept, broken


class Oracle:
    """The rules read naively, row by row, for one proposed contact at a time."""

    def __init__(self, book: Book, packs: dict[str, RulePack], default: str):
        self.book = book
        self.packs = packs
        self.default = default
        self.borrower_of = dict(book.loans)
        self.borrowers = {row["borrower_id"]: row for row in book.borrowers}

    def borrower(self, loan_id: str) -> dict:
        return self.borrowers[self.borrower_of[loan_id]]

    def zone(self, loan_id: str) -> ZoneInfo:
        return ZoneInfo(self.borrower(loan_id)["timezone"])

    def pack(self, loan_id: str) -> RulePack:
        return self.packs[dict(self.book.by_region).get(self.borrower(loan_id)["region"], self.default)]

    def local_date(self, loan_id: str, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.zone(loan_id)).date()

    def noon(self, loan_id: str, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(12), tzinfo=self.zone(loan_id)).astimezone(UTC)

    def same_scope(self, rule, loan_id: str, other_loan_id: str) -> bool:
        """Whether an event or flag on ``other_loan_id`` counts for ``loan_id`` under ``rule``:
        its own loan, or with borrower scope any loan of the same borrower."""
        if getattr(rule, "scope", "loan") == "borrower":
            return self.borrower_of[other_loan_id] == self.borrower_of[loan_id]
        return other_loan_id == loan_id

    def flag_in_force(self, loan_id: str, name: str, day: dt.date, rule=None) -> bool:
        return any(
            (f.loan_id == loan_id if rule is None else self.same_scope(rule, loan_id, f.loan_id))
            and f.flag == name
            and f.starts_on <= day
            and (f.ends_on is None or f.ends_on >= day)
            for f in self.book.flags
        )

    def violated(self, loan_id: str, channel: str, instant: dt.datetime) -> list:
        """The pack's rules a contact on ``channel`` at ``instant`` would break."""
        person = self.borrower(loan_id)
        local = instant.astimezone(self.zone(loan_id))
        day, clock = local.date(), local.time()
        broken = []
        for rule in self.pack(loan_id).rules:
            if isinstance(rule, FlagHold):
                hit = channel in rule.channels and self.flag_in_force(loan_id, rule.flag, day, rule)
            elif isinstance(rule, BorrowerHold):
                hit = channel in rule.channels and bool(person[rule.column])
            elif isinstance(rule, BorrowerPermission):
                hit = channel in rule.requires and not person[rule.requires[channel]]
            elif isinstance(rule, OptOut):
                # An opt-out belongs to the borrower's number or address: any of their loans.
                hit = channel in rule.channels and any(
                    e.outcome == "opted_out"
                    and e.channel == channel
                    and self.borrower_of[e.loan_id] == self.borrower_of[loan_id]
                    for e in self.book.events
                )
            elif isinstance(rule, ContactHours):
                hit = channel in rule.channels and not (rule.start <= clock < rule.end)
            elif isinstance(rule, AttemptCap):
                first = day - dt.timedelta(days=rule.window_days - 1)
                made = sum(
                    1
                    for e in self.book.events
                    if self.same_scope(rule, loan_id, e.loan_id)
                    and e.channel in rule.counted_channels
                    and e.direction in rule.directions
                    and first <= self.local_date(loan_id, e.at) <= day
                )
                hit = channel in rule.channels and made + 1 > rule.max_attempts
            elif isinstance(rule, ConversationCooldown):
                hit = channel in rule.channels and any(
                    e.channel in rule.conversation_channels
                    and e.direction in rule.directions
                    and e.outcome in rule.outcomes
                    and self.local_date(loan_id, e.at)
                    <= day
                    <= self.local_date(loan_id, e.at) + dt.timedelta(days=rule.days - 1)
                    for e in self.book.events
                    if self.same_scope(rule, loan_id, e.loan_id)
                )
            else:  # pragma: no cover - a new rule kind needs an oracle first
                raise AssertionError(f"oracle does not know rule kind {rule.kind}")
            if hit:
                broken.append(rule)
        return broken

    def violated_on(self, loan_id: str, channel: str, day: dt.date) -> list:
        """Rules broken by a contact at local noon of ``day`` (inside every pack's hours)."""
        return self.violated(loan_id, channel, self.noon(loan_id, day))

    def holds(self, loan_id: str) -> list:
        """Account-level holds (every channel) in force on the work day."""
        day = self.book.as_of
        person = self.borrower(loan_id)
        return [
            rule
            for rule in self.pack(loan_id).rules
            if _account_level(rule)
            and (
                (isinstance(rule, FlagHold) and self.flag_in_force(loan_id, rule.flag, day, rule))
                or (isinstance(rule, BorrowerHold) and bool(person[rule.column]))
            )
        ]

    @cached_property
    def promises(self) -> dict[str, list[PromiseState]]:
        instant = self.book.instant
        out: dict[str, list[PromiseState]] = {}
        for e in sorted(self.book.events, key=lambda e: e.at):
            if e.outcome != "promise_to_pay" or not (instant - PROMISE_LOOKBACK <= e.at < instant):
                continue
            due = e.promised_date or e.at.date() + dt.timedelta(days=UNDATED_PROMISE_DAYS)
            deadline = dt.datetime.combine(due + dt.timedelta(days=1 + GRACE_DAYS), dt.time(0), tzinfo=UTC)
            if deadline > instant:
                status = "open"
            else:
                paid = sum(
                    p.amount
                    for p in self.book.payments
                    if p.loan_id == e.loan_id and e.at <= p.at < deadline and p.at < instant
                )
                status = "kept" if paid >= e.promised_amount - TOLERANCE else "broken"
            out.setdefault(e.loan_id, []).append(PromiseState(e.at, deadline, status))
        return out

    def open_promises(self, loan_id: str) -> list[PromiseState]:
        return [p for p in self.promises.get(loan_id, []) if p.status == "open"]

    def broken_promise(self, loan_id: str) -> bool:
        resolved = [p for p in self.promises.get(loan_id, []) if p.status != "open"]
        return bool(resolved) and resolved[-1].status == "broken"

    def first_lawful_channel(self, loan_id: str) -> str | None:
        for channel in self.book.preference:
            if not self.violated_on(loan_id, channel, self.book.as_of):
                return channel
        return None

    def disposition(self, loan_id: str) -> str:
        if self.holds(loan_id):
            return "suppressed"
        if self.open_promises(loan_id):
            return "promise_follow_up"
        return "queued" if self.first_lawful_channel(loan_id) else "suppressed"


# --- checks ---------------------------------------------------------------------------------------


def _utc(stamp) -> dt.datetime:
    return pd.Timestamp(stamp).to_pydatetime().astimezone(UTC)


def check_window(oracle: Oracle, loan_id: str, channel: str, start, end, local_from, local_until, day):
    """The window [start, end) lies in local ``day``, breaks no rule at its start, last second
    and middle, cannot be stretched by a second either way, and its local texts are the same
    instants with the zone's offset."""
    start, end = _utc(start), _utc(end)
    zone = oracle.zone(loan_id)
    where = f"{loan_id}/{channel} window [{start}, {end}) on {day}"
    assert start < end, where
    for instant in (start, end - ONE_SECOND, start + (end - start) / 2):
        assert instant.astimezone(zone).date() == day, where
        broken = oracle.violated(loan_id, channel, instant)
        assert not broken, f"{where}: at {instant} breaks {[r.id for r in broken]}"
    before = start - ONE_SECOND
    assert before.astimezone(zone).date() != day or oracle.violated(loan_id, channel, before), (
        f"{where}: {before} is lawful too"
    )
    assert end.astimezone(zone).date() != day or oracle.violated(loan_id, channel, end), (
        f"{where}: {end} is lawful too"
    )
    for text, instant in ((local_from, start), (local_until, end)):
        parsed = dt.datetime.fromisoformat(text)
        assert parsed == instant, f"{where}: local text {text}"
        assert parsed.utcoffset() == instant.astimezone(zone).utcoffset(), f"{where}: offset of {text}"


def check_windows(oracle: Oracle, result: PolicyResult, loan_ids: set[str]) -> None:
    """(d) every (loan, channel) verdict, its next lawful window and its reasons."""
    windows = result.windows
    assert len(windows) == len(loan_ids) * len(CHANNELS)
    assert set(zip(windows["loan_id"], windows["channel"], strict=True)) == {
        (loan_id, channel) for loan_id in loan_ids for channel in CHANNELS
    }
    day = oracle.book.as_of
    expected_blocks = set()
    for row in windows.itertuples(index=False):
        assert row.timezone == oracle.borrower(row.loan_id)["timezone"]
        assert row.policy == oracle.pack(row.loan_id).name
        broken = oracle.violated_on(row.loan_id, row.channel, day)
        expected_blocks |= {(row.loan_id, row.channel, rule.id) for rule in broken}
        where = f"{row.loan_id}/{row.channel} on {day} ({row.timezone}, {row.policy})"
        assert set(filter(None, row.blocked_by.split(","))) == {r.reason for r in broken}, where
        assert bool(row.lawful_today) == (not broken), f"{where}: oracle says {[r.id for r in broken]}"
        if pd.isna(row.next_lawful_day):
            assert pd.isna(row.window_from_utc) and pd.isna(row.window_until_utc), where
            assert oracle.violated_on(row.loan_id, row.channel, day + FAR_AHEAD), (
                f"{where}: held indefinitely but lawful in {FAR_AHEAD.days} days"
            )
            continue
        lawful_day = pd.Timestamp(row.next_lawful_day).date()
        assert (lawful_day == day) == bool(row.lawful_today), where
        if lawful_day > day:
            previous = lawful_day - dt.timedelta(days=1)
            assert oracle.violated_on(row.loan_id, row.channel, previous), (
                f"{where}: next lawful day {lawful_day} but {previous} is lawful already"
            )
            assert not oracle.violated_on(row.loan_id, row.channel, lawful_day), where
        check_window(
            oracle,
            row.loan_id,
            row.channel,
            row.window_from_utc,
            row.window_until_utc,
            row.window_from_local,
            row.window_until_local,
            lawful_day,
        )
    got_blocks = set(
        zip(result.blocks["loan_id"], result.blocks["channel"], result.blocks["rule_id"], strict=True)
    )
    assert got_blocks == expected_blocks


def check_candidates(oracle: Oracle, decisions: Decisions) -> None:
    """(a) every queued loan: its preferred lawful channel, a lawful non-empty window today."""
    day = oracle.book.as_of
    for row in decisions.candidates.itertuples(index=False):
        assert row.recommended_channel == oracle.first_lawful_channel(row.loan_id), row.loan_id
        assert row.timezone == oracle.borrower(row.loan_id)["timezone"]
        check_window(
            oracle,
            row.loan_id,
            row.recommended_channel,
            row.contact_from_utc,
            row.contact_until_utc,
            row.contact_from_local,
            row.contact_until_local,
            day,
        )
        assert bool(row.broken_promise) == oracle.broken_promise(row.loan_id), row.loan_id


def check_partition(oracle: Oracle, decisions: Decisions, overdue: set[str]) -> None:
    """(b) every overdue loan in exactly one list, each list matching its disposition."""
    dispositions = decisions.dispositions
    assert dispositions["loan_id"].is_unique
    assert set(dispositions["loan_id"]) == overdue
    assert set(dispositions["disposition"]) <= {"queued", "suppressed", "promise_follow_up"}
    members = {
        "queued": decisions.candidates["loan_id"],
        "suppressed": decisions.suppressed["loan_id"].drop_duplicates(),
        "promise_follow_up": decisions.promise_follow_up["loan_id"],
    }
    for name, loan_ids in members.items():
        assert loan_ids.is_unique, name
        assert set(loan_ids) == set(dispositions.loc[dispositions["disposition"] == name, "loan_id"]), name
    assert sum(len(ids) for ids in members.values()) == len(overdue)


def check_dispositions(oracle: Oracle, decisions: Decisions, result: PolicyResult) -> None:
    """(c) each loan's disposition, suppression reasons, follow-up day and care routing."""
    got = dict(zip(decisions.dispositions["loan_id"], decisions.dispositions["disposition"], strict=True))
    reasons = decisions.suppressed.groupby("loan_id")["reason"].agg(set).to_dict()
    day = oracle.book.as_of
    for loan_id, disposition in got.items():
        holds = oracle.holds(loan_id)
        assert disposition == oracle.disposition(loan_id), (
            f"{loan_id}: got {disposition}, holds {[r.id for r in holds]}, "
            f"open promises {oracle.open_promises(loan_id)}, first lawful {oracle.first_lawful_channel(loan_id)}"
        )
        if disposition != "suppressed":
            continue
        assert reasons.get(loan_id), f"{loan_id} suppressed without a reason"
        if holds:
            assert reasons[loan_id] == {rule.reason for rule in holds}, loan_id
        else:
            # No account-level hold: every preferred channel is really blocked today, and the
            # reasons are the blocks of the loan in force today.
            for channel in oracle.book.preference:
                assert oracle.violated_on(loan_id, channel, day), f"{loan_id}: {channel} was lawful"
            expected = {r.reason for channel in CHANNELS for r in oracle.violated_on(loan_id, channel, day)}
            assert reasons[loan_id] == expected, loan_id

    follow_up = decisions.promise_follow_up.set_index("loan_id")
    for loan_id in follow_up.index:
        latest = max(oracle.open_promises(loan_id), key=lambda p: p.at)
        assert pd.Timestamp(follow_up.loc[loan_id, "follow_up_on"]).date() == latest.deadline.date(), loan_id

    care = decisions.forbearance.set_index("loan_id")
    all_holds = {loan_id: oracle.holds(loan_id) for loan_id in got}
    expected_care = {
        loan_id: holds
        for loan_id, holds in all_holds.items()
        if any(isinstance(rule, FlagHold) and rule.route == "forbearance" for rule in holds)
    }
    assert set(care.index) == set(expected_care)
    for loan_id, holds in expected_care.items():
        other = [r for r in holds if not (isinstance(r, FlagHold) and r.route == "forbearance")]
        assert bool(care.loc[loan_id, "contact_held"]) == bool(other), loan_id


# --- the property ---------------------------------------------------------------------------------


@pytest.mark.parametrize("default_pack", PACKS)
@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(book=books())
def test_engine_agrees_with_a_naive_reading_of_the_rules(default_pack: str, book: Book):
    tables = book.tables()
    features = build_features(tables, book.as_of)
    overdue = set(features["loan_id"])
    assert overdue == {loan_id for loan_id, _ in book.loans}, "every generated loan is overdue"

    rules = ContactSettings(
        default_pack=default_pack,
        by_region=dict(book.by_region),
        tolerance=TOLERANCE,
        grace_days=GRACE_DAYS,
        preference=tuple(book.preference),
    )
    decided = decide_contacts(features, tables, book.as_of, rules)
    result, decisions = decided.verdict, decided.decisions

    oracle = Oracle(book, decided.packs, decided.default)
    check_windows(oracle, result, overdue)
    check_candidates(oracle, decisions)
    check_partition(oracle, decisions, overdue)
    check_dispositions(oracle, decisions, result)
