"""The native evaluator: the reference meaning of the policy language, in plain Python.

Each compiled policy is turned once into a tree of closures (one per IR node), so evaluating a case
costs only the calls, not a walk over the dataclasses with ``isinstance`` dispatch. The closures are
the reference meaning; for speed, an untraced evaluator runs each policy as one generated function
(:mod:`.codegen`) that follows the closures step for step, and the tests hold the two to the same
findings, evidence and errors.

Tracing (:mod:`serviceflow.explain`) hands the evaluator a :class:`Tracer` at construction: each
closure is then passed through ``tracer.wrap(node, closure)`` as it is built, so a traced run calls the
very closures an untraced one does and cannot disagree with it. Without a tracer nothing is wrapped
and evaluation costs exactly what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from serviceflow.calendars import Calendar
from serviceflow.conditions import ConditionContext
from serviceflow.evaluators.base import (
    RUNTIME_ERRORS,
    CaseFindings,
    CaseView,
    engine_error,
    evidence_ids,
    find_phrase,
    policy_clock,
    render,
    watch_changes,
)
from serviceflow.evaluators.codegen import PolicyFunction, compile_policy
from serviceflow.findings import Finding, Status
from serviceflow.policy import ir
from serviceflow.policy.regex import compile_pattern
from serviceflow.records.model import Record


class Frame:
    """Bindings for one subject's evaluation, the policy's clock, and the records that decided it."""

    __slots__ = ("bindings", "clock", "evidence", "policy_id", "view")

    def __init__(
        self, view: CaseView, bindings: dict[str, Any], clock: Calendar | None = None, policy_id: str = ""
    ) -> None:
        self.view = view
        self.bindings = bindings
        self.clock = clock
        self.policy_id = policy_id
        self.evidence: list[Record] = []


Fn = Callable[[Frame], Any]
Wrap = Callable[[ir.Expr | ir.Query, Fn], Fn]


class Tracer(Protocol):
    """Observes evaluation by wrapping closures as they are compiled (see the module docstring)."""

    def wrap(self, node: ir.Expr | ir.Query, closure: Fn) -> Fn:
        """A closure for ``node`` that calls ``closure`` once per call and returns what it returns.

        ``node`` is an expression, a condition, or a query (whose closure returns the matched records
        in case order); a query's ``where`` is called once per candidate with the candidate bound.
        """
        ...


class NativeEvaluator:
    """Evaluates compiled policies directly; the default evaluator and the reference for the other."""

    name = "native"

    def __init__(
        self,
        policies: Sequence[ir.CompiledPolicy],
        calendars: Mapping[str, Calendar] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.policies = list(policies)
        self.calendars = dict(calendars or {})
        wrap = tracer.wrap if tracer is not None else None
        self._compiled: list[tuple[ir.CompiledPolicy, PolicyFunction]] = []
        for policy in self.policies:
            # Untraced, each policy runs as one generated function (codegen); traced, as closures the
            # tracer can wrap. A policy Python cannot compile to one function runs as closures.
            function = compile_policy(policy) if wrap is None else None
            self._compiled.append((policy, function or _PolicyProgram(policy, wrap).run))

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        view = CaseView(case_id, records, now)
        findings: list[Finding] = []
        changes: list[datetime] = []
        calendars = self.calendars
        for policy, run in self._compiled:
            run(
                view,
                policy_clock(policy, view, calendars) if policy.calendar is not None else None,
                findings,
                changes,
            )
        return CaseFindings(findings, changes)

    def close(self) -> None:
        """Nothing to release."""


class _PolicyProgram:
    """One policy compiled to closures."""

    def __init__(self, policy: ir.CompiledPolicy, wrap: Wrap | None = None) -> None:
        self.policy = policy
        self.subject_where = _cond(policy.subject.where, wrap) if policy.subject.where is not None else None
        deferred = ir.deferred_lets(policy)
        lets = [(let.name, _expr(let.expr, wrap)) for let in policy.lets]
        self.lets = [(name, fn) for name, fn in lets if name not in deferred]
        self.later_lets = [(name, fn) for name, fn in lets if name in deferred]
        self.when = _cond(policy.when, wrap) if policy.when is not None else None
        self.require = _cond(policy.require, wrap)
        self.by = _expr(policy.by, wrap) if policy.by is not None else None

    def run(
        self, view: CaseView, clock: Calendar | None, findings: list[Finding], changes: list[datetime]
    ) -> None:
        """Decide every subject of the policy in the case: its finding, and when ``$now`` turns for it."""
        policy = self.policy
        alias = policy.subject.alias
        watching = bool(policy.timing.watches)
        for subject in view.of_types(policy.subject.types):
            try:
                if self.subject_where is not None:
                    probe = Frame(view, {"now": view.now, alias: subject}, policy_id=policy.id)
                    if not self.subject_where(probe):
                        continue
                frame = Frame(view, {"now": view.now, "subject": subject}, clock, policy.id)
                finding = self.decide(frame, subject)
            except RUNTIME_ERRORS as exc:
                findings.append(engine_error(policy, view.case_id, subject, exc))
                continue
            if finding is not None:
                findings.append(finding)
            if watching:
                changes.extend(watch_changes(policy, frame.bindings, view.now))

    def decide(self, frame: Frame, subject: Record) -> Finding | None:
        policy = self.policy
        for name, fn in self.lets:
            frame.bindings[name] = fn(frame)
        if self.when is not None and not self.when(frame):
            return None
        for name, fn in self.later_lets:
            frame.bindings[name] = fn(frame)
        if self.require(frame):
            return None
        deadline = self.by(frame) if self.by is not None else None
        if deadline is not None and not isinstance(deadline, datetime):
            raise TypeError(f"'by' must give a date-time, got {deadline!r}")
        pending = deadline is not None and deadline > frame.view.now
        template = policy.message_for_pending if pending else policy.message
        return Finding(
            policy=policy.id,
            severity=policy.severity,
            status=Status.PENDING if pending else Status.VIOLATION,
            case_id=frame.view.case_id,
            record_id=subject.id,
            message=render(template, frame.bindings, policy.params, deadline),
            evidence=evidence_ids(subject, frame.evidence, frame.view),
            deadline=deadline if pending else None,
            origin=subject.origin,
        )


# --- closures for expressions --------------------------------------------------------------------


def _expr(node: ir.Expr, wrap: Wrap | None = None) -> Fn:
    closure = _value(node, wrap)
    if wrap is None or isinstance(node, ir.Cond):  # _cond wrapped it already
        return closure
    return wrap(node, closure)


def _value(node: ir.Expr, wrap: Wrap | None) -> Fn:
    if isinstance(node, ir.Lit):
        value = node.value
        return lambda frame: value
    if isinstance(node, ir.Ref):
        return _ref(node)
    if isinstance(node, ir.Arith):
        return _arith(node, wrap)
    if isinstance(node, ir.Coalesce):
        items = [_expr(item, wrap) for item in node.items]

        def coalesce(frame: Frame) -> Any:
            for item in items:
                value = item(frame)
                if value is not None:
                    return value
            return None

        return coalesce
    if isinstance(node, ir.Pick):
        return _pick(node, wrap)
    if isinstance(node, ir.Count):
        matches = _matcher(node.query, wrap=wrap)
        return lambda frame: len(matches(frame))
    if isinstance(node, ir.Fold):
        return _fold(node, wrap)
    if isinstance(node, ir.CountDistinct):
        return _count_distinct(node, wrap)
    if isinstance(node, ir.Find):
        text, phrases = _expr(node.text, wrap), _expr(node.phrases, wrap)
        return lambda frame: find_phrase(text(frame), phrases(frame))
    return _cond(node, wrap)


def _count_distinct(node: ir.CountDistinct, wrap: Wrap | None) -> Fn:
    matches, value, alias = _matcher(node.query, wrap=wrap), _expr(node.value, wrap), node.query.alias

    def count_distinct(frame: Frame) -> int:
        bindings = frame.bindings
        saved = bindings.get(alias, _UNBOUND)
        seen = set()
        try:
            for record in matches(frame):
                bindings[alias] = record
                seen.add(value(frame))
        finally:
            _restore(bindings, alias, saved)
        seen.discard(None)
        return len(seen)

    return count_distinct


def _ref(node: ir.Ref) -> Fn:
    root, path = node.root, node.path
    if not path:
        return lambda frame: frame.bindings.get(root)

    def ref(frame: Frame) -> Any:
        value = frame.bindings.get(root)
        if isinstance(value, Record):
            return value.get(path)
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return ref


def _arith(node: ir.Arith, wrap: Wrap | None) -> Fn:
    left, right = _expr(node.left, wrap), _expr(node.right, wrap)
    subtract = node.op == "sub"

    def arith(frame: Frame) -> Any:
        a, b = left(frame), right(frame)
        if a is None or b is None:
            return None
        clock = frame.clock
        if clock is not None and isinstance(a, datetime):
            if isinstance(b, timedelta) and not subtract:
                return clock.add(a, b)
            if isinstance(b, datetime) and subtract:
                return clock.between(b, a)
        return a - b if subtract else a + b

    return arith


def _matcher(query: ir.Query, first_only: bool = False, wrap: Wrap | None = None) -> Fn:
    """The records a query matches, in case order; the alias is bound while ``where`` is tested."""
    types, alias = query.types, query.alias
    where = _cond(query.where, wrap) if query.where is not None else None

    def matches(frame: Frame) -> list[Record]:
        candidates = frame.view.of_types(types)
        if where is None:
            return candidates[:1] if first_only else list(candidates)
        found = []
        bindings = frame.bindings
        saved = bindings.get(alias, _UNBOUND)
        try:
            for candidate in candidates:
                bindings[alias] = candidate
                if where(frame):
                    found.append(candidate)
                    if first_only:
                        break
        finally:
            _restore(bindings, alias, saved)
        return found

    return matches if wrap is None else wrap(query, matches)


def _restore(bindings: dict[str, Any], name: str, saved: Any) -> None:
    if saved is _UNBOUND:
        bindings.pop(name, None)
    else:
        bindings[name] = saved


_UNBOUND = object()


def _pick(node: ir.Pick, wrap: Wrap | None) -> Fn:
    latest = node.which == "latest"
    matches = _matcher(node.query, first_only=not latest, wrap=wrap)

    def pick(frame: Frame) -> Any:
        found = matches(frame)
        if not found:
            return None
        chosen = found[-1] if latest else found[0]
        frame.evidence.append(chosen)
        return chosen

    return pick


def _fold(node: ir.Fold, wrap: Wrap | None) -> Fn:
    matches = _matcher(node.query, wrap=wrap)
    initial = _expr(node.initial, wrap)
    when = _cond(node.when, wrap) if node.when is not None else None
    value = _expr(node.value, wrap)
    alias = node.query.alias

    def fold(frame: Frame) -> Any:
        accumulator = initial(frame)
        bindings = frame.bindings
        saved_alias, saved_acc = bindings.get(alias, _UNBOUND), bindings.get("acc", _UNBOUND)
        try:
            for record in matches(frame):
                bindings[alias], bindings["acc"] = record, accumulator
                if when is None or when(frame):
                    accumulator = value(frame)
                    frame.evidence.append(record)
        finally:
            _restore(bindings, alias, saved_alias)
            _restore(bindings, "acc", saved_acc)
        return accumulator

    return fold


# --- closures for conditions ---------------------------------------------------------------------

_ORDERING = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _cond(node: ir.Cond, wrap: Wrap | None = None) -> Fn:
    closure = _condition(node, wrap)
    return closure if wrap is None else wrap(node, closure)


def _condition(node: ir.Cond, wrap: Wrap | None) -> Fn:
    if isinstance(node, ir.All):
        items = [_cond(item, wrap) for item in node.items]
        return lambda frame: all(item(frame) for item in items)
    if isinstance(node, ir.AnyOf):
        items = [_cond(item, wrap) for item in node.items]
        return lambda frame: any(item(frame) for item in items)
    if isinstance(node, ir.Not):
        item = _cond(node.item, wrap)
        return lambda frame: not item(frame)
    if isinstance(node, ir.Compare):
        return _compare(node, wrap)
    if isinstance(node, ir.In):
        item, options = _expr(node.item, wrap), _expr(node.options, wrap)

        def member(frame: Frame) -> bool:
            values = options(frame)
            return values is not None and item(frame) in values

        return member
    if isinstance(node, ir.Intersects):
        left, right = _expr(node.left, wrap), _expr(node.right, wrap)

        def intersects(frame: Frame) -> bool:
            a, b = left(frame), right(frame)
            return bool(a) and bool(b) and not set(a).isdisjoint(b)

        return intersects
    if isinstance(node, ir.Present):
        expr = _expr(node.expr, wrap)
        if node.negate:
            return lambda frame: expr(frame) is None
        return lambda frame: expr(frame) is not None
    if isinstance(node, ir.Exists):
        return _exists(node, wrap)
    if isinstance(node, ir.Order):
        left, right = _expr(node.left, wrap), _expr(node.right, wrap)
        before = node.op == "before"

        def order(frame: Frame) -> bool:
            a, b = left(frame), right(frame)
            if not isinstance(a, Record) or not isinstance(b, Record):
                return False
            positions = frame.view.positions
            first, second = positions[id(a)], positions[id(b)]
            return first < second if before else first > second

        return order
    if isinstance(node, ir.Quantifier):
        return _quantifier(node, wrap)
    if isinstance(node, ir.Call):
        return _call(node, wrap)
    if isinstance(node, ir.Matches):
        expr = _expr(node.expr, wrap)
        pattern = compile_pattern(node.pattern)  # RE2: linear time whatever the text

        def matches(frame: Frame) -> bool:
            value = expr(frame)
            return isinstance(value, str) and pattern.found_in(value)

        return matches
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the compiler only builds these


def _call(node: ir.Call, wrap: Wrap | None) -> Fn:
    condition = node.condition
    args = [(name, _expr(expr, wrap)) for name, expr in node.args]

    def call(frame: Frame) -> bool:
        values = {name: arg(frame) for name, arg in args}
        view = frame.view
        return condition.call(ConditionContext(view.case_id, view.now, view.records, frame.policy_id), values)

    return call


def _compare(node: ir.Compare, wrap: Wrap | None) -> Fn:
    left, right = _expr(node.left, wrap), _expr(node.right, wrap)
    if node.op == "eq":
        return lambda frame: left(frame) == right(frame)
    if node.op == "ne":
        return lambda frame: left(frame) != right(frame)
    test = _ORDERING[node.op]

    def compare(frame: Frame) -> bool:
        a, b = left(frame), right(frame)
        if a is None or b is None:
            return False
        return test(a, b)

    return compare


def _exists(node: ir.Exists, wrap: Wrap | None) -> Fn:
    if not node.negate:
        first = _matcher(node.query, first_only=True, wrap=wrap)
        return lambda frame: bool(first(frame))
    matches = _matcher(node.query, wrap=wrap)

    def none(frame: Frame) -> bool:
        found = matches(frame)
        frame.evidence.extend(found)
        return not found

    return none


def _quantifier(node: ir.Quantifier, wrap: Wrap | None) -> Fn:
    items, where, alias = _expr(node.items, wrap), _cond(node.where, wrap), node.alias
    every = node.kind == "every"

    def quantify(frame: Frame) -> bool:
        values = items(frame) or ()
        bindings = frame.bindings
        saved = bindings.get(alias, _UNBOUND)
        try:
            for value in values:
                bindings[alias] = value
                if where(frame) != every:
                    return not every
            return every
        finally:
            _restore(bindings, alias, saved)

    return quantify
