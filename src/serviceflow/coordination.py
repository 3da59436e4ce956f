"""What crosses partitions, settled the same way whoever runs them (``lint --jobs``, Dask).

When the cases of one input are split between partitions (:class:`~serviceflow.batch.Partition`), the
report must still be the one a single partition gives. Three things make that so, and they live here,
once, so that the forked workers of :mod:`serviceflow.parallel` and the Dask tasks of
:mod:`serviceflow.dask` cannot drift apart:

* **routing**: an item goes to the partition that owns its case, a stable hash of ``case_id``
  (:func:`partition_of`), found in a JSON Lines line's bytes without decoding it where that is certain
  (:func:`case_id_of_line`);
* **duplicate record ids** across partitions: every partition reports a digest of each id it kept;
  the digests more than one partition kept are :func:`shared_digests`; for those, the record first in
  the input stays and the others are refused where they are (:func:`duplicate_drops`);
* **the customer scope**: each partition's :class:`~serviceflow.records.customers.CustomerFacts` go to
  :func:`previous_cases`, which answers, per partition, the previous case of each of its cases.

The two settling steps are pure functions of what the partitions report, so a coordinator may apply
them to everything at once (:func:`settle_duplicates` and :func:`share_customer_scope` do, for
``--jobs``) or to slices that cannot interact: digests split by value (:func:`slice_digests`), facts
split by customer (:func:`slice_facts`), as Dask does so that no single process holds every record's
digest or every case's facts. Order matters: duplicates are settled before the customer scope is
shared, so that a record refused late leaves no trace in it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from serviceflow.errors import Location
from serviceflow.records.customers import CustomerFacts, CustomerHistory, PreviousCase

__all__ = [
    "Coordinated",
    "FoundRecord",
    "case_id_of",
    "case_id_of_line",
    "duplicate_drops",
    "partition_of",
    "previous_cases",
    "settle_duplicates",
    "share_customer_scope",
    "shared_digests",
    "slice_digests",
    "slice_facts",
]

#: ``(digest of the id, id, seq, origin)`` of a kept record, as
#: :meth:`~serviceflow.batch.Partition.records_with_digests` reports it.
FoundRecord = tuple[int, str, int, Location | None]

_CASE_ID_KEY = b'"case_id"'
_CASE_ID = re.compile(rb'"case_id"\s*:\s*"([^"\\]*)"')


# --- routing -------------------------------------------------------------------------------------------


def partition_of(case_id: bytes | None, partitions: int) -> int:
    """The partition that owns a case: a stable hash (the same in every process and run) of its id.

    An item with no case id goes to partition 0, which reports it.
    """
    if case_id is None:
        return 0
    return zlib.crc32(case_id) % partitions


def case_id_of_line(line: bytes) -> bytes | None:
    """The UTF-8 bytes of a JSON Lines line's ``case_id``, or ``None`` when it has none.

    The bytes are searched when that is certain (the key appears once and its value has no escape);
    otherwise the line is decoded. Where a line goes does not change what it means: its partition
    decodes and validates it in full.
    """
    if line.count(_CASE_ID_KEY) == 1:
        found = _CASE_ID.search(line)
        if found is not None:
            return found.group(1)
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return case_id_of(value)


def case_id_of(value: Any) -> bytes | None:
    """The UTF-8 bytes of a decoded item's ``case_id``, or ``None`` when it has none."""
    case_id = value.get("case_id") if isinstance(value, dict) else None
    return case_id.encode("utf-8", "surrogatepass") if isinstance(case_id, str) else None


# --- duplicate record ids ------------------------------------------------------------------------------


def shared_digests(partitions: Iterable[Iterable[tuple[int, int]]]) -> set[int]:
    """The id digests that more than one partition kept, from each partition's ``(digest, seq)``.

    A partition keeps an id once, so a digest seen twice was kept by two partitions (or two ids share
    a 64-bit digest, which :func:`duplicate_drops` tells apart by the ids themselves).
    """
    owners: dict[int, int] = {}
    shared: set[int] = set()
    for index, digests in enumerate(partitions):
        for digest, _seq in digests:
            owner = owners.setdefault(digest, index)
            if owner != index:
                shared.add(digest)
    return shared


def duplicate_drops(found: Sequence[Iterable[FoundRecord]]) -> list[dict[int, Location | None]]:
    """For each partition, the ``seq`` of each record it must refuse, with where the kept one is.

    ``found`` holds, per partition, its kept records whose digest is shared. Of the records with one
    id, the first in the input (lowest ``seq``) stays, wherever it is.
    """
    entries = [
        (seq, record_id, origin, index)
        for index, records in enumerate(found)
        for _digest, record_id, seq, origin in records
    ]
    entries.sort(key=lambda entry: entry[0])
    first: dict[str, Location | None] = {}
    drops: list[dict[int, Location | None]] = [{} for _ in found]
    for seq, record_id, origin, index in entries:
        if record_id not in first:
            first[record_id] = origin
        else:
            drops[index][seq] = first[record_id]
    return drops


def slice_digests(digests: Iterable[tuple[int, int]], slices: int) -> list[list[tuple[int, int]]]:
    """A partition's ``(digest, seq)`` split by digest value into ``slices`` lists.

    Two partitions' copies of one digest land in the same slice, so :func:`shared_digests` of each
    slice, united, is :func:`shared_digests` of the whole.
    """
    parts: list[list[tuple[int, int]]] = [[] for _ in range(slices)]
    for entry in digests:
        parts[entry[0] % slices].append(entry)
    return parts


# --- the customer scope --------------------------------------------------------------------------------


def previous_cases(partitions: Sequence[CustomerFacts]) -> list[dict[str, PreviousCase]]:
    """For each partition, the previous case of each of its cases that has one (see
    :mod:`serviceflow.records.customers`), from every partition's facts."""
    history = CustomerHistory.from_facts(partitions)
    return [dict(history.previous_cases(own.case_ids)) for own in partitions]


def slice_facts(facts: CustomerFacts, slices: int) -> list[CustomerFacts]:
    """A partition's facts split by customer into ``slices``, leaving out cases that name none.

    A case's previous case depends only on the closes of its own customer's cases, so
    :func:`previous_cases` of each slice gives, for the cases in it, the answer it gives for the whole;
    a case with no customer has no previous case.
    """
    parts = [CustomerFacts() for _ in range(slices)]
    numbers: list[tuple[int, int]] = []  # by case of ``facts``: (slice, number in it), or (-1, -1)
    for case_id, customer, opened in zip(facts.case_ids, facts.customers, facts.opened_at, strict=True):
        if customer is None:
            numbers.append((-1, -1))
            continue
        index = zlib.crc32(customer.encode("utf-8", "surrogatepass")) % slices
        part = parts[index]
        numbers.append((index, len(part.case_ids)))
        part.case_ids.append(case_id)
        part.customers.append(customer)
        part.opened_at.append(opened)
    for case, at, seq in zip(facts.close_case, facts.close_at, facts.close_seq, strict=True):
        index, number = numbers[case]
        if index >= 0:
            part = parts[index]
            part.close_case.append(number)
            part.close_at.append(at)
            part.close_seq.append(seq)
    return parts


# --- the two steps, for a coordinator that sees every partition ------------------------------------------


class Coordinated(Protocol):
    """Partitions as a coordinator sees them: each question goes to all, answers come back in order."""

    def id_digests(self) -> Iterable[Iterable[tuple[int, int]]]:
        """Per partition, in order: ``(digest, seq)`` of every record it kept."""
        ...

    def records_with_digests(self, digests: set[int]) -> Sequence[Iterable[FoundRecord]]:
        """Per partition: its kept records whose id digest is in ``digests``."""
        ...

    def drop_duplicates(self, drops: Sequence[Mapping[int, Location | None]]) -> None:
        """Give each partition its :func:`duplicate_drops` entry."""
        ...

    def customer_facts(self) -> Sequence[CustomerFacts]:
        """Per partition: what its cases say of their customers."""
        ...

    def use_previous_cases(self, previous: Sequence[Mapping[str, PreviousCase]]) -> None:
        """Give each partition its :func:`previous_cases` entry."""
        ...


def settle_duplicates(partitions: Coordinated) -> None:
    """Refuse, where they are, the records whose id another partition kept first."""
    shared = shared_digests(partitions.id_digests())
    if shared:
        partitions.drop_duplicates(duplicate_drops(partitions.records_with_digests(shared)))


def share_customer_scope(partitions: Coordinated) -> None:
    """Give each partition the previous case of each of its cases, computed from every partition."""
    partitions.use_previous_cases(previous_cases(partitions.customer_facts()))
