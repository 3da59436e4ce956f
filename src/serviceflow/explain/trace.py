"""Record what the native evaluator checked, node by node, while it decides about a case.

A :class:`TraceRecorder` is the native evaluator's tracer (see :mod:`serviceflow.evaluators.native`):
each closure compiled from a policy's tree is wrapped so that, when called, it adds a
:class:`TraceNode` (the IR node, the value it gave, what it evaluated on the way) under the node being
evaluated. Because the wrapped closures are the evaluator's own, a trace cannot tell a different story
from the findings of an untraced run.

What a trace holds, per policy and per candidate subject (a record of the ``for_each`` types), in
evaluation order:

* ``for_each``: the ``for_each`` where, evaluated on the candidate (absent when the policy has none);
* ``lets``: each let's evaluation and value; ``when``, ``require`` and ``by`` if they were evaluated;
* underneath each, the conditions and expressions checked, with their values. A query's node holds the
  records it matched; under it, one evaluation of its ``where`` per candidate considered, with the
  candidate in :attr:`TraceNode.bindings` (likewise a fold's ``when``/``value`` per record, a
  quantifier's ``where`` per item, a ``count_distinct``'s ``value`` per record);
* the verdict, taken from the finding the run produced for that record.

A recorder and its evaluator hold the trace of one case at a time and are not thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from serviceflow.calendars import Calendar
from serviceflow.evaluators.base import CaseFindings
from serviceflow.evaluators.native import Fn, Frame, NativeEvaluator
from serviceflow.findings import Finding, Status
from serviceflow.policy import ir
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.timing import WATCH_PREFIX
from serviceflow.records.model import Record

__all__ = ["CaseTrace", "SubjectTrace", "TraceNode", "TraceRecorder", "TracingEvaluator", "Verdict"]

Node = ir.Expr | ir.Query


@dataclass(eq=False)
class TraceNode:
    """One evaluation of one node of a policy's compiled tree."""

    node: Node
    value: Any = None
    """What it gave: a bool for a condition, the matched records for a query, else the value."""
    children: list[TraceNode] = field(default_factory=list)
    """What it evaluated on the way, in evaluation order."""
    bindings: dict[str, Any] = field(default_factory=dict)
    """The names bound for this evaluation by the node above: a query's candidate, a fold's record and
    ``acc``, a quantifier's item. Empty for every other evaluation."""
    error: str | None = None
    """Why it raised (a named condition failed), in which case ``value`` means nothing."""

    @property
    def pointer(self) -> str | None:
        return self.node.pointer

    @property
    def is_condition(self) -> bool:
        return isinstance(self.node, ir.Cond)

    @property
    def outcome(self) -> bool | None:
        """For a condition that answered, whether it held; ``None`` otherwise."""
        if not self.is_condition or self.error is not None:
            return None
        return bool(self.value)

    def walk(self) -> Iterator[TraceNode]:
        """This node and everything under it, in evaluation order."""
        yield self
        for child in self.children:
            yield from child.walk()


class Verdict(StrEnum):
    """What a policy decided about one candidate subject."""

    NOT_SELECTED = "not selected"
    """The ``for_each`` where did not admit the record."""
    NOT_APPLICABLE = "not applicable"
    """``when`` was false."""
    MET = "no finding"
    """``require`` held."""
    PENDING = "pending"
    VIOLATION = "violation"
    ENGINE_ERROR = "engine error"
    """A named condition failed; the policy could not decide."""

    @property
    def fired(self) -> bool:
        """Whether the policy produced a finding about the record."""
        return self in (Verdict.PENDING, Verdict.VIOLATION, Verdict.ENGINE_ERROR)


_VERDICT_BY_STATUS = {
    Status.PENDING: Verdict.PENDING,
    Status.VIOLATION: Verdict.VIOLATION,
    Status.ERROR: Verdict.ENGINE_ERROR,
}


@dataclass(eq=False)
class SubjectTrace:
    """How one policy decided about one candidate subject record."""

    policy: CompiledPolicy
    record: Record
    for_each: TraceNode | None = None
    lets: list[tuple[str, TraceNode]] = field(default_factory=list)
    when: TraceNode | None = None
    require: TraceNode | None = None
    by: TraceNode | None = None
    finding: Finding | None = None

    @property
    def verdict(self) -> Verdict:
        if self.finding is not None:
            return _VERDICT_BY_STATUS[self.finding.status]
        if self.for_each is not None and not self.for_each.value:
            return Verdict.NOT_SELECTED
        if self.when is not None and not self.when.value:
            return Verdict.NOT_APPLICABLE
        return Verdict.MET

    @property
    def deadline(self) -> datetime | None:
        """The deadline of a pending finding."""
        return self.finding.deadline if self.finding is not None else None

    @property
    def stages(self) -> list[tuple[str, TraceNode]]:
        """``(stage, node)`` for each part evaluated: ``for_each``, ``let NAME``, ``when``, ``require``,
        ``by``, in that order."""
        stages: list[tuple[str, TraceNode | None]] = [("for_each", self.for_each)]
        stages.extend((f"let {name}", node) for name, node in self.lets)
        stages.extend([("when", self.when), ("require", self.require), ("by", self.by)])
        return [(stage, node) for stage, node in stages if node is not None]

    def walk(self) -> Iterator[TraceNode]:
        for _stage, node in self.stages:
            yield from node.walk()


@dataclass(eq=False)
class CaseTrace:
    """Every policy's decisions about one case at ``now``, with the findings the run produced."""

    case_id: str
    now: datetime
    records: list[Record]
    findings: list[Finding]
    subjects: list[SubjectTrace]
    """Policy by policy (in the evaluator's order), candidates in case order."""

    def for_policy(self, policy_id: str) -> list[SubjectTrace]:
        return [subject for subject in self.subjects if subject.policy.id == policy_id]

    def for_finding(self, finding: Finding) -> SubjectTrace | None:
        for subject in self.subjects:
            if subject.policy.id == finding.policy and subject.record.id == finding.record_id:
                return subject
        return None


class TraceRecorder:
    """The native evaluator's tracer: builds a :class:`SubjectTrace` per policy and candidate subject."""

    def __init__(self, policies: Sequence[CompiledPolicy]) -> None:
        self._policies = {policy.id: policy for policy in policies}
        self._stack: list[TraceNode] = []
        self._subjects: dict[tuple[str, str], SubjectTrace] = {}

    def wrap(self, node: Node, closure: Fn) -> Fn:
        stack = self._stack

        def traced(frame: Frame) -> Any:
            entry = TraceNode(node)
            if stack:
                parent = stack[-1]
                parent.children.append(entry)
                for name in _names_bound_for(parent.node, node):
                    entry.bindings[name] = frame.bindings.get(name)
            else:
                self._attach(frame, entry)
            stack.append(entry)
            try:
                entry.value = closure(frame)
            except Exception as exc:
                entry.error = getattr(exc, "message", None) or str(exc)
                raise
            finally:
                stack.pop()
            return entry.value

        return traced

    def take(self) -> list[SubjectTrace]:
        """The subjects traced since the last call, in evaluation order; the recorder starts afresh."""
        subjects = list(self._subjects.values())
        self._subjects = {}
        self._stack.clear()
        return subjects

    def _attach(self, frame: Frame, entry: TraceNode) -> None:
        """File a top-level evaluation (a policy's for_each where, let, when, require or by)."""
        policy = self._policies[frame.policy_id]
        bindings = frame.bindings
        # The for_each where runs on a probe frame that binds the candidate under the query's alias.
        record = bindings["subject"] if "subject" in bindings else bindings[policy.subject.alias]
        key = (policy.id, record.id)
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subjects[key] = SubjectTrace(policy, record)
        node = entry.node
        if node is policy.subject.where:
            subject.for_each = entry
        elif node is policy.when:
            subject.when = entry
        elif node is policy.require:
            subject.require = entry
        elif node is policy.by:
            subject.by = entry
        else:
            name = next(let.name for let in policy.lets if let.expr is node)
            if not name.startswith(WATCH_PREFIX):  # the hidden lets next_change reads are not the author's
                subject.lets.append((name, entry))


def _names_bound_for(parent: Node, child: Node) -> tuple[str, ...]:
    """The names ``parent`` binds while it evaluates ``child`` (nothing for most pairs)."""
    if isinstance(parent, ir.Query | ir.Quantifier) and child is parent.where:
        return (parent.alias,)
    if isinstance(parent, ir.Fold) and (child is parent.when or child is parent.value):
        return (parent.query.alias, "acc")
    if isinstance(parent, ir.CountDistinct) and child is parent.value:
        return (parent.query.alias,)
    return ()


class TracingEvaluator:
    """The native evaluator, traced: a case's findings and, for each, why."""

    name = "native"

    def __init__(
        self, policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar] | None = None
    ) -> None:
        self.policies = list(policies)
        self._recorder = TraceRecorder(self.policies)
        self._evaluator = NativeEvaluator(self.policies, calendars, tracer=self._recorder)

    def trace_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseTrace:
        """Evaluate one case (records validated, in case order) and return its trace."""
        self._recorder.take()
        try:
            findings = self._evaluator.evaluate_case(case_id, records, now).findings
        finally:
            subjects = self._recorder.take()
        by_key = {(finding.policy, finding.record_id): finding for finding in findings}
        for subject in subjects:
            subject.finding = by_key.get((subject.policy.id, subject.record.id))
        visible = [record for record in records if record.at <= now]
        return CaseTrace(case_id, now, visible, findings, subjects)

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        """The findings alone, so that a tracing evaluator can stand wherever an evaluator does."""
        self._recorder.take()
        try:
            return self._evaluator.evaluate_case(case_id, records, now)
        finally:
            self._recorder.take()

    def close(self) -> None:
        self._evaluator.close()
