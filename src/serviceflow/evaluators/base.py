"""What every evaluator shares: the contract, the view of one case at ``now``, and message rendering.

Both evaluators must produce identical findings for the same compiled policies; keeping the parts that
are not *evaluation* (which records are visible, how a message is worded) here is what lets the
conformance suite compare them finding for finding.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from serviceflow.calendars import Calendar
from serviceflow.conditions import ConditionError
from serviceflow.errors import EvaluatorError
from serviceflow.findings import Finding, Severity, Status
from serviceflow.policy.ir import CASE_CALENDAR, CompiledPolicy
from serviceflow.policy.templates import format_value, render
from serviceflow.records.model import Record

__all__ = [
    "RUNTIME_ERRORS",
    "CaseFindings",
    "CaseView",
    "Evaluator",
    "engine_error",
    "evidence_ids",
    "find_phrase",
    "format_value",
    "policy_clock",
    "render",
    "visible_records",
    "watch_changes",
]


@dataclass(frozen=True, slots=True)
class CaseFindings:
    """What an evaluator says about one case at ``now``.

    ``findings``: violations, pending obligations and engine errors, by policy and then by subject in
    case order. ``changes``: the instants after ``now`` at which a comparison of ``$now`` in a policy
    turns for some subject (the values of the policies' watches, :mod:`serviceflow.policy.timing`);
    the engine takes the earliest as part of the case's ``next_change``.
    """

    findings: list[Finding]
    changes: list[datetime] = field(default_factory=list)


class Evaluator(Protocol):
    """Evaluates compiled policies over one case at a time."""

    name: str

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        """Findings for one case whose records are in case order (``at``, then ``seq``)."""
        ...

    def close(self) -> None:
        """Release whatever the evaluator holds (durable-rules rulesets)."""
        ...


class CaseView:
    """The records of one case that are known at ``now``, indexed by type, in case order.

    ``position`` gives each record's place in that order: ``before``/``after`` and evidence compare
    positions, so the order is the case's, however the records' ``seq`` were numbered. Positions are
    worked out on first use: most cases never compare two records' order.
    """

    __slots__ = ("_merged", "_positions", "by_type", "case_id", "now", "records")

    def __init__(self, case_id: str, records: Sequence[Record], now: datetime) -> None:
        if now.tzinfo is None:
            raise EvaluatorError("'now' must carry a time zone offset")
        self.case_id = case_id
        self.now = now
        self.records = visible_records(records, now)
        by_type: dict[str, list[Record]] = {}
        for record in self.records:
            listed = by_type.get(record.type)
            if listed is None:
                by_type[record.type] = [record]
            else:
                listed.append(record)
        self.by_type = by_type
        self._positions: dict[int, int] | None = None
        self._merged: dict[tuple[str, ...], list[Record]] = {}

    @property
    def positions(self) -> dict[int, int]:
        """``id(record)`` -> the record's place in case order (built on first use)."""
        positions = self._positions
        if positions is None:
            positions = self._positions = {id(record): index for index, record in enumerate(self.records)}
        return positions

    def position(self, record: Record) -> int:
        """The record's place in the case's order (it must be one of the visible records)."""
        return self.positions[id(record)]

    def after(self, records: list[Record], record: Any) -> list[Record]:
        """Those of ``records`` (in case order) that come after ``record``; all when it is no record here.

        A pre-filter for a query that asks for records after another (``after: [$it, $subject]``):
        the query still checks its condition on each, this only skips those that cannot pass.
        """
        position = self.positions.get(id(record)) if isinstance(record, Record) else None
        if position is None:
            return records
        positions = self.positions
        return records[bisect.bisect_right(records, position, key=lambda r: positions[id(r)]) :]

    def before(self, records: list[Record], record: Any) -> list[Record]:
        """Those of ``records`` (in case order) that come before ``record``; all when it is no record here."""
        position = self.positions.get(id(record)) if isinstance(record, Record) else None
        if position is None:
            return records
        positions = self.positions
        return records[: bisect.bisect_left(records, position, key=lambda r: positions[id(r)])]

    def of_types(self, types: tuple[str, ...]) -> list[Record]:
        """Records of these types in case order; multi-type merges are built once per case."""
        if len(types) == 1:
            return self.by_type.get(types[0], [])
        merged = self._merged.get(types)
        if merged is None:
            positions = self.positions
            merged = sorted(
                (r for t in types for r in self.by_type.get(t, [])), key=lambda r: positions[id(r)]
            )
            self._merged[types] = merged
        return merged


def watch_changes(policy: CompiledPolicy, bindings: Mapping[str, Any], now: datetime) -> Iterator[datetime]:
    """The instants after ``now`` at which the policy's comparisons of ``$now`` turn for one subject.

    ``bindings`` are the subject's lets (a frame's or an environment's), hidden watch lets included.
    """
    for watch in policy.timing.watches:
        value = bindings.get(watch.let)
        if isinstance(value, datetime):
            for offset in watch.offsets:
                try:
                    moment = value + offset
                except OverflowError:
                    continue  # past the end of time: it never comes
                if moment > now:
                    yield moment


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
    """Records with ``at`` at or before ``now``: evaluating at ``now`` means not knowing the future.

    Records in case order (by ``at``) are visible as a prefix; the usual case, all of them visible,
    costs one comparison.
    """
    if isinstance(records, list) and (not records or records[-1].at <= now):
        return records
    return [record for record in records if record.at <= now]


#: What evaluating a policy can raise about one record's values: a plugin's condition failing, values
#: of different kinds compared (text with a number), a time beyond year 9999 (a due plus 48 hours).
RUNTIME_ERRORS = (ConditionError, TypeError, ValueError, ArithmeticError)


def engine_error(policy: CompiledPolicy, case_id: str, subject: Record, error: Exception) -> Finding:
    """The finding for a record a policy could not decide: a plugin's code failed, or its values did.

    It names the policy and its file (and the plugin and condition for a named condition), so that the
    run fails loudly, never a silent pass, and says whose code or data to look at; evaluation of the
    other records and cases goes on.
    """
    if isinstance(error, ConditionError):
        problem = error.message
    else:
        where = f" ({policy.source.file})" if policy.source is not None and policy.source.file else ""
        problem = f"its values could not be evaluated{where}: {type(error).__name__}: {error}"
    return Finding(
        policy=policy.id,
        severity=Severity.ERROR,
        status=Status.ERROR,
        case_id=case_id,
        record_id=subject.id,
        message=f"policy '{policy.id}' could not decide: {problem}",
        evidence=(subject.id,),
        origin=subject.origin,
    )


def evidence_ids(subject: Record, records: Iterable[Record], view: CaseView) -> tuple[str, ...]:
    """The subject first, then the deciding records in case order, each once."""
    seen = {subject.id}
    ordered = [subject.id]
    positions = view.positions
    for record in sorted(records, key=lambda r: positions[id(r)]):
        if record.id not in seen:
            seen.add(record.id)
            ordered.append(record.id)
    return tuple(ordered)
