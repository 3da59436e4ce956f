"""Clause coverage of a policy test run: which clauses of each policy under test the tests exercised.

The collector (:mod:`serviceflow.explain.coverage`) measures one set of bound policies over records at
one ``now``. Tests bind their policies differently (parameters, calendars), so each test's run is
measured on its own and the results are merged by policy and clause pointer: a clause's outcomes are
those any test gave it, so it is covered when one test saw it hold and another saw it fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from serviceflow.explain.coverage import ClauseCoverage, CoverageCollector, PolicyCoverage
from serviceflow.policytest.results import PolicyTestResult


def measure(results: Iterable[PolicyTestResult]) -> list[PolicyCoverage]:
    """The coverage of every policy the tests ran, merged over tests, in policy id order."""
    return merge(of_result(result) for result in results)


def of_result(result: PolicyTestResult) -> list[PolicyCoverage]:
    """The coverage one test's run gave each of its policies (nothing for a test that did not run)."""
    if result.run is None:
        return []
    collector = CoverageCollector(result.run.policies, calendars=result.run.calendars)
    collector.add(result.run.records, result.run.now)
    return collector.report()


def merge(per_test: Iterable[list[PolicyCoverage]]) -> list[PolicyCoverage]:
    """Tests' coverages merged by policy and clause, in policy id order (see the module docstring)."""
    clauses: dict[str, dict[str, list[ClauseCoverage]]] = {}
    files: dict[str, str | None] = {}
    for policies in per_test:
        for policy in policies:
            files.setdefault(policy.policy_id, policy.file)
            by_pointer = clauses.setdefault(policy.policy_id, {})
            for clause in policy.clauses:
                by_pointer.setdefault(clause.pointer, []).append(clause)
    return [_policy(policy_id, files[policy_id], clauses[policy_id]) for policy_id in sorted(clauses)]


def _policy(policy_id: str, file: str | None, by_pointer: dict[str, list[ClauseCoverage]]) -> PolicyCoverage:
    merged = [_clause(parts) for parts in by_pointer.values()]
    return PolicyCoverage(policy_id, file, merged)


def _clause(parts: Sequence[ClauseCoverage]) -> ClauseCoverage:
    """One clause over every test that evaluated it: covered when they saw it hold and fail."""
    first = parts[0]
    outcomes = frozenset().union(*(part.outcomes for part in parts))
    return ClauseCoverage(
        first.pointer, first.line, first.text, outcomes, any(part.covered for part in parts)
    )


def below(coverage: Iterable[PolicyCoverage], threshold: float) -> list[PolicyCoverage]:
    """The policies whose clause coverage is under ``threshold`` percent."""
    return [policy for policy in coverage if policy.percent < threshold]


def render_text(coverage: Sequence[PolicyCoverage], threshold: float | None = None) -> str:
    """Per policy: covered of total clauses and percent, then each uncovered clause (pointer, line, text)."""
    width = max((len(policy.policy_id) for policy in coverage), default=0)
    lines = ["clause coverage:"]
    for policy in coverage:
        mark = "  (below threshold)" if threshold is not None and policy.percent < threshold else ""
        lines.append(
            f"  {policy.policy_id:<{width}}  {policy.covered:>3}/{policy.total:<3} {policy.percent:5.1f}%"
            f"  {_shown(policy.file)}{mark}"
        )
        for clause in policy.clauses:
            if not clause.covered:
                seen = _outcomes_text(clause.outcomes)
                lines.append(f"      uncovered  line {clause.line}  {clause.pointer}  {clause.text}{seen}")
    covered = sum(policy.covered for policy in coverage)
    total = sum(policy.total for policy in coverage)
    overall = 100.0 * covered / total if total else 100.0
    policies = f"{len(coverage)} {'policy' if len(coverage) == 1 else 'policies'}"
    summary = f"{covered} of {total} clauses covered ({overall:.1f}%) in {policies}"
    if threshold is not None:
        failing = below(coverage, threshold)
        summary += f"; threshold {threshold:g}%: " + (
            f"{len(failing)} below ({', '.join(policy.policy_id for policy in failing)})"
            if failing
            else "met"
        )
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _shown(file: str | None) -> str:
    """A policy file as the user would name it: relative when under the working directory."""
    if file is None:
        return "<no file>"
    relative = os.path.relpath(file)
    return file if relative.startswith("..") else relative


def _outcomes_text(outcomes: frozenset[bool]) -> str:
    if not outcomes:
        return "  (never evaluated)"
    return "  (only ever " + ("true" if True in outcomes else "false") + ")"


def to_dicts(coverage: Sequence[PolicyCoverage]) -> list[dict[str, Any]]:
    """Coverage as JSON-ready data: per policy the counts and every clause with its outcomes."""
    return [
        {
            "policy": policy.policy_id,
            "file": policy.file,
            "covered": policy.covered,
            "total": policy.total,
            "percent": round(policy.percent, 1),
            "clauses": [
                {
                    "pointer": clause.pointer,
                    "line": clause.line,
                    "text": clause.text,
                    "outcomes": sorted(clause.outcomes),
                    "covered": clause.covered,
                }
                for clause in policy.clauses
            ],
        }
        for policy in coverage
    ]
