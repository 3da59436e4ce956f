"""Ingesting records: admit each on its own, then store and re-evaluate in one transaction.

Admission (schema, date-times, enrichers) happens before the transaction, so a slow or invalid
record never holds a lock. Then, in one unit of work:

1. the customers and cases the records touch are locked (customers first, both in sorted order, so
   that two ingests cannot deadlock; a store with one writer ignores both);
2. each record id is looked up: seen with the same content, the record is a *duplicate* (nothing
   happens); with other content, a *conflict* (rejected, both versions named);
3. the new records are appended to the log, in request order (that is their ``seq``);
4. each touched case's customer facts are updated, and every case of those customers whose
   ``previous_case`` changed is re-evaluated too (a close of one case makes the customer's later
   case a returning one);
5. each of those cases is evaluated at ``now`` (:mod:`.evaluation`): findings, decision, outbox.

A late record (``at`` before records already stored) needs nothing special: a case is evaluated in
case order (``at``, then ``seq``), so it takes its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from serviceflow.errors import RecordError
from serviceflow.findings import Finding
from serviceflow.live.codec import RecordCodec, item_digest, load_json
from serviceflow.live.customers import closes_in, customer_of, opened_at, previous_cases
from serviceflow.live.evaluation import CaseEvaluator, Evaluated
from serviceflow.live.store import CaseRow, NewRecord, StoredRecord, Unit
from serviceflow.records.admission import Admission
from serviceflow.records.customers import PreviousCase
from serviceflow.records.model import Record
from serviceflow.timeutil import format_datetime

__all__ = ["Admitted", "IngestResult", "Ingestor", "Rejected"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record refused: its index in the request, the JSON pointer into it, why."""

    index: int
    pointer: str
    message: str
    stored: Mapping[str, Any] | None = None
    """For a conflict: the version already stored."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "pointer": self.pointer, "message": self.message}
        if self.stored is not None:
            data["stored"] = dict(self.stored)
        return data


@dataclass(frozen=True, slots=True)
class Admitted:
    """A record that passed admission, with the digest of what was sent."""

    index: int
    record: Record
    digest: str


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did. ``cases``: the cases that received records, in order of first appearance."""

    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[Rejected, ...] = ()
    cases: tuple[str, ...] = ()
    evaluated: tuple[Evaluated, ...] = field(default=(), compare=False, repr=False)
    replayed: bool = False
    """True when an Idempotency-Key matched an earlier request: this is that request's answer."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [item.to_dict() for item in self.rejected],
            "cases": list(self.cases),
        }


class Ingestor:
    """Admits items and applies them to a store, for one engine configuration."""

    def __init__(self, admission: Admission, codec: RecordCodec, evaluator: CaseEvaluator) -> None:
        self.admission = admission
        self.codec = codec
        self.evaluator = evaluator

    def admit(self, items: Iterable[Any]) -> tuple[list[Admitted], list[Rejected]]:
        """Each item admitted or rejected on its own (``RecordError`` items are rejections as read)."""
        admitted: list[Admitted] = []
        rejected: list[Rejected] = []
        problems: list[Finding | RecordError] = []
        admit = self.admission.admit
        for index, item in enumerate(items):
            if isinstance(item, RecordError):
                rejected.append(Rejected(index, item.location.pointer or "", item.message))
                continue
            try:
                record = admit(item, None, 0, problems)
            except RecordError as error:
                rejected.append(Rejected(index, error.location.pointer or "", error.message))
                continue
            # An enricher that failed leaves the record as it was read, as lint does.
            problems.clear()
            if _NUL in self.codec.dump(record):  # PostgreSQL text cannot hold it; refuse it everywhere alike
                rejected.append(Rejected(index, "", "text with a NUL character (U+0000) cannot be stored"))
                continue
            admitted.append(Admitted(index, record, item_digest(item)))
        return admitted, rejected

    def apply(
        self,
        unit: Unit,
        admitted: Sequence[Admitted],
        rejected: Sequence[Rejected],
        provenance: Callable[[int], Mapping[str, Any]],
        now: datetime,
    ) -> IngestResult:
        """Store the admitted records and re-evaluate what they touch, in ``unit``'s transaction."""
        rejected = list(rejected)
        fresh, duplicates = _settle_within_request(admitted, rejected)
        case_ids = sorted({item.record.case_id for item in fresh})
        if not fresh:
            return IngestResult(0, duplicates, tuple(sorted(rejected, key=_by_index)), ())
        # Customers first (as known before the lock, and as the records name them), then cases.
        customers = {row.customer_id for row in unit.cases(case_ids).values() if row.customer_id}
        customers.update(customer_of([item.record]) or "" for item in fresh)
        customers.discard("")
        unit.lock_customers(sorted(customers))
        unit.lock_cases(case_ids)
        stored = unit.find_records([item.record.id for item in fresh])
        new: list[Admitted] = []
        for item in fresh:
            known = stored.get(item.record.id)
            if known is None:
                new.append(item)
            elif known.digest == item.digest:
                duplicates += 1
            else:
                rejected.append(_conflict(item, known))
        accepted_cases = list(dict.fromkeys(item.record.case_id for item in new))
        if not new:
            return IngestResult(0, duplicates, tuple(sorted(rejected, key=_by_index)), ())
        seqs = unit.append_records(
            [
                NewRecord(
                    item.record.id,
                    item.record.case_id,
                    item.record.type,
                    item.record.at,
                    self.codec.dump(item.record),
                    item.digest,
                    now,
                    provenance(item.index),
                )
                for item in new
            ]
        )
        records = [_with_seq(item.record, seq) for item, seq in zip(new, seqs, strict=True)]
        rows, created = self._update_facts(unit, records)
        evaluated = self._reevaluate(unit, rows, now, created)
        return IngestResult(
            len(new), duplicates, tuple(sorted(rejected, key=_by_index)), tuple(accepted_cases), evaluated
        )

    def _update_facts(
        self, unit: Unit, records: Sequence[Record]
    ) -> tuple[dict[str, CaseRow], dict[str, list[Record]]]:
        """Each touched case's row with its customer facts brought up to date (and saved); and the
        records of the cases these records created (all those cases have), for their evaluation."""
        by_case: dict[str, list[Record]] = {}
        for record in records:
            by_case.setdefault(record.case_id, []).append(record)
        existing = unit.cases(list(by_case))
        # Version 0: no records before this unit (locking the case made its row). Records are stored
        # only here, with every touched case evaluated in the same unit, so a case with records has a
        # version; the ones without have exactly the records appended now.
        created = {
            case_id: added
            for case_id, added in by_case.items()
            if (row := existing.get(case_id)) is None or row.version == 0
        }
        rows: dict[str, CaseRow] = {}
        closes = []
        for case_id, added in by_case.items():
            row = existing.get(case_id) or CaseRow(case_id)
            customer = row.customer_id or customer_of(added)
            opening = opened_at(added)
            if row.opened_at is not None and (opening is None or row.opened_at < opening):
                opening = row.opened_at
            rows[case_id] = replace(row, customer_id=customer, opened_at=opening)
            closes.extend(closes_in(added))
        unit.save_cases(list(rows.values()))
        if closes:
            unit.add_closes(closes)
        return rows, created

    def _reevaluate(
        self,
        unit: Unit,
        touched: dict[str, CaseRow],
        now: datetime,
        created: Mapping[str, Sequence[Record]],
    ) -> tuple[Evaluated, ...]:
        """Evaluate the touched cases, and the cases whose previous case their records changed."""
        to_evaluate = {case_id: replace(row, previous_case=None) for case_id, row in touched.items()}
        customers = sorted({row.customer_id for row in touched.values() if row.customer_id is not None})
        unit.lock_customers(customers)  # a customer first named by these records
        all_cases = unit.customer_cases(customers)
        all_closes = unit.customer_closes(customers)
        others: dict[str, PreviousCase | None] = {}
        for customer in customers:
            rows = {row.case_id: row for row in all_cases.get(customer, ())}
            previous = previous_cases([row.facts for row in rows.values()], all_closes.get(customer, ()))
            for case_id, row in rows.items():
                if case_id in touched:
                    to_evaluate[case_id] = replace(to_evaluate[case_id], previous_case=previous.get(case_id))
                elif previous.get(case_id) != row.previous_case:
                    others[case_id] = previous.get(case_id)
        if others:
            unit.lock_cases(sorted(others))
            for case_id, row in unit.cases(sorted(others)).items():
                to_evaluate[case_id] = replace(row, previous_case=others[case_id])
        kinds = {case_id: "ingest" if case_id in touched else "customer" for case_id in to_evaluate}
        rows_in_order = [to_evaluate[case_id] for case_id in sorted(to_evaluate)]
        return tuple(self.evaluator.evaluate_many(unit, rows_in_order, now, kinds, created))


def _settle_within_request(
    admitted: Sequence[Admitted], rejected: list[Rejected]
) -> tuple[list[Admitted], int]:
    """The first of each record id in the request; later ones are duplicates or conflicts."""
    first: dict[str, Admitted] = {}
    fresh: list[Admitted] = []
    duplicates = 0
    for item in admitted:
        earlier = first.get(item.record.id)
        if earlier is None:
            first[item.record.id] = item
            fresh.append(item)
        elif earlier.digest == item.digest:
            duplicates += 1
        else:
            rejected.append(
                Rejected(
                    item.index,
                    "/id",
                    f"record id '{item.record.id}' appears earlier in this request (index {earlier.index}) "
                    "with different content; nothing was stored for this one",
                )
            )
    return fresh, duplicates


def _conflict(item: Admitted, known: StoredRecord) -> Rejected:
    via = ", ".join(f"{key} {value}" for key, value in known.provenance.items() if value is not None)
    return Rejected(
        item.index,
        "/id",
        f"record id '{item.record.id}' is already stored with different content (seq {known.seq}, "
        f"received {format_datetime(known.received_at)}{', ' + via if via else ''}); nothing was changed. "
        "The stored version is in 'stored'; send a new id to record a correction",
        load_json(known.body),
    )


def _with_seq(record: Record, seq: int) -> Record:
    return Record.from_values(
        record.shape,
        record.values,
        record.origin,
        seq,
        (record.id, record.case_id, record.type, record.at),
    )


_NUL = "\\u0000"  # as JSON writes the character


def _by_index(item: Rejected) -> int:
    return item.index
