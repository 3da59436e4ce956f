"""Explain one case: for each policy and each candidate record, whether it fired and why (or why not).

This is the library behind ``serviceflow explain``; it imports no CLI code. A case is read as ``lint``
reads it (:func:`read_case`: the same reading and admission, :func:`serviceflow.run.read_sources_into`),
then traced with the native evaluator (:func:`explain_case`); :mod:`serviceflow.explain.report`
renders the result as text or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from serviceflow.calendars import Calendar
from serviceflow.engine import Engine
from serviceflow.errors import InputError, PolicyError, ServiceflowError
from serviceflow.explain.trace import CaseTrace, SubjectTrace, TracingEvaluator
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.model import Record
from serviceflow.records.raw import RECORDS_FORMAT
from serviceflow.run import read_sources_into

__all__ = ["CaseRecords", "Explanation", "explain_case", "read_case", "select_policies"]

#: How many case ids an "unknown case" error lists.
KNOWN_CASES_SHOWN = 10


@dataclass
class CaseRecords:
    """The admitted records of one case, and what was refused while reading the input."""

    case_id: str
    records: list[Record]
    input_errors: list[InputError]


@dataclass
class Explanation:
    """The trace of one case under the chosen policies."""

    trace: CaseTrace
    policies: list[CompiledPolicy]

    def subjects(self, policy: CompiledPolicy) -> list[SubjectTrace]:
        """The candidate subjects of ``policy``, in case order."""
        return [subject for subject in self.trace.subjects if subject.policy is policy]


def read_case(
    engine: Engine,
    sources: Sequence[str | Path],
    case_id: str,
    now: datetime,
    input_format: str | None = None,
    stdin: BinaryIO | None = None,
) -> CaseRecords:
    """The records of ``case_id`` in ``sources``, admitted exactly as ``lint`` admits them.

    Raises :class:`ServiceflowError` naming the cases there are when ``case_id`` is not one of them.
    """
    reader = engine.plugins.reader(input_format or RECORDS_FORMAT)
    partition = read_sources_into(engine, reader, list(sources), now, stdin=stdin)
    case_ids = partition.buffer.case_ids()
    errors = list(partition.collector.freeze().input_errors)
    for found, records in partition.buffer.cases():
        if found == case_id:
            return CaseRecords(case_id, records, errors)
    raise ServiceflowError(f"no case '{case_id}' in the records ({_known(case_ids)})")


def _known(case_ids: Sequence[str]) -> str:
    if not case_ids:
        return "there are no cases"
    shown = ", ".join(case_ids[:KNOWN_CASES_SHOWN])
    more = len(case_ids) - KNOWN_CASES_SHOWN
    return f"cases: {shown}" + (f" and {more} more" if more > 0 else "")


def select_policies(policies: Sequence[CompiledPolicy], policy_id: str | None) -> list[CompiledPolicy]:
    """All the policies, or only the one named; an id that is not among them is a :class:`PolicyError`."""
    if policy_id is None:
        return list(policies)
    chosen = [policy for policy in policies if policy.id == policy_id]
    if not chosen:
        known = ", ".join(sorted(policy.id for policy in policies)) or "none"
        raise PolicyError(
            f"unknown or disabled policy '{policy_id}' (policies: {known})", policy_id=policy_id
        )
    return chosen


def explain_case(
    policies: Sequence[CompiledPolicy],
    case_id: str,
    records: Sequence[Record],
    now: datetime,
    calendars: Mapping[str, Calendar] | None = None,
    policy_id: str | None = None,
) -> Explanation:
    """Trace the case (records validated, in case order) under the policies, or the one named."""
    chosen = select_policies(policies, policy_id)
    evaluator = TracingEvaluator(chosen, calendars)
    try:
        trace = evaluator.trace_case(case_id, records, now)
    finally:
        evaluator.close()
    return Explanation(trace, chosen)
