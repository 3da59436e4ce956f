"""Fixtures and helpers of the live-mode tests: one store suite, run on SQLite and on PostgreSQL.

PostgreSQL is the server this machine provides (127.0.0.1:5432, trust auth, database ``test``; or
``SERVICEFLOW_TEST_POSTGRES``). Each test gets its own schema, named after the run and the test, so runs
never collide; it is dropped afterwards. Where no server is reachable the PostgreSQL cases skip saying so,
unless ``SERVICEFLOW_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.live import ManualClock, Service
from serviceflow.live.store import Store
from serviceflow.stores import open_store
from serviceflow.testing.serve import wait_until
from serviceflow.timeutil import format_datetime, parse_datetime

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("SERVICEFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RUN_ID = uuid.uuid4().hex[:8]
T0 = parse_datetime("2024-05-06T09:00:00Z")


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed (pip install 'serviceflow[postgres]'): {exc}"
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as exc:
        return f"no PostgreSQL reachable at {PG_BASE}: {str(exc).strip().splitlines()[0]}"
    return None


def _pg_or_skip() -> None:
    problem = postgres_problem()
    if problem is not None:
        if os.environ.get("SERVICEFLOW_REQUIRE_POSTGRES"):
            pytest.fail(f"SERVICEFLOW_REQUIRE_POSTGRES is set but {problem}")
        pytest.skip(problem)


def new_pg_schema(label: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema for one test: its store URL, and how to drop it."""
    import psycopg

    name = f"sf_{RUN_ID}_{label}"[:60].lower()
    name = "".join(char if char.isalnum() or char == "_" else "_" for char in name)
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        connection.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in PG_BASE else "?"
    url = f"{PG_BASE}{separator}options=-csearch_path%3D{name}"

    def drop() -> None:
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    return url, drop


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL for an empty store, once per kind of store."""
    if request.param == "sqlite":
        yield str(tmp_path / "serviceflow.db")
        return
    _pg_or_skip()
    url, drop = new_pg_schema(f"{request.node.name}_{uuid.uuid4().hex[:6]}")
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL store URL (own schema) for tests that need PostgreSQL itself."""
    _pg_or_skip()
    url, drop = new_pg_schema(f"{request.node.name}_{uuid.uuid4().hex[:6]}")
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_config(config=Config())


def make_service(store: Store, engine: Engine, clock: ManualClock, **options: Any) -> Service:
    return Service(store, engine, clock=clock, **options)


@pytest.fixture
def service(store: Store, engine: Engine, clock: ManualClock) -> Service:
    return make_service(store, engine, clock)


# --- records ------------------------------------------------------------------------------------------


def at(minutes: float = 0, hours: float = 0, days: float = 0) -> str:
    return format_datetime(T0 + timedelta(minutes=minutes, hours=hours, days=days))


AGENT = {"role": "agent", "id": "billy"}
CUSTOMER = {"role": "customer", "id": "melina"}


def opened(case: str, record_id: str, when: str, customer: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "case_id": case,
        "type": "case_opened",
        "at": when,
        "actor": CUSTOMER,
        "channel": "phone",
        "subject": "Leaking pipe",
    }
    if customer is not None:
        record["customer_id"] = customer
    return record


def contact(
    case: str,
    record_id: str,
    when: str,
    *,
    flags: list[str] | None = None,
    direction: str = "inbound",
    channel: str = "phone",
    summary: str = "Customer called",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "case_id": case,
        "type": "contact",
        "at": when,
        "actor": AGENT,
        "channel": channel,
        "direction": direction,
        "summary": summary,
    }
    if flags:
        record["flags"] = flags
    return record


def close(case: str, record_id: str, when: str, to: str = "closed") -> dict[str, Any]:
    return {"id": record_id, "case_id": case, "type": "status_change", "at": when, "actor": AGENT, "to": to}


def confirmation(case: str, record_id: str, when: str, resolved: bool = True) -> dict[str, Any]:
    return {
        "id": record_id,
        "case_id": case,
        "type": "confirmation",
        "at": when,
        "actor": CUSTOMER,
        "resolved": resolved,
    }


def escalation(case: str, record_id: str, when: str, ref: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "case_id": case,
        "type": "escalation",
        "at": when,
        "actor": AGENT,
        "reason": "values in question",
        "to": "supervisor",
        "ref": ref,
    }


def note(case: str, record_id: str, when: str, text: str = "note") -> dict[str, Any]:
    return {"id": record_id, "case_id": case, "type": "note", "at": when, "actor": AGENT, "text": text}


def example_records() -> list[dict[str, Any]]:
    """The bundled examples' records, in file order."""
    records = []
    for path in sorted((ROOT / "examples" / "records").glob("*.jsonl")):
        records.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return records


def finding_keys(findings: Any) -> set[tuple[str, str, str, str, str | None]]:
    """Findings (objects or dicts) as comparable tuples: identity, status and deadline."""
    keys = set()
    for finding in findings:
        data = finding if isinstance(finding, dict) else finding.to_dict()
        keys.add((data["case_id"], data["policy"], data["record_id"], data["status"], data.get("deadline")))
    return keys


def lint_findings(records: list[dict[str, Any]], now: datetime, engine: Engine) -> set[Any]:
    evaluation = engine.evaluate(records, now)
    return finding_keys([*evaluation.violations, *evaluation.pending, *evaluation.engine_errors])


def stored_findings(service: Service) -> set[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = service.findings(cursor=cursor, limit=1000)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return finding_keys(items)


# --- real processes -----------------------------------------------------------------------------------


def serviceflow_command() -> list[str]:
    return [str(Path(sys.executable).parent / "serviceflow")]


def start_serve(
    db: str, port: int, workdir: Path, *extra: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """A real ``serviceflow serve`` on 127.0.0.1:``port``, ready (``/readyz`` answered 200)."""
    import httpx

    command = [
        *serviceflow_command(),
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]
    environment = {**os.environ, "SERVICEFLOW_LOAD_PLUGINS": "", **(env or {})}
    output = open(log or workdir / f"serve-{port}.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=output, stderr=output)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"serve exited with {process.returncode}: "
                f"{(workdir / f'serve-{port}.log').read_text()[-2000:]}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 60, f"serve on port {port} to be ready", every=0.1)
    return process


def now_utc() -> datetime:
    """The wall clock, for tests that run real processes (which follow it)."""
    return datetime.now(UTC)


# --- a real webhook receiver ---------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST (headers, body) and answers as told.

    ``answers`` is consumed one status per request (then 200); a status of 0 means "hold the request
    until ``release`` is set" (a receiver that hangs).
    """

    def __init__(self, answers: list[int] | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 0:
                    receiver.release.wait(30)
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


#: A Standard Webhooks secret (whsec_ + base64) for tests.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def verify_webhook(headers: dict[str, str], body: bytes) -> Any:
    """The payload, after checking the signature as a receiver would (without the clock-skew check:
    tests run at event times far from the wall clock)."""
    import base64
    import hashlib
    import hmac

    secret = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    assert expected in headers["webhook-signature"].split(" "), "bad webhook signature"
    return json.loads(body)
