"""The sms action against a local HTTP server that checks what Twilio would receive and answers like it."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime as rfc2822
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from phone_helpers import ACCOUNT_SID, NOW
from serviceflow_phone import plugin
from serviceflow_phone.sms import MAX_BODY, SmsAction, SmsError, create, reference, settings_from

from serviceflow.cli import main
from serviceflow.plugin import ActionContext, ConfigError, Evaluation, Finding, Severity, Status

AUTH_TOKEN = "twilio-auth-token"
SENDER = "+18005551212"
SUPERVISOR = "+14155550199"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "records"
FINDING = {
    "policy": "no-close-without-confirmation",
    "severity": "error",
    "status": "violation",
    "case_id": "milkyway-leak",
    "record_id": "mw-14",
    "message": "Case closed without the customer's confirmation",
    "reason": "no confirmation before the close",
}


class FakeTwilio(ThreadingHTTPServer):
    """Twilio's Messages resource, as far as the action uses it: create (POST) and list (GET)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.reject: dict[str, tuple[int, int, str]] = {}
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posts(self) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["method"] == "POST"]


class _Handler(BaseHTTPRequestHandler):
    server: FakeTwilio

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        return False

    def _path_ok(self) -> bool:
        if urlsplit(self.path).path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return True
        self._reply(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        return False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        with self.server.lock:
            self.server.requests.append(
                {"method": "POST", "path": self.path, "form": form, "type": self.headers.get("Content-Type")}
            )
        if not (self._path_ok() and self._authorised()):
            return
        if (
            not form.get("To")
            or not form.get("Body")
            or not (form.get("From") or form.get("MessagingServiceSid"))
        ):
            self._reply(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
            return
        if form["To"] in self.server.reject:
            status, code, message = self.server.reject[form["To"]]
            self._reply(status, {"code": code, "message": message, "more_info": "", "status": status})
            return
        sid = "SM" + uuid.uuid4().hex
        message = {
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": rfc2822(NOW),
            "date_sent": None,
            "date_updated": rfc2822(NOW),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"},
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
        with self.server.lock:
            self.server.messages.append(message)
        self._reply(201, message)

    def do_GET(self) -> None:
        query = {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}
        with self.server.lock:
            self.server.requests.append({"method": "GET", "path": self.path, "query": query})
        if not (self._path_ok() and self._authorised()):
            return
        found = [
            message
            for message in reversed(self.server.messages)
            if message["to"] == query.get("To")
            and (not query.get("From") or message["from"] == query["From"])
        ]
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        self._reply(
            200,
            {
                "messages": found,
                "end": max(len(found) - 1, 0),
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": int(query.get("PageSize", "50")),
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            },
        )


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def options(base_url: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "account-sid": ACCOUNT_SID,
        "auth-token": AUTH_TOKEN,
        "from": SENDER,
        "to": [SUPERVISOR],
        "base-url": base_url,
        "timeout": 5,
    }
    values.update(overrides)
    return values


def test_the_message_reaches_twilio_as_twilio_expects_it(twilio: FakeTwilio) -> None:
    action = create(options(twilio.base_url))
    (sent,) = action.send(FINDING, "milkyway-leak/no-close-without-confirmation/mw-14/violation", NOW)
    assert not sent.already and sent.sid.startswith("SM")
    (post,) = twilio.posts()
    assert post["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert post["type"] == "application/x-www-form-urlencoded"
    assert post["form"]["To"] == SUPERVISOR and post["form"]["From"] == SENDER
    marker = reference("milkyway-leak/no-close-without-confirmation/mw-14/violation")
    assert post["form"]["Body"] == (
        "serviceflow error: no-close-without-confirmation on case milkyway-leak (mw-14): "
        f"Case closed without the customer's confirmation [ref {marker}]"
    )


def test_a_retry_with_the_same_key_finds_the_earlier_message_and_sends_nothing(twilio: FakeTwilio) -> None:
    key = "outbox-17"
    create(options(twilio.base_url)).send(FINDING, key, NOW)
    # Another process (a fresh action: nothing remembered) retries after a lost response.
    (again,) = create(options(twilio.base_url)).send(FINDING, key, NOW + timedelta(minutes=5))
    assert again.already
    assert len(twilio.posts()) == 1
    listing = [request for request in twilio.requests if request["method"] == "GET"][-1]
    assert listing["query"]["To"] == SUPERVISOR and listing["query"]["From"] == SENDER
    assert listing["query"]["DateSent>"].startswith("2024-05-04")  # dedupe-lookback (2d) before now


def test_the_same_action_remembers_what_it_sent_without_asking_twilio_again(twilio: FakeTwilio) -> None:
    action = create(options(twilio.base_url))
    action.send(FINDING, "k1", NOW)
    requests = len(twilio.requests)
    (again,) = action.send(FINDING, "k1", NOW)
    assert again.already and len(twilio.requests) == requests


def test_another_key_is_another_message(twilio: FakeTwilio) -> None:
    action = create(options(twilio.base_url))
    action.send(FINDING, "k1", NOW)
    action.send({**FINDING, "record_id": "mw-15"}, "k2", NOW)
    assert len(twilio.posts()) == 2


def test_every_recipient_gets_it_and_a_failure_for_one_does_not_stop_the_other(twilio: FakeTwilio) -> None:
    bad = "+14155550188"
    twilio.reject[bad] = (400, 21211, f"The 'To' number {bad} is not a valid phone number.")
    action = create(options(twilio.base_url, to=[bad, SUPERVISOR]))
    with pytest.raises(SmsError) as error:
        action.send(FINDING, "k1", NOW)
    message = str(error.value)
    assert "HTTP 400, error 21211" in message and "sent SM" in message
    assert "4155550188" not in message and "4155550199" not in message  # masked
    # The retry sends only to the one that failed (which fails again), never twice to the other.
    with pytest.raises(SmsError):
        create(options(twilio.base_url, to=[bad, SUPERVISOR])).send(FINDING, "k1", NOW)
    assert [post["form"]["To"] for post in twilio.posts()].count(SUPERVISOR) == 1


def test_wrong_credentials_are_a_failure_naming_twilios_answer(twilio: FakeTwilio) -> None:
    action = create(options(twilio.base_url, **{"auth-token": "wrong"}))
    with pytest.raises(SmsError, match="HTTP 401"):
        action.send(FINDING, "k1", NOW)


def test_an_unreachable_twilio_is_a_failure_not_a_hang() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmsError, match="cannot reach Twilio"):
        create(options(f"http://127.0.0.1:{port}")).send(FINDING, "k1", NOW)


def test_a_twilio_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        action = create(options(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5))
        with pytest.raises(SmsError, match="cannot reach Twilio"):
            action.send(FINDING, "k1", NOW)


def test_a_messaging_service_may_send_instead_of_a_number(twilio: FakeTwilio) -> None:
    settings = options(twilio.base_url, **{"messaging-service-sid": "MG" + "1" * 32})
    del settings["from"]
    create(settings).send(FINDING, "k1", NOW)
    (post,) = twilio.posts()
    assert post["form"]["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in post["form"]


def test_the_text_is_one_line_without_control_characters_and_at_most_1600_characters() -> None:
    action = SmsAction(settings_from(options("https://api.twilio.com")))
    body = action.body({**FINDING, "message": "line\n\x00two\x1b " + "x" * 5000}, "k")
    assert "\n" not in body and "\x00" not in body and "\x1b" not in body
    assert len(body) == MAX_BODY and body.endswith(f"[ref {reference('k')}]")
    templated = SmsAction(settings_from(options("https://api.twilio.com", template="{policy}: {reason}")))
    assert templated.body({**FINDING, "reason": None}, "k").startswith("no-close-without-confirmation: [ref")


def test_the_action_function_keys_on_the_finding(twilio: FakeTwilio) -> None:
    finding = Finding(
        policy=FINDING["policy"],
        severity=Severity.ERROR,
        status=Status.VIOLATION,
        case_id=FINDING["case_id"],
        record_id=FINDING["record_id"],
        message=FINDING["message"],
    )
    action = create(options(twilio.base_url))
    detail = action(finding, ActionContext(now=NOW, evaluation=Evaluation(now=NOW)))
    assert detail.startswith("sent SM") and "+14*******99" in detail
    marker = reference("milkyway-leak/no-close-without-confirmation/mw-14/violation")
    assert twilio.posts()[0]["form"]["Body"].endswith(f"[ref {marker}]")


@pytest.mark.skipif(
    "idempotency_key" not in {field.name for field in dataclasses.fields(ActionContext)},
    reason="this serviceflow hands actions no idempotency key",
)
def test_the_outboxs_idempotency_key_is_the_one_the_message_carries(twilio: FakeTwilio) -> None:
    finding = Finding(
        policy=FINDING["policy"],
        severity=Severity.ERROR,
        status=Status.VIOLATION,
        case_id=FINDING["case_id"],
        record_id=FINDING["record_id"],
        message=FINDING["message"],
    )
    context = ActionContext(now=NOW, idempotency_key="outbox:42")  # type: ignore[call-arg]
    create(options(twilio.base_url))(finding, context)
    assert twilio.posts()[0]["form"]["Body"].endswith(f"[ref {reference('outbox:42')}]")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account-sid": None}, "'account-sid' is required"),
        ({"account-sid": "AC123"}, "AC followed by 32"),
        ({"auth-token": None}, "'auth-token' is required"),
        ({"messaging-service-sid": "MG" + "1" * 32}, "not both"),
        ({"from": None}, "'from' or 'messaging-service-sid' must be given"),
        ({"to": []}, "at least one number"),
        ({"to": ["5550199"]}, "not a complete phone number"),
        ({"to": "+1 415 555 01"}, "not a complete phone number"),
        ({"base-url": "http://api.example.com"}, "plain http only to this machine"),
        ({"base-url": "ftp://127.0.0.1"}, "absolute URL"),
        ({"template": "{policy.__class__}"}, "may use only"),
        ({"template": "{message:>999999999}"}, "without formats"),
        ({"template": "{message!r}"}, "without formats"),
        ({"template": "{"}, "not a valid template"),
        ({"timeout": 0}, "number above 0"),
        ({"dedupe-lookback": "-1h"}, "positive duration"),
        ({"retries": 3}, "has no option 'retries'"),
    ],
)
def test_wrong_options_are_config_errors_that_say_what_to_fix(
    overrides: dict[str, Any], message: str
) -> None:
    settings = {
        name: value
        for name, value in {**options("https://api.twilio.com"), **overrides}.items()
        if value is not None
    }
    with pytest.raises(ConfigError, match=message) as error:
        create(settings)
    assert "5550199" not in str(error.value) and AUTH_TOKEN not in str(error.value)


def test_the_auth_token_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = options("https://api.twilio.com")
    del settings["auth-token"]
    settings["auth-token-env"] = "PHONE_TEST_TWILIO_TOKEN"
    with pytest.raises(ConfigError, match="PHONE_TEST_TWILIO_TOKEN, which is not set"):
        create(settings)
    monkeypatch.setenv("PHONE_TEST_TWILIO_TOKEN", AUTH_TOKEN)
    assert create(settings).settings.auth_token == AUTH_TOKEN
    assert AUTH_TOKEN not in repr(create(settings).settings)


def test_the_plugin_declares_the_sms_action(serviceflow_plugin) -> None:  # type: ignore[no-untyped-def]
    with serviceflow_plugin(plugin, "phone") as host:
        spec = host.actions["sms"]
        assert spec.plugin == "phone"
        with pytest.raises(ConfigError, match="'account-sid' is required"):
            host.action_functions(["sms"], {"sms": {}})


def test_lint_action_sms_texts_each_violation_once_across_runs(
    twilio: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "")
    monkeypatch.delenv("SERVICEFLOW_PLUGINS_DIR", raising=False)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "phone_test_plugin.py").write_text(
        "from serviceflow_phone.plugin import serviceflow_actions  # noqa: F401\n"
    )
    (tmp_path / "serviceflow.toml").write_text(
        "[actions.sms]\n"
        f'account-sid = "{ACCOUNT_SID}"\n'
        'auth-token-env = "PHONE_TEST_TWILIO_TOKEN"\n'
        f'from = "{SENDER}"\n'
        f'to = ["{SUPERVISOR}"]\n'
        f'base-url = "{twilio.base_url}"\n'
        "timeout = 5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PHONE_TEST_TWILIO_TOKEN", AUTH_TOKEN)
    arguments = [
        "lint",
        str(EXAMPLES / "leaking-pipe.jsonl"),
        "--now",
        "2024-05-09T14:00:00Z",
        "--plugins-dir",
        str(plugins),
        "--config",
        str(tmp_path / "serviceflow.toml"),
        "--action",
        "sms",
        "--fail-on",
        "never",
        "--format",
        "json",
    ]
    first = CliRunner().invoke(main, arguments)
    assert first.exit_code == 0, first.output
    violations = json.loads(first.stdout)["summary"]["violations"]
    assert violations >= 1 and len(twilio.posts()) == violations
    assert f"actions: {violations} done, 0 failed" in first.stderr
    second = CliRunner().invoke(main, arguments)
    assert second.exit_code == 0, second.output
    assert len(twilio.posts()) == violations  # the second run found every message already sent
