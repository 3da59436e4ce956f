"""What every evaluator shares: the contract, the view of one case at ``now``, and message rendering.

Both evaluators must produce identical findings for the same compiled policies; keeping the parts that
are not *evaluation* (which records are visible, how a message is worded) here is what lets the
conformance suite compare them finding for finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from serviceflow.calendars import Calendar
from serviceflow.conditions import ConditionError
from serviceflow.config import CASE_CALENDAR
from serviceflow.errors import EvaluatorError
from serviceflow.findings import Finding, Severity, Status
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.model import Record
from serviceflow.timeutil import format_datetime, format_duration

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\}")


class Evaluator(Protocol):
    """Evaluates compiled policies over one case at a time."""

    name: str

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> list[Finding]:
        """Findings (violations and pending) for one case whose records are in case order."""
        ...

    def close(self) -> None:
        """Release whatever the evaluator holds (durable-rules rulesets)."""
        ...


class CaseView:
    """The records of one case that are known at ``now``, indexed by type, in case order."""

    __slots__ = ("_merged", "by_type", "case_id", "now", "records")

    def __init__(self, case_id: str, records: Sequence[Record], now: datetime) -> None:
        if now.tzinfo is None:
            raise EvaluatorError("'now' must carry a time zone offset")
        self.case_id = case_id
        self.now = now
        self.records = visible_records(records, now)
        self.by_type: dict[str, list[Record]] = {}
        for record in self.records:
            self.by_type.setdefault(record.type, []).append(record)
        self._merged: dict[tuple[str, ...], list[Record]] = {}

    def of_types(self, types: tuple[str, ...]) -> list[Record]:
        """Records of these types in case order; multi-type merges are built once per case."""
        if len(types) == 1:
            return self.by_type.get(types[0], [])
        merged = self._merged.get(types)
        if merged is None:
            merged = sorted((r for t in types for r in self.by_type.get(t, [])), key=lambda r: r.seq)
            self._merged[types] = merged
        return merged


def policy_clock(
    policy: CompiledPolicy, view: CaseView, calendars: Mapping[str, Calendar]
) -> Calendar | None:
    """The calendar a policy counts durations in for this case, or ``None`` for plain elapsed time.

    ``case`` means the calendar the case names on its ``case_opened`` record; a case naming none is
    measured in plain elapsed time.
    """
    name: str | None = policy.calendar
    if name == CASE_CALENDAR:
        opened = view.by_type.get("case_opened")
        name = opened[0].get("calendar") if opened else None
    return calendars.get(name) if name is not None else None


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(set(phrases), key=len, reverse=True)
    alternatives = "|".join(re.escape(phrase) for phrase in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def find_phrase(text: Any, phrases: Any) -> dict[str, Any] | None:
    """The earliest whole-word, case-insensitive occurrence of any phrase: ``{phrase, position}``.

    Shared by both evaluators so a tone finding names the same phrase and position whichever runs.
    """
    if not isinstance(text, str) or not phrases:
        return None
    match = _phrase_pattern(tuple(phrases)).search(text)
    if match is None:
        return None
    return {"phrase": match.group(0), "position": match.start() + 1}


def visible_records(records: Iterable[Record], now: datetime) -> list[Record]:
    """Records with ``at`` at or before ``now``: evaluating at ``now`` means not knowing the future."""
    return [record for record in records if record.at <= now]


def render_message(
    template: str,
    bindings: dict[str, Any],
    params: dict[str, Any],
    deadline: datetime | None,
) -> str:
    """Fill ``{subject.promise}``, ``{params.within}``, ``{deadline}`` and let names into a message."""

    def replace(match: re.Match[str]) -> str:
        root, path = match.group(1), match.group(2)
        if root == "params":
            value: Any = params.get(path[1:])
            path = ""
        elif root == "deadline":
            value = deadline
        else:
            value = bindings.get(root)
        for part in path.split(".")[1:]:
            value = value.get(part) if isinstance(value, Record | dict) else None
        return format_value(value)

    return _PLACEHOLDER.sub(replace, template)


def format_value(value: Any) -> str:
    """How a value reads in a message."""
    if value is None:
        return "(none)"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Record):
        return value.id
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def engine_error(policy: CompiledPolicy, case_id: str, subject: Record, error: ConditionError) -> Finding:
    """The finding for a record a policy could not decide because a plugin's code failed.

    It names the plugin, the condition and the policy, so that the run fails loudly (never a silent
    pass) and the user knows whose code to look at; evaluation of other records goes on.
    """
    return Finding(
        policy=policy.id,
        severity=Severity.ERROR,
        status=Status.ERROR,
        case_id=case_id,
        record_id=subject.id,
        message=f"policy '{policy.id}' could not decide: {error.message}",
        evidence=(subject.id,),
        origin=subject.origin,
    )


def evidence_ids(subject: Record, records: Iterable[Record]) -> tuple[str, ...]:
    """The subject first, then the deciding records in case order, each once."""
    seen = {subject.id}
    ordered = [subject.id]
    for record in sorted(records, key=lambda r: r.seq):
        if record.id not in seen:
            seen.add(record.id)
            ordered.append(record.id)
    return tuple(ordered)
