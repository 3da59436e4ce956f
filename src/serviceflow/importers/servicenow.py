"""``servicenow-incidents``: a ServiceNow incident audit log, as in the UCI "incident management
process enriched event log" (one row per update of an incident, each a snapshot of all its fields).

Because each row is a snapshot, a record is made only for what changed since the incident's previous
row: its state, its reopen count, its group or analyst, its problem / change / vendor link. An update
that changes none of these makes no record. Rows are taken in file order, which in the UCI log is the
incident's update order (``sys_mod_count``).

Timestamps are ``d/m/yyyy HH:MM`` without a zone; they are read as UTC unless another source zone
is given. The mapping, and what it loses, is documented in docs/importers.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serviceflow.importers.csvlog import FieldError, Row, TimeConverter, parse_day_first
from serviceflow.importers.ticketlog import CaseTrack, Event, Owner, TicketLogImporter, compact
from serviceflow.records import RawItem

__all__ = ["ServiceNowIncidents"]

MISSING = ("", "?")

#: incident_state -> serviceflow status. Unknown values (the log has a few ``-100``) change nothing.
STATE_STATUS = {
    "New": "open",
    "Active": "open",
    "Awaiting User Info": "on_hold",
    "Awaiting Vendor": "pending",
    "Awaiting Problem": "pending",
    "Awaiting Evidence": "pending",
    "Resolved": "solved",
    "Closed": "closed",
}
#: The leading rank of ``priority`` ("1 - Critical" ... "4 - Low") -> case_opened.priority.
PRIORITY = {"1": "urgent", "2": "high", "3": "normal", "4": "low"}
#: contact_type -> channel of the opening; "Direct opening" has no serviceflow channel.
CHANNEL = {"Phone": "phone", "IVR": "phone", "Email": "email", "Self service": "web"}
#: Link columns whose value appearing or changing means the incident was handed on.
ESCALATIONS = {
    "problem_id": ("problem management", "linked to problem {value}"),
    "rfc": ("change management", "linked to change request {value}"),
    "vendor": ("{value}", "handed to vendor {value}"),
}
#: Incident-level columns kept in case_opened.meta, as the first row has them.
CASE_COLUMNS = (
    "opened_by",
    "sys_created_by",
    "location",
    "category",
    "subcategory",
    "u_symptom",
    "cmdb_ci",
    "impact",
    "urgency",
    "priority",
    "contact_type",
    "knowledge",
    "u_priority_confirmation",
    "notify",
    "closed_code",
    "resolved_by",
)
CASE_TIME_COLUMNS = ("opened_at", "sys_created_at", "resolved_at", "closed_at")


@dataclass(slots=True)
class _Update:
    """The fields of one row this importer reads, parsed; built before any case state changes."""

    row: Row
    number: str
    state: str
    status: str | None
    at: str
    moment: datetime
    reopen_count: int
    owner: Owner
    links: dict[str, str | None]
    event: Event


class ServiceNowIncidents(TicketLogImporter):
    """ServiceNow incident audit log (UCI dataset 498 and exports with the same columns)."""

    name = "servicenow-incidents"
    system = "servicenow"
    summary = "ServiceNow incident event log (number, incident_state, sys_updated_at, ...)"
    default_source_tz = "UTC"
    columns = (
        "number",
        "incident_state",
        "reopen_count",
        "sys_mod_count",
        "sys_updated_by",
        "sys_updated_at",
        "opened_at",
        "assignment_group",
        "assigned_to",
    )

    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        times = TimeConverter(parse_day_first, self.zone)
        tracks: dict[str, CaseTrack] = {}
        for row in rows:
            if isinstance(row, RawItem):
                yield row
                continue
            try:
                update = self._parse(row, times)
                track = tracks.get(update.number)
                opened = self._opened(update, times) if track is None else None
            except FieldError as error:
                yield row.error(error)
                continue
            if opened is not None:
                tracks[update.number] = CaseTrack(
                    owner=update.owner, extra={"reopen_count": 0, "links": dict.fromkeys(ESCALATIONS)}
                )
                yield opened
            yield from self._changes(update, tracks[update.number])

    def _parse(self, row: Row, times: TimeConverter) -> _Update:
        number = row.require("number", MISSING)
        state = row.require("incident_state")
        at, moment = _convert(row, "sys_updated_at", times)
        reopen_count = _count(row, "reopen_count")
        mod_count = row.get("sys_mod_count", MISSING)
        meta = compact(
            {
                "state": state,
                "sys_mod_count": _int_or_text(mod_count),
                "reopen_count": reopen_count,
                "reassignment_count": _int_or_text(row.get("reassignment_count", MISSING)),
                "made_sla": _boolean(row.get("made_sla", MISSING)),
            }
        )
        event = Event(
            system=self.system,
            case_id=number,
            key=str(row.line),
            at=at,
            actor={"role": "agent", "id": row.get("sys_updated_by", MISSING) or "unknown"},
            origin=row.location(),
            ref=f"{number}/{mod_count if mod_count is not None else row.line}",
            meta=meta,
        )
        return _Update(
            row=row,
            number=number,
            state=state,
            status=STATE_STATUS.get(state),
            at=at,
            moment=moment,
            reopen_count=reopen_count,
            owner={"group": row.get("assignment_group", MISSING), "agent": row.get("assigned_to", MISSING)},
            links={column: row.get(column, MISSING) for column in ESCALATIONS},
            event=event,
        )

    def _opened(self, update: _Update, times: TimeConverter) -> RawItem:
        """case_opened at ``opened_at`` (or the first update, if that is earlier or opened_at is missing)."""
        row = update.row
        opened_text = row.get("opened_at", MISSING)
        at = update.at
        if opened_text is not None:
            opened_at, opened_moment = _convert(row, "opened_at", times)
            if opened_moment <= update.moment:
                at = opened_at
        meta: dict[str, Any] = {column: row.get(column, MISSING) for column in CASE_COLUMNS}
        for column in CASE_TIME_COLUMNS:
            text = row.get(column, MISSING)
            meta[column] = _time_or_text(text, times)
        meta["owner"] = compact(update.owner) or None
        opener = row.get("opened_by", MISSING)
        event = Event(
            system=self.system,
            case_id=update.number,
            key=str(row.line),
            at=at,
            actor={"role": "agent", "id": opener} if opener else dict(update.event.actor),
            origin=update.event.origin,
            ref=update.event.ref,
            meta={**update.event.meta, **compact(meta)},
        )
        fields = compact(
            {
                "priority": PRIORITY.get((row.get("priority", MISSING) or "")[:1]),
                "channel": CHANNEL.get(row.get("contact_type", MISSING) or ""),
                "customer_id": row.get("caller_id", MISSING),
            }
        )
        return event.record("opened", "case_opened", **fields)

    def _changes(self, update: _Update, track: CaseTrack) -> Iterator[RawItem]:
        event = update.event
        if update.reopen_count > track.extra["reopen_count"]:
            # The caller rejected the resolution; the state row may still say Resolved or Closed.
            track.extra["reopen_count"] = update.reopen_count
            if track.status != "reopened":
                yield from track.reopen(event)
        if update.status == "solved":
            if track.status != "solved":
                yield from track.resolve(event, **compact({"summary": _resolution_summary(update.row)}))
        elif update.status is not None:
            yield from track.move_to(event, update.status)
        yield from track.reassign(event, update.owner)
        links = track.extra["links"]
        for column, (to, reason) in ESCALATIONS.items():
            value = update.links[column]
            if value is not None and value != links[column]:
                links[column] = value
                yield event.record(
                    f"escalation-{column}",
                    "escalation",
                    to=to.format(value=value),
                    reason=reason.format(value=value),
                )


def _convert(row: Row, column: str, times: TimeConverter) -> tuple[str, datetime]:
    text = row.require(column, MISSING)
    try:
        return times.convert(text)
    except ValueError as exc:
        raise FieldError(column, str(exc)) from None


def _time_or_text(text: str | None, times: TimeConverter) -> str | None:
    if text is None:
        return None
    try:
        return times(text)
    except ValueError:
        return text


def _count(row: Row, column: str) -> int:
    text = row.get(column, MISSING)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise FieldError(column, f"{column} is not a whole number: {text!r}") from None


def _int_or_text(text: str | None) -> int | str | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _boolean(text: str | None) -> bool | None:
    return {"true": True, "false": False}.get(text.lower()) if text is not None else None


def _resolution_summary(row: Row) -> str | None:
    code = row.get("closed_code", MISSING)
    return f"closed code {code}" if code is not None else None
