"""Group validated records by case, in event-time order, without holding a million Record objects.

Exports interleave cases and are rarely sorted, so every record must be kept until the input ends.
A :class:`Record` with its dict and datetimes costs a few kilobytes; a million of them would not fit on
a modest machine. :class:`CaseStore` keeps each record as one compact bytes object plus a few machine
integers in arrays (its instant, its file and line), and rebuilds Record objects (date-times parsed,
nothing re-validated) one case at a time as :meth:`CaseStore.cases` yields them.

The bytes are :mod:`marshal` output of the record with its date-times as RFC 3339 strings: smaller
than the same record as compact JSON and two to three times faster to write and read back. Marshal's
format may change between Python versions, which does not matter here: the bytes never leave the
process that wrote them.
"""

from __future__ import annotations

import marshal
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from serviceflow.errors import Location, RecordError
from serviceflow.records.customers import CustomerHistory
from serviceflow.records.model import Record
from serviceflow.records.schemas import ITEMS, DateTimeFields, FieldPath, SchemaSet, load_schemas
from serviceflow.timeutil import parse_datetime

__all__ = ["CaseStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NO_LINE = 0  # lines are 1-based, so 0 can stand for "unknown"


class CaseStore:
    """Collects validated records of many interleaved cases and yields them case by case.

    Each case comes out ordered by ``at`` on the real timeline (offsets taken into account), ties kept
    in input order, with ``seq`` numbering its records 0..n-1. Cases come out in the order they first
    appeared. A record whose ``id`` was already seen is refused. A case's ``case_opened`` comes out
    with ``previous_case`` filled in from the same customer's other cases (:mod:`.customers`).
    ``schemas`` (the bundled ones by default; pass the validator's) tells which fields hold
    date-times; for a field no schema declares, the store notices the datetime and parses that field
    of that type back too.
    """

    def __init__(self, schemas: SchemaSet | None = None) -> None:
        self._schemas = schemas if schemas is not None else load_schemas()
        self._payloads: list[bytes] = []
        self._at = array("q")  # microseconds since the epoch: exact, unlike a float
        self._file = array("I")  # index into self._files
        self._line = array("I")
        self._files: list[str | None] = []
        self._file_indexes: dict[str | None, int] = {}
        self._case_numbers: dict[str, int] = {}  # case id -> number, in order of first appearance
        self._case_records: list[array[int]] = []  # by case number: indexes of its records
        self._first_seen: dict[str, int] = {}  # record id -> index of the record kept
        self._learned: dict[str, set[FieldPath]] = {}
        self._date_times: dict[str, DateTimeFields] = {}
        self._history = CustomerHistory()

    def __len__(self) -> int:
        return len(self._payloads)

    @property
    def case_count(self) -> int:
        """How many distinct cases the kept records belong to."""
        return len(self._case_numbers)

    def add(self, record: Record) -> RecordError | None:
        """Keep ``record``; or, if its id was already seen in this input, return why it was refused."""
        origin = record.origin or Location()
        first = self._first_seen.get(record.id)
        if first is not None:
            return RecordError(
                f"duplicate record id {record.id!r} (first at {self._origin(first)})",
                Location(origin.file, origin.line, "/id"),
                record.id,
            )
        index = len(self._payloads)
        instant = (record.at - _EPOCH) // _MICROSECOND
        self._payloads.append(self._encode(record))
        self._at.append(instant)
        self._file.append(self._file_index(origin.file))
        self._line.append(origin.line if origin.line is not None else _NO_LINE)
        number = self._case_numbers.get(record.case_id)
        if number is None:
            number = self._case_numbers[record.case_id] = len(self._case_records)
            self._case_records.append(array("I"))
            self._history.add_case()
        self._case_records[number].append(index)
        self._history.observe(number, record, instant)
        self._first_seen[record.id] = index
        return None

    def cases(self) -> Iterator[tuple[str, list[Record]]]:
        """``(case_id, records)`` for each case, records in event-time order with ``seq`` set."""
        case_ids = list(self._case_numbers)
        for number, case_id in enumerate(case_ids):
            # sorted() is stable and indexes are in input order, so equal instants keep input order.
            ordered = sorted(self._case_records[number], key=self._at.__getitem__)
            records = [self._rebuild(index, seq) for seq, index in enumerate(ordered)]
            previous = self._history.previous_case(number)
            if previous is not None:
                other, closed_at = previous
                for record in records:
                    if record.type == "case_opened" and "previous_case" not in record.fields:
                        record.fields["previous_case"] = {"case_id": case_ids[other], "closed_at": closed_at}
            yield case_id, records

    def _encode(self, record: Record) -> bytes:
        fields = record.fields
        plain = self._date_time_fields(record.type).format(fields)
        try:
            content: Any = marshal.dumps(plain)
        except ValueError:
            # A datetime where the schema declares none (a record built by hand): remember the field.
            self._learn_date_times(record.type, fields)
            plain = self._date_time_fields(record.type).format(fields)
            content = marshal.dumps(plain)
        if (
            fields.get("id") == record.id
            and fields.get("case_id") == record.case_id
            and fields.get("type") == record.type
            and fields.get("at") == record.at
        ):
            return content
        # A record built by hand whose fields lack (or contradict) its envelope: keep both.
        return marshal.dumps((record.id, record.case_id, record.type, record.at.isoformat(), plain))

    def _rebuild(self, index: int, seq: int) -> Record:
        content = marshal.loads(self._payloads[index])
        at: datetime | None = None
        if isinstance(content, tuple):
            record_id, case_id, type_name, at_text, data = content
            at = parse_datetime(at_text)
        else:
            data = content
            record_id, case_id, type_name = data["id"], data["case_id"], data["type"]
        fields = self._date_time_fields(type_name).parse(data)
        return Record(
            id=record_id,
            case_id=case_id,
            type=type_name,
            at=at if at is not None else fields["at"],
            fields=fields,
            origin=self._origin(index),
            seq=seq,
        )

    def _origin(self, index: int) -> Location:
        line = self._line[index]
        return Location(self._files[self._file[index]], line if line != _NO_LINE else None)

    def _file_index(self, file: str | None) -> int:
        index = self._file_indexes.get(file)
        if index is None:
            index = self._file_indexes[file] = len(self._files)
            self._files.append(file)
        return index

    def _date_time_fields(self, type_name: str) -> DateTimeFields:
        fields = self._date_times.get(type_name)
        if fields is None:
            declared = self._schemas.date_time_fields(type_name).paths if type_name in self._schemas else ()
            learned = sorted(self._learned.get(type_name, ()))
            fields = self._date_times[type_name] = DateTimeFields(tuple(dict.fromkeys([*declared, *learned])))
        return fields

    def _learn_date_times(self, type_name: str, fields: dict[str, Any]) -> None:
        self._learned.setdefault(type_name, set()).update(_datetime_locations(fields, ()))
        self._date_times.pop(type_name, None)


def _datetime_locations(value: Any, path: FieldPath) -> Iterator[FieldPath]:
    if isinstance(value, datetime):
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _datetime_locations(child, (*path, key))
    elif isinstance(value, list):
        for element in value:
            yield from _datetime_locations(element, (*path, ITEMS))
