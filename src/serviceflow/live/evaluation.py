"""Evaluate one stored case inside a unit of work, and record everything that follows from it.

This is the one place a live verdict is made, whoever asks (an ingest, the sweeper, a re-evaluation
after the policies changed): load the case's records, give its ``case_opened`` the customer's
previous case, evaluate at ``now``, compare with the stored findings, and in the same transaction
replace the findings, update the case (version, ``next_change``, revision), log the decision and
enqueue one outbox item per action for each transition that breaks an obligation. The stored findings
are the "before" of the transitions, so an obligation that broke while nobody looked is acted on by
whichever evaluation sees it first, and only once (the idempotency key is unique).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from serviceflow.engine import CaseResult, Engine
from serviceflow.findings import Finding
from serviceflow.live.codec import RecordCodec
from serviceflow.live.customers import with_previous_case
from serviceflow.live.reasons import Reasons
from serviceflow.live.store import CaseRow, Decision, NewOutboxItem, Unit
from serviceflow.records.customers import CLOSING_STATUSES
from serviceflow.records.model import Record, case_order
from serviceflow.transitions import ACTIONABLE, Transition, transitions

__all__ = ["CACHED_CASES", "CaseEvaluator", "Evaluated"]

#: Cases whose rebuilt records a process keeps for reads (gate checks of the same case in a row).
CACHED_CASES = 2048


@dataclass(frozen=True, slots=True)
class Evaluated:
    """What evaluating one case did."""

    case: CaseRow
    result: CaseResult
    transitions: tuple[Transition, ...]
    enqueued: int
    decision_id: str


class CaseEvaluator:
    """Evaluates stored cases for one engine, revision and set of actions."""

    def __init__(self, engine: Engine, codec: RecordCodec, revision: str, actions: Sequence[str]) -> None:
        self.engine = engine
        self.codec = codec
        self.revision = revision
        self.actions = tuple(actions)
        self._cache: OrderedDict[str, tuple[int, tuple[Record, ...]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._reasons: Reasons | None = None

    def records(self, unit: Unit, case_id: str) -> list[Record]:
        """The case's stored records, rebuilt, in ingestion order."""
        return [self.codec.load(row.body, row.seq) for row in unit.case_records(case_id)]

    def committed_records(self, unit: Unit, case_id: str, version: int) -> list[Record]:
        """The records of a case as a read-only unit sees them (``version`` of them), reading only
        those newer than the ones this process already rebuilt.

        Only for reads of committed data: a record is appended under its case's lock, so within a case
        ``seq`` grows in commit order, and "newer than the last ``seq`` known" is exactly what is
        missing. A unit that writes must use :meth:`records` (what it sees may yet roll back).
        """
        with self._cache_lock:
            cached = self._cache.get(case_id)
        last_seq, known = cached if cached is not None else (-1, ())
        newer = [self.codec.load(row.body, row.seq) for row in unit.case_records(case_id, last_seq)]
        records = [*known, *newer]
        if len(records) != version:  # an older snapshot than the cache's: read it whole, cache nothing
            return self.records(unit, case_id)
        if records:
            with self._cache_lock:
                current = self._cache.get(case_id)
                if current is None or current[0] <= records[-1].seq:
                    self._cache[case_id] = (records[-1].seq, tuple(records))
                    self._cache.move_to_end(case_id)
                    while len(self._cache) > CACHED_CASES:
                        self._cache.popitem(last=False)
        return records

    def evaluate(self, unit: Unit, row: CaseRow, now: datetime, kind: str) -> Evaluated:
        """Evaluate the case of ``row`` (its ``previous_case`` already decided) at ``now``, record it."""
        return self.evaluate_many(unit, [row], now, kind)[0]

    def evaluate_many(
        self,
        unit: Unit,
        rows: Sequence[CaseRow],
        now: datetime,
        kind: str | Mapping[str, str],
        created: Mapping[str, Sequence[Record]] | None = None,
    ) -> list[Evaluated]:
        """Evaluate several cases (each ``row``'s ``previous_case`` already decided) at ``now`` and
        record everything, reading and writing the store once per kind of row rather than once per case.
        ``kind`` names the decisions (``ingest``, ``sweep``, ...), or maps each case to its own.

        ``created``: for cases this unit of work created, every record they have (with its ``seq``),
        as the caller just stored them; those are not read back and rebuilt. A bulk ingest creates
        most of its cases, and reading each record back cost as much as admitting it.
        """
        if not rows:
            return []
        case_ids = [row.case_id for row in rows]
        created = created or {}
        stored_records = unit.records_of([case_id for case_id in case_ids if case_id not in created])
        stored_findings = unit.findings_of_cases(case_ids)
        evaluated: list[Evaluated] = []
        findings: dict[str, Sequence[Finding]] = {}
        decisions: list[Decision] = []
        items: list[NewOutboxItem] = []
        for row in rows:
            case_id = row.case_id
            known = created.get(case_id)
            records = (
                list(known)
                if known is not None
                else [self.codec.load(stored.body, stored.seq) for stored in stored_records.get(case_id, ())]
            )
            result = self.engine.evaluate_case(case_id, with_previous_case(records, row.previous_case), now)
            before = [stored.finding for stored in stored_findings.get(case_id, ())]
            changes = tuple(transitions(before, result.findings))
            findings[case_id] = result.findings
            case = replace(
                row,
                version=len(records),
                next_change=result.next_change,
                revision=self.revision,
                evaluated_at=now,
                open=_is_open(records, now),
            )
            decision_id = uuid.uuid4().hex
            decisions.append(
                Decision(
                    decision_id,
                    kind if isinstance(kind, str) else kind[case_id],
                    case_id,
                    case.version,
                    self.revision,
                    now,
                    _summary(result, changes),
                )
            )
            acted_on = self._explained(
                case_id, records, row, now, [change for change in changes if change.kind in ACTIONABLE]
            )
            actionable = [
                NewOutboxItem(
                    change.idempotency_key(action), action, case_id, change.to_dict(), self.revision, now
                )
                for change in acted_on
                for action in self.actions
            ]
            items.extend(actionable)
            evaluated.append(Evaluated(case, result, changes, len(actionable), decision_id))
        unit.replace_findings_of(findings, self.revision, now)
        unit.save_cases([item.case for item in evaluated])
        unit.log_decisions(decisions, now)
        if items:
            # A key seen before (an obligation broken, cleared and broken again) is not enqueued again.
            fresh = unit.enqueue(items)
            if len(fresh) != len(items):
                evaluated = [
                    replace(
                        item,
                        enqueued=sum(
                            1
                            for change in item.transitions
                            if change.kind in ACTIONABLE
                            for action in self.actions
                            if change.idempotency_key(action) in fresh
                        ),
                    )
                    for item in evaluated
                ]
        return evaluated

    def _explained(
        self, case_id: str, records: list[Record], row: CaseRow, now: datetime, changes: list[Transition]
    ) -> list[Transition]:
        """The transitions actions will be handed, their findings with the reason they fired.

        Verdicts are made untraced; an action (a comment on the ticket, an email) should say why, as
        lint's does, so the few findings that call for an action are traced here, once, before they
        are enqueued. The idempotency key does not depend on the reason.
        """
        if not changes or not self.actions:
            return changes
        if self._reasons is None:
            self._reasons = Reasons(self.engine)
        findings = [change.finding for change in changes]
        explained = self._reasons.explain(
            case_id, with_previous_case(records, row.previous_case), now, findings
        )
        return [
            replace(change, after=finding) if change.after is not None else replace(change, before=finding)
            for change, finding in zip(changes, explained, strict=True)
        ]


def _summary(result: CaseResult, changes: Sequence[Transition]) -> dict[str, Any]:
    """What the decision log keeps of an evaluation: counts, the next change, the transitions."""
    return {
        "violations": len(result.violations),
        "pending": len(result.pending),
        "engine_errors": len(result.engine_errors),
        "next_change": result.next_change.isoformat() if result.next_change else None,
        "transitions": [
            {"kind": change.kind.value, "policy": change.obligation[1], "record_id": change.obligation[2]}
            for change in changes
        ],
    }


def _is_open(records: Sequence[Record], now: datetime) -> bool:
    """Whether the case's latest status change known at ``now`` leaves it open."""
    status = None
    for record in sorted(records, key=case_order):
        if record.at > now:
            break
        if record.type == "status_change":
            status = record.get("to")
    return status not in CLOSING_STATUSES
