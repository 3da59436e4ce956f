"""Record factories: a valid record of any type from only the fields a test is about.

A plugin author's test should read like the story it checks ("a commitment for Jake, then a note"),
not like a schema. :class:`RecordFactory` fills everything else so that the record is valid against
``schemas/``: the envelope (``id``, ``case_id``, ``actor``, ``at``) and each type's required fields::

    make_record = RecordFactory()
    visit = make_record("commitment", resource="plumber:jake")
    make_record("fulfillment")                      # keeps the commitment above
    make_record("note", text="Only Jake is free today", actor="agent:billy")

Defaults follow the story: each record comes ``step`` (five minutes) after the previous one, so records
made in order are in case order; a fulfillment or reschedule refers to the latest commitment of its case;
a commitment is due a day after it is made. ``actor`` may be a role (``"customer"``) or ``"role:id"``.
Date-times may be given as aware ``datetime`` objects; they are written as RFC 3339 text.

It imports neither pytest nor anything beyond the standard library and :mod:`serviceflow.timeutil`, so
notebooks and scripts can use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from serviceflow.timeutil import format_datetime, parse_datetime

DEFAULT_CASE = "c1"
#: When a factory's first record happens unless the test says otherwise (a Monday morning, UTC).
DEFAULT_START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
DEFAULT_STEP = timedelta(minutes=5)
#: The identifier a role gets when a test names only the role.
ROLE_IDS: Mapping[str, str] = {
    "customer": "customer-1",
    "agent": "agent-1",
    "technician": "technician-1",
    "supervisor": "supervisor-1",
    "system": "system",
}
#: Who writes each type when the test does not say: the customer confirms, a technician fulfils.
DEFAULT_ROLES: Mapping[str, str] = {"confirmation": "customer", "fulfillment": "technician"}

Fields = dict[str, Any]


class RecordFactory:
    """Makes records for one test; ids, times and commitment references carry on from call to call."""

    def __init__(
        self,
        case_id: str = DEFAULT_CASE,
        start: datetime | str = DEFAULT_START,
        step: timedelta = DEFAULT_STEP,
        actor: str | Mapping[str, str] = "agent",
    ) -> None:
        self.case_id = case_id
        self.step = step
        self.actor = actor
        self._next_at = _as_datetime(start)
        self._counts: dict[str, int] = {}
        self._commitments: dict[str, Fields] = {}
        """The latest commitment of each case, which a fulfillment or reschedule refers to by default."""

    def __call__(self, record_type: str, /, **fields: Any) -> Fields:
        """A record of ``record_type`` with ``fields`` as given and every other required field filled.

        Unknown types (a plugin's own) get the envelope only; the plugin's schema decides the rest.
        """
        given: Fields = {key: _as_json(value) for key, value in fields.items()}
        count = self._counts[record_type] = self._counts.get(record_type, 0) + 1
        at = _as_datetime(given.pop("at", self._next_at))
        self._next_at = at + self.step
        record: Fields = {
            "id": given.pop("id", f"{record_type}-{count}"),
            "case_id": given.pop("case_id", self.case_id),
            "type": record_type,
            "at": format_datetime(at),
            "actor": actor_of(given.pop("actor", DEFAULT_ROLES.get(record_type, self.actor))),
            **given,
        }
        fill = _TYPE_DEFAULTS.get(record_type)
        if fill is not None:
            fill(self, record, at)
        if record_type == "commitment":
            self._commitments[record["case_id"]] = record
        return record

    def latest_commitment(self, case_id: str | None = None) -> Fields | None:
        """The last commitment this factory made in ``case_id`` (default: its own case)."""
        return self._commitments.get(case_id or self.case_id)

    def _commitment_for(self, record: Fields) -> Fields | None:
        commitment = self._commitments.get(record["case_id"])
        if "commitment_id" not in record:
            if commitment is None:
                raise ValueError(
                    f"a {record['type']} refers to a commitment: make one first or give commitment_id"
                )
            record["commitment_id"] = commitment["commitment_id"]
        if commitment is not None and commitment["commitment_id"] == record["commitment_id"]:
            return commitment
        return None


def actor_of(actor: str | Mapping[str, str]) -> dict[str, str]:
    """``"customer"`` → the customer ``customer-1``; ``"technician:jake"`` → technician ``jake``."""
    if isinstance(actor, Mapping):
        return dict(actor)
    role, _, identifier = actor.partition(":")
    if role not in ROLE_IDS:
        raise ValueError(f"unknown actor role {role!r} (roles: {', '.join(ROLE_IDS)})")
    return {"role": role, "id": identifier or ROLE_IDS[role]}


def _contact(factory: RecordFactory, record: Fields, at: datetime) -> None:
    record.setdefault("direction", "inbound")


def _commitment(factory: RecordFactory, record: Fields, at: datetime) -> None:
    record.setdefault("commitment_id", record["id"])
    record.setdefault("promise", "send a technician")
    record.setdefault("due", format_datetime(at + timedelta(days=1)))


def _fulfillment(factory: RecordFactory, record: Fields, at: datetime) -> None:
    factory._commitment_for(record)


def _reschedule(factory: RecordFactory, record: Fields, at: datetime) -> None:
    commitment = factory._commitment_for(record)
    if "new_due" not in record:
        due = _as_datetime(commitment["due"]) if commitment is not None else at
        record["new_due"] = format_datetime(due + timedelta(days=1))
    record.setdefault("customer_agreed", True)


def _capacity_check(factory: RecordFactory, record: Fields, at: datetime) -> None:
    record.setdefault("resource", ROLE_IDS["technician"])
    record.setdefault(
        "window", {"start": format_datetime(at), "end": format_datetime(at + timedelta(days=2))}
    )
    record.setdefault("confirmed", True)


def _setter(**defaults: Any) -> Callable[[RecordFactory, Fields, datetime], None]:
    def fill(factory: RecordFactory, record: Fields, at: datetime) -> None:
        for key, value in defaults.items():
            record.setdefault(key, value)

    return fill


_TYPE_DEFAULTS: dict[str, Callable[[RecordFactory, Fields, datetime], None]] = {
    "case_opened": _setter(subject="Test case"),
    "contact": _contact,
    "commitment": _commitment,
    "capacity_check": _capacity_check,
    "fulfillment": _fulfillment,
    "reschedule": _reschedule,
    "concession": _setter(kind="gesture"),
    "escalation": _setter(reason="needs more authority", to="supervisors"),
    "status_change": _setter(to="closed"),
    "note": _setter(text="Internal note."),
    "confirmation": _setter(resolved=True),
    "resolution": _setter(summary="Fixed."),
}
#: The record types the factory knows the required fields of (the built-in ones).
KNOWN_TYPES = tuple(_TYPE_DEFAULTS)


def _as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a record time needs a time zone offset, got {value!r}")
        return value
    return parse_datetime(value)


def _as_json(value: Any) -> Any:
    """Date-times as RFC 3339 text, inside lists and objects too, so tests may pass ``datetime``s."""
    if isinstance(value, datetime):
        return format_datetime(_as_datetime(value))
    if isinstance(value, Mapping):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    return value
