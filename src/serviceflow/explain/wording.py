"""How explanations read: clauses as the author wrote them, values, and why a condition failed.

Shared by ``serviceflow explain``, ``lint --explain`` and coverage, so that a clause is spelled the
same way everywhere: as the policy's YAML spells it when the compiled policy still has its document
(``$params.within`` stays ``$params.within``), else rebuilt from the compiled tree.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from serviceflow.explain.trace import SubjectTrace, TraceNode, Verdict
from serviceflow.policy import ir
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.model import Record
from serviceflow.timeutil import format_datetime, format_duration

__all__ = [
    "because",
    "candidates",
    "clause_text",
    "describe",
    "first_failure",
    "line_of",
    "node_label",
    "reason",
    "show",
    "spell",
]

_SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_MISSING = object()
_PLAIN = re.compile(r"^[A-Za-z0-9_$.:+\-]+$")
#: How many candidates a reason names before it says "and N more".
REASON_CANDIDATES = 3


# --- the policy's own spelling -------------------------------------------------------------------


def line_of(policy: CompiledPolicy, pointer: str | None) -> int | None:
    """The 1-based line of the YAML node at ``pointer``, or ``None`` when the policy has no document."""
    if pointer is None or policy.document is None:
        return None
    return policy.document.location(pointer).line


def _source(policy: CompiledPolicy, pointer: str | None) -> Any:
    """The YAML data at ``pointer`` in the policy's document, or ``_MISSING``."""
    if pointer is None or policy.document is None:
        return _MISSING
    data = policy.document.data
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(data, dict) and token in data:
            data = data[token]
        elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
            data = data[int(token)]
        else:
            return _MISSING
    return data


def spell(node: ir.Expr | ir.Query, policy: CompiledPolicy, limit: int = 60) -> str:
    """An expression or condition as the author wrote it, in YAML flow style, cut at ``limit``."""
    data = _source(policy, node.pointer)
    if data is _MISSING:
        data = _as_data(node)
    return _shorten(_flow(data), limit)


def clause_text(node: ir.Cond, policy: CompiledPolicy, limit: int = 80) -> str:
    """A condition as written, without the outer braces: ``le: [$check.at, $subject.at]``."""
    data = _source(policy, node.pointer)
    if data is _MISSING:
        data = _as_data(node)
    if isinstance(data, dict) and len(data) == 1:
        ((operator, argument),) = data.items()
        return _shorten(f"{operator}: {_flow(argument)}", limit)
    return _shorten(_flow(data), limit)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flow(data: Any) -> str:
    if isinstance(data, dict):
        return "{" + ", ".join(f"{key}: {_flow(value)}" for key, value in data.items()) + "}"
    if isinstance(data, list | tuple):
        return "[" + ", ".join(_flow(item) for item in data) + "]"
    if isinstance(data, str):
        return data if data and _PLAIN.match(data) else json.dumps(data, ensure_ascii=False)
    return show(data)


def _as_data(node: Any) -> Any:
    """A compiled node turned back into policy-language data (parameters appear as their values)."""
    if isinstance(node, ir.Lit):
        return node.value
    if isinstance(node, ir.Ref):
        return "$" + ".".join((node.root, *node.path))
    if isinstance(node, ir.Query):
        query: dict[str, Any] = {"type": node.types[0] if len(node.types) == 1 else list(node.types)}
        if node.alias != "it":
            query["as"] = node.alias
        if node.where is not None:
            query["where"] = _as_data(node.where)
        return query
    if isinstance(node, ir.Compare | ir.Order | ir.Arith):
        return {node.op: [_as_data(node.left), _as_data(node.right)]}
    if isinstance(node, ir.Intersects):
        return {"intersects": [_as_data(node.left), _as_data(node.right)]}
    if isinstance(node, ir.In):
        return {"in": [_as_data(node.item), _as_data(node.options)]}
    if isinstance(node, ir.Present):
        return {"absent" if node.negate else "present": _as_data(node.expr)}
    if isinstance(node, ir.Exists):
        return {"none" if node.negate else "exists": _as_data(node.query)}
    if isinstance(node, ir.Quantifier):
        return {node.kind: {"in": _as_data(node.items), "as": node.alias, "where": _as_data(node.where)}}
    if isinstance(node, ir.Matches):
        return {"matches": [_as_data(node.expr), node.pattern]}
    if isinstance(node, ir.Call):
        return {"condition": {"name": node.condition.name, "args": {k: _as_data(v) for k, v in node.args}}}
    if isinstance(node, ir.All | ir.AnyOf):
        return {"all" if isinstance(node, ir.All) else "any": [_as_data(item) for item in node.items]}
    if isinstance(node, ir.Not):
        return {"not": _as_data(node.item)}
    if isinstance(node, ir.Coalesce):
        return {"coalesce": [_as_data(item) for item in node.items]}
    if isinstance(node, ir.Pick):
        return {node.which: _as_data(node.query)}
    if isinstance(node, ir.Count):
        return {"count": _as_data(node.query)}
    if isinstance(node, ir.CountDistinct):
        return {"count_distinct": {"over": _as_data(node.query), "value": _as_data(node.value)}}
    if isinstance(node, ir.Find):
        return {"find": [_as_data(node.text), _as_data(node.phrases)]}
    if isinstance(node, ir.Fold):
        fold: dict[str, Any] = {"over": _as_data(node.query), "initial": _as_data(node.initial)}
        if node.when is not None:
            fold["when"] = _as_data(node.when)
        fold["value"] = _as_data(node.value)
        return {"fold": fold}
    return repr(node)  # pragma: no cover - every node type is handled above


# --- values --------------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as an explanation prints it: ``missing``, ``true``, RFC 3339, ``4h``, a record's id."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Record):
        return value.id
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {show(item)}" for key, item in value.items()) + "}"
    return str(value)


def _operand(trace: TraceNode, policy: CompiledPolicy) -> str:
    """``$subject.due 2024-05-09T12:00:00Z``; a literal written in the policy shows only its value."""
    written = spell(trace.node, policy, 60)
    value = show(trace.value) if trace.error is None else "(error)"
    if isinstance(trace.node, ir.Lit) and not written.startswith(("$", "{")):
        return value
    return f"{written} {value}"


def _part(trace: TraceNode, expr: ir.Expr, policy: CompiledPolicy) -> str:
    """The operand ``expr`` of ``trace`` with its value, or as written when it was not evaluated."""
    # Children are matched by identity: evaluation order is not field order (``in`` reads its list
    # first), and an operand may not have been evaluated at all.
    child = next((child for child in trace.children if child.node is expr), None)
    if child is None:
        return f"{spell(expr, policy, 60)} (not evaluated)"
    return _operand(child, policy)


def _outcome(trace: TraceNode) -> str:
    if trace.error is not None:
        return f"engine error: {trace.error}"
    return show(trace.value) if trace.is_condition else f"→ {show(trace.value)}"


# --- what each evaluation did ---------------------------------------------------------------------


def node_label(node: ir.Expr | ir.Query) -> str:
    """The operator a node stands for: ``le``, ``exists``, ``none``, ``latest``, ``query``, ``ref``..."""
    if isinstance(node, ir.Compare | ir.Order | ir.Arith):
        return node.op
    if isinstance(node, ir.Present):
        return "absent" if node.negate else "present"
    if isinstance(node, ir.Exists):
        return "none" if node.negate else "exists"
    if isinstance(node, ir.Quantifier):
        return node.kind
    if isinstance(node, ir.Pick):
        return node.which
    labels = {
        ir.In: "in", ir.Intersects: "intersects", ir.Matches: "matches", ir.Call: "condition",
        ir.All: "all", ir.AnyOf: "any", ir.Not: "not", ir.Coalesce: "coalesce", ir.Count: "count",
        ir.CountDistinct: "count_distinct", ir.Find: "find", ir.Fold: "fold", ir.Query: "query",
        ir.Lit: "literal", ir.Ref: "ref",
    }  # fmt: skip
    return labels[type(node)]


def _types(query: ir.Query) -> str:
    return "/".join(query.types)


def describe(trace: TraceNode, policy: CompiledPolicy) -> str:
    """One line saying what an evaluation compared or looked at and what it gave."""
    node, label, outcome = trace.node, node_label(trace.node), _outcome(trace)
    if isinstance(node, ir.Compare):
        left, right = _part(trace, node.left, policy), _part(trace, node.right, policy)
        return f"{label} {left} {_SYMBOLS[node.op]} {right}: {outcome}"
    if isinstance(node, ir.Arith):
        left, right = _part(trace, node.left, policy), _part(trace, node.right, policy)
        return f"{label} {left} {'+' if node.op == 'add' else '-'} {right} {outcome}"
    if isinstance(node, ir.Order | ir.Intersects):
        left, right = _part(trace, node.left, policy), _part(trace, node.right, policy)
        return f"{label} {left}, {right}: {outcome}"
    if isinstance(node, ir.In):
        return f"in {_part(trace, node.item, policy)} ∈ {_part(trace, node.options, policy)}: {outcome}"
    if isinstance(node, ir.Present):
        return f"{label} {_part(trace, node.expr, policy)}: {outcome}"
    if isinstance(node, ir.Matches):
        return f"matches {_part(trace, node.expr, policy)} /{node.pattern}/: {outcome}"
    if isinstance(node, ir.Find):
        return f"find {_part(trace, node.text, policy)} among {_part(trace, node.phrases, policy)} {outcome}"
    if isinstance(node, ir.Exists | ir.Pick | ir.Count | ir.CountDistinct | ir.Fold):
        query = next((child for child in trace.children if isinstance(child.node, ir.Query)), None)
        alias = f" as {node.query.alias}" if node.query.alias != "it" else ""
        found = f" ({_matched(query)})" if query is not None else ""
        separator = ":" if trace.is_condition else ""
        return f"{label} {_types(node.query)}{alias}{found}{separator} {outcome}"
    if isinstance(node, ir.Query):
        return f"{_types(node)}: {_matched(trace)}"
    if isinstance(node, ir.Quantifier):
        return f"{label} {_part(trace, node.items, policy)} as {node.alias}: {outcome}"
    if isinstance(node, ir.Call):
        args = ", ".join(f"{name}={_part(trace, expr, policy)}" for name, expr in node.args)
        return f"condition {node.condition.name}({args}): {outcome}"
    if isinstance(node, ir.All | ir.AnyOf):
        return f"{label} of {len(node.items)}: {outcome}"
    if isinstance(node, ir.Not):
        return f"not: {outcome}"
    if isinstance(node, ir.Coalesce):
        return f"coalesce of {len(node.items)} {outcome}"
    return _operand(trace, policy)


def _matched(query: TraceNode) -> str:
    """``2 considered, 1 matched: k2`` for a query's evaluation."""
    considered = _considered(query)
    matched = query.value if isinstance(query.value, list) else []
    text = f"{len(considered)} considered, {len(matched)} matched"
    if matched:
        text += ": " + ", ".join(record.id for record in matched)
    return text


def _considered(query: TraceNode) -> list[Any]:
    """The candidates a query looked at: one evaluation of its where each, or (no where) what it returned."""
    if isinstance(query.node, ir.Query) and query.node.where is not None:
        return [child.bindings.get(query.node.alias) for child in query.children]
    return list(query.value) if isinstance(query.value, list) else []


def candidates(query: TraceNode) -> list[tuple[Any, TraceNode | None]]:
    """Each candidate a query considered, with the evaluation of its where (``None``: no where)."""
    if isinstance(query.node, ir.Query) and query.node.where is not None:
        return [(child.bindings.get(query.node.alias), child) for child in query.children]
    return [(record, None) for record in _considered(query)]


# --- why it failed --------------------------------------------------------------------------------


def first_failure(trace: TraceNode) -> TraceNode | None:
    """The condition that made ``trace`` false: into an ``all``, the item that was false, and so on down.

    An ``any``, a ``not``, a query or a comparison that is false is itself the first failure; an
    evaluation that raised is its own failure. ``None`` when ``trace`` held.
    """
    if trace.error is not None:
        inner = next((child for child in trace.children if child.error is not None), None)
        return first_failure(inner) if inner is not None and inner.is_condition else trace
    if trace.outcome is not False:
        return None
    if isinstance(trace.node, ir.All):
        failed = next((child for child in trace.children if child.outcome is False), None)
        if failed is not None:
            return first_failure(failed)
    return trace


def _where(pointer: str | None) -> str:
    return pointer or "(a condition)"


def because(trace: TraceNode, policy: CompiledPolicy) -> str:
    """Why a failed condition failed, in one line (queries name their candidates)."""
    node = trace.node
    if trace.error is not None:
        return f"{_where(trace.pointer)} could not decide ({describe(trace, policy)})"
    if isinstance(node, ir.Exists):
        query = next((child for child in trace.children if isinstance(child.node, ir.Query)), None)
        considered = candidates(query) if query is not None else []
        if node.negate:
            matched = query.value if query is not None and isinstance(query.value, list) else []
            ids = ", ".join(record.id for record in matched)
            return f"{_types(node.query)} {ids} matched {_where(node.query.pointer)}"
        if not considered:
            return f"no {_types(node.query)} record in the case"
        failures = [_candidate_failure(record, where, policy) for record, where in considered]
        shown = failures[:REASON_CANDIDATES]
        more = len(failures) - len(shown)
        text = f"no {_types(node.query)} matched: " + "; ".join(shown)
        return text + (f"; and {more} more" if more else "")
    if isinstance(node, ir.Quantifier) and node.kind == "every":
        failed = next((child for child in reversed(trace.children) if child.bindings), None)
        if failed is not None:
            item = show(failed.bindings.get(node.alias))
            inner = first_failure(failed)
            detail = f" ({describe(inner, policy)})" if inner is not None else ""
            return f"{node.alias} {item} failed {_where(inner.pointer if inner else None)}{detail}"
    if isinstance(node, ir.AnyOf):
        options = [first_failure(child) or child for child in trace.children]
        described = "; ".join(f"{_where(option.pointer)} ({describe(option, policy)})" for option in options)
        return f"none of {_where(trace.pointer)} held: {described}"
    return f"failed {_where(trace.pointer)} ({describe(trace, policy)})"


def _candidate_failure(record: Any, where: TraceNode | None, policy: CompiledPolicy) -> str:
    name = show(record)
    if where is None:
        return f"{name} matched"
    failed = first_failure(where)
    if failed is None:
        return f"{name} matched"
    return f"{name} failed {_where(failed.pointer)} ({describe(failed, policy)})"


def reason(subject: SubjectTrace) -> str:
    """The short reason a policy decided as it did about a record (``lint --explain``'s ``because``)."""
    verdict = subject.verdict
    policy = subject.policy
    if verdict is Verdict.ENGINE_ERROR:
        failing = next((node for node in subject.walk() if node.error is not None), None)
        if failing is not None:
            deepest = [node for node in failing.walk() if node.error is not None][-1]
            return f"{_where(deepest.pointer)}: {deepest.error}"
        return "a named condition failed"
    if verdict is Verdict.NOT_SELECTED and subject.for_each is not None:
        return _failure_reason(subject.for_each, policy, "for_each where")
    if verdict is Verdict.NOT_APPLICABLE and subject.when is not None:
        return _failure_reason(subject.when, policy, "when")
    if verdict is Verdict.MET:
        return "require held"
    if subject.require is None:  # pragma: no cover - a finding always comes from an evaluated require
        return verdict.value
    return _failure_reason(subject.require, policy, "require")


def _failure_reason(trace: TraceNode, policy: CompiledPolicy, stage: str) -> str:
    failed = first_failure(trace)
    if failed is None:  # pragma: no cover - called only for a stage that was false
        return f"{stage} was false"
    return because(failed, policy)
