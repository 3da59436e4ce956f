"""The record as evaluators see it: a validated JSON object with its date-times parsed, held compactly.

A record is parsed once and its date-times once, at admission (:mod:`serviceflow.records.admission`);
nothing downstream converts it again. A batch holds every record of an export until the input ends
(exports interleave cases), so the form is chosen for memory as much as for speed: the values sit in
one tuple, in the order the record wrote its keys, and a *shape* shared by every record with the same
keys maps a key to its position. A million records cost about half what a million dicts would, and
reading a field is still one dictionary lookup.

``seq`` is the record's place in ingestion order (its position in the input, or in a store's log),
assigned at admission. A case is ordered by ``at`` on the real timeline, ties broken by ``seq``: the
same rule in a file, in a store and across partitions, so a store reproduces a file's verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from serviceflow.errors import Location

__all__ = ["Record", "Shape", "case_order", "shape_for"]

#: A record's shape: key -> index into its values. The values tuple ends with one extra ``None``, and a
#: missing key is looked up as index -1, so "missing" costs no branch: ``values[shape.get(key, -1)]``.
Shape = dict[str, int]

_MISSING = object()
_SHAPES: dict[tuple[str, ...], Shape] = {}
#: Shapes are shared while there are few of them (a schema allows few key sets); past this many, an
#: input with ever new key sets (hostile, or one generated key per record) gets unshared shapes
#: rather than growing the cache without bound.
_MAX_SHARED_SHAPES = 4096


def shape_for(keys: tuple[str, ...]) -> Shape:
    """The shared shape of records whose keys are ``keys``, in that order."""
    shape = _SHAPES.get(keys)
    if shape is None:
        shape = {key: index for index, key in enumerate(keys)}
        if len(_SHAPES) < _MAX_SHARED_SHAPES:
            _SHAPES[keys] = shape
    return shape


class Record:
    """One interaction record of one case: its envelope as attributes, every field by :meth:`get`.

    Build one from a mapping of its fields (``Record(id, case_id, type, at, fields)``); admission
    builds them with :meth:`from_values`. Records are not changed once built: :meth:`replace_fields`
    returns a new one. Two records are equal only when they are the same object, as before: a record
    is an event, and two events with equal fields are still two events.
    """

    __slots__ = ("at", "case_id", "file", "id", "line", "pointer", "seq", "shape", "type", "values")

    id: str
    case_id: str
    type: str
    at: datetime
    file: str | None
    line: int | None
    pointer: str | None
    seq: int
    shape: Shape
    values: tuple[Any, ...]

    def __init__(
        self,
        id: str,
        case_id: str,
        type: str,
        at: datetime,
        fields: Mapping[str, Any] | None = None,
        origin: Location | None = None,
        seq: int = 0,
    ) -> None:
        data = dict(fields) if fields is not None else {}
        self.shape = shape_for(tuple(data))
        self.values = (*data.values(), None)
        self.id, self.case_id, self.type, self.at = id, case_id, type, at
        self.origin = origin
        self.seq = seq

    @classmethod
    def from_values(
        cls,
        shape: Shape,
        values: tuple[Any, ...],
        origin: Location | None,
        seq: int,
        envelope: tuple[str, str, str, datetime],
    ) -> Record:
        """A record whose values (ending with the extra ``None``) and envelope are already known."""
        record = cls.__new__(cls)
        record.shape, record.values, record.seq = shape, values, seq
        if origin is None:
            record.file = record.line = record.pointer = None
        else:
            record.file, record.line, record.pointer = origin.file, origin.line, origin.pointer
        record.id, record.case_id, record.type, record.at = envelope
        return record

    @property
    def origin(self) -> Location | None:
        """Where the record was read (file, line, and a pointer for a record inside a document).

        Kept as three fields rather than a Location object: a batch holds a million records.
        """
        if self.file is None and self.line is None and self.pointer is None:
            return None
        return Location(self.file, self.line, self.pointer)

    @origin.setter
    def origin(self, origin: Location | None) -> None:
        if origin is None:
            self.file = self.line = self.pointer = None
        else:
            self.file, self.line, self.pointer = origin.file, origin.line, origin.pointer

    def get(self, path: str | tuple[str, ...], default: Any = None) -> Any:
        """Value at a dotted path (``window.start``), or ``default`` when any step is missing."""
        parts = path.split(".") if isinstance(path, str) else path
        value = self.values[self.shape.get(parts[0], -1)]
        if value is None and parts[0] not in self.shape:
            return default
        for part in parts[1:]:
            if not isinstance(value, dict):
                return default
            value = value.get(part, _MISSING)
            if value is _MISSING:
                return default
        return value

    def __getitem__(self, key: str) -> Any:
        index = self.shape.get(key)
        if index is None:
            raise KeyError(key)
        return self.values[index]

    def __contains__(self, key: object) -> bool:
        return key in self.shape

    def keys(self) -> Iterator[str]:
        return iter(self.shape)

    @property
    def fields(self) -> dict[str, Any]:
        """The record's fields as a new dict (changing it does not change the record)."""
        return dict(zip(self.shape, self.values, strict=False))

    def replace_fields(self, **updates: Any) -> Record:
        """A copy with these top-level fields set (added at the end when the record lacks them)."""
        data = self.fields
        data.update(updates)
        return Record(self.id, self.case_id, self.type, self.at, data, self.origin, self.seq)

    def __repr__(self) -> str:
        return (
            f"Record(id={self.id!r}, case_id={self.case_id!r}, type={self.type!r}, at={self.at!r}, "
            f"seq={self.seq})"
        )


def case_order(record: Record) -> tuple[datetime, int]:
    """The sort key of a case's records: ``at`` on the real timeline, then ``seq``."""
    return (record.at, record.seq)
