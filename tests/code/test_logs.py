"""pipelines.runtime.logs: redaction of e-mail addresses and phone numbers, JSON lines, handler setup."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.runtime.logs import LOGGER_NAMES, RedactingFilter, configure_logging, json_formatter, redact

MASKED = [
    # e-mail addresses
    ("jane.doe@example.com", "[email]"),
    ("contact Jane.Doe+collections@mail.example.co.uk today", "contact [email] today"),
    ("borrower b_42@localhost replied", "borrower [email] replied"),
    # E.164 and international forms
    ("+14155552671", "[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("+1 (415) 555-2671", "[phone]"),
    ("+91 98765 43210", "[phone]"),
    # North American forms
    ("(415) 555-2671", "[phone]"),
    ("415-555-2671", "[phone]"),
    ("415.555.2671", "[phone]"),
    ("4155552671", "[phone]"),
    ("1-415-555-2671", "[phone]"),
    # other national forms: 9-15 digits grouped by spaces or dashes
    ("020 7946 0958", "[phone]"),
    ("06 12 34 56 78", "[phone]"),
    ("98765 43210", "[phone]"),
    ("030-1234-5678", "[phone]"),
    # in sentences, next to punctuation
    ("call 415-555-2671.", "call [phone]."),
    ("phone=4155552671, email=a.b@example.org", "phone=[phone], email=[email]"),
    ("no answer on (415) 555-2671 or +44 20 7946 0958", "no answer on [phone] or [phone]"),
    (
        "loan L000123: borrower jane@example.com, mobile 415-555-2671, overdue 1,234.56",
        "loan L000123: borrower [email], mobile [phone], overdue 1,234.56",
    ),
]

KEPT = [
    "2026-06-01",
    "as-of 2026-06-01",
    "2026-06-01T02:00:00+00:00",
    "2026-06-01T02:00:00.123456Z",
    "2026-06-01 02:00:00,123",
    "13:05:10.123",
    "1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e",
    "12345678-1234-5678-1234-567812345678",
    "L000123",
    "B0001234",
    "loan-42",
    "1,234.56",
    "12345.67",
    "+12345.67",
    "1,234,567.89",
    "12.5%",
    "95%",
    "3.8.8",
    "prefect 3.8.8",
    "12.3 s",
    "scoring done in 12.3 s",
    "1,445 queued",
    "PSI 0.743",
    "p_pay PSI 0.743 >= 0.25",
    "127.0.0.1:54321",
    "2026-06-01 1445 loans",
    "1445 1200 3000 4000 5000",
    "as-of 2026-06-01: 1,445 queued of 20000 loans in 12.3 s (run 20260601T020000Z)",
    "@flow decorator",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_redact_masks_emails_and_phone_numbers(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_dates_ids_amounts_and_measurements(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    once = redact(" ".join(text for text, _ in MASKED))
    assert redact(once) == once


_WORD = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=12)
_AROUND = st.text(st.characters(blacklist_characters="@", blacklist_categories=("Cs",)), max_size=30)


@given(
    before=_AROUND,
    local=st.lists(_WORD, min_size=1, max_size=3).map(".".join),
    domain=st.lists(_WORD, min_size=1, max_size=3).map(".".join),
    tld=st.text(st.characters(whitelist_categories=("Lu", "Ll")), min_size=2, max_size=6),
    after=_AROUND,
)
def test_redact_leaves_no_email_address(before: str, local: str, domain: str, tld: str, after: str) -> None:
    text = f"{before}{local}@{domain}.{tld}{after}"
    out = redact(text)
    assert "@" not in out
    assert re.search(r"\w@\w", out) is None
    assert "[email]" in out


@pytest.fixture
def logger_to_buffer():
    """A fresh logger writing plain text to a buffer through a RedactingFilter."""
    logger = logging.getLogger(f"recover.test.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    yield logger, handler, buffer
    logger.removeHandler(handler)
    handler.close()


def test_filter_masks_arguments(logger_to_buffer) -> None:
    logger, _, buffer = logger_to_buffer
    logger.info("borrower %s of loan %s, call %s", "jane@example.com", "L000123", "415-555-2671")
    assert buffer.getvalue() == "INFO borrower [email] of loan L000123, call [phone]\n"


def test_filter_masks_the_exception_message_and_traceback(logger_to_buffer) -> None:
    logger, _, buffer = logger_to_buffer
    try:
        raise ValueError("no contact for jane@example.com at +14155552671")
    except ValueError:
        logger.exception("scoring failed for %s", "bob@example.org")
    output = buffer.getvalue()
    assert "ValueError: no contact for [email] at [phone]" in output
    assert "scoring failed for [email]" in output
    assert "Traceback" in output
    assert "@example" not in output
    assert "4155552671" not in output


def test_filter_masks_string_extras_and_adds_nothing() -> None:
    record = logging.LogRecord("recover", logging.INFO, __file__, 1, "hello %s", ("x@example.com",), None)
    record.borrower = "jane@example.com"
    record.seconds = 12.3
    record.as_of = "2026-06-01"
    before = set(record.__dict__)
    assert RedactingFilter().filter(record) is True
    assert set(record.__dict__) == before
    assert (record.msg, record.args) == ("hello [email]", ())
    assert (record.borrower, record.seconds, record.as_of) == ("[email]", 12.3, "2026-06-01")


def test_json_formatter_writes_one_object_with_extras(logger_to_buffer) -> None:
    logger, handler, buffer = logger_to_buffer
    handler.setFormatter(json_formatter())
    run_id = str(uuid.uuid4())
    logger.info(
        "stage %s done for %s",
        "score",
        "jane@example.com",
        extra={"flow_run_id": run_id, "stage": "score", "seconds": 12.3, "as_of": "2026-06-01"},
    )
    try:
        raise RuntimeError("boom for +44 20 7946 0958")
    except RuntimeError:
        logger.error("publish failed", exc_info=True, extra={"stage": "publish"})
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO"
    assert first["logger"] == logger.name
    assert first["message"] == "stage score done for [email]"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["timestamp"])
    assert (first["flow_run_id"], first["stage"], first["seconds"], first["as_of"]) == (
        run_id,
        "score",
        12.3,
        "2026-06-01",
    )
    assert "exc_info" not in first
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert second["level"] == "ERROR"
    assert second["stage"] == "publish"
    assert "RuntimeError: boom for [phone]" in second["exc_info"]


@pytest.fixture
def engine_logger_handler():
    """A handler on the 'recover' logger (one of those configure_logging touches); afterwards the
    handlers of every logger configure_logging touches get their filters and formatters back, so
    other tests' log capture (pytest's handlers sit on the root) is as it was."""
    saved = {
        id(each): (each, list(each.filters), each.formatter)
        for name in LOGGER_NAMES
        for each in logging.getLogger(name).handlers
    }
    handler = logging.StreamHandler(io.StringIO())
    formatter = logging.Formatter("%(message)s")
    handler.setFormatter(formatter)
    logging.getLogger("recover").addHandler(handler)
    yield handler, formatter
    logging.getLogger("recover").removeHandler(handler)
    handler.close()
    for each, filters, previous in saved.values():
        each.filters[:] = filters
        each.setFormatter(previous)


def test_configure_logging_adds_the_filter_once(engine_logger_handler) -> None:
    handler, formatter = engine_logger_handler
    configure_logging("text")
    configure_logging("text")
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    assert handler.formatter is formatter  # text leaves formatters alone
    for name in LOGGER_NAMES:
        for each in logging.getLogger(name).handlers:
            assert sum(isinstance(f, RedactingFilter) for f in each.filters) == 1


def test_configure_logging_json_sets_the_json_formatter(engine_logger_handler) -> None:
    handler, formatter = engine_logger_handler
    configure_logging("json")
    configure_logging("json")
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    assert handler.formatter is not formatter
    record = logging.LogRecord(
        "recover", logging.WARNING, __file__, 1, "drift %s for %s", ("0.743", "a@b.io"), None
    )
    assert handler.filter(record)
    assert json.loads(handler.format(record))["message"] == "drift 0.743 for [email]"


def test_configure_logging_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError, match="log_format"):
        configure_logging("xml")


def _record_of(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        import sys

        return logging.LogRecord(
            "prefect.flow_runs", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )


def test_a_known_condition_is_logged_in_one_line_and_a_bug_keeps_its_traceback():
    from monitoring.drift import DriftError
    from recover.cli.runtime import NoTracebackForKnownConditions, known_conditions

    quiet = NoTracebackForKnownConditions(known_conditions())
    missing_model = _record_of(LookupError("no model 'recover-propensity' with alias 'champion'"))
    assert quiet.filter(missing_model) and missing_model.exc_info is None
    assert issubclass(DriftError, known_conditions())
    for bug in (KeyError("loan_id"), ValueError("bad"), IndexError(3)):
        record = _record_of(bug)
        assert quiet.filter(record) and record.exc_info is not None, bug
