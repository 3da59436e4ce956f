"""An :class:`~serviceflow.explain.explain.Explanation` as text for a policy author, or as JSON.

The text is a listing: each line of a trace starts with the line of the policy's YAML that holds the
clause, so that an author can go straight to it. Operands (``$subject.due``, literals) are shown inside
the condition that compares them, not on lines of their own; a query's candidates are listed each with
its ``where`` underneath; ``<- first failure`` marks the condition that decided a ``for_each``,
``when`` or ``require`` that was false, and, for each candidate a query turned down, the first
condition of its ``where`` that failed.

The JSON holds the whole trace, operands included (see docs/explain.md).

Both print record data: each text line goes through
:func:`~serviceflow.reporters.escaping.printable` (a record's control characters are shown, never sent
to the terminal), and the JSON through :func:`~serviceflow.reporters.escaping.json_text` (UTF-8
whatever the records hold).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from serviceflow.explain.explain import Explanation
from serviceflow.explain.trace import SubjectTrace, TraceNode, Verdict
from serviceflow.explain.wording import (
    candidates,
    describe,
    first_failure,
    line_of,
    node_label,
    reason,
    show,
    spell,
)
from serviceflow.policy import ir
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.model import Record
from serviceflow.reporters.base import place, plural
from serviceflow.reporters.escaping import json_text, printable
from serviceflow.timeutil import format_datetime, format_duration

__all__ = ["explanation_to_dict", "render_explanation", "render_explanation_json"]

_GUTTER = len("line 1234  ")
_FIRST_FAILURE = "  <- first failure"
_QUERIES = (ir.Exists, ir.Pick, ir.Count, ir.CountDistinct, ir.Fold)


# --- text ------------------------------------------------------------------------------------------


def render_explanation(explanation: Explanation) -> str:
    """The text listing: a header, then each policy and each of its candidate records."""
    trace = explanation.trace
    fired = sum(1 for subject in trace.subjects if subject.verdict.fired)
    lines = [
        f"case {trace.case_id} as of {format_datetime(trace.now)}: {plural(len(trace.records), 'record')}, "
        f"{plural(len(explanation.policies), 'policy', 'policies')}, {plural(fired, 'finding')}",
    ]
    for policy in explanation.policies:
        lines.append("")
        lines.extend(_policy_lines(policy, explanation.subjects(policy)))
    # Our own wording holds no control characters, so escaping whole lines only touches record data.
    return "\n".join(printable(line) for line in lines) + "\n"


def _policy_lines(policy: CompiledPolicy, subjects: list[SubjectTrace]) -> list[str]:
    file = _policy_file(policy)
    lines = [f"{policy.id}  ({policy.severity.value}{', ' + file if file else ''})"]
    if not subjects:
        lines.append(f"  no {'/'.join(policy.subject.types)} record in the case: nothing to check")
    for subject in subjects:
        lines.extend(_subject_lines(subject))
    return lines


def _policy_file(policy: CompiledPolicy) -> str | None:
    """The policy's file, relative to the working directory when it lies under it."""
    if policy.source is None or policy.source.file is None:
        return None
    relative = os.path.relpath(policy.source.file)
    return policy.source.file if relative.startswith("..") else relative


def _subject_lines(subject: SubjectTrace) -> list[str]:
    record = subject.record
    where = place(record.origin)
    at = f"{record.type} at {format_datetime(record.at)}"
    lines = [
        f"  record {record.id}  ({at}{', ' + where if where else ''})",
        f"    fired: {_fired(subject)}",
    ]
    if subject.verdict is not Verdict.MET:
        lines.append(f"    because: {reason(subject)}")
    if subject.finding is not None:
        lines.append(f"    message: {subject.finding.message}")
    decided = _deciding_failure(subject)
    for stage, node in subject.stages:
        lines.extend(_node_lines(node, subject.policy, 0, f"{stage}: ", decided))
    return lines


def _fired(subject: SubjectTrace) -> str:
    verdict = subject.verdict
    if verdict is Verdict.VIOLATION:
        return f"yes, a violation ({subject.policy.severity.value})"
    if verdict is Verdict.PENDING and subject.deadline is not None:
        return f"yes, pending: due by {format_datetime(subject.deadline)}"
    if verdict is Verdict.ENGINE_ERROR:
        return "yes, an engine error: the policy could not decide"
    return {
        Verdict.NOT_SELECTED: "no, the for_each where did not select it",
        Verdict.NOT_APPLICABLE: "no, when was false",
        Verdict.MET: "no, require held",
    }[verdict]


def _deciding_failure(subject: SubjectTrace) -> TraceNode | None:
    """The first failure of the stage that was false (for_each, when or require), if one was."""
    for node in (subject.for_each, subject.when, subject.require):
        if node is not None and node.outcome is False:
            return first_failure(node)
    return None


def _node_lines(
    trace: TraceNode, policy: CompiledPolicy, depth: int, prefix: str, marked: TraceNode | None
) -> list[str]:
    text = prefix + describe(trace, policy) + (_FIRST_FAILURE if trace is marked else "")
    lines = [_listed(line_of(policy, trace.pointer), depth, text)]
    node = trace.node
    for child in trace.children:
        if isinstance(child.node, ir.Lit | ir.Ref):
            continue  # shown inside the parent's description
        if isinstance(child.node, ir.Query) and isinstance(node, _QUERIES):
            lines.extend(_candidate_lines(child, policy, depth + 1))
        elif child.bindings:
            bound = ", ".join(f"{name} {show(value)}" for name, value in child.bindings.items())
            lines.extend(_node_lines(child, policy, depth + 1, f"[{bound}] ", marked))
        else:
            lines.extend(_node_lines(child, policy, depth + 1, "", marked))
    return lines


def _candidate_lines(query: TraceNode, policy: CompiledPolicy, depth: int) -> list[str]:
    """Each candidate a query considered: matched or not, and its where, first failure marked."""
    assert isinstance(query.node, ir.Query)
    alias = query.node.alias
    lines = []
    for record, where in candidates(query):
        if where is None:
            lines.append(_listed(line_of(policy, query.pointer), depth, f"{alias} {show(record)}: matched"))
            continue
        failed = first_failure(where)
        verdict = "matched" if failed is None else f"turned down at {failed.pointer}"
        lines.append(_listed(line_of(policy, query.pointer), depth, f"{alias} {show(record)}: {verdict}"))
        # The where's own line (an implicit "all") adds nothing to the candidate's: show its items.
        parts = where.children if isinstance(where.node, ir.All) else [where]
        for part in parts:
            lines.extend(_node_lines(part, policy, depth + 1, "", failed))
    return lines


def _listed(line: int | None, depth: int, text: str) -> str:
    gutter = f"line {line}" if line is not None else ""
    return f"    {gutter.ljust(_GUTTER)}{'  ' * depth}{text}"


# --- JSON ------------------------------------------------------------------------------------------


def render_explanation_json(explanation: Explanation) -> str:
    """:func:`explanation_to_dict` as indented JSON text that any UTF-8 stream can write."""
    return json_text(explanation_to_dict(explanation), indent=2) + "\n"


def explanation_to_dict(explanation: Explanation) -> dict[str, Any]:
    """The whole explanation as JSON-ready data."""
    trace = explanation.trace
    return {
        "case_id": trace.case_id,
        "now": format_datetime(trace.now),
        "records": [record.id for record in trace.records],
        "policies": [
            {
                "policy": policy.id,
                "title": policy.title,
                "severity": policy.severity.value,
                "file": _policy_file(policy),
                "subjects": [_subject_dict(subject) for subject in explanation.subjects(policy)],
            }
            for policy in explanation.policies
        ],
    }


def _subject_dict(subject: SubjectTrace) -> dict[str, Any]:
    policy, record = subject.policy, subject.record
    failed = _deciding_failure(subject)
    return {
        "record": record.id,
        "type": record.type,
        "at": format_datetime(record.at),
        "location": _location(record),
        "fired": subject.verdict.fired,
        "verdict": subject.verdict.value,
        "deadline": format_datetime(subject.deadline) if subject.deadline is not None else None,
        "reason": reason(subject),
        "finding": subject.finding.to_dict() if subject.finding is not None else None,
        "first_failure": _clause(failed, policy) if failed is not None else None,
        "stages": [{"stage": stage, "trace": _node_dict(node, policy)} for stage, node in subject.stages],
    }


def _location(record: Record) -> dict[str, Any] | None:
    origin = record.origin
    if origin is None or origin.file is None:
        return None
    return {"file": origin.file, "line": origin.line}


def _clause(trace: TraceNode, policy: CompiledPolicy) -> dict[str, Any]:
    return {
        "pointer": trace.pointer,
        "line": line_of(policy, trace.pointer),
        "description": describe(trace, policy),
    }


def _node_dict(trace: TraceNode, policy: CompiledPolicy) -> dict[str, Any]:
    data: dict[str, Any] = {
        "op": node_label(trace.node),
        "pointer": trace.pointer,
        "line": line_of(policy, trace.pointer),
        "source": spell(trace.node, policy, 200),
        "description": describe(trace, policy),
    }
    if trace.error is not None:
        data["error"] = trace.error
    elif trace.is_condition:
        data["outcome"] = trace.outcome
    elif not isinstance(trace.node, ir.Query):  # a query's value is its "matched"
        data["value"] = _json(trace.value)
    if trace.bindings:
        data["bindings"] = {name: _json(value) for name, value in trace.bindings.items()}
    if isinstance(trace.node, ir.Query):
        considered = candidates(trace)
        data["considered"] = [_json(record) for record, _where in considered]
        data["matched"] = [_json(record) for record in trace.value or ()]
        data["turned_down"] = {
            str(_json(record)): _clause(failed, policy)
            for record, where in considered
            if where is not None and (failed := first_failure(where)) is not None
        }
    data["children"] = [_node_dict(child, policy) for child in trace.children]
    return data


def _json(value: Any) -> Any:
    """A value as JSON: records as their id, date-times as RFC 3339, durations as ``4h``."""
    if isinstance(value, Record):
        return value.id
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return value
