"""Reliability with the real components: ``serviceflow serve`` processes, SQLite and PostgreSQL,
HTTP over loopback, ``kill -9``. Each test is bounded in requests and time and waits on the real
processes by polling with a deadline (it never sleeps for effect).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx")
pytest.importorskip("uvicorn", reason="serve needs the serve extra: pip install 'serviceflow[serve]'")

import httpx

from live_support import (
    WEBHOOK_SECRET,
    Receiver,
    contact,
    finding_keys,
    note,
    now_utc,
    opened,
    serviceflow_command,
    start_serve,
    verify_webhook,
    wait_until,
)
from serviceflow.live.tokens import hash_token, new_token
from serviceflow.stores import open_store
from serviceflow.testing.serve import free_port
from serviceflow.timeutil import format_datetime


def _token(db: str, scopes: tuple[str, ...] = ("admin",)) -> str:
    store = open_store(db)
    store.upgrade()
    token = new_token()
    store.add_token(f"t-{token[-6:]}", hash_token(token), scopes, now_utc())
    store.close()
    return token


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _kill9(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def test_kill_9_mid_stream_of_ingests_loses_no_acknowledged_record_and_leaves_none_half(
    store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    token = _token(store_url)
    port = free_port()
    processes.append(start_serve(store_url, port, tmp_path))
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: list[list[str]] = []
    attempted: list[list[str]] = []
    stop = threading.Event()

    def stream(client_number: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            for batch in range(200):
                if stop.is_set():
                    return
                case = f"case-{client_number}-{batch % 3}"
                ids = [f"r-{client_number}-{batch}-{i}" for i in range(10)]
                records = [note(case, record_id, "2024-05-06T09:00:00Z", text=record_id) for record_id in ids]
                if batch < 3:
                    records[0] = opened(case, ids[0], "2024-05-06T08:00:00Z")
                attempted.append(ids)
                try:
                    response = client.post("/v1/records", json=records)
                except httpx.HTTPError:
                    return  # the server died under this request: not acknowledged
                if response.status_code == 200:
                    assert response.json()["accepted"] == 10
                    acknowledged.append(ids)

    threads = [threading.Thread(target=stream, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 40, 60, "40 acknowledged batches")
    _kill9(processes[0])
    stop.set()
    for thread in threads:
        thread.join(30)
    # Restart on the same store: it starts, and everything acknowledged is there, exactly once.
    processes.append(start_serve(store_url, free_port(), tmp_path))
    store = open_store(store_url)
    stored: list[str] = []
    for case in {f"case-{c}-{b}" for c in range(4) for b in range(3)}:
        stored.extend(
            record.record_id for record in store.transact(lambda unit, c=case: unit.case_records(c))
        )
    assert len(stored) == len(set(stored))
    stored_set = set(stored)
    for ids in acknowledged:
        assert set(ids) <= stored_set
    for ids in attempted:  # a request is stored whole or not at all
        assert set(ids) <= stored_set or not set(ids) & stored_set
    for case in {f"case-{c}-{b}" for c in range(4) for b in range(3)}:
        row = store.transact(lambda unit, c=case: unit.case(c))
        if row is not None and row.version:
            assert row.version == len(store.transact(lambda unit, c=case: unit.case_records(c)))
    store.close()


def _config(tmp_path: Path, receiver_url: str, extra: str = "") -> Path:
    config = tmp_path / "serviceflow.toml"
    config.write_text(
        '[live]\nactions = ["webhook"]\n\n[live.outbox]\nlease = "2s"\nbackoff = "1s"\nmax-backoff = "2s"\n\n'
        f'[actions.webhook]\nurl = "{receiver_url}"\nsecret = "{WEBHOOK_SECRET}"\ntimeout = "30s"\n{extra}'
    )
    return config


def _overdue_case(case: str, seconds_until_due: float) -> list[dict[str, Any]]:
    """A case whose 4-hour escalation deadline falls ``seconds_until_due`` from the wall clock."""
    raised = now_utc() - timedelta(hours=4) + timedelta(seconds=seconds_until_due)
    return [
        opened(case, f"{case}-o", format_datetime(raised - timedelta(minutes=5))),
        contact(case, f"{case}-k", format_datetime(raised), flags=["values_in_question"]),
    ]


def test_kill_9_during_delivery_delivers_again_with_the_same_key(
    store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    receiver = Receiver(answers=[0])  # the first delivery hangs: the server dies while it waits
    try:
        token = _token(store_url)
        config = _config(tmp_path, receiver.url)
        port = free_port()
        processes.append(
            start_serve(store_url, port, tmp_path, "--config", str(config), "--select", "escalate-*")
        )
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/records",
            json=_overdue_case("late", -60),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        wait_until(lambda: receiver.requests, 30, "the first delivery to reach the receiver")
        _kill9(processes[0])
        receiver.release.set()
        first_id = receiver.requests[0][0]["webhook-id"]
        processes.append(
            start_serve(store_url, free_port(), tmp_path, "--config", str(config), "--select", "escalate-*")
        )
        wait_until(lambda: len(receiver.requests) >= 2, 60, "the delivery to be retried after the restart")
        headers, body = receiver.requests[1]
        assert headers["webhook-id"] == first_id
        assert verify_webhook(headers, body)["data"]["finding"]["policy"] == "escalate-values-in-question"
        store = open_store(store_url)
        wait_until(
            lambda: store.list_outbox(state="delivered", after=None, limit=10), 30, "the item to be delivered"
        )
        [item] = store.list_outbox(state=None, after=None, limit=10)
        assert item.idempotency_key == first_id and item.attempts == 2
        store.close()
    finally:
        receiver.close()


def _lint_findings(records: list[dict[str, Any]], now: str, tmp_path: Path) -> set[Any]:
    export = tmp_path / "same-records.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = subprocess.run(
        [*serviceflow_command(), "lint", str(export), "--now", now, "--format", "json", "--fail-on", "never"],
        capture_output=True,
        text=True,
        env={**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return finding_keys([*report["violations"], *report["pending"], *report["engine_errors"]])


def test_1000_concurrent_ingests_into_one_case_from_20_clients(
    store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    token = _token(store_url)
    port = free_port()
    processes.append(start_serve(store_url, port, tmp_path))
    case = "busy"
    start = now_utc() - timedelta(days=2)
    rng = random.Random(5)
    records: list[dict[str, Any]] = [opened(case, "open", format_datetime(start))]
    for number in range(1, 1000):
        when = format_datetime(start + timedelta(minutes=rng.randrange(1, 2000)))
        if number % 10 == 0:
            records.append(
                contact(case, f"k{number}", when, direction="outbound", channel="email", summary="update")
            )
        elif number % 97 == 0:
            records.append(contact(case, f"q{number}", when, flags=["policy_question"]))
        else:
            records.append(note(case, f"n{number}", when, text=f"note {number}"))
    rng.shuffle(records)
    shares = [records[index::20] for index in range(20)]

    def client(share: list[dict[str, Any]]) -> list[int]:
        statuses = []
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for record in share:
                response = http.post("/v1/records", json=[record])
                statuses.append(response.status_code)
                assert response.json()["accepted"] == 1, response.text
        return statuses

    with ThreadPoolExecutor(20) as pool:
        statuses = [status for result in pool.map(client, shares) for status in result]
    assert statuses == [200] * 1000
    state = httpx.get(
        f"http://127.0.0.1:{port}/v1/cases/{case}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()
    assert state["version"] == 1000 and len(state["records"]) == 1000
    served = finding_keys([*state["violations"], *state["pending"]])
    assert served == _lint_findings(state["records"], state["evaluated_at"], tmp_path)
    assert served  # the case has findings to agree on


def test_two_serve_processes_enqueue_each_transitions_action_once(
    pg_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    receiver = Receiver()
    try:
        token = _token(pg_url)
        config = _config(tmp_path, receiver.url, '\n[live.sweeper]\nmax-sleep = "1s"\n')
        ports = [free_port(), free_port()]
        for port in ports:
            processes.append(
                start_serve(pg_url, port, tmp_path, "--config", str(config), "--select", "escalate-*")
            )
        cases = [f"case-{number}" for number in range(24)]
        for number, case in enumerate(cases):
            response = httpx.post(
                f"http://127.0.0.1:{ports[number % 2]}/v1/records",
                json=_overdue_case(case, 2 + (number % 4) * 0.5),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200 and response.json()["accepted"] == 2
        store = open_store(pg_url)

        def all_delivered() -> bool:
            items = store.list_outbox(state="delivered", after=None, limit=1000)
            return len(items) >= len(cases)

        wait_until(all_delivered, 60, "every breached escalation to be delivered")
        items = store.list_outbox(state=None, after=None, limit=1000)
        breached = [item for item in items if item.transition["kind"] == "breached"]
        assert sorted(item.case_id for item in breached) == sorted(cases)
        assert len({item.idempotency_key for item in items}) == len(items)
        transitions = [
            (decision.case_id, change["policy"])
            for decision in store.decisions(limit=10_000)
            for change in decision.result.get("transitions", [])
            if change["kind"] == "breached"
        ]
        assert sorted(transitions) == sorted((case, "escalate-values-in-question") for case in cases)
        delivered_ids = {headers["webhook-id"] for headers, _ in receiver.requests}
        assert {item.idempotency_key for item in breached} <= delivered_ids
        store.close()
    finally:
        receiver.close()
