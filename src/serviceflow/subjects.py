"""Tell each finding about its subject record (when, who, which channel) for reports that group by them.

A finding names its subject record by id only; the HTML report draws findings per week, per actor and
per channel, which needs the record itself. The records are at hand only while a case is evaluated,
so :func:`describe_subjects` wraps the engine's evaluator (the seam ``lint --explain`` uses too) and
fills :attr:`~serviceflow.findings.Finding.subject` there: nothing is read twice, nothing is kept
after a case, and a run whose report does not need it pays nothing.

The channel is the subject record's own, else the case's (its ``case_opened``'s): help-desk exports
usually say how a case came in and not how each status change was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from serviceflow.evaluators.base import CaseFindings, Evaluator
from serviceflow.findings import Finding, Subject
from serviceflow.records.model import Record

if TYPE_CHECKING:
    from serviceflow.engine import Engine

__all__ = ["SubjectEvaluator", "describe_subjects", "subject_of"]


def describe_subjects(engine: Engine) -> None:
    """Make ``engine`` fill every finding's :attr:`~serviceflow.findings.Finding.subject`."""
    engine.wrap_evaluator(SubjectEvaluator)


class SubjectEvaluator:
    """Another evaluator's findings, each with its subject record's time, actor and channel."""

    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner
        self.name = inner.name

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        outcome = self.inner.evaluate_case(case_id, records, now)
        if not outcome.findings:
            return outcome
        by_id = {record.id: record for record in records}
        case_channel = next(
            (_text(record.get("channel")) for record in records if record.type == "case_opened"), None
        )
        described = [
            _described(finding, by_id.get(finding.record_id), case_channel) for finding in outcome.findings
        ]
        return CaseFindings(described, outcome.changes)

    def close(self) -> None:
        self.inner.close()


def subject_of(record: Record, case_channel: str | None = None) -> Subject:
    """What a report needs to know of a finding's subject ``record``."""
    actor = record.get("actor")
    actor_id = _text(actor.get("id")) if isinstance(actor, dict) else None
    role = _text(actor.get("role")) if isinstance(actor, dict) else None
    return Subject(record.at, actor_id, role, _text(record.get("channel")) or case_channel)


def _described(finding: Finding, record: Record | None, case_channel: str | None) -> Finding:
    if record is None or finding.subject is not None:
        return finding  # a finding about no record of the case (a plugin's), or one already described
    return replace(finding, subject=subject_of(record, case_channel))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
