"""The native evaluator's fast path: each policy compiled once into one specialised Python function.

The closure evaluator (:mod:`serviceflow.evaluators.native`) calls a closure per node of a policy's
tree and keeps its names in a dictionary; a policy over a thousand-record batch makes millions of
those calls. Here the whole tree of one policy becomes the source of one function: names are local
variables (resolved when compiling, so shadowing is the tree's own scoping), a record's field is read
inline from its values tuple, ``all``/``any`` are ``if`` blocks, queries are ``for`` loops, and the
function runs every subject of the policy in one case. It follows the closure evaluator step for step
(the same order of evaluation, so the same evidence, the same named-condition calls and the same
errors), which the conformance suite, the explain suite (traced closures against this) and the
hypothesis agreement all check.

A policy whose generated source Python cannot compile (nesting beyond the interpreter's static
limits) is evaluated by its closures instead: :func:`compile_policy` returns ``None``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from serviceflow.calendars import Calendar
from serviceflow.conditions import ConditionContext, ConditionError
from serviceflow.evaluators.base import (
    RUNTIME_ERRORS,
    CaseView,
    engine_error,
    evidence_ids,
    find_phrase,
    render,
)
from serviceflow.findings import Finding, Status
from serviceflow.policy import ir
from serviceflow.policy.regex import compile_pattern
from serviceflow.records.model import Record

__all__ = ["PolicyFunction", "compile_policy"]

#: ``function(view, clock, findings, changes)``: every subject of the policy in one case.
PolicyFunction = Callable[[CaseView, "Calendar | None", list[Finding], list[datetime]], None]

_EMPTY: tuple[Any, ...] = ()


def compile_policy(policy: ir.CompiledPolicy) -> PolicyFunction | None:
    """The policy as one function, or ``None`` when its source cannot be compiled (use closures)."""
    generator = _Generator(policy)
    source = generator.source()
    namespace = generator.namespace()
    try:
        code = compile(source, f"<policy {policy.id}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return None
    exec(code, namespace)
    function: PolicyFunction = namespace["run"]
    return function


def _finding(
    policy: ir.CompiledPolicy,
    view: CaseView,
    subject: Record,
    deadline: Any,
    evidence: list[Record],
    bindings: dict[str, Any],
) -> Finding:
    """The finding for a subject whose obligation is not met (as the closure evaluator builds it)."""
    if deadline is not None and not isinstance(deadline, datetime):
        raise TypeError(f"'by' must give a date-time, got {deadline!r}")
    pending = deadline is not None and deadline > view.now
    template = policy.message_for_pending if pending else policy.message
    return Finding(
        policy=policy.id,
        severity=policy.severity,
        status=Status.PENDING if pending else Status.VIOLATION,
        case_id=view.case_id,
        record_id=subject.id,
        message=render(template, bindings, policy.params, deadline),
        evidence=evidence_ids(subject, evidence, view),
        deadline=deadline if pending else None,
        origin=subject.origin,
    )


def _watch(changes: list[datetime], now: datetime, value: Any, offsets: tuple[timedelta, ...]) -> None:
    """Note when a comparison of ``$now`` with ``value`` turns (see :mod:`serviceflow.policy.timing`)."""
    if isinstance(value, datetime):
        for offset in offsets:
            try:
                moment = value + offset
            except OverflowError:
                continue
            if moment > now:
                changes.append(moment)


class _Generator:
    """Writes the source of one policy's function, with its constants in the module namespace."""

    def __init__(self, policy: ir.CompiledPolicy) -> None:
        self.policy = policy
        self.lines: list[str] = []
        self.depth = 0
        self.constants: dict[str, Any] = {}
        self._names = itertools.count()
        self.clock = "clock"  # the subject-selection probe counts plain elapsed time: "None" there
        self.records: set[str] = set()  # local names known to hold a Record
        self.decisive: set[int] = set()  # ids of the nones in when that one match decides (see below)

    # --- plumbing --------------------------------------------------------------------------------------

    def name(self, stem: str = "v") -> str:
        return f"{stem}{next(self._names)}"

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def namespace(self) -> dict[str, Any]:
        return {
            "_Record": Record,
            "_datetime": datetime,
            "_timedelta": timedelta,
            "_isinstance": isinstance,
            "_dict": dict,
            "_len": len,
            "_set": set,
            "_bool": bool,
            "_EMPTY": _EMPTY,
            "_find_phrase": find_phrase,
            "_ConditionContext": ConditionContext,
            "_ConditionError": ConditionError,
            "_RUNTIME_ERRORS": RUNTIME_ERRORS,
            "_engine_error": engine_error,
            "_finding": _finding,
            "_watch": _watch,
            "_policy": self.policy,
            **self.constants,
        }

    # --- the function ----------------------------------------------------------------------------------

    def source(self) -> str:
        policy = self.policy
        self.emit("def run(view, clock, findings, changes):")
        self.depth += 1
        self.emit("now = view.now")
        self.emit("by_type = view.by_type")
        self.emit(f"for subject in {self.candidates(policy.subject.types)}:")
        self.depth += 1
        self.emit("try:")
        self.depth += 1
        self.records.add("subject")
        if policy.subject.where is not None:
            # The probe binds the candidate under the query's alias, with no calendar and no evidence kept.
            self.clock = "None"
            self.emit("evidence = []")
            selected = self.cond(policy.subject.where, {"now": "now", policy.subject.alias: "subject"})
            self.clock = "clock"
            self.emit(f"if not {selected}:")
            self.emit("    continue")
        self.emit("evidence = []")
        scope: dict[str, str] = {"now": "now", "subject": "subject"}
        deferred = ir.deferred_lets(policy)
        scope = self.lets([let for let in policy.lets if let.name not in deferred], scope)
        self.emit("finding = None")
        opened = 0
        if policy.when is not None:
            self.decisive = _decisive_nones(policy.when)
            applies = self.cond(policy.when, scope)
            self.decisive = set()
            self.emit(f"if {applies}:")
            self.depth += 1
            opened += 1
        scope = self.lets([let for let in policy.lets if let.name in deferred], scope)
        met = self.cond(policy.require, scope)
        self.emit(f"if not {met}:")
        self.depth += 1
        deadline = self.expr(policy.by, scope) if policy.by is not None else "None"
        shown = self.message_bindings(scope)
        self.emit(f"finding = _finding(_policy, view, subject, {deadline}, evidence, {shown})")
        self.depth -= 1 + opened
        self.depth -= 1
        self.emit("except _RUNTIME_ERRORS as exc:")
        self.emit("    findings.append(_engine_error(_policy, view.case_id, subject, exc))")
        self.emit("    continue")
        self.emit("if finding is not None:")
        self.emit("    findings.append(finding)")
        for watch in policy.timing.watches:
            offsets = self.constant(watch.offsets)
            self.emit(f"_watch(changes, now, {scope[watch.let]}, {offsets})")
        return "\n".join(self.lines) + "\n"

    def lets(self, lets: list[ir.Let], scope: dict[str, str]) -> dict[str, str]:
        """Emit the lets in order, each into a local; the scope with their names bound."""
        for let in lets:
            value = self.expr(let.expr, scope)
            local = self.name("L")
            self.emit(f"{local} = {value}")
            scope = {**scope, let.name: local}
        return scope

    def message_bindings(self, scope: dict[str, str]) -> str:
        """The names a message may show, as a dict literal (built only when there is a finding)."""
        pairs = [f"{name!r}: {local}" for name, local in scope.items()]
        return "{" + ", ".join(pairs) + "}"

    def candidates(self, types: tuple[str, ...]) -> str:
        """The visible records of these types, in case order."""
        if len(types) == 1:
            return f"by_type.get({types[0]!r}, _EMPTY)"
        return f"view.of_types({self.constant(tuple(types))})"

    # --- expressions: each returns the name (or literal text) holding its value -------------------------

    def expr(self, node: ir.Expr, scope: dict[str, str]) -> str:
        if isinstance(node, ir.Lit):
            return self.constant(node.value)
        if isinstance(node, ir.Ref):
            return self.ref(node, scope)
        if isinstance(node, ir.Arith):
            return self.arith(node, scope)
        if isinstance(node, ir.Coalesce):
            out = self.name()
            self.emit(f"{out} = None")
            for item in node.items:
                value = self.expr(item, scope)
                self.emit(f"{out} = {value}")
                self.emit(f"if {out} is None:")
                self.depth += 1
            self.emit("pass")
            self.depth -= len(node.items)
            return out
        if isinstance(node, ir.Pick):
            return self.pick(node, scope)
        if isinstance(node, ir.Count):
            found = self.matches(node.query, scope, first_only=False)
            out = self.name()
            self.emit(f"{out} = _len({found})")
            return out
        if isinstance(node, ir.Fold):
            return self.fold(node, scope)
        if isinstance(node, ir.CountDistinct):
            return self.count_distinct(node, scope)
        if isinstance(node, ir.Find):
            text = self.expr(node.text, scope)
            phrases = self.expr(node.phrases, scope)
            out = self.name()
            self.emit(f"{out} = _find_phrase({text}, {phrases})")
            return out
        return self.cond(node, scope)

    def ref(self, node: ir.Ref, scope: dict[str, str]) -> str:
        base = scope.get(node.root, "None")
        if not node.path:
            return base
        first, rest = node.path[0], node.path[1:]
        out = self.name()
        if base in self.records:
            self.emit(f"{out} = {base}.values[{base}.shape.get({first!r}, -1)]")
        else:
            self.emit(f"{out} = {base}")
            self.emit(f"if _isinstance({out}, _Record):")
            self.emit(f"    {out} = {out}.values[{out}.shape.get({first!r}, -1)]")
            self.emit(f"elif _isinstance({out}, _dict):")
            self.emit(f"    {out} = {out}.get({first!r})")
            self.emit("else:")
            self.emit(f"    {out} = None")
        for part in rest:
            self.emit(f"{out} = {out}.get({part!r}) if _isinstance({out}, _dict) else None")
        return out

    def arith(self, node: ir.Arith, scope: dict[str, str]) -> str:
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        out = self.name()
        subtract = node.op == "sub"
        operator = "-" if subtract else "+"
        self.emit(f"if {left} is None or {right} is None:")
        self.emit(f"    {out} = None")
        if self.clock != "None":
            if subtract:
                clocked = f"_isinstance({right}, _datetime)"
                call = f"clock.between({right}, {left})"
            else:
                clocked = f"_isinstance({right}, _timedelta)"
                call = f"clock.add({left}, {right})"
            self.emit(f"elif clock is not None and _isinstance({left}, _datetime) and {clocked}:")
            self.emit(f"    {out} = {call}")
        self.emit("else:")
        self.emit(f"    {out} = {left} {operator} {right}")
        return out

    # --- queries ---------------------------------------------------------------------------------------

    def matches(self, query: ir.Query, scope: dict[str, str], first_only: bool) -> str:
        """The name of a list of the records the query matches, in case order."""
        found = self.name("f")
        candidates = self.candidates(query.types)
        if query.where is None:
            self.emit(
                f"{found} = {'list(' + candidates + '[:1])' if first_only else 'list(' + candidates + ')'}"
            )
            return found
        self.emit(f"{found} = []")
        candidates = self.narrowed(query, candidates, scope)
        alias = self.name("a")
        self.emit(f"for {alias} in {candidates}:")
        self.depth += 1
        self.records.add(alias)
        holds = self.cond(query.where, {**scope, query.alias: alias})
        self.emit(f"if {holds}:")
        self.emit(f"    {found}.append({alias})")
        if first_only:
            self.emit("    break")
        self.depth -= 1
        return found

    def narrowed(self, query: ir.Query, candidates: str, scope: dict[str, str]) -> str:
        """The candidates, cut to one side of a record when the query's ``where`` requires it.

        ``after: [$it, $subject]`` (or ``before``) among the conditions every match must meet (the
        ``where`` itself or an item of its top-level ``all``) bounds the matches to one side of that
        record: the loop starts (or stops) there instead of testing every earlier record, which keeps
        a long case linear. The condition is still tested on each candidate; this only skips records
        that cannot meet it, so matches, their order and the evidence are the same.
        """
        where = query.where
        conjuncts = where.items if isinstance(where, ir.All) else (where,)
        for item in conjuncts:
            if not isinstance(item, ir.Order):
                continue
            alias = ir.Ref(query.alias)
            if item.left == alias and _plain_ref(item.right, query.alias):
                other, later = item.right, item.op == "after"
            elif item.right == alias and _plain_ref(item.left, query.alias):
                other, later = item.left, item.op == "before"
            else:
                continue
            bound = self.ref(other, scope)  # type: ignore[arg-type]
            cut = self.name("r")
            self.emit(f"{cut} = view.{'after' if later else 'before'}({candidates}, {bound})")
            return cut
        return candidates

    def pick(self, node: ir.Pick, scope: dict[str, str]) -> str:
        latest = node.which == "latest"
        found = self.matches(node.query, scope, first_only=not latest)
        out = self.name()
        self.emit(f"if {found}:")
        self.emit(f"    {out} = {found}[{-1 if latest else 0}]")
        self.emit(f"    evidence.append({out})")
        self.emit("else:")
        self.emit(f"    {out} = None")
        return out

    def fold(self, node: ir.Fold, scope: dict[str, str]) -> str:
        accumulator = self.name("acc")
        initial = self.expr(node.initial, scope)  # before the query, as the closure evaluator does
        self.emit(f"{accumulator} = {initial}")
        found = self.matches(node.query, scope, first_only=False)
        record = self.name("a")
        self.records.add(record)
        inner = {**scope, node.query.alias: record, "acc": accumulator}
        self.emit(f"for {record} in {found}:")
        self.depth += 1
        if node.when is not None:
            changes = self.cond(node.when, inner)
            self.emit(f"if {changes}:")
            self.depth += 1
        value = self.expr(node.value, inner)
        self.emit(f"{accumulator} = {value}")
        self.emit(f"evidence.append({record})")
        self.depth -= 2 if node.when is not None else 1
        return accumulator

    def count_distinct(self, node: ir.CountDistinct, scope: dict[str, str]) -> str:
        found = self.matches(node.query, scope, first_only=False)
        seen = self.name("s")
        self.emit(f"{seen} = _set()")
        record = self.name("a")
        self.records.add(record)
        self.emit(f"for {record} in {found}:")
        self.depth += 1
        value = self.expr(node.value, {**scope, node.query.alias: record})
        self.emit(f"{seen}.add({value})")
        self.depth -= 1
        self.emit(f"{seen}.discard(None)")
        out = self.name()
        self.emit(f"{out} = _len({seen})")
        return out

    # --- conditions: each returns the name holding its truth ---------------------------------------

    def cond(self, node: ir.Cond, scope: dict[str, str]) -> str:
        if isinstance(node, ir.All | ir.AnyOf):
            return self.junction(node, scope)
        if isinstance(node, ir.Not):
            inner = self.cond(node.item, scope)
            out = self.name("c")
            self.emit(f"{out} = not {inner}")
            return out
        if isinstance(node, ir.Compare):
            return self.compare(node, scope)
        if isinstance(node, ir.In):
            options = self.expr(node.options, scope)
            out = self.name("c")
            self.emit(f"if {options} is None:")
            self.emit(f"    {out} = False")
            self.emit("else:")
            self.depth += 1
            item = self.expr(node.item, scope)
            self.emit(f"{out} = {item} in {options}")
            self.depth -= 1
            return out
        if isinstance(node, ir.Intersects):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            out = self.name("c")
            self.emit(f"{out} = _bool({left}) and _bool({right}) and not _set({left}).isdisjoint({right})")
            return out
        if isinstance(node, ir.Present):
            value = self.expr(node.expr, scope)
            out = self.name("c")
            self.emit(f"{out} = {value} is {'' if node.negate else 'not '}None")
            return out
        if isinstance(node, ir.Exists):
            return self.exists(node, scope)
        if isinstance(node, ir.Order):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            out = self.name("c")
            relation = "<" if node.op == "before" else ">"
            self.emit(
                f"{out} = _isinstance({left}, _Record) and _isinstance({right}, _Record) and "
                f"view.positions[id({left})] {relation} view.positions[id({right})]"
            )
            return out
        if isinstance(node, ir.Quantifier):
            return self.quantifier(node, scope)
        if isinstance(node, ir.Matches):
            value = self.expr(node.expr, scope)
            pattern = self.constant(compile_pattern(node.pattern))
            out = self.name("c")
            self.emit(f"{out} = _isinstance({value}, str) and {pattern}.found_in({value})")
            return out
        if isinstance(node, ir.Call):
            values = [(name, self.expr(argument, scope)) for name, argument in node.args]
            condition = self.constant(node.condition)
            arguments = "{" + ", ".join(f"{name!r}: {value}" for name, value in values) + "}"
            out = self.name("c")
            self.emit(
                f"{out} = {condition}.call(_ConditionContext(view.case_id, now, view.records, "
                f"{self.policy.id!r}), {arguments})"
            )
            return out
        raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the compiler only builds these

    def junction(self, node: ir.All | ir.AnyOf, scope: dict[str, str]) -> str:
        """``all``/``any``, short-circuit in order: each item only while the answer is still open."""
        every = isinstance(node, ir.All)
        out = self.name("c")
        self.emit(f"{out} = {every}")
        for index, item in enumerate(node.items):
            if index:
                self.emit(f"if {'' if every else 'not '}{out}:")
                self.depth += 1
            holds = self.cond(item, scope)
            if every:
                self.emit(f"if not {holds}:")
            else:
                self.emit(f"if {holds}:")
            self.emit(f"    {out} = {not every}")
            if index:
                self.depth -= 1
        return out

    def compare(self, node: ir.Compare, scope: dict[str, str]) -> str:
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        out = self.name("c")
        if node.op == "eq":
            self.emit(f"{out} = {left} == {right}")
        elif node.op == "ne":
            self.emit(f"{out} = {left} != {right}")
        else:
            operator = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}[node.op]
            self.emit(f"{out} = {left} is not None and {right} is not None and {left} {operator} {right}")
        return out

    def exists(self, node: ir.Exists, scope: dict[str, str]) -> str:
        out = self.name("c")
        if not node.negate:
            found = self.matches(node.query, scope, first_only=True)
            self.emit(f"{out} = _bool({found})")
            return out
        if id(node) in self.decisive:
            # One match decides ``when`` is false, and then nothing this subject gathered is kept.
            found = self.matches(node.query, scope, first_only=True)
            self.emit(f"{out} = not {found}")
            return out
        found = self.matches(node.query, scope, first_only=False)
        self.emit(f"evidence.extend({found})")
        self.emit(f"{out} = not {found}")
        return out

    def quantifier(self, node: ir.Quantifier, scope: dict[str, str]) -> str:
        every = node.kind == "every"
        items = self.expr(node.items, scope)
        out = self.name("c")
        item = self.name("i")
        self.emit(f"{out} = {every}")
        self.emit(f"for {item} in {items} or _EMPTY:")
        self.depth += 1
        holds = self.cond(node.where, {**scope, node.alias: item})
        if every:
            self.emit(f"if not {holds}:")
        else:
            self.emit(f"if {holds}:")
        self.emit(f"    {out} = {not every}")
        self.emit("    break")
        self.depth -= 1
        return out


def _decisive_nones(when: ir.Cond) -> set[int]:
    """The ``none`` nodes of a ``when`` (by identity) whose first match makes the whole ``when`` false.

    Those reached from its root through ``all`` alone: a match there fails the ``when``, and a subject
    whose ``when`` fails has no finding, so the rest of the matches (evidence otherwise) are never
    needed. Anywhere else (under ``any`` or ``not``) every match may end up as evidence.
    """
    decisive: set[int] = set()
    pending: list[ir.Cond] = [when]
    while pending:
        node = pending.pop()
        if isinstance(node, ir.All):
            pending.extend(node.items)
        elif isinstance(node, ir.Exists) and node.negate:
            decisive.add(id(node))
    return decisive


def _plain_ref(node: ir.Expr, alias: str) -> bool:
    """A reference to a whole bound value other than the query's own record (evaluated once, outside)."""
    return isinstance(node, ir.Ref) and not node.path and node.root != alias
