"""The status gate in a real RT: the overlay asks a gate on 127.0.0.1 that answers as serviceflow will.

The gate here is a stdlib HTTP server standing in for ``POST /v1/cases/{case_id}/check`` of the live
service (not built yet): it checks the bearer token, records what RT sent and refuses closing the cases
it is told to, with a violation as serviceflow reports one.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serviceflow_rt.client import RtClient
from serviceflow_rt.config import RtConfig
from serviceflow_rt.gate import install_gate
from serviceflow_rt.testing import RtInstance, RtTemplate, free_port

pytestmark = pytest.mark.rt

TOKEN = "sf-check-token"
VIOLATION = {
    "policy": "no-close-without-confirmation",
    "severity": "error",
    "message": "Case closed without the customer confirming the problem is resolved",
    "reason": "no confirmation after the last reopen",
}


class Gate:
    """What serviceflow's check endpoint will answer; ``mode`` makes it misbehave."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refuse: set[str] = set()
        self.mode = "serviceflow"
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gate.requests.append(
                    {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
                )
                if gate.mode == "hang-up":
                    self.close_connection = True
                    return
                if gate.mode == "slow":
                    time.sleep(3)
                if gate.mode == "garbage":
                    self._send(200, b"<html>oops</html>", "text/html")
                    return
                if gate.mode == "unavailable":
                    self._send(503, b'{"title": "Service Unavailable"}', "application/problem+json")
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, b'{"title": "Unauthorized", "status": 401}', "application/problem+json")
                    return
                record = json.loads(body)["record"]
                refused = record["case_id"] in gate.refuse and record["to"] == "closed"
                answer = {
                    "allowed": not refused,
                    "violations": [VIOLATION] if refused else [],
                    "pending": [],
                    "fulfils": [],
                    "decision_id": f"d-{len(gate.requests)}",
                    "policy_revision": "rev-1",
                }
                self._send(200, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(request["body"])["record"] for request in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def gated_instance(template: RtTemplate, directory: Path, url: str, **options: Any) -> RtInstance:
    lib = directory / "local-lib"

    def prepare(site_config_dir: Path) -> None:
        install_gate(url, TOKEN, lib_dir=lib, site_config_dir=site_config_dir, **options)

    return template.start(directory / "rt", perl_lib=[lib], prepare=prepare)


@pytest.fixture(scope="module")
def gate() -> Iterator[Gate]:
    server = Gate()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def gated_rt(
    rt_template: RtTemplate, gate: Gate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtInstance]:
    instance = gated_instance(
        rt_template, tmp_path_factory.mktemp("gated"), gate.url, timeout=2, statuses=("resolved", "rejected")
    )
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def client(gated_rt: RtInstance, desk_config_for: Callable[..., RtConfig], gate: Gate) -> Iterator[RtClient]:
    gate.mode, gate.refuse = "serviceflow", set()
    gate.requests.clear()
    rt_client = RtClient(desk_config_for(gated_rt.url, gated_rt.token))
    try:
        yield rt_client
    finally:
        rt_client.close()


def status_changes(client: RtClient, ticket: int) -> list[tuple[str, str]]:
    found = client.transactions(
        f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket} AND Type = 'Status'", per_page=100
    )
    return [(item["OldValue"], item["NewValue"]) for item in found]


def test_resolving_is_refused_with_serviceflows_reason_and_the_status_stays(
    client: RtClient, gate: Gate, assert_valid_records: Callable[[list[dict[str, Any]]], None]
) -> None:
    ticket = client.create_ticket("General", "Closed too soon", "Help.", Requestor="amy@example.com")
    client.correspond(ticket, "Done, I think.")  # RT opens it: new -> open, not gated
    gate.refuse.add(f"rt-{ticket}")

    messages = client.update_ticket(ticket, {"Status": "resolved"})

    assert messages == [
        f"Ticket {ticket}: Status change refused by serviceflow: no-close-without-confirmation: "
        f"{VIOLATION['message']} ({VIOLATION['reason']}) [decision d-1]"
    ]
    assert client.ticket(ticket)["Status"] == "open"
    assert status_changes(client, ticket) == [("new", "open")]
    (request,) = gate.requests
    assert request["path"] == f"/v1/cases/rt-{ticket}/check"
    assert request["authorization"] == f"Bearer {TOKEN}"
    (record,) = gate.records()
    assert {key: record[key] for key in ("type", "to", "from", "case_id", "customer_id")} == {
        "type": "status_change",
        "to": "closed",
        "from": "open",
        "case_id": f"rt-{ticket}",
        "customer_id": "amy@example.com",
    }
    assert record["actor"] == {"role": "agent", "id": "root", "name": "Enoch Root"}
    assert record["meta"]["rt"] == {"ticket": ticket, "queue": "General", "from": "open", "to": "resolved"}
    assert_valid_records([record])


def test_an_allowed_change_goes_through(client: RtClient, gate: Gate) -> None:
    ticket = client.create_ticket("General", "Confirmed", "Fixed?", Requestor="bea@example.com")
    spam = client.create_ticket("General", "Buy now", "Spam.", Requestor="spam@example.com")

    messages = client.update_ticket(ticket, {"Status": "resolved"})
    client.update_ticket(spam, {"Status": "rejected"})  # gated too in this RT

    assert messages == [f"Ticket {ticket}: Status changed from 'new' to 'resolved'"]
    assert client.ticket(ticket)["Status"] == "resolved" and client.ticket(spam)["Status"] == "rejected"
    assert [(record["case_id"], record["to"], record["meta"]["rt"]["to"]) for record in gate.records()] == [
        (f"rt-{ticket}", "closed", "resolved"),
        (f"rt-{spam}", "closed", "rejected"),
    ]


def test_changes_to_statuses_that_are_not_gated_do_not_ask(client: RtClient, gate: Gate) -> None:
    ticket = client.create_ticket("General", "Waiting", "Hm.", Requestor="cat@example.com")
    client.update_ticket(ticket, {"Status": "open"})
    client.update_ticket(ticket, {"Status": "stalled"})
    client.update_ticket(ticket, {"Status": "bogus"})  # RT refuses this itself, before any question
    assert gate.requests == []
    assert status_changes(client, ticket) == [("new", "open"), ("open", "stalled")]


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("unavailable", "HTTP 503 Service Unavailable"),
        ("garbage", "the answer is not JSON"),
        ("hang-up", "Unexpected end of stream"),
        ("slow", "Timed out"),
    ],
)
def test_when_serviceflow_cannot_answer_the_gate_fails_closed(
    client: RtClient, gate: Gate, mode: str, why: str
) -> None:
    ticket = client.create_ticket("General", f"Gate {mode}", "Hi.", Requestor="dee@example.com")
    gate.mode = mode
    messages = client.update_ticket(ticket, {"Status": "resolved"})
    assert len(messages) == 1 and "Status change refused: serviceflow could not be asked" in messages[0]
    assert why in messages[0]
    assert client.ticket(ticket)["Status"] == "new"


def test_a_wrong_token_is_an_unusable_answer_too(
    rt_template: RtTemplate, gate: Gate, tmp_path: Path, desk_config_for: Callable[..., RtConfig]
) -> None:
    gate.mode = "serviceflow"
    instance = rt_template.start(
        tmp_path / "rt",
        perl_lib=[tmp_path / "lib"],
        prepare=lambda config_dir: install_gate(
            gate.url, "wrong-token", lib_dir=tmp_path / "lib", site_config_dir=config_dir
        ),
    )
    try:
        client = RtClient(desk_config_for(instance.url, instance.token))
        ticket = client.create_ticket("General", "Wrong token", "Hi.", Requestor="eve@example.com")
        (message,) = client.update_ticket(ticket, {"Status": "resolved"})
        assert "could not be asked (HTTP 401 Unauthorized)" in message
    finally:
        instance.stop()


def test_fail_open_lets_the_change_through_and_logs_a_warning(
    rt_template: RtTemplate, tmp_path: Path, desk_config_for: Callable[..., RtConfig]
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    instance = gated_instance(rt_template, tmp_path, nothing_listens, fail_open=True, timeout=2)
    try:
        client = RtClient(desk_config_for(instance.url, instance.token))
        ticket = client.create_ticket("General", "Gate down", "Hi.", Requestor="fay@example.com")
        assert client.update_ticket(ticket, {"Status": "resolved"}) == [
            f"Ticket {ticket}: Status changed from 'new' to 'resolved'"
        ]
        assert (
            f"serviceflow gate: ticket {ticket} new -> resolved allowed unchecked"
            in instance.log_path.read_text()
        )
    finally:
        instance.stop()


def test_gap_a_ticket_created_already_resolved_is_not_asked_about(client: RtClient, gate: Gate) -> None:
    """RT's Create writes the status without SetStatus: the overlay cannot see it (README, Gaps)."""
    gate.refuse.add("rt-*")  # would refuse, if asked
    ticket = client.create_ticket(
        "General", "Born resolved", "Hi.", Requestor="gil@example.com", Status="resolved"
    )
    assert client.ticket(ticket)["Status"] == "resolved"
    assert gate.requests == []
