"""The email action against a real SMTP server (aiosmtpd on 127.0.0.1), whose received mail is read back."""

from __future__ import annotations

import json
import os
import shutil
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serviceflow_email import plugin
from serviceflow_email.action import EmailAction, EmailDeliveryError, EmailSettings, message_id_for
from serviceflow_email.testing import free_port, self_signed_certificate

from serviceflow.cli import main
from serviceflow.plugin import ActionContext, ConfigError, Evaluation, Finding, Severity, Status

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:  # pragma: no cover - the test extra is not installed
    if os.environ.get("SERVICEFLOW_REQUIRE_DOVECOT") == "1":
        raise  # CI runs the email plugin's tests against real servers: a missing one is a failure
    pytest.skip(
        "aiosmtpd is not installed: pip install './plugins/serviceflow-email[test]'", allow_module_level=True
    )

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "records"
FINDING = {
    "policy": "respond-promptly",
    "severity": "warning",
    "status": "violation",
    "case_id": "email-86a8decd3cc42a98",
    "record_id": "email-feb9f20ed0bc413d46af9144",
    "message": "email-feb9f20ed0bc413d46af9144 got no response within 4h",
    "reason": "none of /require held: exists contact (0 considered, 0 matched): false",
    "evidence": ["email-feb9f20ed0bc413d46af9144"],
}


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class Mailroom:
    """What the SMTP server received, and the addresses it refuses."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        login = login.decode() if isinstance(login, bytes) else login
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 OK: queued"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, which the action is told to trust (``ca-file``)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate for the TLS tests")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


Serve = Callable[..., tuple[Mailroom, int]]


@pytest.fixture
def smtp_server() -> Iterator[Serve]:
    """``serve(**controller_options) -> (mailroom, port)``: an SMTP server on 127.0.0.1, stopped after."""
    controllers: list[Controller] = []

    def serve(**options: Any) -> tuple[Mailroom, int]:
        mailroom = Mailroom()
        # aiosmtpd's Controller checks it is up by connecting to the port it was given: not port 0.
        port = free_port()
        controller = Controller(mailroom, hostname="127.0.0.1", port=port, ready_timeout=10, **options)
        controller.start()
        controllers.append(controller)
        return mailroom, port

    yield serve
    for controller in controllers:
        controller.stop()


def settings(port: int, **options: Any) -> EmailSettings:
    return EmailSettings.from_options(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from": "serviceflow <serviceflow@acme.example>",
            "to": ["Mo Supervisor <mo@acme.example>"],
            "timeout": 10,
            **options,
        }
    )


def test_the_notification_arrives_with_its_message_id_recipients_and_the_finding(smtp_server: Serve) -> None:
    mailroom, port = smtp_server()
    sent = EmailAction(settings(port)).send(
        FINDING, "outbox/41", evaluated_at=datetime(2024, 5, 6, 21, 0, tzinfo=UTC)
    )

    (received,) = mailroom.received
    message = received.message
    assert sent.message_id == message["Message-ID"] == message_id_for("outbox/41", "acme.example")
    assert (received.mail_from, received.recipients, sent.recipients) == (
        "serviceflow@acme.example",
        ["mo@acme.example"],
        ("mo@acme.example",),
    )
    assert message["Subject"] == (
        "[serviceflow] respond-promptly in case email-86a8decd3cc42a98: "
        "email-feb9f20ed0bc413d46af9144 got no response within 4h"
    )
    assert (message["Auto-Submitted"], message["X-Serviceflow-Key"]) == ("auto-generated", "outbox/41")
    assert message["X-Serviceflow-Case"] == "email-86a8decd3cc42a98"
    body = message.get_content().replace("\r\n", "\n")
    assert "a violation of the policy respond-promptly (warning) in case email-86a8decd3cc42a98" in body
    assert "\nemail-feb9f20ed0bc413d46af9144 got no response within 4h\n" in body
    assert "Why: none of /require held: exists contact (0 considered, 0 matched): false" in body
    assert "Deadline: (none)" in body and "Evaluated at 2024-05-06T21:00:00Z." in body


def test_a_retry_of_the_same_key_has_the_same_message_id_and_another_key_another(smtp_server: Serve) -> None:
    mailroom, port = smtp_server()
    action = EmailAction(settings(port))
    first = action.send(FINDING, "outbox/41")
    retry = action.send(FINDING, "outbox/41")
    other = action.send({**FINDING, "status": "pending"}, "outbox/42")
    received = [item.message["Message-ID"] for item in mailroom.received]
    assert received == [first.message_id, first.message_id, other.message_id]
    assert retry.message_id == first.message_id != other.message_id


def test_the_outbox_can_address_the_customer_and_thread_the_notification_into_the_conversation(
    smtp_server: Serve,
) -> None:
    mailroom, port = smtp_server()
    action = EmailAction(settings(port, subject="Your case $case_id: next steps", body="Next: $message\n"))
    action.send(
        FINDING,
        "outbox/43",
        to=["Dana Park <dana@customer.example>"],
        references=["<c1.dana@customer.example>", "<a1.jake@acme.example>"],
    )
    (received,) = mailroom.received
    assert received.recipients == ["dana@customer.example"]
    assert received.message["In-Reply-To"] == "<a1.jake@acme.example>"
    assert received.message["References"] == "<c1.dana@customer.example> <a1.jake@acme.example>"
    body = received.message.get_content()
    assert body == "Next: email-feb9f20ed0bc413d46af9144 got no response within 4h\r\n"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    valid = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"serviceflow",
        b"s3cret",
    )
    return AuthResult(success=valid, handled=False, auth_data=auth_data)  # not handled: aiosmtpd answers 535


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(
    security: str,
    smtp_server: Serve,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # aiosmtpd offers AUTH over TLS from the start only when told TLS is not required (it checks STARTTLS).
    if security == "starttls":
        tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    else:
        tls = {"ssl_context": context, "auth_require_tls": False}
    mailroom, port = smtp_server(authenticator=authenticator, **tls)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    options = {"security": security, "ca-file": str(cert), "username": "serviceflow"}
    EmailAction(settings(port, **options, **{"password-env": "TEST_SMTP_PASSWORD"})).send(FINDING, "k")
    (received,) = mailroom.received
    assert received.login == "serviceflow"


def test_a_refused_login_is_a_permanent_failure(smtp_server: Serve, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailroom, port = smtp_server(authenticator=authenticator, tls_context=context, require_starttls=True)
    action = EmailAction(
        settings(
            port, security="starttls", username="serviceflow", password="wrong", **{"ca-file": str(cert)}
        )
    )
    with pytest.raises(EmailDeliveryError, match="535") as raised:
        action.send(FINDING, "outbox/44")
    assert (raised.value.transient, raised.value.key) == (False, "outbox/44")
    assert mailroom.received == []


def test_a_refused_recipient_fails_the_action_and_names_the_address(smtp_server: Serve) -> None:
    mailroom, port = smtp_server()
    mailroom.refuse.add("gone@acme.example")
    action = EmailAction(settings(port, to=["mo@acme.example", "gone@acme.example"]))
    with pytest.raises(EmailDeliveryError, match=r"gone@acme\.example \(550") as raised:
        action.send(FINDING, "outbox/45")
    assert raised.value.transient is False
    assert [item.recipients for item in mailroom.received] == [["mo@acme.example"]]


def test_no_server_listening_is_a_transient_failure() -> None:
    port = free_port()  # bound, then closed: nothing listens there
    with pytest.raises(EmailDeliveryError, match=f"cannot send through 127.0.0.1:{port}") as raised:
        EmailAction(settings(port)).send(FINDING, "outbox/46")
    assert raised.value.transient is True


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"host": None}, "'host' is required"),
        ({"from": None}, "'from' is required"),
        ({"to": []}, "'to' is required"),
        ({"to": ["not an address"]}, "'to' is not an email address: 'not an address'"),
        ({"security": "tls"}, "'security' must be one of ssl, starttls, none, not 'tls'"),
        ({"port": 70000}, "'port' must be a whole number from 1 to 65535"),
        ({"username": "serviceflow"}, "'username' and a password ('password-env' or 'password') go together"),
        ({"username": "u", "password-env": "NO_SUCH_VARIABLE_X"}, "NO_SUCH_VARIABLE_X, which is not set"),
        ({"subject": "$policy for $customer"}, "'subject' uses $customer; templates know policy"),
        ({"body": "costs $"}, "'body' is not a valid template"),
        ({"smtp-host": "x"}, "has no option 'smtp-host' (options: "),
    ],
)
def test_wrong_options_are_config_errors_that_say_what_to_write(options: dict[str, Any], error: str) -> None:
    base = {"host": "smtp.acme.example", "from": "serviceflow@acme.example", "to": ["mo@acme.example"]}
    table = {name: value for name, value in {**base, **options}.items() if value is not None}
    with pytest.raises(ConfigError, match=r"^action 'email'") as raised:
        plugin.action.create(table)
    assert error in str(raised.value)


def test_the_plugin_declares_the_email_action_run_once_per_finding(
    smtp_server: Serve, serviceflow_plugin: Any
) -> None:
    mailroom, port = smtp_server()
    options = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "sf@acme.example",
        "to": "mo@acme.example",
    }
    with serviceflow_plugin(plugin, "email") as host:
        assert host.actions["email"].plugin == "email"
        act = host.action_functions(["email"], {"email": options})["email"]
    finding = Finding(
        "respond-promptly", Severity.WARNING, Status.VIOLATION, "c1", "r7", "r7 got no response within 4h"
    )
    now = datetime(2024, 5, 6, 21, 0, tzinfo=UTC)
    detail = act(finding, ActionContext(now=now, evaluation=Evaluation(now=now)))
    message_id = message_id_for("email/c1/respond-promptly/r7/violation", "acme.example")
    assert detail == f"sent {message_id} to mo@acme.example"
    # From live mode's outbox: the transition's key, so that every retry has the same Message-ID.
    live = ActionContext(now=now, transition="breached", idempotency_key="5f1c0a9e2b")
    assert act(finding, live) == f"sent {message_id_for('5f1c0a9e2b', 'acme.example')} to mo@acme.example"
    assert [item.message["Message-ID"] for item in mailroom.received] == [
        message_id,
        message_id_for("5f1c0a9e2b", "acme.example"),
    ]


def installed() -> bool:
    try:
        metadata.distribution("serviceflow-email")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not installed(), reason="serviceflow-email is not installed")
def test_lint_action_email_once_installed(
    smtp_server: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailroom, port = smtp_server()
    config = tmp_path / "serviceflow.toml"
    config.write_text(
        f'[actions.email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from = "serviceflow@acme.example"\nto = ["mo@acme.example"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "email")
    arguments = [
        str(EXAMPLES / "leaking-pipe.jsonl"),
        "--now",
        "2024-05-09T14:00:00Z",
        "--config",
        str(config),
    ]
    result = CliRunner().invoke(main, ["lint", *arguments, "--format", "json", "--fail-on", "never"])
    violations = json.loads(result.output)["summary"]["violations"]
    result = CliRunner().invoke(main, ["lint", *arguments, "--action", "email", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert violations >= 1 and len(mailroom.received) == violations
    assert {item.message["X-Serviceflow-Case"] for item in mailroom.received} == {"milkyway-leak"}
    assert len({item.message["Message-ID"] for item in mailroom.received}) == violations
