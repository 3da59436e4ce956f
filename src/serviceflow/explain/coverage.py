"""Clause coverage: which conditions of a policy its tests have seen both hold and fail.

A *clause* is every condition of a compiled policy that came from its YAML (it has a source pointer):
the ``for_each`` where, ``when`` and ``require`` and every condition under them, the conditions inside
any query's ``where`` (in lets too), a fold's ``when``, quantifiers and their ``where``, and named
conditions. A clause is **covered** when the records given to :meth:`CoverageCollector.add` made it
evaluate to true at least once and to false at least once: a condition only ever seen true might as
well not be there, and one only ever seen false never let anything through.

Outcomes are observed by wrapping the native evaluator's own closures (see
:mod:`serviceflow.evaluators.native`), so coverage counts exactly what an untraced run evaluates: a
condition that short-circuiting skipped has no outcome, and a named condition that raised records
none. Each evaluation counts: a query's ``where`` is evaluated once per candidate record.

::

    collector = CoverageCollector(policies, calendars)
    for test in tests:
        collector.add(test.records, now=test.now)
    for policy in collector.report():
        uncovered = [clause.pointer for clause in policy.clauses if not clause.covered]
        print(policy.policy_id, f"{policy.percent:.1f}%", uncovered)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serviceflow.batch import Partition
from serviceflow.calendars import ALWAYS, Calendar
from serviceflow.errors import EvaluatorError, InputError, Location
from serviceflow.evaluators.native import Fn, Frame, NativeEvaluator
from serviceflow.explain.wording import clause_text, line_of
from serviceflow.policy import ir
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records import Admission, RecordValidator
from serviceflow.records.model import Record

__all__ = ["ClauseCoverage", "CoverageCollector", "PolicyCoverage", "policy_clauses"]


@dataclass
class ClauseCoverage:
    """One condition of a policy and the outcomes it was seen to give."""

    pointer: str
    """JSON pointer of the condition in the policy's YAML (``/require/exists/where/2``)."""
    line: int | None
    """Its line in the policy file, when the policy was compiled from one."""
    text: str
    """The condition as written, shortened: ``le: [$check.window.start, $subject.due]``."""
    outcomes: frozenset[bool] = frozenset()
    """The answers observed: ``{True, False}`` when both were."""
    covered: bool = False
    """Both true and false were observed. Set from ``outcomes`` at construction; passing ``True``
    marks a clause covered whatever ``outcomes`` says (a merge of runs that each covered it)."""

    def __post_init__(self) -> None:
        self.covered = self.covered or self.outcomes == {True, False}


@dataclass
class PolicyCoverage:
    """The clauses of one policy and how many are covered.

    ``covered``, ``total`` and ``percent`` are derived from ``clauses`` at construction (values passed
    for them are recomputed, so they cannot disagree with the clauses).
    """

    policy_id: str
    file: str | None
    clauses: list[ClauseCoverage] = field(default_factory=list)
    covered: int = 0
    """How many clauses are covered."""
    total: int = 0
    """How many clauses the policy has."""
    percent: float = 100.0
    """``covered`` as a percentage of ``total``; 100.0 for a policy without clauses."""

    def __post_init__(self) -> None:
        self.covered = sum(1 for clause in self.clauses if clause.covered)
        self.total = len(self.clauses)
        self.percent = 100.0 if not self.clauses else 100.0 * self.covered / self.total


class CoverageCollector:
    """Evaluates records against policies with the native evaluator, noting each clause's outcomes."""

    def __init__(
        self, policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar] | None = None
    ) -> None:
        self.policies = list(policies)
        self.calendars = dict(calendars) if calendars is not None else {ALWAYS.name: ALWAYS}
        self.validator = RecordValidator()
        self.input_errors: list[InputError] = []
        """Records :meth:`add` refused (invalid, duplicate id, unknown calendar), as Engine reports them."""
        self._outcomes = _OutcomeRecorder()
        self._evaluator = NativeEvaluator(self.policies, self.calendars, tracer=self._outcomes)

    def add(self, records: Iterable[Mapping[str, Any] | Record], now: datetime) -> None:
        """Validate ``records``, group them into cases and evaluate every case at ``now``.

        As :meth:`serviceflow.Engine.evaluate` does: invalid records are skipped (and kept in
        :attr:`input_errors`), the others are evaluated case by case in case order.
        """
        if now.tzinfo is None:
            raise EvaluatorError(f"'now' must be a date-time with a time zone offset, got {now!r}")
        partition = Partition(Admission(self.validator, None, self.calendars), now)
        for index, item in enumerate(records, start=1):
            partition.add(item, Location("<records>", index), index - 1)
        partition.evaluate(self._evaluator)
        self.input_errors.extend(partition.collector.freeze().input_errors)

    def report(self) -> list[PolicyCoverage]:
        """Each policy's clauses, in the order they appear in the policy, with their outcomes so far."""
        report = []
        for policy in self.policies:
            clauses = [
                ClauseCoverage(
                    pointer=node.pointer or "",
                    line=line_of(policy, node.pointer),
                    text=clause_text(node, policy),
                    outcomes=frozenset(self._outcomes.seen.get(id(node), ())),
                )
                for node in policy_clauses(policy)
            ]
            file = policy.source.file if policy.source is not None else None
            report.append(PolicyCoverage(policy.id, file, clauses))
        return report


def policy_clauses(policy: CompiledPolicy) -> list[ir.Cond]:
    """Every condition of ``policy`` that has a source pointer, in the policy's order."""
    roots: list[Any] = [
        policy.subject,
        *(let.expr for let in policy.own_lets),
        policy.when,
        policy.require,
        policy.by,
    ]
    found: list[ir.Cond] = []
    for root in roots:
        for node in _nodes(root):
            if isinstance(node, ir.Cond) and node.pointer is not None:
                found.append(node)
    return found


def _nodes(node: Any) -> Iterator[Any]:
    """A node of the compiled tree and every node under it, parents first, fields in order."""
    if node is None:
        return
    if isinstance(node, tuple):
        for item in node:
            yield from _nodes(item)
        return
    if not isinstance(node, ir.Expr | ir.Query):
        return
    yield node
    for name in node.__dataclass_fields__:
        if name != "pointer":
            yield from _nodes(getattr(node, name))


class _OutcomeRecorder:
    """A tracer that notes whether each condition held, and nothing else (no trace is kept)."""

    def __init__(self) -> None:
        self.seen: dict[int, set[bool]] = {}

    def wrap(self, node: ir.Expr | ir.Query, closure: Fn) -> Fn:
        if not isinstance(node, ir.Cond) or node.pointer is None:
            return closure
        # Keyed by identity: the compiled policies this collector holds keep their nodes alive.
        outcomes = self.seen.setdefault(id(node), set())

        def observed(frame: Frame) -> Any:
            value = closure(frame)
            outcomes.add(bool(value))
            return value

        return observed
