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
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from adapters.redaction import redact

__all__ = ["LOGGER_NAMES", "RedactingFilter", "configure_logging", "json_formatter", "redact"]

# The loggers whose handlers configure_logging touches: the root, Prefect's (its console handler,
# and the API handler that stores flow- and task-run logs on the Prefect server) and the engine's.
LOGGER_NAMES = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "recover")

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
