"""Generate realistic customer-service records whose policy outcomes are known in advance.

Each case is a story decided up front (see ``stories.py``): for every subject of the four bundled
policies the story fixes when it becomes applicable, when (if ever) it is met and its deadline, so the
number of violations and pending obligations at any ``now`` follows from the stories alone, without
reading the records back. A configurable share of each policy's subjects is written as a violation.

Cases open at a steady rate (one every six minutes) and overlap in time; records are written sorted by
``at`` across all cases, as a help desk export would be, each in its actor's own time-zone offset. Only
the cases still in progress are held in memory, so a million records stream out in constant space::

    python benchmarks/generate.py --cases 10000 --seed 7 --out benchmarks/out/cases.jsonl [--now ISO]

writes ``cases.jsonl`` (``.gz`` compresses) and ``cases.jsonl.expected.json``, the expected counts per
policy at ``now`` (by default the end of the last case's opening slot, when recent cases are still in
progress and some of their records lie in the future). The records do not depend on ``now``.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from stories import POLICIES, CaseStory, Obligation, stamp

EPOCH = datetime(2024, 1, 8, 7, 0, tzinfo=UTC)
#: Case ``n`` (from 1) opens within ``[EPOCH + (n-1)*CASE_SPACING, EPOCH + n*CASE_SPACING)``.
CASE_SPACING = timedelta(minutes=6)
DEFAULT_VIOLATION_RATE = 0.1
FORMAT_VERSION = 1


@dataclass
class Expected:
    """Violation and pending counts per policy at ``now``, as the stories decided them."""

    now: datetime
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLICIES, 0))
    pending: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLICIES, 0))
    subjects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLICIES, 0))

    def count(self, obligation: Obligation) -> None:
        if obligation.visible_at <= self.now:
            self.subjects[obligation.policy] += 1
        status = obligation.status(self.now)
        if status == "violation":
            self.violations[obligation.policy] += 1
        elif status == "pending":
            self.pending[obligation.policy] += 1


def generate(cases: int, seed: int, rates: dict[str, float]) -> Iterator[CaseStory]:
    """The stories of ``cases`` cases, in order of opening; deterministic for a seed."""
    rng = random.Random(seed)
    spacing = int(CASE_SPACING.total_seconds())
    for number in range(1, cases + 1):
        opened_at = EPOCH + timedelta(seconds=(number - 1) * spacing + rng.randrange(spacing))
        yield CaseStory(rng, number, opened_at, rates).build()


def default_now(cases: int) -> datetime:
    """The end of the last case's opening slot: recent cases are still in progress then."""
    return EPOCH + cases * CASE_SPACING


def write_records(stories: Iterator[CaseStory], out: TextIO, expected: Expected) -> int:
    """Write the stories' records sorted by ``at`` across cases; returns the number written.

    Case ``n`` opens no earlier than its slot, and none of a case's records precedes its opening, so
    every buffered record earlier than the slot of the case about to be added can be written.
    """
    pending: list[tuple[datetime, int, str]] = []
    order = 0
    written = 0
    spacing = CASE_SPACING
    for story in stories:
        slot = EPOCH + (story.number - 1) * spacing
        if min(at for at, _ in story.events) < slot:
            raise RuntimeError(f"case {story.case_id} has a record before its opening slot")
        while pending and pending[0][0] < slot:
            out.write(heapq.heappop(pending)[2])
            written += 1
        for at, record in story.events:
            order += 1
            heapq.heappush(pending, (at, order, json.dumps(record, separators=(",", ":")) + "\n"))
        for obligation in story.obligations:
            expected.count(obligation)
    while pending:
        out.write(heapq.heappop(pending)[2])
        written += 1
    return written


def parse_rates(default: float, overrides: list[str]) -> dict[str, float]:
    rates = dict.fromkeys(POLICIES, default)
    for item in overrides:
        policy, _, value = item.partition("=")
        if policy not in rates or not value:
            raise SystemExit(f"--rate expects POLICY=RATE with POLICY one of {', '.join(POLICIES)}: {item!r}")
        rates[policy] = float(value)
    for policy, rate in rates.items():
        if not 0 <= rate <= 1:
            raise SystemExit(f"the violation rate of {policy} must be between 0 and 1, got {rate}")
    return rates


def parse_now(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise SystemExit(f"--now needs a time zone offset: {text!r}")
    return value


def write_dataset(
    path: Path, cases: int, seed: int, rates: dict[str, float] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Generate ``cases`` cases into ``path`` (``.gz`` compresses) and its ``.expected.json`` sidecar."""
    rates = rates or dict.fromkeys(POLICIES, DEFAULT_VIOLATION_RATE)
    now = now or default_now(cases)
    expected = Expected(now)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:  # type: ignore[operator]
        records = write_records(generate(cases, seed, rates), out, expected)
    summary = {
        "generator": "benchmarks/generate.py",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "cases": cases,
        "records": records,
        "now": stamp(now, 0),
        "violation_rates": rates,
        "expected": {
            policy: {
                "violations": expected.violations[policy],
                "pending": expected.pending[policy],
                "subjects": expected.subjects[policy],
            }
            for policy in POLICIES
        },
        "violations": sum(expected.violations.values()),
        "pending": sum(expected.pending.values()),
    }
    sidecar = Path(f"{path}.expected.json")
    sidecar.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, required=True, help="number of cases")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    parser.add_argument(
        "--now",
        type=parse_now,
        default=None,
        help="evaluation time for the expected counts (default: end of the last opening slot)",
    )
    parser.add_argument(
        "--violation-rate",
        type=float,
        default=DEFAULT_VIOLATION_RATE,
        help="share of each policy's subjects written as violations (default 0.1)",
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="POLICY=RATE",
        help="violation rate for one policy (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    summary = write_dataset(
        args.out, args.cases, args.seed, parse_rates(args.violation_rate, args.rate), args.now
    )
    print(
        f"{summary['records']} records in {summary['cases']} cases -> {args.out} "
        f"(now {summary['now']}: {summary['violations']} violations, {summary['pending']} pending)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
