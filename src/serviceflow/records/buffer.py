"""Hold the admitted records of many interleaved cases until the input ends, then give them case by case.

Exports interleave cases and are rarely sorted, so every record of a batch is kept until the last one
is read. Records are kept in their compact admitted form (:class:`~serviceflow.records.model.Record`),
with nothing converted on the way in or out. A case comes out ordered by ``at`` on the real timeline,
ties broken by ``seq`` (ingestion order): the order every evaluator, store and partition uses.

A record whose id was already seen in this buffer is refused with where the first one was. When the
cases of one input are split between partitions (``lint --jobs``, Dask), a record id can be seen once
in each of two partitions; :meth:`CaseBuffer.id_digests` and :meth:`CaseBuffer.drop` let a coordinator
settle those the way one buffer would have (the first in ingestion order is kept).

The customer scope (:mod:`.customers`) is derived when the input has ended (:meth:`customer_facts`),
from the records that were kept, so a duplicate dropped late never leaves a trace in it.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Iterator, Mapping

from serviceflow.errors import Location, RecordError
from serviceflow.records.customers import CustomerFacts, CustomerHistory, PreviousCase
from serviceflow.records.model import Record, case_order

__all__ = ["CaseBuffer", "id_digest"]


def id_digest(record_id: str) -> int:
    """A stable 64-bit digest of a record id (the same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=8).digest())


class CaseBuffer:
    """Admitted records of one batch (or one partition of it), grouped by case."""

    def __init__(self, *, customer_scope: bool = True) -> None:
        """``customer_scope``: fill in ``previous_case`` (off when no policy reads it: it costs a pass)."""
        self.customer_scope = customer_scope
        self._cases: dict[str, list[Record]] = {}
        # id -> the record kept first: only while records are added (cases() lets go of it, so that
        # each case's records are freed once it is evaluated).
        self._first_seen: dict[str, Record] = {}
        self._count = 0
        self._case_count = 0
        self._out_of_order: set[str] = set()  # cases whose records were not added in seq order
        self._previous: Mapping[str, PreviousCase] | None = None

    def __len__(self) -> int:
        """How many records were kept (given out or not)."""
        return self._count

    @property
    def case_count(self) -> int:
        """How many distinct cases the kept records belong to (given out or not)."""
        return self._case_count

    def case_ids(self) -> list[str]:
        """The cases, in order of first appearance."""
        return list(self._cases)

    def add(self, record: Record) -> RecordError | None:
        """Keep ``record``; or, if its id was already seen in this buffer, return why it was refused."""
        first_seen = self._first_seen
        first = first_seen.get(record.id)
        if first is not None:
            return RecordError(
                f"duplicate record id {record.id!r} (first at {_place(first)})",
                Location(record.file, record.line, "/id"),
                record.id,
            )
        first_seen[record.id] = record
        records = self._cases.get(record.case_id)
        if records is None:
            self._cases[record.case_id] = [record]
            self._case_count += 1
        else:
            if record.seq < records[-1].seq:
                self._out_of_order.add(record.case_id)
            records.append(record)
        self._count += 1
        return None

    def id_digests(self) -> list[tuple[int, int]]:
        """``(digest of the id, seq)`` of every kept record, for a coordinator's duplicate check."""
        return [(id_digest(record.id), record.seq) for records in self._cases.values() for record in records]

    def records_with_digests(self, digests: set[int]) -> list[tuple[int, str, int, Location | None]]:
        """``(digest, id, seq, origin)`` of the kept records whose id digest is among ``digests``."""
        found = []
        for records in self._cases.values():
            for record in records:
                digest = id_digest(record.id)
                if digest in digests:
                    found.append((digest, record.id, record.seq, record.origin))
        return found

    def drop(self, seqs: Iterable[int]) -> list[Record]:
        """Remove the records with these ``seq`` (duplicates of another partition's); the removed."""
        wanted = set(seqs)
        removed: list[Record] = []
        if not wanted:
            return removed
        for case_id in list(self._cases):
            records = self._cases[case_id]
            kept = [record for record in records if record.seq not in wanted]
            if len(kept) != len(records):
                removed.extend(record for record in records if record.seq in wanted)
                if kept:
                    self._cases[case_id] = kept
                else:
                    del self._cases[case_id]
                    self._case_count -= 1
        self._count -= len(removed)
        return removed

    def customer_facts(self) -> CustomerFacts:
        """What this buffer's cases say about their customers (see :mod:`.customers`)."""
        return self._history().facts()

    def use_previous_cases(self, previous: Mapping[str, PreviousCase]) -> None:
        """Take each case's previous case from a coordinator that saw every partition's facts."""
        self._previous = previous

    def cases(self) -> Iterator[tuple[str, list[Record]]]:
        """``(case_id, records)`` for each case in order of first appearance, records in case order.

        A case's ``case_opened`` comes out with ``previous_case`` filled in from the same customer's
        other cases, unless it carries one already. Each case is released as it is given out, so
        memory falls while a batch is evaluated.
        """
        self._first_seen = {}
        previous = self._previous
        if previous is None:
            previous = dict(self._history().previous_cases()) if self.customer_scope else {}
        cases = self._cases
        while cases:
            case_id = next(iter(cases))
            records = cases.pop(case_id)
            # A case's list is normally in ingestion order (seq) already, and the sort is stable:
            # sorting by 'at' alone then gives the case order (at, then seq) without a key tuple.
            records.sort(key=case_order if case_id in self._out_of_order else _AT)
            before = previous.get(case_id)
            if before is not None:
                records = [_with_previous_case(record, before) for record in records]
            yield case_id, records

    def _history(self) -> CustomerHistory:
        history = CustomerHistory()
        for case_id, records in self._cases.items():
            in_order = records if case_id not in self._out_of_order else sorted(records, key=_SEQ)
            history.observe_case(history.add_case(case_id), in_order)
        return history


_AT = operator.attrgetter("at")
_SEQ = operator.attrgetter("seq")


def _with_previous_case(record: Record, previous: PreviousCase) -> Record:
    if record.type != "case_opened" or "previous_case" in record:
        return record
    case_id, closed_at = previous
    return record.replace_fields(previous_case={"case_id": case_id, "closed_at": closed_at})


def _place(record: Record) -> str:
    return str(Location(record.file, record.line))
