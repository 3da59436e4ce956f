"""How a case's obligations changed between two evaluations, so that actions fire once per change.

An obligation (one policy about one record of one case, :attr:`Finding.obligation`) is pending, then
met or broken; a late record can also move its deadline or clear it. Comparing a case's findings
before and after an evaluation gives one :class:`Transition` per obligation that changed:

============  ==========================  ====================================================
kind          before -> after             meaning
============  ==========================  ====================================================
opened        none -> pending             a new obligation, with its deadline
violated      none -> violation           broken as soon as it was known
breached      pending -> violation        its deadline passed unmet
fulfilled     pending -> none             met in time
cleared       violation -> none           a record (a late one) shows it was met after all
rescheduled   pending -> pending          its deadline moved
reopened      violation -> pending        a late record moved its deadline into the future
errored       any -> error                a plugin's code failed while deciding it
recovered     error -> none               decided again, and nothing is owed
============  ==========================  ====================================================

An error followed by a verdict counts as that verdict appearing (``opened`` or ``violated``). Actions
run on the transitions that break an obligation (:data:`ACTIONABLE`); each (obligation, kind, action)
has one idempotency key, so an action retried, or handed the same transition by two workers, can
recognise it. An obligation broken, cleared and broken again has the same key both times: it is acted
on once, which is what a customer on the receiving end of an escalation wants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from serviceflow.findings import Finding, Status

__all__ = ["ACTIONABLE", "Transition", "TransitionKind", "idempotency_key", "transitions"]


class TransitionKind(StrEnum):
    OPENED = "opened"
    VIOLATED = "violated"
    BREACHED = "breached"
    FULFILLED = "fulfilled"
    CLEARED = "cleared"
    RESCHEDULED = "rescheduled"
    REOPENED = "reopened"
    ERRORED = "errored"
    RECOVERED = "recovered"


#: The transitions that break an obligation: what actions (escalate, notify, offer) are for.
ACTIONABLE = frozenset({TransitionKind.VIOLATED, TransitionKind.BREACHED})


@dataclass(frozen=True, slots=True)
class Transition:
    """One obligation's change: its kind, and the finding before and after (``None``: none)."""

    kind: TransitionKind
    before: Finding | None
    after: Finding | None

    @property
    def finding(self) -> Finding:
        """The finding as it is now, or as it was for an obligation that no longer has one."""
        finding = self.after if self.after is not None else self.before
        assert finding is not None
        return finding

    @property
    def obligation(self) -> tuple[str, str, str]:
        return self.finding.obligation

    def idempotency_key(self, action: str) -> str:
        """The key an action uses to recognise this transition when it is handed it again."""
        return idempotency_key(self.obligation, self.kind, action)

    def to_dict(self) -> dict[str, object]:
        case_id, policy, record_id = self.obligation
        return {
            "kind": self.kind.value,
            "case_id": case_id,
            "policy": policy,
            "record_id": record_id,
            "before": self.before.to_dict() if self.before is not None else None,
            "after": self.after.to_dict() if self.after is not None else None,
        }


def idempotency_key(obligation: tuple[str, str, str], kind: str, action: str) -> str:
    """A stable key for (obligation, transition kind, action): the same in every process and run."""
    text = "\x1f".join((*obligation, kind, action))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def transitions(before: Iterable[Finding], after: Iterable[Finding]) -> list[Transition]:
    """The transitions from one evaluation's findings of a case (or cases) to the next's.

    Ordered by obligation (case, policy, record), as reports are.
    """
    old = {finding.obligation: finding for finding in before}
    new = {finding.obligation: finding for finding in after}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        kind = _kind(old.get(key), new.get(key))
        if kind is not None:
            changes.append(Transition(kind, old.get(key), new.get(key)))
    return changes


def _kind(before: Finding | None, after: Finding | None) -> TransitionKind | None:
    was = before.status if before is not None else None
    now = after.status if after is not None else None
    if now is Status.ERROR:
        return TransitionKind.ERRORED if was is not Status.ERROR else None
    if was is Status.ERROR:
        was = None
        if now is None:
            return TransitionKind.RECOVERED
    if was is None:
        if now is Status.PENDING:
            return TransitionKind.OPENED
        if now is Status.VIOLATION:
            return TransitionKind.VIOLATED
        return None
    if was is Status.PENDING:
        if now is None:
            return TransitionKind.FULFILLED
        if now is Status.VIOLATION:
            return TransitionKind.BREACHED
        assert before is not None and after is not None
        return TransitionKind.RESCHEDULED if before.deadline != after.deadline else None
    # was a violation
    if now is None:
        return TransitionKind.CLEARED
    if now is Status.PENDING:
        return TransitionKind.REOPENED
    return None
