"""Live mode's benchmarks: the gate's latency, ingest over HTTP against lint, and the sweeper.

    python benchmarks/live.py [--cases 2000] [--sweep-cases 100000] [--checks 500] [--no-postgres]

Rows (one run, so the ratios compare like with like on this machine):

* gate check on a 100-record case, in-process (``Service.check`` on SQLite) and over HTTP on loopback
  (a real ``serviceflow serve``; keep-alive client): p50 and p99 over ``--checks`` checks, each a
  different proposed record (a close without confirmation: the gate says no, with the reason);
* ingest over HTTP in batches of 100 (``POST /v1/records``, one client) into SQLite and PostgreSQL,
  as records per second and as a ratio of ``serviceflow lint`` on the same records (the generator's
  ``--cases`` cases, in a fresh process, JSON report). In file order (sorted by time across cases, as
  a help desk streams them) a batch touches some 60 cases and each is re-evaluated whole, so a case
  is evaluated about once per record; a second SQLite row sends the same records grouped by case;
* the sweeper: ``--sweep-cases`` cases, each with a pending escalation, all falling due at once;
  ``Service.sweep()`` on SQLite: cases re-evaluated per second (each with its transition recorded and
  its action enqueued).

PostgreSQL is the server at 127.0.0.1:5432 (database ``test``; each run in its own schema, dropped
afterwards); ``--no-postgres`` leaves its row out. The table goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent / "serviceflow"
PG_BASE = os.environ.get("SERVICEFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ENV = {**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""}
os.environ["SERVICEFLOW_LOAD_PLUGINS"] = ""

from long_case import START, close_proposal, hundred_record_case  # noqa: E402
from serviceflow import Engine  # noqa: E402 - after the environment is set
from serviceflow.config import Config  # noqa: E402
from serviceflow.live import ManualClock, Service  # noqa: E402
from serviceflow.stores import open_store  # noqa: E402
from serviceflow.timeutil import format_datetime  # noqa: E402


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- rows ----------------------------------------------------------------------------------------------


def gate_in_process(work: Path, checks: int) -> dict[str, Any]:
    store = open_store(str(work / "gate.db"))
    store.upgrade()
    now = START + timedelta(days=1)
    service = Service(store, Engine.from_config(config=Config()), clock=ManualClock(now))
    service.ingest(hundred_record_case("gate"))
    for number in range(20):  # warm up
        service.check("gate", close_proposal("gate", -number - 1, now))
    latencies = []
    for number in range(checks):
        started = time.perf_counter()
        answer = service.check("gate", close_proposal("gate", number, now))
        latencies.append(time.perf_counter() - started)
        assert answer.allowed is False
    store.close()
    return {"p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * percentile(latencies, 0.99)}


def start_serve(db: str, work: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int, str]:
    import httpx

    store = open_store(db)
    store.upgrade()
    from serviceflow.live.tokens import hash_token, new_token

    token = new_token()
    store.add_token(f"bench-{uuid.uuid4().hex[:6]}", hash_token(token), ("admin",), datetime.now(UTC))
    store.close()
    port = free_port()
    log = open(work / f"serve-{port}.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [str(BIN), "serve", "--db", db, "--port", str(port), "--log-level", "warning", *extra],
        env=ENV,
        stdout=log,
        stderr=log,
        cwd=work,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port, token
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"serve did not start: {(work / f'serve-{port}.log').read_text()[-2000:]}")


def gate_over_http(work: Path, checks: int) -> dict[str, Any]:
    import httpx

    process, port, token = start_serve(str(work / "gate-http.db"), work)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            assert client.post("/v1/records", json=hundred_record_case("gate")).json()["accepted"] == 100
            now = datetime.now(UTC)
            for number in range(20):
                client.post("/v1/cases/gate/check", json={"record": close_proposal("gate", -number - 1, now)})
            latencies = []
            for number in range(checks):
                started = time.perf_counter()
                response = client.post(
                    "/v1/cases/gate/check", json={"record": close_proposal("gate", number, now)}
                )
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200 and response.json()["allowed"] is False
    finally:
        process.kill()
        process.wait()
    return {"p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * percentile(latencies, 0.99)}


def dataset(cases: int, work: Path) -> tuple[Path, list[dict[str, Any]]]:
    path = work / f"cases-{cases}.jsonl"
    subprocess.run(
        [sys.executable, str(HERE / "generate.py"), "--cases", str(cases), "--seed", "3", "--out", str(path)],
        check=True,
        env=ENV,
        stdout=subprocess.DEVNULL,
    )
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return path, records


def lint_rate(path: Path, records: int, now: str, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            str(BIN),
            "lint",
            str(path),
            "--now",
            now,
            "--format",
            "json",
            "--fail-on",
            "never",
            "--output",
            str(work / "lint.json"),
        ],
        check=True,
        env=ENV,
        cwd=work,
        stderr=subprocess.DEVNULL,
    )
    return records / (time.perf_counter() - started)


def ingest_rate(db: str, records: list[dict[str, Any]], work: Path) -> float:
    import httpx

    process, port, token = start_serve(db, work, "--no-sweeper", "--no-delivery")
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as client:
            started = time.perf_counter()
            for offset in range(0, len(records), 100):
                response = client.post("/v1/records", json=records[offset : offset + 100])
                assert response.status_code == 200, response.text
            return len(records) / (time.perf_counter() - started)
    finally:
        process.kill()
        process.wait()


def sweeper_rate(work: Path, cases: int) -> dict[str, Any]:
    store = open_store(str(work / "sweep.db"))
    store.upgrade()
    clock = ManualClock(START + timedelta(minutes=30))
    service = Service(
        store,
        Engine.from_config(config=Config()),
        clock=clock,
        actions={"log": lambda finding, context: None},
    )
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for number in range(cases):
        case = f"due-{number}"
        batch.append(
            {
                "id": f"{case}-o",
                "case_id": case,
                "type": "case_opened",
                "at": format_datetime(START),
                "actor": {"role": "customer", "id": "c"},
                "channel": "phone",
                "subject": "Refund",
            }
        )
        batch.append(
            {
                "id": f"{case}-k",
                "case_id": case,
                "type": "contact",
                "at": format_datetime(START + timedelta(minutes=1)),
                "actor": {"role": "agent", "id": "a"},
                "channel": "phone",
                "direction": "inbound",
                "flags": ["values_in_question"],
                "summary": "Refund above the limit",
            }
        )
        if len(batch) >= 10_000:
            service.ingest(batch)
            batch = []
            progress(f"  sweeper set-up: {number + 1:,} of {cases:,} cases stored")
    if batch:
        service.ingest(batch)
    loaded = time.perf_counter() - started
    clock.set(START + timedelta(days=30))  # every escalation deadline (and every other one) has passed
    started = time.perf_counter()
    result = service.sweep()
    elapsed = time.perf_counter() - started
    store.close()
    return {
        "cases": result.cases,
        "enqueued": result.enqueued,
        "seconds": elapsed,
        "per_second": result.cases / elapsed,
        "load_seconds": loaded,
    }


def postgres_url() -> tuple[str, str] | None:
    try:
        import psycopg

        schema = f"sf_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        progress(f"PostgreSQL row skipped: {exc}")
        return None
    return f"{PG_BASE}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=2000, help="generated cases for the ingest rows")
    parser.add_argument("--sweep-cases", type=int, default=100_000, help="cases falling due at once")
    parser.add_argument("--checks", type=int, default=500, help="gate checks per latency row")
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="serviceflow-live-bench-") as directory:
        work = Path(directory)
        progress("gate check, in-process")
        gate = gate_in_process(work, options.checks)
        rows.append(
            (
                "gate check, in-process (100-record case, SQLite)",
                f"p50 {gate['p50_ms']:.2f} ms, p99 {gate['p99_ms']:.2f} ms",
                "p99 ≤ 2 ms",
            )
        )
        progress("gate check, over HTTP")
        gate = gate_over_http(work, options.checks)
        rows.append(
            (
                "gate check, HTTP on loopback (100-record case)",
                f"p50 {gate['p50_ms']:.2f} ms, p99 {gate['p99_ms']:.2f} ms",
                "p99 ≤ 10 ms",
            )
        )
        progress(f"generating {options.cases} cases")
        path, records = dataset(options.cases, work)
        now = format_datetime(max(datetime.fromisoformat(record["at"]) for record in records))
        progress(f"lint on {len(records):,} records")
        lint = lint_rate(path, len(records), now, work)
        rows.append(
            (f"serviceflow lint, {len(records):,} records", f"{lint:,.0f} records/s", "the yardstick")
        )
        progress("ingest over HTTP into SQLite")
        sqlite_rate = ingest_rate(str(work / "ingest.db"), records, work)
        rows.append(
            (
                "ingest over HTTP, batches of 100, SQLite",
                f"{sqlite_rate:,.0f} records/s = {sqlite_rate / lint:.2f}x lint",
                "≥ 0.3x lint",
            )
        )
        # The same records grouped by case (a history imported case by case): each case is then
        # evaluated about once per batch instead of once per batch it appears in.
        by_case: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_case.setdefault(record["case_id"], []).append(record)
        grouped = [record for case_records in by_case.values() for record in case_records]
        progress("ingest over HTTP into SQLite, grouped by case")
        grouped_rate = ingest_rate(str(work / "ingest-grouped.db"), grouped, work)
        rows.append(
            (
                "ingest over HTTP, batches of 100, SQLite, records grouped by case",
                f"{grouped_rate:,.0f} records/s = {grouped_rate / lint:.2f}x lint",
                "",
            )
        )
        if not options.no_postgres:
            target = postgres_url()
            if target is not None:
                url, schema = target
                try:
                    progress("ingest over HTTP into PostgreSQL")
                    pg_rate = ingest_rate(url, records, work)
                    rows.append(
                        (
                            "ingest over HTTP, batches of 100, PostgreSQL",
                            f"{pg_rate:,.0f} records/s = {pg_rate / lint:.2f}x lint",
                            "",
                        )
                    )
                finally:
                    drop_schema(schema)
        progress(f"sweeper: {options.sweep_cases:,} cases falling due at once")
        sweep = sweeper_rate(work, options.sweep_cases)
        rows.append(
            (
                f"sweeper, {sweep['cases']:,} obligations due at once (SQLite)",
                f"{sweep['per_second']:,.0f} cases/s ({sweep['seconds']:.1f} s, "
                f"{sweep['enqueued']:,} actions enqueued)",
                "cases re-evaluated per second",
            )
        )
    print(f"\nserviceflow live benchmarks — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| measurement | result | target |")
    print("| --- | --- | --- |")
    for name, result, target in rows:
        print(f"| {name} | {result} | {target} |")


if __name__ == "__main__":
    main()
