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

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity used to compare two evaluators' outputs and to sort reports."""
        return (self.case_id, self.policy, self.record_id, self.status.value)

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
        return data


@dataclass(slots=True)
class Evaluation:
    """The result of evaluating records at ``now``: violations, pending obligations and input errors."""

    now: datetime
    findings: list[Finding] = field(default_factory=list)
    pending: list[Finding] = field(default_factory=list)
    input_errors: list[InputError] = field(default_factory=list)
    engine_errors: list[Finding] = field(default_factory=list)
    """Findings with status ``error``: a plugin raised while a policy was deciding about a record."""
    waived: list[WaivedFinding] = field(default_factory=list)
    """Violations and pending findings a live waiver covers (:mod:`serviceflow.waivers`): kept for
    reports, never failing the run."""
    expired_waivers: list[Waiver] = field(default_factory=list)
    unused_waivers: list[Waiver] = field(default_factory=list)
    """Live waivers that matched no finding: stale or misspelt."""
    cases: int = 0
    records: int = 0

    def add(self, finding: Finding) -> None:
        if finding.status is Status.PENDING:
            self.pending.append(finding)
        elif finding.status is Status.ERROR:
            self.engine_errors.append(finding)
        else:
            self.findings.append(finding)

    def sort(self) -> None:
        self.findings.sort(key=lambda f: f.key)
        self.pending.sort(key=lambda f: f.key)
        self.engine_errors.sort(key=lambda f: f.key)

    def worst_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def fails(self, fail_on: str) -> bool:
        """Whether a violation is at or above ``fail_on`` (a severity, or ``never``)."""
        if fail_on == "never":
            return False
        threshold = Severity(fail_on).rank
        return any(finding.severity.rank >= threshold for finding in self.findings)

    def summary(self) -> dict[str, Any]:
        by_policy = Counter(f.policy for f in self.findings)
        pending_by_policy = Counter(f.policy for f in self.pending)
        by_severity = Counter(f.severity.value for f in self.findings)
        return {
            "now": format_datetime(self.now),
            "cases": self.cases,
            "records": self.records,
            "invalid_records": len(self.input_errors),
            "violations": len(self.findings),
            "pending": len(self.pending),
            "engine_errors": len(self.engine_errors),
            "waived": len(self.waived),
            "by_severity": dict(sorted(by_severity.items())),
            "by_policy": dict(sorted(by_policy.items())),
            "pending_by_policy": dict(sorted(pending_by_policy.items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "pending": [f.to_dict() for f in self.pending],
            "waived": [w.to_dict() for w in self.waived],
            "engine_errors": [f.to_dict() for f in self.engine_errors],
            "errors": [
                {
                    "file": e.location.file,
                    "line": e.location.line,
                    "pointer": e.location.pointer,
                    "message": e.message,
                }
                for e in self.input_errors
            ],
            "expired_waivers": [w.to_dict() for w in self.expired_waivers],
            "unused_waivers": [w.to_dict() for w in self.unused_waivers],
            "summary": self.summary(),
        }
