"""adapters.notify: the run event, webhook and e-mail delivery (local receivers), Prefect hooks."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from aiosmtpd.controller import Controller
from prefect.states import Completed, Failed

from adapters.notify import notify_failure, notify_hooks, notify_success, run_event, send
from pipelines.serve import free_port
from recover.config import NotificationsConfig, SmtpConfig, WebhookConfig
from tests.receivers import WebhookReceiver, webhook_receiver

RUN_ID = "1b2c3d4e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with webhook_receiver([200]) as receiver:
        yield receiver


@pytest.fixture
def flaky_webhook() -> Iterator[WebhookReceiver]:
    with webhook_receiver([500, 200]) as receiver:
        yield receiver


@pytest.fixture
def rejecting_webhook() -> Iterator[WebhookReceiver]:
    with webhook_receiver([400]) as receiver:
        yield receiver


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Mailbox]]:
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


def _event(**changes) -> dict:
    arguments = {
        "flow_name": "nightly-score",
        "flow_run_id": RUN_ID,
        "flow_run_name": "amber-fox",
        "parameters": {"as_of": "2026-06-01", "out": "/srv/queues/2026-06-01", "data": "store"},
        "state_name": "Failed",
        "message": "Flow run encountered an exception: ValueError: bad rows",
        "at": dt.datetime(2026, 6, 1, 6, 5, tzinfo=dt.UTC),
    }
    arguments.update(changes)
    return run_event("failure", **arguments)


# -- the event -------------------------------------------------------------------------------


def test_run_event_fields() -> None:
    event = _event()
    assert event["event"] == "recover.run.failed"
    assert (event["flow"], event["flow_run_id"], event["flow_run_name"]) == (
        "nightly-score",
        RUN_ID,
        "amber-fox",
    )
    assert (event["as_of"], event["out"], event["data"]) == ("2026-06-01", "/srv/queues/2026-06-01", "store")
    assert event["state"] == "Failed"
    assert event["error"] == "Flow run encountered an exception: ValueError: bad rows"
    assert event["host"] == socket.gethostname()
    assert event["at"] == "2026-06-01T06:05:00+00:00"
    assert event["text"] == (
        "recover nightly-score FAILED for as-of 2026-06-01 (run amber-fox, 1b2c3d4e): "
        "Flow run encountered an exception: ValueError: bad rows"
    )
    json.dumps(event)  # JSON-ready


def test_run_event_masks_the_database_password() -> None:
    event = _event(parameters={"data": "postgresql+psycopg://recover:s3cret@db.lender.example:5432/core"})
    assert "s3cret" not in event["data"]
    assert event["data"] == "postgresql+psycopg://recover:***@db.lender.example:5432/core"
    assert _event(parameters={"data": "/srv/exports/2026-06-01"})["data"] == "/srv/exports/2026-06-01"
    assert _event(parameters={})["as_of"] is None
    assert _event(parameters={})["data"] is None


def test_run_event_redacts_the_error_and_keeps_text_to_one_line() -> None:
    message = "contract violated by borrower jane.doe@example.com (+14155552671)\n" + "x" * 5000
    event = _event(message=message)
    assert "jane.doe@example.com" not in event["error"]
    assert "[email]" in event["error"] and "[phone]" in event["error"]
    assert len(event["error"]) == 2000
    assert "\n" not in event["text"]
    assert event["text"].endswith(": contract violated by borrower [email] ([phone])")


def test_run_event_on_success_has_no_error() -> None:
    event = run_event(
        "success",
        flow_name="nightly-score",
        flow_run_id=RUN_ID,
        flow_run_name=None,
        parameters={"as_of": dt.date(2026, 6, 1)},
        state_name="Completed",
        message="All states completed.",
    )
    assert event["event"] == "recover.run.succeeded"
    assert event["error"] is None
    assert event["as_of"] == "2026-06-01"
    assert event["text"] == "recover nightly-score succeeded for as-of 2026-06-01 (run 1b2c3d4e)"
    assert dt.datetime.fromisoformat(event["at"]).utcoffset() == dt.timedelta(0)


# -- delivery --------------------------------------------------------------------------------


def _settings(**sections) -> NotificationsConfig:
    return NotificationsConfig(**sections)


def test_send_posts_the_event_to_the_webhook(webhook: WebhookReceiver) -> None:
    event = _event()
    settings = _settings(
        webhook=WebhookConfig(url=webhook.url, headers={"X-Token": "t0k3n"}, timeout_seconds=2)
    )
    assert send(event, settings) == ["webhook"]
    assert len(webhook.requests) == 1
    path, headers, body = webhook.requests[0]
    assert path == "/hooks/recover"
    assert headers["X-Token"] == "t0k3n"
    assert headers["Content-Type"] == "application/json"
    assert body == event
    assert body["text"].startswith("recover nightly-score FAILED")


def test_send_retries_a_server_error(flaky_webhook: WebhookReceiver) -> None:
    settings = _settings(webhook=WebhookConfig(url=flaky_webhook.url, timeout_seconds=2))
    assert send(_event(), settings) == ["webhook"]
    assert len(flaky_webhook.requests) == 2


def test_send_does_not_retry_a_client_error(
    rejecting_webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(webhook=WebhookConfig(url=rejecting_webhook.url, timeout_seconds=2))
    with caplog.at_level(logging.WARNING, logger="recover.notify"):
        assert send(_event(), settings) == []
    assert len(rejecting_webhook.requests) == 1
    assert "webhook" in caplog.text and "HTTP 400" in caplog.text


def test_send_survives_a_refused_connection(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(webhook=WebhookConfig(url=f"http://127.0.0.1:{free_port()}/hook", timeout_seconds=2))
    with caplog.at_level(logging.WARNING, logger="recover.notify"):
        assert send(_event(), settings) == []
    warnings = [record for record in caplog.records if record.name == "recover.notify"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "webhook" in warnings[0].getMessage()


def test_send_emails_the_event(smtp_server) -> None:
    controller, mailbox = smtp_server
    event = _event()
    smtp = SmtpConfig(
        host=controller.hostname,
        port=controller.port,
        sender="recover@lender.example",
        recipients=["ops@lender.example", "oncall@lender.example"],
        timeout_seconds=5,
    )
    assert send(event, _settings(smtp=smtp)) == ["email"]
    assert len(mailbox.envelopes) == 1
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "recover@lender.example"
    assert envelope.rcpt_tos == ["ops@lender.example", "oncall@lender.example"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[recover] nightly-score failed: as-of 2026-06-01"
    assert message["To"] == "ops@lender.example, oncall@lender.example"
    text, _, body = message.get_content().replace("\r\n", "\n").partition("\n\n")
    assert text == event["text"]
    assert json.loads(body) == event


def test_send_delivers_to_every_channel_and_skips_a_failing_one(
    webhook: WebhookReceiver, smtp_server, caplog
) -> None:
    controller, mailbox = smtp_server
    settings = _settings(
        webhook=WebhookConfig(url=webhook.url, timeout_seconds=2),
        smtp=SmtpConfig(host=controller.hostname, port=controller.port, recipients=["ops@lender.example"]),
    )
    assert send(_event(), settings) == ["webhook", "email"]
    assert (len(webhook.requests), len(mailbox.envelopes)) == (1, 1)

    # A login whose password is not in the environment: e-mail is skipped, the webhook still sent.
    failing = _settings(
        webhook=WebhookConfig(url=webhook.url, timeout_seconds=2),
        smtp=SmtpConfig(
            host=controller.hostname,
            port=controller.port,
            recipients=["ops@lender.example"],
            username="recover",
            password_env="RECOVER_TEST_PASSWORD_THAT_IS_NOT_SET",
        ),
    )
    with caplog.at_level(logging.WARNING, logger="recover.notify"):
        assert send(_event(), failing) == ["webhook"]
    assert "email" in caplog.text and "RECOVER_TEST_PASSWORD_THAT_IS_NOT_SET" in caplog.text


def test_send_without_channels_sends_nothing() -> None:
    assert send(_event(), NotificationsConfig()) == []


# -- Prefect hooks ---------------------------------------------------------------------------


def _config(tmp_path: Path, url: str, events: list[str] | None = None) -> Path:
    notifications: dict = {"webhook": {"url": url, "timeout_seconds": 2}}
    if events is not None:
        notifications["events"] = events
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump({"notifications": notifications}))
    return path


def _flow_run(config_path: Path) -> SimpleNamespace:
    return SimpleNamespace(
        parameters={
            "config_path": str(config_path),
            "as_of": "2026-06-01",
            "out": "/srv/queues/2026-06-01",
            "data": "postgresql://recover:s3cret@db.lender.example/core",
        },
        id=RUN_ID,
        name="amber-fox",
    )


FLOW = SimpleNamespace(name="nightly-score")


def test_notify_failure_posts_once(tmp_path: Path, webhook: WebhookReceiver) -> None:
    flow_run = _flow_run(_config(tmp_path, webhook.url))
    assert notify_failure(FLOW, flow_run, Failed(message="boom")) is None
    assert len(webhook.requests) == 1
    event = webhook.requests[0][2]
    assert event["event"] == "recover.run.failed"
    assert (event["flow"], event["flow_run_id"], event["flow_run_name"]) == (
        "nightly-score",
        RUN_ID,
        "amber-fox",
    )
    assert (event["as_of"], event["state"], event["error"]) == ("2026-06-01", "Failed", "boom")
    assert "s3cret" not in event["data"]
    assert (
        event["text"] == "recover nightly-score FAILED for as-of 2026-06-01 (run amber-fox, 1b2c3d4e): boom"
    )


def test_notify_failure_adds_the_exception_text(tmp_path: Path, webhook: WebhookReceiver) -> None:
    flow_run = _flow_run(_config(tmp_path, webhook.url))
    state = Failed(message="Flow run failed", data=ValueError("no contact for jane@example.com"))
    notify_failure(FLOW, flow_run, state)
    assert webhook.requests[0][2]["error"] == "Flow run failed\nValueError: no contact for [email]"


def test_notify_success_only_when_asked(tmp_path: Path, webhook: WebhookReceiver) -> None:
    notify_success(FLOW, _flow_run(_config(tmp_path, webhook.url, ["failure"])), Completed())
    assert webhook.requests == []
    notify_success(FLOW, _flow_run(_config(tmp_path, webhook.url, ["failure", "success"])), Completed())
    assert len(webhook.requests) == 1
    event = webhook.requests[0][2]
    assert (event["event"], event["state"], event["error"]) == ("recover.run.succeeded", "Completed", None)


def test_notify_failure_not_listed_sends_nothing(tmp_path: Path, webhook: WebhookReceiver) -> None:
    notify_failure(FLOW, _flow_run(_config(tmp_path, webhook.url, ["success"])), Failed(message="boom"))
    assert webhook.requests == []


def test_hooks_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = SimpleNamespace(parameters={"config_path": str(tmp_path / "missing.yaml")}, id=RUN_ID, name="x")
    with caplog.at_level(logging.WARNING, logger="recover.notify"):
        notify_failure(FLOW, broken, Failed(message="boom"))
        notify_success(object(), object(), object())
    assert "not sent" in caplog.text
    # No config path: the defaults, which notify nobody.
    notify_failure(FLOW, SimpleNamespace(parameters={}, id=RUN_ID, name="x"), Failed(message="boom"))


def test_notify_hooks() -> None:
    assert notify_hooks() == {
        "on_failure": [notify_failure],
        "on_crashed": [notify_failure],
        "on_completion": [notify_success],
    }
