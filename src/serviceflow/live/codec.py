"""How records, findings and transitions are written into a store and read back, exactly.

A record is stored as admitted (after its enrichers ran), as JSON with its date-times in RFC 3339 with
their own offsets; reading it back rebuilds the compact :class:`Record` through its type's layout
without validating it again (it was valid when it was admitted). Its *digest* is that of the item as
it was sent, keys sorted, so that a record sent again with the same content is recognised as a
duplicate however its keys were ordered.

Findings are stored as ``lint --format json`` writes them (:meth:`Finding.to_dict`) and read back into
equal :class:`Finding` objects, so that transitions computed against stored findings are the ones the
engine would compute against fresh ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from serviceflow.findings import Finding, Severity, Status
from serviceflow.records.model import Record
from serviceflow.records.schemas import SchemaSet
from serviceflow.records.validate import build_record
from serviceflow.timeutil import format_datetime, parse_datetime
from serviceflow.transitions import Transition, TransitionKind

__all__ = [
    "EPOCH",
    "RecordCodec",
    "dump_json",
    "finding_from_dict",
    "from_micros",
    "item_digest",
    "load_json",
    "to_micros",
    "transition_from_dict",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """An instant as microseconds since the epoch: what stores index and compare."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC instant of :func:`to_micros`."""
    return EPOCH + timedelta(microseconds=micros)


def dump_json(value: Any) -> str:
    """Compact JSON text (date-times as RFC 3339 with their offsets)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z).decode()


def load_json(text: str | bytes) -> Any:
    return orjson.loads(text)


def item_digest(item: Any) -> str:
    """The digest of an item as sent: the same for the same content, whatever the key order."""
    try:
        canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        canonical = repr(item).encode("utf-8", "surrogatepass")
    return hashlib.sha256(canonical).hexdigest()


def _default(value: Any) -> Any:
    if isinstance(value, Record):
        return value.fields
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__}")


class RecordCodec:
    """Stores a record's admitted fields and rebuilds the record from them, for one schema set."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas

    def dump(self, record: Record) -> str:
        return orjson.dumps(record.fields, default=_default, option=orjson.OPT_UTC_Z).decode()

    def load(self, body: str | bytes, seq: int) -> Record:
        data = orjson.loads(body)
        return build_record(data, None, self.schemas.layout(data["type"]), seq)


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """The finding :meth:`Finding.to_dict` wrote (its location is not kept: records have none live)."""
    deadline = data.get("deadline")
    return Finding(
        policy=data["policy"],
        severity=Severity(data["severity"]),
        status=Status(data["status"]),
        case_id=data["case_id"],
        record_id=data["record_id"],
        message=data["message"],
        evidence=tuple(data.get("evidence", ())),
        deadline=parse_datetime(deadline) if deadline is not None else None,
        reason=data.get("reason"),
    )


def transition_from_dict(data: Mapping[str, Any]) -> Transition:
    """The transition :meth:`Transition.to_dict` wrote."""
    before, after = data.get("before"), data.get("after")
    return Transition(
        TransitionKind(data["kind"]),
        finding_from_dict(before) if before is not None else None,
        finding_from_dict(after) if after is not None else None,
    )


def format_instant(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None
