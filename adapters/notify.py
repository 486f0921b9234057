"""Run notifications: who hears that a nightly run failed (or, if asked, that it succeeded).

When a flow decorated with ``@flow(**notify_hooks())`` ends, Prefect calls :func:`notify_failure`
(failed or crashed runs) or :func:`notify_success` (completed runs). The hook loads the run's
config (its ``config_path`` parameter) and, when the outcome is listed in
``notifications.events`` (``[failure]`` by default), sends one event to every configured channel:

* **webhook** (``notifications.webhook.url``): an HTTP POST of the event as JSON. The event has a
  one-line ``text`` field, so Slack and Teams incoming webhooks show it as is; other receivers read
  the structured fields (``event``, ``flow``, ``flow_run_id``, ``as_of``, ``out``, ``data``,
  ``state``, ``error``, ``host``, ``at``). Connection errors and 5xx answers are retried twice.
* **e-mail** (``notifications.smtp.host`` and ``recipients``): the text line, then the event as
  pretty JSON.

What is sent is safe to send: a database URL in ``data`` has its password masked, and the error
text passes through :func:`pipelines.runtime.logs.redact` (no borrower e-mail addresses or phone numbers).

Secrets never live in the YAML config, which is committed, copied and printed: the SMTP password
is read from the environment variable ``smtp.password_env`` names (``RECOVER_SMTP_PASSWORD``) at
send time, and webhook tokens belong in the URL or headers supplied by the deployment.

A notifier that fails is logged (logger ``adapters.notify``) and skipped; it never raises, because
a broken mail server must not hide -- or replace -- the run's own error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import json
import logging
import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from adapters.redaction import redact
from recover.config import NotificationsConfig, load_config

__all__ = ["notify_failure", "notify_hooks", "notify_success", "run_event", "send"]

logger = logging.getLogger("recover.notify")

Outcome = Literal["failure", "success"]

EVENT_NAMES: dict[str, str] = {"failure": "recover.run.failed", "success": "recover.run.succeeded"}
MAX_ERROR_CHARS = 2000
# Waits before the second and third webhook attempts.
WEBHOOK_BACKOFF_SECONDS: tuple[float, ...] = (0.5, 1.0)


def _parameter(parameters: dict, name: str) -> str | None:
    value = parameters.get(name)
    return None if value is None else str(value)


def _mask_url(value: str | None) -> str | None:
    """A database URL with its password hidden; anything else as is."""
    if value is None or "://" not in value:
        return value
    try:
        from sqlalchemy.engine import make_url

        return make_url(value).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy understands: a path or an unknown scheme
        return value


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def run_event(
    outcome: Outcome,
    *,
    flow_name: str,
    flow_run_id: str,
    flow_run_name: str | None,
    parameters: dict,
    state_name: str,
    message: str | None,
    at: dt.datetime | None = None,
) -> dict:
    """The notification event of a finished run (a JSON-ready dict; pure but for the host name).

    ``as_of``, ``out`` and ``data`` come from the run's ``parameters`` (strings, None when absent;
    a database URL in ``data`` has its password masked). ``error`` is ``message`` redacted
    (:func:`pipelines.runtime.logs.redact`) and cut to 2,000 characters, None on success. ``text`` is one
    line for chat webhooks, e.g. ``recover nightly-score FAILED for as-of 2026-06-01 (run
    amber-fox, 1b2c3d4e): ValueError: ...``. ``at`` (default now) is rendered in UTC.
    """
    if outcome not in EVENT_NAMES:
        raise ValueError(f"outcome must be 'failure' or 'success', not {outcome!r}")
    at = at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    as_of = _parameter(parameters, "as_of")
    error = redact(message)[:MAX_ERROR_CHARS] if outcome == "failure" and message else None

    verb = "FAILED" if outcome == "failure" else "succeeded"
    text = f"recover {flow_name} {verb}"
    if as_of:
        text += f" for as-of {as_of}"
    run = ", ".join(part for part in (flow_run_name, str(flow_run_id)[:8]) if part)
    if run:
        text += f" (run {run})"
    if error:
        text += f": {_first_line(error)}"
    text = " ".join(text.split())  # one line, whatever the names hold

    return {
        "event": EVENT_NAMES[outcome],
        "flow": flow_name,
        "flow_run_id": str(flow_run_id),
        "flow_run_name": flow_run_name,
        "as_of": as_of,
        "out": _parameter(parameters, "out"),
        "data": _mask_url(_parameter(parameters, "data")),
        "state": state_name,
        "error": error,
        "host": socket.gethostname(),
        "at": at.astimezone(dt.UTC).isoformat(),
        "text": text,
    }


def _post_webhook(event: dict, settings: NotificationsConfig) -> None:
    webhook = settings.webhook
    attempts = len(WEBHOOK_BACKOFF_SECONDS) + 1
    with httpx.Client(timeout=webhook.timeout_seconds, follow_redirects=False) as client:
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = client.post(webhook.url, json=event, headers=webhook.headers)
            except httpx.TransportError as error:
                if last:
                    raise RuntimeError(f"{type(error).__name__}: {error}") from None
            else:
                if response.status_code < 400:
                    return
                # Not the exception's text: httpx names the URL, and a webhook URL is a secret.
                problem = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                if response.status_code < 500 or last:
                    raise RuntimeError(problem)
            time.sleep(WEBHOOK_BACKOFF_SECONDS[attempt])


def _subject(event: dict) -> str:
    outcome = "failed" if event.get("event") == EVENT_NAMES["failure"] else "succeeded"
    subject = f"[recover] {event.get('flow')} {outcome}"
    if event.get("as_of"):
        subject += f": as-of {event['as_of']}"
    return subject


def _send_email(event: dict, settings: NotificationsConfig) -> None:
    smtp = settings.smtp
    message = EmailMessage()
    message["Subject"] = _subject(event)
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message.set_content(f"{event.get('text', '')}\n\n{json.dumps(event, indent=2, default=str)}\n")

    password = None
    if smtp.username:
        password = os.environ.get(smtp.password_env)
        if password is None:
            raise RuntimeError(f"the password environment variable {smtp.password_env} is not set")
    context = ssl.create_default_context()
    if smtp.ssl:
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=context
        )
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    with server:
        if smtp.starttls and not smtp.ssl:
            server.starttls(context=context)
        if smtp.username:
            server.login(smtp.username, password)
        server.send_message(message)


def send(event: dict, settings: NotificationsConfig) -> list[str]:
    """Deliver ``event`` to every configured channel; the names of those that took it.

    ``"webhook"`` when ``settings.webhook.url`` is set: a JSON POST with the configured headers,
    up to three attempts (waits 0.5 s and 1 s) on connection errors and 5xx answers, none more on
    a 4xx. ``"email"`` when ``settings.smtp.host`` and ``recipients`` are set: SMTP (``SMTP_SSL``
    with ``ssl``, ``STARTTLS`` with ``starttls``, a login when ``username`` is set, the password
    read from the environment variable ``password_env``).

    Never raises: a failing channel is logged as a warning (channel and error, never secrets)
    and skipped.
    """
    delivered: list[str] = []
    channels = []
    if settings.webhook.url:
        channels.append(("webhook", _post_webhook, urlsplit(settings.webhook.url).hostname))
    if settings.smtp.host and settings.smtp.recipients:
        channels.append(("email", _send_email, f"{settings.smtp.host}:{settings.smtp.port}"))
    for name, deliver, where in channels:
        try:
            deliver(event, settings)
        except Exception as error:
            text = str(error) or type(error).__name__
            logger.warning("notification channel %s (%s) failed, skipped: %s", name, where, text)
        else:
            delivered.append(name)
    return delivered


def _failure_message(state: Any) -> str | None:
    """The failed state's message, with the exception's text when the state holds one."""
    message = None
    with contextlib.suppress(Exception):
        message = state.message
    try:
        result = state.result(raise_on_failure=False, retry_result_failure=False)
        if inspect.iscoroutine(result):  # called from an event loop: not worth blocking a hook on
            result.close()
        elif isinstance(result, BaseException):
            detail = f"{type(result).__name__}: {result}"
            if not message:
                message = detail
            elif str(result) and str(result) not in message:
                message = f"{message}\n{detail}"
    except Exception:
        pass
    return message


def _notify(outcome: Outcome, flow: Any, flow_run: Any, state: Any) -> list[str]:
    try:
        parameters = dict(getattr(flow_run, "parameters", None) or {})
        config_path = parameters.get("config_path")
        config = load_config(Path(config_path) if config_path else None)
        settings = config.notifications
        if outcome not in settings.events:
            return []
        event = run_event(
            outcome,
            flow_name=str(getattr(flow, "name", None) or "recover"),
            flow_run_id=str(getattr(flow_run, "id", "")),
            flow_run_name=getattr(flow_run, "name", None),
            parameters=parameters,
            state_name=str(getattr(state, "name", None) or ""),
            message=_failure_message(state) if outcome == "failure" else None,
        )
        return send(event, settings)
    except Exception as error:  # a notifier must never fail the run's hooks
        logger.warning("run notification (%s) not sent: %s: %s", outcome, type(error).__name__, error)
        return []


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` / ``on_crashed`` hook: notify that the run failed, when the run's
    config lists ``failure`` in ``notifications.events``. Never raises."""
    _notify("failure", flow, flow_run, state)


def notify_success(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_completion`` hook: notify that the run succeeded, when the run's config lists
    ``success`` in ``notifications.events``. Never raises."""
    _notify("success", flow, flow_run, state)


def notify_hooks() -> dict:
    """The state hooks of a notifying flow: ``@flow(name=..., **notify_hooks())``."""
    return {
        "on_failure": [notify_failure],
        "on_crashed": [notify_failure],
        "on_completion": [notify_success],
    }
