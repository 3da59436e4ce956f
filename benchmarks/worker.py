"""One measurement, run by ``benchmarks/run.py`` in a fresh process so that peak RSS belongs to it alone.

    python benchmarks/worker.py baseline|native|durable FILE --now ISO [--all-policies]
    python benchmarks/worker.py micro FILE --records 20000

Prints one JSON object on stdout: seconds, records, violations and pending per policy, peak RSS in MB
(``ru_maxrss`` of this process), or ``skipped`` with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from collections import Counter
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import baseline


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


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


def run_engine(evaluator: str, path: Path, now: datetime, all_policies: bool = False) -> dict[str, Any]:
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
        from serviceflow.reporters import ReportOptions
        from serviceflow.run import evaluate_sources
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
    with engine:
        evaluation = evaluate_sources(engine, [path], now)
        report = engine.plugins.reporters["json"].render(evaluation, ReportOptions(policies=engine.policies))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "records": evaluation.records,
        "cases": evaluation.cases,
        "violations": dict(Counter(finding.policy for finding in evaluation.violations)),
        "pending": dict(Counter(finding.policy for finding in evaluation.pending)),
        "invalid_records": len(evaluation.input_errors),
        "policies": len(engine.policies),
        "report_bytes": len(report),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark measurement in this process.")
    parser.add_argument("kind", choices=("baseline", "native", "durable", "micro"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--now", help="evaluation time (RFC 3339 with offset)")
    parser.add_argument("--records", type=int, default=20_000, help="records for the micro-benchmark")
    parser.add_argument(
        "--all-policies",
        action="store_true",
        help="lint with every bundled policy, not only the baseline's four",
    )
    args = parser.parse_args(argv)
    if args.kind == "micro":
        result = run_micro(args.path, args.records)
    else:
        if args.now is None:
            parser.error("--now is required")
        now = datetime.fromisoformat(args.now)
        if args.kind == "baseline":
            result = run_baseline(args.path, now)
        else:
            result = run_engine(args.kind, args.path, now, all_policies=args.all_policies)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
