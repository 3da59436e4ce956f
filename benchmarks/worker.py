"""One measurement, run by ``benchmarks/run.py`` in a fresh process so that peak RSS belongs to it alone.

    python benchmarks/worker.py baseline|native|durable FILE --now ISO [--all-policies] [--jobs N]
    python benchmarks/worker.py micro FILE --records 20000
    python benchmarks/worker.py startup -
    python benchmarks/worker.py case-api - --repeat 500

Prints one JSON object on stdout: seconds, records, violations and pending per policy, peak memory in
MB, or ``skipped`` with the reason. Peak memory is ``ru_maxrss`` of this process; with ``--jobs N`` the
workers are forked processes sharing pages with it, so it is the peak of the sum of the proportional
set sizes (PSS) of the whole process tree, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import baseline


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


class TreeMemory:
    """The peak of the summed PSS of this process and its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(os.getpid())))

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def _tree(root: int) -> list[int]:
    pids, index = [root], 0
    while index < len(pids):
        try:
            children = Path(f"/proc/{pids[index]}/task/{pids[index]}/children").read_text().split()
        except OSError:
            children = []
        pids.extend(int(child) for child in children)
        index += 1
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_baseline(path: Path, now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    cases = baseline.read_cases(path)
    counts = baseline.evaluate(cases, now)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "records": sum(len(records) for records in cases.values()),
        "cases": len(cases),
        "violations": {policy: count["violations"] for policy, count in counts.items()},
        "pending": {policy: count["pending"] for policy, count in counts.items()},
        "invalid_records": None,
    }


def run_engine(
    evaluator: str, path: Path, now: datetime, all_policies: bool = False, jobs: int = 1
) -> dict[str, Any]:
    """End-to-end lint, as the CLI does it: read, validate, evaluate, render the JSON report.

    By default only the four policies the baseline implements are enabled, so that both do the same
    work; ``all_policies`` runs every bundled policy, as a user's ``serviceflow lint`` would.
    """
    try:
        from serviceflow.config import Config, PolicySettings
        from serviceflow.engine import Engine
        from serviceflow.errors import EvaluatorError
        from serviceflow.plugins import PluginHost
        from serviceflow.policy import bundled_policy_dir, load_policies
        from serviceflow.reporters import ReportOptions, report_pieces
        from serviceflow.run import lint
    except ImportError as exc:
        return {"skipped": f"serviceflow is not importable ({exc})"}
    if evaluator == "durable":
        if importlib.util.find_spec("durable") is None:
            return {"skipped": "durable_rules is not importable"}
        if importlib.util.find_spec("serviceflow.evaluators.durable") is None:
            return {"skipped": "serviceflow.evaluators.durable is not there yet"}
    # Built from this Config alone, whatever serviceflow.toml is around: bundled policies, default params.
    config = Config()
    if not all_policies:
        others = {definition.id for definition in load_policies([bundled_policy_dir()])} - set(
            baseline.POLICIES
        )
        config = Config(policies={policy: PolicySettings(enabled=False) for policy in sorted(others)})
    started = time.perf_counter()
    try:
        # The built-in plugin only: installed plugins (policy packs above all) would change the work.
        engine = Engine.from_config(config=config, evaluator=evaluator, bundled=True, plugins=PluginHost())
    except EvaluatorError as exc:
        return {"skipped": str(exc)}
    with engine, TreeMemory() as memory:
        evaluation = lint(engine, [path], now, jobs=jobs).evaluation
        # Written as lint writes it: a finding at a time, never held whole.
        report_bytes = 0
        reporter = engine.plugins.reporters["json"]
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for piece in report_pieces(reporter, evaluation, ReportOptions(policies=engine.policies)):
                report_bytes += len(piece)
                sink.write(piece)
    seconds = time.perf_counter() - started
    return {
        "jobs": jobs,
        "tree_pss_mb": memory.peak_mb,
        "seconds": seconds,
        "records": evaluation.records,
        "cases": evaluation.cases,
        "violations": dict(Counter(finding.policy for finding in evaluation.violations)),
        "pending": dict(Counter(finding.policy for finding in evaluation.pending)),
        "invalid_records": len(evaluation.input_errors),
        "policies": len(engine.policies),
        "report_bytes": report_bytes,
    }


def run_micro(path: Path, count: int) -> dict[str, Any]:
    """Microseconds per record: json.loads alone, serviceflow's fast path, full jsonschema validation."""
    with path.open(encoding="utf-8") as lines:
        texts = list(islice(lines, count))
    results: dict[str, Any] = {"records": len(texts)}

    started = time.perf_counter()
    data = [json.loads(text) for text in texts]
    results["json_loads_us"] = (time.perf_counter() - started) / len(texts) * 1e6

    try:
        from serviceflow.errors import Location
        from serviceflow.records import RecordValidator
    except ImportError as exc:
        results["fast_path_skipped"] = f"serviceflow.records is not importable ({exc})"
    else:
        validator = RecordValidator()
        name = str(path)
        started = time.perf_counter()
        for line, item in enumerate(data, start=1):
            validator.to_record(item, Location(name, line))
        results["fast_path_us"] = (time.perf_counter() - started) / len(texts) * 1e6

    try:
        from jsonschema import Draft202012Validator

        from serviceflow.records.schemas import load_schemas
    except ImportError as exc:
        results["jsonschema_skipped"] = f"not importable ({exc})"
    else:
        schemas = load_schemas()
        validators = {
            type_name: Draft202012Validator(
                schema, registry=schemas.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            for type_name, schema in schemas.items()
        }
        started = time.perf_counter()
        invalid = sum(1 for item in data if not validators[item["type"]].is_valid(item))
        results["jsonschema_us"] = (time.perf_counter() - started) / len(texts) * 1e6
        results["jsonschema_invalid"] = invalid
    return results


def run_startup(repeat: int) -> dict[str, Any]:
    """Wall seconds (median of ``repeat`` fresh processes) of ``serviceflow --version`` and an empty lint."""
    command = [str(Path(sys.executable).parent / "serviceflow")]
    environment = {**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""}
    with tempfile.TemporaryDirectory() as work:
        empty = Path(work, "empty.jsonl")
        empty.write_bytes(b"")
        runs = {
            "python_s": [sys.executable, "-c", "pass"],
            "version_s": [*command, "--version"],
            "lint_empty_s": [*command, "lint", str(empty), "--now", "2024-05-01T00:00:00Z"],
        }
        results: dict[str, Any] = {}
        for name, argv in runs.items():
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                subprocess.run(argv, env=environment, cwd=work, capture_output=True, check=True)
                times.append(time.perf_counter() - started)
            results[name] = statistics.median(times)
    return results


def run_case_api(repeat: int) -> dict[str, Any]:
    """Microseconds of ``Engine.evaluate_case`` and ``Engine.check`` on a 100-record case, every policy."""
    from long_case import START, close_proposal, hundred_record_case
    from serviceflow.config import Config
    from serviceflow.engine import Engine
    from serviceflow.plugins import PluginHost

    results: dict[str, Any] = {}
    for evaluator in ("native", "durable"):
        try:
            engine = Engine.from_config(
                config=Config(), evaluator=evaluator, bundled=True, plugins=PluginHost()
            )
        except Exception as exc:  # durable-rules missing on this interpreter
            results[f"{evaluator}_skipped"] = str(exc)
            continue
        with engine:
            now = START + timedelta(days=1)
            evaluation = engine.evaluate(hundred_record_case("long"), now)
            assert not evaluation.input_errors, evaluation.input_errors
            records = [record for records in engine_records(engine, "long") for record in records]
            timings: dict[str, list[float]] = {"evaluate_case": [], "check": []}
            for number in range(repeat):
                started = time.perf_counter()
                engine.evaluate_case("long", records, now)
                timings["evaluate_case"].append(time.perf_counter() - started)
                started = time.perf_counter()
                engine.check("long", records, close_proposal("long", number, now), now)
                timings["check"].append(time.perf_counter() - started)
            for name, values in timings.items():
                values.sort()
                results[f"{evaluator}_{name}_p50_us"] = statistics.median(values) * 1e6
                results[f"{evaluator}_{name}_p99_us"] = (
                    values[min(len(values) - 1, int(len(values) * 0.99))] * 1e6
                )
    return results


def engine_records(engine: Any, case_id: str) -> list[list[Any]]:
    """The case's admitted records, as a help desk embedding serviceflow holds them."""
    from long_case import hundred_record_case
    from serviceflow.errors import Location

    problems: list[Any] = []
    return [
        [
            engine.admission.admit(item, Location("<case>", index), index, problems)
            for index, item in enumerate(hundred_record_case(case_id))
        ]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark measurement in this process.")
    parser.add_argument("kind", choices=("baseline", "native", "durable", "micro", "startup", "case-api"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--now", help="evaluation time (RFC 3339 with offset)")
    parser.add_argument("--records", type=int, default=20_000, help="records for the micro-benchmark")
    parser.add_argument("--jobs", type=int, default=1, help="lint --jobs N")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions for startup and case-api")
    parser.add_argument(
        "--all-policies",
        action="store_true",
        help="lint with every bundled policy, not only the baseline's four",
    )
    args = parser.parse_args(argv)
    if args.kind == "micro":
        result = run_micro(args.path, args.records)
    elif args.kind == "startup":
        result = run_startup(args.repeat)
    elif args.kind == "case-api":
        result = run_case_api(args.repeat)
    else:
        if args.now is None:
            parser.error("--now is required")
        now = datetime.fromisoformat(args.now)
        if args.kind == "baseline":
            result = run_baseline(args.path, now)
        else:
            result = run_engine(args.kind, args.path, now, all_policies=args.all_policies, jobs=args.jobs)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
