"""``bpic2014-incidents``: Rabobank Group ICT's incident activity log (BPI Challenge 2014).

Read the activity file (``incident_activity.csv[.gz]``: one row per activity on an incident) and, when it
lies beside it, the incident table (``incident_cases.csv[.gz]``: one row per incident with its priority,
category and open / reopen / resolve / close times).

Unlike the other logs, this one is not in time order, within an incident either (its README says to
sort by incident, ``date_stamp``, ``incident_activity_number``). A status change needs the status
before it, so this importer reads the whole file first, keeping the parsed rows (not records), then
emits each incident's records in time order, incidents in the order they first appear. That holds
the file's rows in memory once more; the engine holds all records until the input ends anyway.

The activity log rarely says ``Resolved`` (126 rows for 4,000 incidents); the incident table's
``resolved_time`` gives the resolution, as the log's README advises, unless a ``Resolved`` activity
at that same instant already does. Timestamps have no zone and are read as UTC unless told
(Rabobank is in the Netherlands: ``Europe/Amsterdam`` is a likely truth). See docs/importers.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow.errors import InputError, Location
from serviceflow.importers.csvlog import (
    STDIN,
    FieldError,
    Row,
    TimeConverter,
    error_item,
    parse_iso,
    read_rows,
)
from serviceflow.importers.ticketlog import DONE, CaseTrack, Event, TicketLogImporter, compact
from serviceflow.records import RawItem

__all__ = ["Bpic2014Incidents"]

#: incident table priority (1 highest ... 5 lowest) -> case_opened.priority.
PRIORITY = {"1": "urgent", "2": "high", "3": "normal", "4": "low", "5": "low"}
#: Contacts with the customer: activity -> (direction, channel or None).
CONTACTS = {
    "Communication with customer": ("outbound", None),
    "Mail to Customer": ("outbound", "email"),
    "Callback Request": ("outbound", "phone"),
    "Update from customer": ("inbound", None),
}
#: Hand-overs to an outside vendor.
ESCALATIONS = {
    "External Vendor Assignment": ("external vendor", "assigned to an external vendor"),
    "External Vendor Reassignment": ("external vendor", "reassigned to another external vendor"),
}
OWNER_CHANGES = frozenset({"Assignment", "Reassignment"})
#: Incident table columns kept in case_opened.meta (under "incident"), all of them but the id.
CASE_SKIP = frozenset({"incident_id"})
#: The names the incident table may have beside the activity file.
CASE_FILES = ("incident_cases.csv.gz", "incident_cases.csv")


@dataclass(slots=True)
class _Activity:
    """One parsed activity row, kept until the file ends."""

    moment: datetime
    number: str
    activity: str
    at: str
    event: Event


class Bpic2014Incidents(TicketLogImporter):
    """BPI Challenge 2014 incident activity log, with the incident table beside it if present."""

    name = "bpic2014-incidents"
    system = "bpic2014"
    summary = "BPIC 2014 incident activity file (incident_id, date_stamp, incident_activity_type, ...)"
    default_source_tz = "UTC"
    columns = ("incident_id", "date_stamp", "incident_activity_number", "incident_activity_type")

    def accepts(self, path: Path) -> bool:
        return "activity" in path.name

    def header_hint(self, header: Sequence[str]) -> str:
        if "open_time" in header:
            return " (this is the incident table: pass the activity file; the table beside it is read too)"
        return super().header_hint(header)

    def read_source(self, source: str | Path, stdin: BinaryIO | None) -> Iterator[RawItem]:
        table: dict[str, Row] = {}
        table_file = None if source == STDIN else case_table_beside(Path(source))
        if table_file is not None:
            try:
                for row in read_rows(table_file, None, ("incident_id",)):
                    if isinstance(row, RawItem):
                        yield row
                    elif (incident := row.get("incident_id")) is not None:
                        table.setdefault(incident, row)
            except InputError as error:
                # The activities are still usable without the table: report it and go on.
                yield error_item(Location(error.location.file, error.location.line, ""), error.message)
        yield from self._convert(read_rows(source, stdin, self.columns, self.header_hint), table)

    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        return self._convert(rows, {})

    def _convert(self, rows: Iterator[Row | RawItem], table: dict[str, Row]) -> Iterator[RawItem]:
        times = TimeConverter(parse_iso, self.zone)
        incidents: dict[str, list[_Activity]] = {}
        for row in rows:
            if isinstance(row, RawItem):
                yield row
                continue
            try:
                activity = self._parse(row, times)
            except FieldError as error:
                yield row.error(error)
                continue
            incidents.setdefault(activity.event.case_id, []).append(activity)
        for incident, activities in incidents.items():
            case_row = table.get(incident)
            if case_row is not None:
                try:
                    resolved = self._table_resolution(case_row, activities, times)
                except FieldError as error:
                    yield case_row.error(error)
                else:
                    if resolved is not None:
                        activities.append(resolved)
            activities.sort(key=lambda item: (item.moment, item.number))
            yield from self._incident(activities, case_row)

    def _parse(self, row: Row, times: TimeConverter) -> _Activity:
        incident = row.require("incident_id")
        text = row.require("date_stamp")
        try:
            at, moment = times.convert(text)
        except ValueError as exc:
            raise FieldError("date_stamp", str(exc)) from None
        number = row.get("incident_activity_number") or ""
        activity = row.require("incident_activity_type")
        group = row.get("assignment_group")
        actor = (
            {"role": "customer", "id": "unknown"}
            if activity == "Update from customer"
            else {"role": "agent", "id": group or "unknown"}
        )
        event = Event(
            system=self.system,
            case_id=incident,
            key=str(row.line),
            at=at,
            actor=actor,
            origin=row.location(),
            ref=number or f"{incident}/line {row.line}",
            meta=compact(
                {
                    "activity": activity,
                    "assignment_group": group,
                    "km_number": row.get("km_number"),
                    "interaction_id": row.get("interaction_id"),
                }
            ),
        )
        return _Activity(moment=moment, number=number, activity=activity, at=at, event=event)

    def _table_resolution(
        self, case_row: Row, activities: list[_Activity], times: TimeConverter
    ) -> _Activity | None:
        """The incident table's resolved_time as an activity, unless a Resolved activity already says so."""
        text = case_row.get("resolved_time")
        if text is None:
            return None
        try:
            at, moment = times.convert(text)
        except ValueError as exc:
            raise FieldError("resolved_time", str(exc)) from None
        if any(item.activity == "Resolved" and item.moment == moment for item in activities):
            return None
        event = Event(
            system=self.system,
            case_id=activities[0].event.case_id,
            key=f"case{case_row.line}",
            at=at,
            actor={"role": "system", "id": self.system},
            origin=case_row.location(),
            ref=f"{activities[0].event.case_id}/resolved_time",
            meta={"activity": "resolved_time", "from_incident_table": True},
        )
        # Sorted before any activity at the same instant: the table's number is empty.
        return _Activity(moment=moment, number="", activity="Resolved", at=at, event=event)

    def _incident(self, activities: list[_Activity], case_row: Row | None) -> Iterator[RawItem]:
        track = CaseTrack()
        for index, item in enumerate(activities):
            event, name = item.event, item.activity
            if index == 0:
                yield self._opened(item, case_row)
                track.owner = _owner(event)
                if name == "Open":
                    continue
            emitted = False
            for record in self._mapped(item, track):
                emitted = True
                yield record
            if not emitted:
                yield event.record("note", "note", text=_note_text(name), meta=_note_meta(name, track))

    def _opened(self, item: _Activity, case_row: Row | None) -> RawItem:
        fields: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        if case_row is not None:
            priority = PRIORITY.get(case_row.get("priority") or "")
            if priority is not None:
                fields["priority"] = priority
            meta["incident"] = compact(
                {column: case_row.get(column) for column in case_row.values if column not in CASE_SKIP}
            )
        return item.event.record("opened", "case_opened", meta=meta, **fields)

    def _mapped(self, item: _Activity, track: CaseTrack) -> Iterator[RawItem]:
        event, name = item.event, item.activity
        if name == "Resolved":
            yield from track.resolve(event)
        elif name == "Closed":
            yield from track.move_to(event, "closed")
        elif name == "Reopen":
            yield from track.reopen(event)
        elif name == "Pending vendor" and track.status not in DONE:
            # This log says "Reopen" when it reopens; an update to a done incident does not reopen it.
            yield from track.move_to(event, "pending")
        elif name in OWNER_CHANGES:
            yield from track.reassign(event, _owner(event))
        elif name in ESCALATIONS:
            to, reason = ESCALATIONS[name]
            yield event.record("escalation", "escalation", to=to, reason=reason)
        elif name in CONTACTS:
            direction, channel = CONTACTS[name]
            yield event.record(
                "contact", "contact", direction=direction, summary=name, **compact({"channel": channel})
            )


def case_table_beside(activity_file: Path) -> Path | None:
    """The incident table in the activity file's folder, if there is one."""
    names = [activity_file.name.replace("activity", "cases")] if "activity" in activity_file.name else []
    for name in [*names, *CASE_FILES]:
        candidate = activity_file.with_name(name)
        if candidate != activity_file and candidate.is_file():
            return candidate
    return None


def _owner(event: Event) -> dict[str, str | None]:
    return {"group": event.meta.get("assignment_group")}


def _note_text(name: str) -> str:
    if name == "Status Change":
        return "Status Change (the log does not record the new status)"
    return name


def _note_meta(name: str, track: CaseTrack) -> dict[str, Any]:
    if name == "Closed" and track.status == "closed":
        return {"already_closed": True}
    return {}
