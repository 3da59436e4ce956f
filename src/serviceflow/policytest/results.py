"""What running policy tests gives: per test, passed, failed (with the difference) or error; and the sum.

A test passes when the findings of its policies equal the expected ones exactly. The difference is
told as two lists, as a diff is: expected findings nothing matched (*missing*) and findings nothing
expected (*unexpected*). A finding whose record and status are right but whose deadline, evidence or
message is not shows up in both, which puts what was expected beside what came.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from serviceflow.calendars import Calendar
from serviceflow.errors import ServiceflowError
from serviceflow.findings import Finding
from serviceflow.policy import CompiledPolicy
from serviceflow.policytest.format import ExpectedFinding, PolicyTest
from serviceflow.records import Record

#: Exit codes, as ``serviceflow lint`` has them: a failed test is a finding, a bad test an input error.
EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


class Outcome(StrEnum):
    """How a test ended. ``error``: it could not be judged (a bad record, setting or plugin)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True)
class TestRun:
    """What a test evaluated, kept so that coverage can replay it: policies as bound, calendars, records."""

    __test__ = False  # not a pytest class, whatever module imports it

    policies: Sequence[CompiledPolicy]
    calendars: Mapping[str, Calendar] | None
    records: Sequence[Record]
    now: datetime


@dataclass(frozen=True)
class PolicyTestResult:
    """The outcome of one test, with the difference when it failed and the reasons when it errored."""

    test: PolicyTest
    outcome: Outcome
    missing: tuple[ExpectedFinding, ...] = ()
    unexpected: tuple[Finding, ...] = ()
    errors: tuple[ServiceflowError, ...] = ()
    actual: tuple[Finding, ...] = ()
    run: TestRun | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SuiteResult:
    """Every test run, in the order run, and the evaluator that ran them."""

    results: tuple[PolicyTestResult, ...]
    evaluator: str

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def files(self) -> int:
        return len({result.test.file for result in self.results})

    @property
    def exit_code(self) -> int:
        """2 when a test errored, else 1 when one failed, else 0."""
        if self.count(Outcome.ERROR):
            return EXIT_ERROR
        return EXIT_FAILED if self.count(Outcome.FAILED) else EXIT_PASSED


def compare(
    expected: Sequence[ExpectedFinding], actual: Iterable[Finding]
) -> tuple[tuple[ExpectedFinding, ...], tuple[Finding, ...]]:
    """(missing, unexpected): expected findings no actual one matched, and actual ones left over.

    Each actual finding answers at most one expectation. Expectations that constrain more (evidence,
    message) choose first, so that a looser one cannot take the finding a stricter one needs. Missing
    findings come in the order the test wrote them, unexpected ones in report order.
    """
    remaining = sorted(actual, key=lambda finding: finding.key)
    missing: set[int] = set()
    by_constraint = sorted(range(len(expected)), key=lambda i: _looseness(expected[i]))
    for position in by_constraint:
        for index, finding in enumerate(remaining):
            if matches(expected[position], finding):
                del remaining[index]
                break
        else:
            missing.add(position)
    return tuple(item for position, item in enumerate(expected) if position in missing), tuple(remaining)


def _looseness(expected: ExpectedFinding) -> int:
    """How many optional constraints an expectation leaves open."""
    return sum(value is None for value in (expected.evidence, expected.message, expected.severity))


def matches(expected: ExpectedFinding, finding: Finding) -> bool:
    """Whether ``finding`` is the one ``expected`` describes."""
    return (
        finding.policy == expected.policy
        and finding.case_id == expected.case_id
        and finding.record_id == expected.record_id
        and finding.status is expected.status
        and finding.deadline == expected.deadline
        and (expected.evidence is None or tuple(finding.evidence) == expected.evidence)
        and (expected.message is None or expected.message in finding.message)
        and (expected.severity is None or finding.severity is expected.severity)
    )
