"""Structured, redacted logs.

Borrowers' e-mail addresses and phone numbers must not end up in log files, log shippers or the
Prefect server's run logs, even when an exception message or a data row carries them. This module
gives one place for that:

* :func:`redact` masks e-mail addresses (``[email]``) and phone numbers (``[phone]``) in a text
  and leaves the numbers a collections run logs alone (dates, times, ids, money, counts, PSI).
* :class:`RedactingFilter` redacts every record a handler emits: message, arguments, traceback
  and string extras.
* :func:`json_formatter` renders one JSON object per line for log shippers.
* :func:`configure_logging` puts the filter on the handlers of the engine's and Prefect's loggers
  (and the JSON formatter on their stream handlers with ``operations.log_format: json``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LOGGER_NAMES", "RedactingFilter", "configure_logging", "json_formatter", "redact"]

# The loggers whose handlers configure_logging touches: the root, Prefect's (its console handler,
# and the API handler that stores flow- and task-run logs on the Prefect server) and the engine's.
LOGGER_NAMES = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "recover")

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*")

# A phone number starts where no word character, number punctuation or path/URL character is
# directly before it, and ends where no digit follows (directly or after a separator) -- so a
# part of a longer number (a UUID group, a timestamp, an amount) is never taken for one.
_BEFORE = r"(?<![\w+.,:/-])"
_AFTER = r"(?![\w]|[.,:/-]?\d)"
_PHONE = re.compile(
    _BEFORE
    + r"(?:"
    # E.164 and other international forms: +<country> then 6-14 more digits, at most two spaces,
    # dashes or parentheses between two digits: +14155552671, +44 20 7946 0958, +1 (415) 555-2671.
    + r"(?P<international>\+[1-9](?:[ ()-]{0,2}\d){6,14})"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 4155552671, 1-415-555-2671.
    + r"|(?P<nanp>(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4})"
    # Other national forms: groups of digits separated by single spaces or dashes (020 7946 0958,
    # 06 12 34 56 78, 98765-43210); 9-15 digits in all, checked in _phone(). ISO dates are not.
    + r"|(?P<national>(?!(?:19|20)\d\d-[01]\d-[0-3]\d)\(?\d{2,8}\)?(?:[ -]\(?\d{1,8}\)?)+)"
    + r")"
    + _AFTER
)
# A national candidate may not be followed by a space and a digit either: a longer run of numbers
# (a table of counts) is left whole rather than masked in part.
_NATIONAL_AFTER = re.compile(r" \d")


def _phone(match: re.Match[str]) -> str:
    national = match.group("national")
    if national is None:
        return PHONE_MASK
    digits = sum(char.isdigit() for char in national)
    followed_by_digit = _NATIONAL_AFTER.match(match.string, match.end()) is not None
    if 9 <= digits <= 15 and not followed_by_digit:
        return PHONE_MASK
    return national


def redact(text: str) -> str:
    """``text`` with e-mail addresses replaced by ``[email]`` and phone numbers by ``[phone]``.

    Phone numbers are E.164 and international forms (``+14155552671``, ``+44 20 7946 0958``),
    North American ones (``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``, ``4155552671``)
    and other national forms of 9-15 digits grouped by spaces or dashes (``020 7946 0958``).
    Left alone: ISO dates and timestamps, times, UUIDs, loan and borrower ids (``L000123``),
    amounts (``1,234.56``, ``12345.67``), percentages, versions, durations, counts and PSI values.
    """
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_phone, text)


# The attributes every LogRecord has; anything else on a record is an extra (logger.info(...,
# extra={...}), Prefect's flow_run_id etc.).
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class RedactingFilter(logging.Filter):
    """Redacts each record in place (see :func:`redact`) and lets it through.

    The message is formatted with its arguments and redacted (``record.args`` becomes empty), a
    traceback is rendered, redacted into ``record.exc_text`` and ``record.exc_info`` cleared (so
    no formatter renders the raw exception again), and string extras are redacted. Nothing is
    added to the record. Redacting twice changes nothing, so a record passing several filtered
    handlers is safe.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have, logging reports it later
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif isinstance(record.exc_text, str):
            record.exc_text = redact(record.exc_text)
        if isinstance(record.stack_info, str):
            record.stack_info = redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


class _RecoverJsonFormatter(JsonFormatter):
    """JSON lines: timestamp (UTC, ISO-8601 with Z), level, logger, message, then extras."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        created = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        log_data["timestamp"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)


def json_formatter() -> logging.Formatter:
    """A formatter writing one JSON object per record: ``timestamp`` (UTC ISO-8601 with ``Z``),
    ``level``, ``logger``, ``message``, every extra on the record (``flow_run_id``,
    ``task_run_name``, ``stage``, ``seconds``, ``as_of``, ...) and ``exc_info`` (the traceback
    text) when there is one."""
    return _RecoverJsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def configure_logging(log_format: str = "text") -> None:
    """Redact every handler of the engine's and Prefect's loggers; with ``log_format == "json"``
    also give their stream handlers :func:`json_formatter` ("text" leaves formatters alone).

    The loggers are the root, ``prefect``, ``prefect.flow_runs``, ``prefect.task_runs`` and
    ``recover``. During a flow run Prefect's API log handler
    (:class:`prefect.logging.handlers.APILogHandler`) is among those handlers, so the logs the
    Prefect server stores (and its UI shows) are redacted too, not only the console's.

    Idempotent: each handler gets one :class:`RedactingFilter`, however often this is called.
    Prefect's logging is set up first (importing it configures its handlers), so call this after
    anything that reconfigures logging, e.g. at the start of a flow.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"log_format must be 'text' or 'json', not {log_format!r}")
    try:
        from prefect.logging.configuration import ensure_logging_setup

        ensure_logging_setup()
    except Exception:  # Prefect absent or misconfigured: the engine's own loggers still get redacted
        pass
    seen: set[int] = set()
    for name in LOGGER_NAMES:
        for handler in logging.getLogger(name).handlers:
            if id(handler) in seen:
                continue
            seen.add(id(handler))
            if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
                handler.addFilter(RedactingFilter())
            if log_format == "json" and isinstance(handler, logging.StreamHandler):
                handler.setFormatter(json_formatter())
