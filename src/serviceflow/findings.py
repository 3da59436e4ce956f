"""What an evaluation produces: findings (violations and pending obligations) and the run's summary.

A *violation* is an obligation that was not met by its deadline (or one with no deadline that is not
met). A *pending* finding is an obligation still open at ``now``: it carries the deadline by which it
must be met. Both evaluators produce these same objects, so they can be compared finding for finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from serviceflow import limits
from serviceflow.errors import InputError, Location
from serviceflow.timeutil import format_datetime

if TYPE_CHECKING:
    from serviceflow.waivers import WaivedFinding, Waiver


class Severity(StrEnum):
    """How much a violation matters; ``--fail-on`` compares against this order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Status(StrEnum):
    """Whether an obligation is already broken or still open at ``now``, or could not be decided.

    ``error`` is an engine error: a plugin's named condition or enricher raised, so the policy could
    not decide about the record. It is reported, never counted as a pass.
    """

    VIOLATION = "violation"
    PENDING = "pending"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Subject:
    """What reports group a finding by: when its subject record happened, who acted, on which channel.

    Evaluators leave :attr:`Finding.subject` empty; it is filled only for a report that groups
    findings this way (the HTML report's weeks, actors and channels; :mod:`serviceflow.subjects`),
    where the records are at hand, so that every other run pays nothing for it.
    """

    at: datetime
    """The subject record's ``at``."""
    actor: str | None = None
    """The subject record's ``actor.id``."""
    role: str | None = None
    """The subject record's ``actor.role`` (customer, agent, ...)."""
    channel: str | None = None
    """The subject record's ``channel``, else that of the case's ``case_opened``."""

    def to_dict(self) -> dict[str, Any]:
        at = format_datetime(self.at)
        return {"at": at, "actor": self.actor, "role": self.role, "channel": self.channel}


@dataclass(frozen=True, slots=True)
class Finding:
    """One policy outcome about one record of one case."""

    policy: str
    severity: Severity
    status: Status
    case_id: str
    record_id: str
    message: str
    evidence: tuple[str, ...] = ()
    deadline: datetime | None = None
    origin: Location | None = field(default=None, compare=False)
    reason: str | None = field(default=None, compare=False)
    """Why the policy fired, in one line (``lint --explain``; :mod:`serviceflow.explain`)."""
    subject: Subject | None = field(default=None, compare=False)
    """When, by whom and on which channel the subject record happened, for reports that group by
    them (``None`` unless asked for: :mod:`serviceflow.subjects`)."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity used to compare two evaluators' outputs and to sort reports."""
        return (self.case_id, self.policy, self.record_id, self.status.value)

    @property
    def obligation(self) -> tuple[str, str, str]:
        """The obligation this finding is about, whatever its status: case, policy, subject record.

        One obligation is pending, then met or broken; transitions (:mod:`serviceflow.transitions`)
        follow it by this key from one evaluation to the next.
        """
        return (self.case_id, self.policy, self.record_id)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy": self.policy,
            "severity": self.severity.value,
            "status": self.status.value,
            "case_id": self.case_id,
            "record_id": self.record_id,
            "message": self.message,
            "evidence": list(self.evidence),
        }
        if self.deadline is not None:
            data["deadline"] = format_datetime(self.deadline)
        if self.origin is not None and self.origin.file is not None:
            data["location"] = {"file": self.origin.file, "line": self.origin.line}
        if self.reason is not None:
            data["reason"] = self.reason
        if self.subject is not None:
            data["subject"] = self.subject.to_dict()
        return data


#: How many input errors an evaluation keeps (see :data:`serviceflow.limits.MAX_INPUT_ERRORS`).
MAX_INPUT_ERRORS = limits.MAX_INPUT_ERRORS


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of evaluating records at ``now``: what was found, and what could not be read.

    Immutable: build one with an :class:`EvaluationCollector`. Every list is in report order (findings
    by case, policy and record; input errors in input order), so two evaluations of the same records
    are equal however the work was split.
    """

    now: datetime
    violations: tuple[Finding, ...] = ()
    """Obligations broken at ``now`` (status ``violation``)."""
    pending: tuple[Finding, ...] = ()
    """Obligations still open at ``now``, each with its deadline."""
    engine_errors: tuple[Finding, ...] = ()
    """Findings with status ``error``: a plugin raised while a policy was deciding about a record."""
    input_errors: tuple[InputError, ...] = ()
    """Records or sources that could not be read or admitted (the first :data:`MAX_INPUT_ERRORS`)."""
    more_input_errors: int = 0
    """Input errors beyond those kept in ``input_errors``: counted, not kept."""
    waived: tuple[WaivedFinding, ...] = ()
    """Violations and pending findings a live waiver covers (:mod:`serviceflow.waivers`): kept for
    reports, never failing the run."""
    expired_waivers: tuple[Waiver, ...] = ()
    unused_waivers: tuple[Waiver, ...] = ()
    """Live waivers that matched no finding: stale or misspelt."""
    cases: int = 0
    records: int = 0
    """Records admitted and evaluated."""
    rejected: int = 0
    """Records refused at admission (invalid, duplicate): each has at least one input error."""

    @property
    def input_error_count(self) -> int:
        """Every input error, including those beyond the ones kept."""
        return len(self.input_errors) + self.more_input_errors

    def worst_severity(self) -> Severity | None:
        if not self.violations:
            return None
        return max((f.severity for f in self.violations), key=lambda s: s.rank)

    def fails(self, fail_on: str) -> bool:
        """Whether a violation is at or above ``fail_on`` (a severity, or ``never``)."""
        if fail_on == "never":
            return False
        threshold = Severity(fail_on).rank
        return any(finding.severity.rank >= threshold for finding in self.violations)

    def summary(self) -> dict[str, Any]:
        by_policy = Counter(f.policy for f in self.violations)
        pending_by_policy = Counter(f.policy for f in self.pending)
        by_severity = Counter(f.severity.value for f in self.violations)
        return {
            "now": format_datetime(self.now),
            "cases": self.cases,
            "records": self.records,
            "invalid_records": self.rejected,
            "violations": len(self.violations),
            "pending": len(self.pending),
            "engine_errors": len(self.engine_errors),
            "waived": len(self.waived),
            "by_severity": dict(sorted(by_severity.items())),
            "by_policy": dict(sorted(by_policy.items())),
            "pending_by_policy": dict(sorted(pending_by_policy.items())),
        }

    def to_dict(self, *, findings: bool = True) -> dict[str, Any]:
        """The evaluation as plain data (the JSON report); ``findings=False`` leaves out the four lists
        of findings, for a reporter that writes them one at a time."""
        lists: dict[str, Any] = (
            {
                "violations": [f.to_dict() for f in self.violations],
                "pending": [f.to_dict() for f in self.pending],
                "waived": [w.to_dict() for w in self.waived],
                "engine_errors": [f.to_dict() for f in self.engine_errors],
            }
            if findings
            else {}
        )
        return {
            **lists,
            "errors": [
                {
                    "file": e.location.file,
                    "line": e.location.line,
                    "pointer": e.location.pointer,
                    "message": e.message,
                }
                for e in self.input_errors
            ],
            "more_errors": self.more_input_errors,
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
            "unused_waivers": [w.to_dict() for w in self.unused_waivers],
            "summary": self.summary(),
        }


class EvaluationCollector:
    """Gathers findings and input errors as evaluation goes, then :meth:`freeze` s an Evaluation.

    Input errors are kept with their position in ingestion order (``seq``), so errors found by
    different partitions, or found late (a duplicate settled between partitions), still come out in
    input order. Collectors of partitions merge with :meth:`merge`.
    """

    def __init__(self, now: datetime, max_input_errors: int | None = None) -> None:
        self.now = now
        self.violations: list[Finding] = []
        self.pending: list[Finding] = []
        self.engine_errors: list[Finding] = []
        self.max_input_errors = limits.MAX_INPUT_ERRORS if max_input_errors is None else max_input_errors
        self._input_errors: list[tuple[int, InputError]] = []
        self._dropped = 0
        self.cases = 0
        self.records = 0
        self.rejected = 0

    def add(self, finding: Finding) -> None:
        if finding.status is Status.PENDING:
            self.pending.append(finding)
        elif finding.status is Status.ERROR:
            self.engine_errors.append(finding)
        else:
            self.violations.append(finding)

    def add_input_error(self, error: InputError, position: int) -> None:
        """An item or source that was refused; ``position``: where it was in ingestion order."""
        self._input_errors.append((position, error))
        if len(self._input_errors) > 2 * self.max_input_errors:
            self._trim()

    def _trim(self) -> None:
        self._input_errors.sort(key=_by_position)
        self._dropped += len(self._input_errors) - self.max_input_errors
        del self._input_errors[self.max_input_errors :]

    def merge(self, other: EvaluationCollector) -> None:
        """Take in what a collector of another partition gathered (same ``now``)."""
        self.violations.extend(other.violations)
        self.pending.extend(other.pending)
        self.engine_errors.extend(other.engine_errors)
        self._input_errors.extend(other._input_errors)
        self._dropped += other._dropped
        self.cases += other.cases
        self.records += other.records
        self.rejected += other.rejected
        if len(self._input_errors) > 2 * self.max_input_errors:
            self._trim()

    def freeze(self) -> Evaluation:
        """The evaluation, every list in report order."""
        self._input_errors.sort(key=_by_position)
        kept = self._input_errors[: self.max_input_errors]
        dropped = self._dropped + len(self._input_errors) - len(kept)
        return Evaluation(
            now=self.now,
            violations=tuple(sorted(self.violations, key=_by_key)),
            pending=tuple(sorted(self.pending, key=_by_key)),
            engine_errors=tuple(sorted(self.engine_errors, key=_by_key)),
            input_errors=tuple(error for _, error in kept),
            more_input_errors=dropped,
            cases=self.cases,
            records=self.records,
            rejected=self.rejected,
        )


def _by_key(finding: Finding) -> tuple[str, str, str, str]:
    return finding.key


def _by_position(item: tuple[int, InputError]) -> int:
    return item[0]
