"""``serviceflow test --jobs N``: the tests split between forked workers, the report that of one process.

Each worker runs every Nth test (and, when asked, measures its clause coverage) and sends back what a
report needs: the outcome, the differences, the errors, the findings and the coverage, not the run
itself (compiled policies and records stay where they were made). The results are put back in the
tests' order, so the report, its coverage and the exit status are those of ``--jobs 1``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Sequence
from typing import Any

from serviceflow.errors import ServiceflowError
from serviceflow.explain.coverage import PolicyCoverage
from serviceflow.policytest import coverage as clause_coverage
from serviceflow.policytest.format import PolicyTest
from serviceflow.policytest.results import PolicyTestResult
from serviceflow.policytest.runner import PolicyTestRunner

__all__ = ["run_in_parallel"]

Outcome = tuple[list[PolicyTestResult], list[list[PolicyCoverage]] | None]


def run_in_parallel(
    runner: PolicyTestRunner, tests: Sequence[PolicyTest], jobs: int, measure: bool
) -> Outcome:
    """The results of ``tests`` in their order and, with ``measure``, each one's coverage."""
    if jobs <= 1 or len(tests) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        ran = [runner.run(test) for test in tests]
        return ran, [clause_coverage.of_result(result) for result in ran] if measure else None
    workers = min(jobs, len(tests))
    context = multiprocessing.get_context("fork")
    global _SHARED
    _SHARED = (runner, list(tests), measure, workers)
    try:
        with context.Pool(workers) as pool:
            parts = pool.map(_run_share, range(workers))
    except Exception as exc:  # a worker that died or whose result could not be sent
        raise ServiceflowError(f"a test worker failed: {type(exc).__name__}: {exc}") from exc
    finally:
        _SHARED = None
    results: list[PolicyTestResult | None] = [None] * len(tests)
    coverages: list[list[PolicyCoverage]] = [[] for _ in tests]
    for part in parts:
        for index, result, measured in part:
            results[index] = dataclasses.replace(result, test=tests[index])
            coverages[index] = measured
    return [result for result in results if result is not None], coverages if measure else None


_SHARED: tuple[PolicyTestRunner, list[PolicyTest], bool, int] | None = None


def _run_share(share: int) -> list[tuple[int, PolicyTestResult, list[PolicyCoverage]]]:
    """In a forked worker: run every test whose index is ``share`` modulo the number of workers."""
    assert _SHARED is not None
    runner, tests, measure, workers = _SHARED
    out: list[tuple[int, PolicyTestResult, Any]] = []
    for index in range(share, len(tests), workers):
        result = runner.run(tests[index])
        measured = clause_coverage.of_result(result) if measure else []
        # The test and its run (compiled policies with plugins' code, records) stay here: the parent has
        # the test, and the report needs nothing of the run.
        out.append((index, dataclasses.replace(result, run=None, test=None), measured))  # type: ignore[arg-type]
    return out
