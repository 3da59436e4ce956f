"""``helpdesk-log``: the ticket log of an Italian software company's help desk (Verenich 2016, "Helpdesk").

Each row is one activity on a ticket (``Assign seriousness``, ``Take in charge ticket``, ``Wait``,
``Resolve ticket``, ``Closed``, ...), so every row makes at least one record: its status change,
resolution, escalation or owner change, or else a note naming the activity. Work on a ticket after it
was resolved or closed is a reopen. Rows are taken in file order, chronological within each ticket.

Timestamps carry their offset (``+00:00``); one without an offset is read in the source zone (UTC
unless told). The mapping is documented in docs/importers.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from serviceflow.importers.csvlog import FieldError, Row, TimeConverter, parse_iso
from serviceflow.importers.ticketlog import DONE, CaseTrack, Event, TicketLogImporter, compact
from serviceflow.records import RawItem

__all__ = ["HelpdeskLog"]

#: Activities that open a ticket: as its first row they make only the case_opened record.
INTAKE = frozenset({"Insert ticket", "Assign seriousness"})
#: Work on the ticket: after "Resolve ticket" or "Closed" it means the ticket was reopened. The
#: bug-tracker states (VERIFIED, RESOLVED, INVALID, DUPLICATE, Resolve SW anomaly) are not work on it.
WORK = frozenset(
    {
        "Insert ticket",
        "Assign seriousness",
        "Take in charge ticket",
        "Wait",
        "Create SW anomaly",
        "Require upgrade",
        "Schedule intervention",
    }
)
#: Activities handing the ticket to someone with more expertise: (to, reason).
ESCALATIONS = {
    "Create SW anomaly": ("development", "software anomaly created"),
    "Require upgrade": ("upgrade", "the product needs an upgrade"),
}
#: Ticket attributes, kept in case_opened.meta and, when one changes, in the meta of that row's records.
ATTRIBUTES = (
    "seriousness",
    "seriousness_2",
    "product",
    "responsible_section",
    "service_level",
    "service_type",
    "support_section",
    "workgroup",
)


@dataclass(slots=True)
class _Activity:
    case_id: str
    activity: str
    resource: str | None
    customer: str | None
    attributes: dict[str, str | None]
    event: Event


class HelpdeskLog(TicketLogImporter):
    """The Helpdesk event log (case_id, activity, resource, timestamp and nine ticket attributes)."""

    name = "helpdesk-log"
    system = "helpdesk"
    summary = "Helpdesk event log (case_id, activity, resource, timestamp, ...)"
    default_source_tz = "UTC"
    columns = ("case_id", "activity", "resource", "timestamp")

    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        times = TimeConverter(parse_iso, self.zone)
        tracks: dict[str, CaseTrack] = {}
        for row in rows:
            if isinstance(row, RawItem):
                yield row
                continue
            try:
                activity = self._parse(row, times, tracks)
            except FieldError as error:
                yield row.error(error)
                continue
            track = tracks.get(activity.case_id)
            opening = track is None
            if track is None:
                track = tracks[activity.case_id] = CaseTrack(extra={"attributes": activity.attributes})
                yield activity.event.record(
                    "opened",
                    "case_opened",
                    meta=compact(activity.attributes),
                    **compact({"customer_id": activity.customer}),
                )
            else:
                changed = {
                    key: value
                    for key, value in activity.attributes.items()
                    if value != track.extra["attributes"].get(key)
                }
                if changed:
                    track.extra["attributes"] = activity.attributes
                    activity.event.meta["changed"] = changed
            track.events += 1
            if not (opening and activity.activity in INTAKE):
                yield from self._records(activity, track)

    def _parse(self, row: Row, times: TimeConverter, tracks: dict[str, CaseTrack]) -> _Activity:
        case_id = row.require("case_id")
        name = row.require("activity")
        try:
            at = times(row.require("timestamp"))
        except ValueError as exc:
            raise FieldError("timestamp", str(exc)) from None
        resource = row.get("resource")
        previous = tracks.get(case_id)
        event = Event(
            system=self.system,
            case_id=case_id,
            key=str(row.line),
            at=at,
            actor={"role": "agent", "id": resource} if resource else {"role": "system", "id": "helpdesk"},
            origin=row.location(),
            ref=f"{case_id}/{(previous.events if previous else 0) + 1}",
            meta={"activity": name},
        )
        return _Activity(
            case_id=case_id,
            activity=name,
            resource=resource,
            customer=row.get("customer"),
            attributes={column: row.get(column) for column in ATTRIBUTES},
            event=event,
        )

    def _records(self, activity: _Activity, track: CaseTrack) -> Iterator[RawItem]:
        event, name = activity.event, activity.activity
        before = track.status
        emitted = False
        for item in self._mapped(activity, track):
            emitted = True
            yield item
        if not emitted:
            extra: dict[str, Any] = (
                {"already_closed": True} if name == "Closed" and before == "closed" else {}
            )
            yield event.record("note", "note", text=name, meta=extra)

    def _mapped(self, activity: _Activity, track: CaseTrack) -> Iterator[RawItem]:
        event, name = activity.event, activity.activity
        if name == "Resolve ticket":
            yield from track.resolve(event)
        elif name == "Closed":
            yield from track.move_to(event, "closed")
        elif name in WORK:
            if name == "Wait":
                yield from track.move_to(event, "on_hold")
            elif name == "Take in charge ticket" or track.status in DONE:
                yield from track.move_to(event, "open")
            if name == "Take in charge ticket":
                yield from track.reassign(event, {"agent": activity.resource})
            if name in ESCALATIONS:
                to, reason = ESCALATIONS[name]
                yield event.record("escalation", "escalation", to=to, reason=reason)
