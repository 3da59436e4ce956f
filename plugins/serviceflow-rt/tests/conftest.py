"""Fixtures: one real Request Tracker 5 for the session, and a fault-injecting proxy in front of it.

``rt_instance`` starts RT (Debian's request-tracker5, installed by ``.ci/install-rt.sh``) on 127.0.0.1
with its own SQLite database and a fake sendmail, once per session; each test makes its own tickets and
reads from a cursor taken when it starts, so tests do not see each other's history. Without RT the
tests that need it are skipped, naming the install script; with ``SERVICEFLOW_REQUIRE_RT=1`` (CI) they
fail instead.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serviceflow_rt.client import RtClient
from serviceflow_rt.config import CustomFieldRule, RtConfig
from serviceflow_rt.testing import RtInstance, RtTemplate, rt_installed

REQUIRE_RT = os.environ.get("SERVICEFLOW_REQUIRE_RT") == "1"
#: RT checks the auth token with bcrypt on every REST2 request: at RT's default cost (12) that is
#: 0.27 s a request here and the suite takes 4 times as long; the code under test is the same.
#: SERVICEFLOW_RT_BCRYPT_COST=12 runs it at RT's default.
BCRYPT_COST = int(os.environ.get("SERVICEFLOW_RT_BCRYPT_COST", "4"))

#: What the tests' desk has besides RT's initial data: custom fields the mapping reads, an
#: escalation queue, a second agent.
DESK_PERL = r"""
for my $spec (['Customer confirmed', 'SelectSingle', ['yes', 'no']],
              ['Capacity confirmed', 'FreeformSingle', []],
              ['Concession', 'FreeformSingle', []],
              ['Policy flag', 'FreeformSingle', []]) {
    my $cf = RT::CustomField->new(RT->SystemUser);
    my ($id, $msg) = $cf->Create(
        Name => $spec->[0], Type => $spec->[1], LookupType => 'RT::Queue-RT::Ticket');
    die "custom field $spec->[0]: $msg\n" unless $id;
    $cf->AddValue(Name => $_) for @{ $spec->[2] };
    ($id, $msg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
    die "custom field $spec->[0]: $msg\n" unless $id;
}
for my $name ('Escalations', 'Support') {
    my $queue = RT::Queue->new(RT->SystemUser);
    my ($id, $msg) = $queue->Create(Name => $name);
    die "queue $name: $msg\n" unless $id;
}
my $privileged = RT::Group->new(RT->SystemUser); $privileged->LoadSystemInternalGroup('Privileged');
for my $right (qw(OwnTicket ShowTicket ShowTicketComments SeeQueue
                  ReplyToTicket CommentOnTicket ModifyTicket)) {
    my ($ok, $msg) = $privileged->PrincipalObj->GrantRight(Right => $right, Object => RT->System);
    die "grant $right: $msg\n" unless $ok;
}
my $jane = RT::User->new(RT->SystemUser);
my ($id, $msg) = $jane->Create(
    Name => 'jane', RealName => 'Jane Agent', EmailAddress => 'jane@desk.test', Privileged => 1);
die "jane: $msg\n" unless $id;
"""


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too: CI runs every plugin's tests in one session under the root's --strict-markers.
    config.addinivalue_line("markers", "rt: needs a real Request Tracker 5 (.ci/install-rt.sh)")


def _unavailable(reason: str) -> None:
    if REQUIRE_RT:
        pytest.fail(f"SERVICEFLOW_REQUIRE_RT=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rt_template(tmp_path_factory: pytest.TempPathFactory) -> RtTemplate:
    """A pristine RT database for the tests' desk, with root's token (built once, about 4 s)."""
    reason = rt_installed()
    if reason is not None:
        _unavailable(reason)
    return RtTemplate(tmp_path_factory.mktemp("rt-template"), setup_perl=DESK_PERL, bcrypt_cost=BCRYPT_COST)


@pytest.fixture(scope="session")
def rt_instance(rt_template: RtTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtInstance]:
    """The session's running RT (about 2 s to start); stopped at the end, also after failures."""
    instance = rt_template.start(tmp_path_factory.mktemp("rt"))
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def rt_config(rt_instance: RtInstance) -> RtConfig:
    return desk_config(rt_instance.url, rt_instance.token)


def desk_config(url: str, token: str, **changes: Any) -> RtConfig:
    """The tests' desk: General and Support read, Escalations and jane count as escalations."""
    values: dict[str, Any] = {
        "url": url,
        "token": token,
        "queues": ("General", "Support"),
        "escalation_queues": ("Escalations",),
        "escalation_owners": ("jane",),
        "custom_fields": (
            CustomFieldRule("Customer confirmed", "confirmation"),
            CustomFieldRule("Capacity confirmed", "capacity_check"),
            CustomFieldRule("Concession", "concession"),
        ),
        "timeout": 30,
        **changes,
    }
    return RtConfig(**values)


@pytest.fixture
def rt_client(rt_config: RtConfig) -> Iterator[RtClient]:
    client = RtClient(rt_config)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def start_cursor(rt_client: RtClient) -> str:
    """RT's newest transaction when the test starts: polling from it reads only this test's history."""
    return str(rt_client.last_transaction_id())


@pytest.fixture
def desk_config_for() -> Callable[..., RtConfig]:
    return desk_config


@pytest.fixture
def assert_valid_records(tmp_path: Path) -> Callable[[list[dict[str, Any]]], None]:
    """Checks records with ``serviceflow validate`` (the CLI, on a JSON Lines file)."""

    def check(records: list[dict[str, Any]]) -> None:
        assert records, "no records to validate"
        path = tmp_path / f"records-{len(list(tmp_path.glob('records-*.jsonl')))}.jsonl"
        path.write_text(
            "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8"
        )
        from click.testing import CliRunner

        from serviceflow.cli import main

        result = CliRunner().invoke(main, ["validate", str(path)], env={"SERVICEFLOW_LOAD_PLUGINS": ""})
        assert result.exit_code == 0, result.output

    return check


class FaultyProxy:
    """A real HTTP proxy on 127.0.0.1 in front of the real RT that can answer errors or alter bodies.

    ``fail(method, path_and_query, body)`` returns a status to answer instead of forwarding (or ``None``);
    ``rewrite(path, body)`` may change a forwarded JSON body. Every request is logged in ``seen``.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.fail: Callable[[str, str, bytes], int | None] = lambda method, path, body: None
        self.rewrite: Callable[[str, Any], Any] = lambda path, body: body
        self.seen: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path))
                status = proxy.fail(self.command, self.path, body or b"")
                if status is not None:
                    self._answer(status, b'{"message": "injected failure"}', "application/json")
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                request = urllib.request.Request(
                    proxy.target + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, payload, kind = (
                            response.status,
                            response.read(),
                            response.headers.get("Content-Type", ""),
                        )
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers.get("Content-Type", "")
                if "json" in kind and payload:
                    changed = proxy.rewrite(self.path, json.loads(payload))
                    payload = changed if isinstance(changed, bytes) else json.dumps(changed).encode()
                self._answer(status, payload, kind or "application/json")

            def _answer(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def faulty_proxy(rt_instance: RtInstance) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(rt_instance.url)
    try:
        yield proxy
    finally:
        proxy.close()


def pytest_report_header() -> str:
    reason = rt_installed()
    if reason is None:
        return "serviceflow-rt: Request Tracker 5 found; integration tests run against it"
    return f"serviceflow-rt: {reason}" + (" (SERVICEFLOW_REQUIRE_RT=1: they will fail)" if REQUIRE_RT else "")
