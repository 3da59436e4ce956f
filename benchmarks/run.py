"""Run serviceflow's benchmarks and print the results as a Markdown table.

    python benchmarks/run.py [--sizes 10000,100000] [--memory-records 1000000]
                             [--engines native,native-jobs2,native-all,durable]

The throughput rows run serviceflow with only the four policies the baseline implements enabled, so both
do the same work; ``native-all`` and the memory runs lint with every bundled policy. Each row is held to
its target from issue 8 (ratios against the baseline measured in the same run). Then start-up (median
of fresh processes) and ``evaluate_case``/``check`` on a 100-record case (median and p99).

Data sets are generated once with ``benchmarks/generate.py`` and cached under ``benchmarks/out/`` (the
file name carries a hash of the generator, so editing it regenerates them). Every measurement runs in a
fresh process (``benchmarks/worker.py``) so that its peak RSS is its own. The table goes to stdout and to
``benchmarks/out/results.md``; progress goes to stderr. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PYTHON = sys.executable

POLICIES = (
    "commit-requires-capacity",
    "concession-after-missed-commitment",
    "escalate-values-in-question",
    "no-close-without-confirmation",
)
#: Engine row -> the least share of the baseline's records per second it must reach.
TARGET_SHARES = {"native": 0.8, "native-jobs2": 1.5, "native-all": 0.4}
TARGET_DURABLE_RATE = 15_000  # records per second
#: --jobs -> peak memory allowed for the memory run (MB; all processes, PSS).
TARGET_MEMORY_MB = {1: 1024, 2: 1536}
TARGET_VERSION_S = 0.15
TARGET_EMPTY_LINT_S = 0.35
#: The generator's average, used to size the memory run's data set in cases.
RECORDS_PER_CASE = 13.3
#: The files that decide a data set's bytes: their hash names the cache, so editing them regenerates it.
GENERATOR_SOURCES = ("generate.py", "stories.py")

Result = dict[str, Any]

#: Engine name -> worker kind and options.
ENGINE_COMMANDS = {
    "native": ("native",),
    "native-jobs2": ("native", "--jobs", "2"),
    "durable": ("durable",),
    "native-all": ("native", "--all-policies"),
}
LABELS = {
    "baseline": "baseline (no validation)",
    "native": "native (4 policies)",
    "native-jobs2": "native (4 policies), --jobs 2",
    "durable": "durable (4 policies)",
}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def dataset(cases: int, seed: int) -> tuple[Path, Result]:
    """The cached data set of ``cases`` cases and its expected counts, generating it when missing."""
    generator = hashlib.sha1()
    for source in GENERATOR_SOURCES:
        generator.update((HERE / source).read_bytes())
    digest = generator.hexdigest()[:10]
    path = OUT / f"cases-{cases}-seed{seed}-{digest}.jsonl"
    sidecar = Path(f"{path}.expected.json")
    if not (path.is_file() and sidecar.is_file()):
        for stale in OUT.glob(f"cases-{cases}-seed{seed}-*.jsonl*"):
            stale.unlink()
        progress(f"generating {cases:,} cases -> {path.name}")
        command = [
            PYTHON,
            str(HERE / "generate.py"),
            "--cases",
            str(cases),
            "--seed",
            str(seed),
            "--out",
            str(path),
        ]
        subprocess.run(command, check=True)
    return path, json.loads(sidecar.read_text(encoding="utf-8"))


def measure(kind: str, path: Path, *options: str) -> Result:
    """Run one measurement in a fresh interpreter; a crash becomes ``{"failed": reason}``."""
    progress(f"{kind}: {path.name} {' '.join(options)}".rstrip())
    command = [PYTHON, str(HERE / "worker.py"), kind, str(path), *options]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"exit {completed.returncode}: {last}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def rate(result: Result) -> float | None:
    if "seconds" not in result or not result["seconds"]:
        return None
    return result["records"] / result["seconds"]


def agreement(result: Result, expected: Result) -> str:
    """``yes`` when every policy's violation and pending counts equal the generator's, else the gaps."""
    gaps = []
    for policy in POLICIES:
        want = expected["expected"][policy]
        got_violations = result["violations"].get(policy, 0)
        got_pending = result["pending"].get(policy, 0)
        if got_violations != want["violations"]:
            gaps.append(f"{policy}: {got_violations} violations, expected {want['violations']}")
        if got_pending != want["pending"]:
            gaps.append(f"{policy}: {got_pending} pending, expected {want['pending']}")
    return "yes" if not gaps else "**no**: " + "; ".join(gaps)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def target(name: str, records_per_second: float, baseline_rate: float | None) -> str:
    """The target a row is held to, and whether it is met."""
    if name in TARGET_SHARES and baseline_rate:
        share = records_per_second / baseline_rate
        wanted = TARGET_SHARES[name]
        return f"≥ {wanted:.2f}x baseline: {verdict(share >= wanted)}"
    if name == "durable":
        return f"≥ {TARGET_DURABLE_RATE:,}/s: {verdict(records_per_second >= TARGET_DURABLE_RATE)}"
    return ""


def size_rows(label: str, runs: list[tuple[str, Result]], expected: Result) -> list[str]:
    rows = []
    baseline_rate = rate(dict(runs).get("baseline", {}))
    for name, result in runs:
        shown = LABELS.get(name, name)
        if "policies" in result and name == "native-all":
            shown = f"native, all {result['policies']} bundled policies"
        records_per_second = rate(result)
        if records_per_second is None:
            rows.append(f"| {label} | {shown} | - | - | - | - | - | {no_result(result)} | n/a |")
            continue
        ratio = f"{records_per_second / baseline_rate:.2f}x" if baseline_rate else "-"
        violations = sum(result["violations"].get(policy, 0) for policy in POLICIES)
        pending = sum(result["pending"].get(policy, 0) for policy in POLICIES)
        others = sum(result["violations"].values()) - violations
        found = f"{violations:,} (+{pending:,} pending)" + (
            f"; {others:,} by other policies" if others else ""
        )
        matches = agreement(result, expected)
        if result.get("invalid_records"):
            matches += f" ({result['invalid_records']} records rejected as invalid)"
        rows.append(
            f"| {label} | {shown} | {result['seconds']:.1f} | {records_per_second:,.0f} | {ratio} "
            f"| {result['peak_rss_mb']:,.0f} | {found} | {matches} "
            f"| {target(name, records_per_second, baseline_rate)} |"
        )
    return rows


def no_result(result: Result) -> str:
    return f"skipped: {result['skipped']}" if "skipped" in result else f"failed: {result.get('failed')}"


def memory_rows(expected: Result, runs: list[tuple[int, Result]]) -> list[str]:
    rows = []
    for jobs, result in runs:
        records_per_second = rate(result)
        if records_per_second is None:
            rows.append(f"| {expected['records']:,} | {jobs} | - | - | - | - | {no_result(result)} | n/a |")
            continue
        peak = result["tree_pss_mb"] if jobs > 1 else result["peak_rss_mb"]
        limit = TARGET_MEMORY_MB[jobs]
        rows.append(
            f"| {result['records']:,} | {jobs} | {result.get('policies', '?')} "
            f"| {result['seconds']:.1f} | {records_per_second:,.0f} | {peak:,.0f} "
            f"| {agreement(result, expected)} | < {limit:,} MB: {verdict(peak < limit)} |"
        )
    return rows


def startup_rows(result: Result) -> list[str]:
    if "version_s" not in result:
        return [f"| start-up | {no_result(result)} | | |"]
    python = result["python_s"]
    return [
        f"| `python -c pass` (the floor) | {python:.3f} | 1.0x | |",
        f"| `serviceflow --version` | {result['version_s']:.3f} | {result['version_s'] / python:.1f}x "
        f"| ≤ {TARGET_VERSION_S} s: {verdict(result['version_s'] <= TARGET_VERSION_S)} |",
        f"| `serviceflow lint empty.jsonl` | {result['lint_empty_s']:.3f} | "
        f"{result['lint_empty_s'] / python:.1f}x "
        f"| ≤ {TARGET_EMPTY_LINT_S} s: {verdict(result['lint_empty_s'] <= TARGET_EMPTY_LINT_S)} |",
    ]


def case_api_rows(result: Result) -> list[str]:
    rows = []
    for evaluator in ("native", "durable"):
        if f"{evaluator}_skipped" in result:
            rows.append(f"| {evaluator} | skipped: {result[evaluator + '_skipped']} | | | |")
            continue
        if f"{evaluator}_evaluate_case_p50_us" not in result:
            continue
        rows.append(
            f"| {evaluator} | {result[evaluator + '_evaluate_case_p50_us']:,.0f} "
            f"| {result[evaluator + '_evaluate_case_p99_us']:,.0f} "
            f"| {result[evaluator + '_check_p50_us']:,.0f} | {result[evaluator + '_check_p99_us']:,.0f} |"
        )
    return rows


def render(
    args: argparse.Namespace,
    sizes: list[tuple[int, Result, list[tuple[str, Result]]]],
    memory: tuple[Result, list[tuple[int, Result]]] | None,
    micro: Result | None,
    startup: Result | None = None,
    case_api: Result | None = None,
) -> str:
    lines = [
        "# serviceflow benchmark results",
        "",
        f"`python benchmarks/run.py --sizes {args.sizes} --memory-records {args.memory_records} "
        f"--engines {args.engines}` on {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs. Generator seed {args.seed}, violation rate 0.1 per "
        "policy, each data set evaluated at its generator's default `now`.",
        "",
        "## Throughput (each row a fresh process)",
        "",
        "The baseline is hand-written Python for the four rules and does **not** validate records against "
        "the schemas; serviceflow rows are end-to-end `lint` (read, validate, evaluate, render the JSON "
        "report) with only the baseline's four policies enabled, unless the row says otherwise. Expected "
        "counts are the generator's, for those four policies.",
        "",
        "| data set | implementation | seconds | records/s | vs baseline | peak RSS MB | violations found "
        "| matches expected | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for cases, expected, runs in sizes:
        lines.extend(size_rows(f"{cases:,} cases, {expected['records']:,} records", runs, expected))
    if memory is not None:
        lines += [
            "",
            "## Memory (native lint with every bundled policy, fresh process)",
            "",
            "Peak memory: the process's peak RSS with `--jobs 1`; with `--jobs 2`, the peak of the summed "
            "PSS (pages shared after fork counted once) of the process and its workers, sampled every 20 ms.",
            "",
            "| records | --jobs | policies | seconds | records/s | peak MB "
            "| matches expected (4 policies) | target |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
            *memory_rows(*memory),
        ]
    if startup is not None:
        lines += [
            "",
            "## Start-up (median of fresh processes, wall time)",
            "",
            "| command | seconds | vs bare Python | target |",
            "| --- | ---: | ---: | --- |",
            *startup_rows(startup),
        ]
    if case_api is not None:
        lines += [
            "",
            "## One case in-process (a 100-record case, every bundled policy), µs",
            "",
            "`Engine.evaluate_case` and `Engine.check` (a proposed close, so the case is evaluated with and "
            "without it) on admitted records, as an embedding help desk calls them.",
            "",
            "| evaluator | evaluate_case p50 | p99 | check p50 | p99 |",
            "| --- | ---: | ---: | ---: | ---: |",
            *case_api_rows(case_api),
        ]
    if micro is not None:
        base = micro["json_loads_us"]
        lines += [
            "",
            f"## Per-record validation ({micro['records']:,} records)",
            "",
            "`json.loads` parses each line; the validators then run on the parsed dicts.",
            "",
            "| step | µs per record | vs json.loads |",
            "| --- | ---: | ---: |",
            f"| `json.loads` alone | {base:.1f} | 1.0x |",
        ]
        for key, label in (
            ("fast_path_us", "serviceflow fast path (`RecordValidator.to_record`)"),
            ("jsonschema_us", "jsonschema `Draft202012Validator` + format checker"),
        ):
            if key in micro:
                if micro.get("jsonschema_invalid") and key == "jsonschema_us":
                    label += f" ({micro['jsonschema_invalid']} records rejected)"
                lines.append(f"| {label} | {micro[key]:.1f} | {micro[key] / base:.1f}x |")
            else:
                skipped = micro.get(key.replace("_us", "_skipped"), "skipped")
                lines.append(f"| {label} | - | {skipped} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="data set sizes in cases (comma-separated)")
    parser.add_argument(
        "--memory-records", type=int, default=1_000_000, help="records for the memory run (0 skips it)"
    )
    parser.add_argument(
        "--engines",
        default="native,native-jobs2,native-all,durable",
        help="comma-separated: native, native-jobs2, durable (the baseline's 4 policies), native-all (all)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--micro-records",
        type=int,
        default=20_000,
        help="records for the validation micro-benchmark (0 skips it)",
    )
    args = parser.parse_args(argv)
    try:
        case_counts = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes expects comma-separated integers: {args.sizes!r}")
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = set(engines) - set(ENGINE_COMMANDS)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))} (engines: {', '.join(ENGINE_COMMANDS)})")
    OUT.mkdir(parents=True, exist_ok=True)

    sizes = []
    for cases in case_counts:
        path, expected = dataset(cases, args.seed)
        runs = [("baseline", measure("baseline", path, "--now", expected["now"]))]
        for engine in engines:
            kind, *options = ENGINE_COMMANDS[engine]
            runs.append((engine, measure(kind, path, *options, "--now", expected["now"])))
        sizes.append((cases, expected, runs))
    memory = None
    if args.memory_records > 0:
        path, expected = dataset(max(1, round(args.memory_records / RECORDS_PER_CASE)), args.seed)
        memory = (
            expected,
            [
                (
                    jobs,
                    measure("native", path, "--now", expected["now"], "--all-policies", "--jobs", str(jobs)),
                )
                for jobs in (1, 2)
            ],
        )
    micro = None
    if args.micro_records > 0:
        path, _ = dataset(case_counts[0] if case_counts else 10_000, args.seed)
        micro = measure("micro", path, "--records", str(args.micro_records))
        if "json_loads_us" not in micro:
            micro = None

    startup = measure("startup", Path("-"), "--repeat", "9")
    case_api = measure("case-api", Path("-"), "--repeat", "300")
    table = render(args, sizes, memory, micro, startup, case_api)
    (OUT / "results.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
