"""What a policy change does to the findings on the same records: appeared, disappeared, changed.

``serviceflow diff`` evaluates one input under two policy sets (:mod:`serviceflow.replay`) and hands
the two evaluations to :func:`compare`. Findings are paired by their obligation (case, policy,
subject record: :attr:`Finding.obligation <serviceflow.findings.Finding.obligation>`), the key
transitions and baselines use too:

* *appeared*: the obligation has a finding after the change and had none before;
* *disappeared*: it had one before and has none after;
* *changed*: it has one on both sides, and the status (violation, pending, error), the severity or
  the deadline differ. A finding whose message alone changed is not a change: wording is not
  behaviour.

A *new violation* is a violation after the change, at or above the fail level, whose obligation was
not such a violation before: it appeared as one, or a pending obligation became one, or its severity
rose to the level. That is what gates a policy change in CI (exit status 1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.timeutil import format_datetime

__all__ = [
    "ChangeKind",
    "EvaluationDiff",
    "FindingChange",
    "PolicyDiff",
    "compare",
    "new_violation",
]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERRORS = 0, 1, 2


class ChangeKind(StrEnum):
    APPEARED = "appeared"
    DISAPPEARED = "disappeared"
    CHANGED = "changed"


#: The fields whose difference makes a finding *changed*, in the order reports name them.
COMPARED_FIELDS = ("status", "severity", "deadline")


@dataclass(frozen=True, slots=True)
class FindingChange:
    """One obligation's finding before and after a policy change (``None``: no finding on that side)."""

    kind: ChangeKind
    before: Finding | None
    after: Finding | None

    @property
    def finding(self) -> Finding:
        """The finding after the change, or the one before for an obligation that has none now."""
        finding = self.after if self.after is not None else self.before
        assert finding is not None
        return finding

    @property
    def differences(self) -> tuple[str, ...]:
        """Which of status, severity and deadline differ (empty unless the change is *changed*)."""
        if self.before is None or self.after is None:
            return ()
        return tuple(
            name for name in COMPARED_FIELDS if getattr(self.before, name) != getattr(self.after, name)
        )

    def to_dict(self) -> dict[str, Any]:
        finding = self.finding
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "policy": finding.policy,
            "case_id": finding.case_id,
            "record_id": finding.record_id,
            "before": self.before.to_dict() if self.before is not None else None,
            "after": self.after.to_dict() if self.after is not None else None,
        }
        if self.kind is ChangeKind.CHANGED:
            data["differences"] = list(self.differences)
        return data


def new_violation(change: FindingChange, fail_on: str) -> bool:
    """Whether the change makes a violation at or above ``fail_on`` that was not one before."""
    if fail_on == "never":
        return False
    after = change.after
    threshold = Severity(fail_on).rank
    if after is None or after.status is not Status.VIOLATION or after.severity.rank < threshold:
        return False
    before = change.before
    return before is None or before.status is not Status.VIOLATION or before.severity.rank < threshold


@dataclass(frozen=True)
class PolicyDiff:
    """One policy's findings on both sides, and how they changed."""

    policy: str
    before: Counter[str]
    """Findings before, by status (``violation``, ``pending``, ``error``)."""
    after: Counter[str]
    appeared: tuple[FindingChange, ...] = ()
    disappeared: tuple[FindingChange, ...] = ()
    changed: tuple[FindingChange, ...] = ()
    ran_before: bool = True
    ran_after: bool = True

    @property
    def changes(self) -> tuple[FindingChange, ...]:
        return (*self.appeared, *self.disappeared, *self.changed)

    def to_dict(self, examples: int | None = None) -> dict[str, Any]:
        """Counts and the changes (the first ``examples`` of each kind; ``None``: all)."""

        def listed(changes: Sequence[FindingChange]) -> list[dict[str, Any]]:
            chosen = changes if examples is None else changes[:examples]
            return [change.to_dict() for change in chosen]

        return {
            "policy": self.policy,
            "ran_before": self.ran_before,
            "ran_after": self.ran_after,
            "before": _counts(self.before),
            "after": _counts(self.after),
            "appeared": len(self.appeared),
            "disappeared": len(self.disappeared),
            "changed": len(self.changed),
            "appeared_by_status": _by_status(change.after for change in self.appeared),
            "disappeared_by_status": _by_status(change.before for change in self.disappeared),
            "changed_fields": dict(sorted(Counter(f for c in self.changed for f in c.differences).items())),
            "changes": {
                "appeared": listed(self.appeared),
                "disappeared": listed(self.disappeared),
                "changed": listed(self.changed),
            },
        }


@dataclass(frozen=True)
class EvaluationDiff:
    """Two evaluations of the same records, before and after a policy change, compared per policy."""

    before: Evaluation
    after: Evaluation
    policies: tuple[PolicyDiff, ...]
    """Every policy that ran on either side or has findings on either, by id."""
    before_label: str = "before"
    after_label: str = "after"
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything the caller wants in the report (the sides' sources, the input)."""

    @property
    def changes(self) -> tuple[FindingChange, ...]:
        return tuple(change for policy in self.policies for change in policy.changes)

    @property
    def changed_policies(self) -> tuple[PolicyDiff, ...]:
        return tuple(
            policy for policy in self.policies if policy.changes or policy.ran_before != policy.ran_after
        )

    def new_violations(self, fail_on: str) -> tuple[FindingChange, ...]:
        return tuple(change for change in self.changes if new_violation(change, fail_on))

    def exit_status(self, fail_on: str) -> int:
        """2 when input could not be read or a policy could not decide on either side; else 1 when the
        change makes a new violation at or above ``fail_on``; else 0."""
        if self.after.input_error_count or self.before.input_error_count:
            return EXIT_ERRORS
        if self.after.engine_errors or self.before.engine_errors:
            return EXIT_ERRORS
        return EXIT_FINDINGS if self.new_violations(fail_on) else EXIT_CLEAN

    def totals(self) -> dict[str, int]:
        """Appeared, disappeared and changed findings over every policy."""
        return {
            "appeared": sum(len(p.appeared) for p in self.policies),
            "disappeared": sum(len(p.disappeared) for p in self.policies),
            "changed": sum(len(p.changed) for p in self.policies),
        }

    def to_dict(self, fail_on: str = "error", examples: int | None = None) -> dict[str, Any]:
        return {
            "before": {"label": self.before_label, "summary": self.before.summary()},
            "after": {"label": self.after_label, "summary": self.after.summary()},
            "meta": self.meta,
            "now": format_datetime(self.after.now),
            "fail_on": fail_on,
            "totals": self.totals() | {"new_violations": len(self.new_violations(fail_on))},
            "policies": [policy.to_dict(examples) for policy in self.policies],
            "input_errors": self.after.input_error_count,
        }


def compare(
    before: Evaluation,
    after: Evaluation,
    before_policies: Iterable[str] = (),
    after_policies: Iterable[str] = (),
    *,
    before_label: str = "before",
    after_label: str = "after",
    meta: dict[str, Any] | None = None,
) -> EvaluationDiff:
    """Pair the findings of two evaluations of the same records by obligation (see the module docstring).

    ``before_policies`` and ``after_policies`` are the ids of the policies that ran on each side, so
    that a policy added or removed is listed even when it found nothing.
    """
    ran_before, ran_after = set(before_policies), set(after_policies)
    olds = _keyed(_findings(before))
    news = _keyed(_findings(after))
    by_policy: dict[str, dict[ChangeKind, list[FindingChange]]] = {}
    for key, old in olds.items():
        new = news.get(key)
        if new is None:
            change = FindingChange(ChangeKind.DISAPPEARED, old, None)
        elif old.status != new.status or old.severity != new.severity or old.deadline != new.deadline:
            change = FindingChange(ChangeKind.CHANGED, old, new)
        else:
            continue
        by_policy.setdefault(old.policy, {}).setdefault(change.kind, []).append(change)
    for key, new in news.items():
        if key not in olds:
            by_policy.setdefault(new.policy, {}).setdefault(ChangeKind.APPEARED, []).append(
                FindingChange(ChangeKind.APPEARED, None, new)
            )
    counts_before = _status_counts(_findings(before))
    counts_after = _status_counts(_findings(after))
    ids = sorted(ran_before | ran_after | set(by_policy) | set(counts_before) | set(counts_after))
    policies = []
    for policy_id in ids:
        kinds = by_policy.get(policy_id, {})
        policies.append(
            PolicyDiff(
                policy=policy_id,
                before=counts_before.get(policy_id, Counter()),
                after=counts_after.get(policy_id, Counter()),
                appeared=_ordered(kinds.get(ChangeKind.APPEARED, [])),
                disappeared=_ordered(kinds.get(ChangeKind.DISAPPEARED, [])),
                changed=_ordered(kinds.get(ChangeKind.CHANGED, [])),
                ran_before=policy_id in ran_before if ran_before else True,
                ran_after=policy_id in ran_after if ran_after else True,
            )
        )
    return EvaluationDiff(before, after, tuple(policies), before_label, after_label, dict(meta or {}))


def _findings(evaluation: Evaluation) -> tuple[Finding, ...]:
    return (*evaluation.violations, *evaluation.pending, *evaluation.engine_errors)


def _keyed(findings: Iterable[Finding]) -> dict[tuple[tuple[str, str, str], int], Finding]:
    """Findings by obligation; a second finding of one obligation (a plugin's) by its rank among them."""
    keyed: dict[tuple[tuple[str, str, str], int], Finding] = {}
    seen: Counter[tuple[str, str, str]] = Counter()
    for finding in sorted(findings, key=_order):
        obligation = finding.obligation
        keyed[(obligation, seen[obligation])] = finding
        seen[obligation] += 1
    return keyed


def _order(finding: Finding) -> tuple[str, str, str, str, str]:
    return (*finding.key, finding.message)


def _ordered(changes: list[FindingChange]) -> tuple[FindingChange, ...]:
    """Changes in report order: new violations first, then by case and record."""
    return tuple(
        sorted(
            changes,
            key=lambda c: (c.finding.status is not Status.VIOLATION, c.finding.case_id, c.finding.record_id),
        )
    )


def _status_counts(findings: Iterable[Finding]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for finding in findings:
        counts.setdefault(finding.policy, Counter())[finding.status.value] += 1
    return counts


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {status.value: counter.get(status.value, 0) for status in Status}


def _by_status(findings: Iterable[Finding | None]) -> dict[str, int]:
    counts = Counter(finding.status.value for finding in findings if finding is not None)
    return dict(sorted(counts.items()))
