"""Tracing cannot change a verdict: on every bundled policy test, traced and untraced runs agree.

The traced evaluator wraps the native evaluator's own closures, so this holds by construction; the
test guards the construction (a wrapper that swallowed an exception or re-evaluated a node would show
here), finding for finding, messages, evidence and deadlines included.
"""

from __future__ import annotations

from typing import Any

import pytest

from serviceflow.batch import Partition
from serviceflow.errors import Location
from serviceflow.evaluators.native import NativeEvaluator
from serviceflow.explain.trace import TracingEvaluator, Verdict
from serviceflow.findings import Finding
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policytest import PolicyTest, PolicyTestRunner, find_test_files, load_test_file
from serviceflow.records import Admission, RecordValidator

DEFINITIONS = load_policies([bundled_policy_dir()])
TEST_FILES = [load_test_file(path) for path in find_test_files([bundled_policy_dir() / "tests"])]


def _tests() -> list[Any]:
    return [pytest.param(test, id=test.qualified_name) for file in TEST_FILES for test in file.tests]


def test_there_are_policy_tests_to_compare_on() -> None:
    assert len(_tests()) > 100


@pytest.mark.parametrize("test", _tests())
def test_traced_and_untraced_native_runs_give_the_same_findings(test: PolicyTest) -> None:
    run = PolicyTestRunner(DEFINITIONS).run(test).run
    assert run is not None
    partition = Partition(Admission(RecordValidator(), None, dict(run.calendars or {})), run.now)
    for seq, record in enumerate(run.records):
        partition.add(record, Location("<records>", seq + 1), seq)
    assert partition.collector.freeze().input_errors == ()
    untraced = NativeEvaluator(run.policies, run.calendars)
    traced = TracingEvaluator(run.policies, run.calendars)
    for case_id, records in partition.buffer.cases():
        expected = untraced.evaluate_case(case_id, records, run.now).findings
        trace = traced.trace_case(case_id, records, run.now)
        assert _exactly(trace.findings) == _exactly(expected)
        fired = [subject.finding for subject in trace.subjects if subject.verdict.fired]
        assert _exactly([finding for finding in fired if finding is not None]) == _exactly(expected)
        for subject in trace.subjects:
            assert (subject.finding is None) == (
                subject.verdict in (Verdict.MET, Verdict.NOT_SELECTED, Verdict.NOT_APPLICABLE)
            )


def _exactly(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return sorted(
        (f.policy, f.case_id, f.record_id, f.status, f.severity, f.message, f.evidence, f.deadline)
        for f in findings
    )
