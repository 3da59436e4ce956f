"""``bpic2013-incidents``: Volvo IT Belgium's VINST incident log (BPI Challenge 2013), as CSV.

Each row is a status event of a service request: ``Status`` / ``Sub Status``, the support team
(``Involved ST``) and the owner. A row makes a record only when something changed since the case's
previous row (status, team or owner); the log repeats ``Accepted / In Progress`` often. Rows are
taken in file order, which is chronological within each case in this log.

Timestamps carry their UTC offset (``2010-03-31T16:59:42+02:00``); one without an offset is read in
the source zone (UTC unless told). The mapping is documented in docs/importers.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from serviceflow.importers.csvlog import FieldError, Row, TimeConverter, parse_iso
from serviceflow.importers.ticketlog import CaseTrack, Event, Owner, TicketLogImporter, compact
from serviceflow.records import RawItem

__all__ = ["Bpic2013Incidents"]

MISSING = ("", "-")

#: (Status, Sub Status) -> serviceflow status. "Wait - User" and "Wait - Customer" wait on the customer
#: (on_hold); the other waits are on a vendor, an implementation or unstated (pending).
STATUS = {
    ("Accepted", "In Progress"): "open",
    ("Accepted", "Assigned"): "open",
    ("Queued", "Awaiting Assignment"): "open",
    ("Accepted", "Wait - User"): "on_hold",
    ("Accepted", "Wait - Customer"): "on_hold",
    ("Accepted", "Wait"): "pending",
    ("Accepted", "Wait - Vendor"): "pending",
    ("Accepted", "Wait - Implementation"): "pending",
    ("Completed", "Resolved"): "solved",
    ("Completed", "In Call"): "solved",
    ("Completed", "Closed"): "closed",
    ("Completed", "Cancelled"): "closed",
}
#: A sub-status this importer does not know still tells whether the request is being worked on.
STATUS_FALLBACK = {"Accepted": "open", "Queued": "open"}
#: Row columns kept in every record's meta, by meta key.
ROW_META = {
    "status": "Status",
    "sub_status": "Sub Status",
    "team": "Involved ST",
    "function_div": "Involved ST Function Div",
    "org_line": "Involved Org line 3",
    "country": "Country",
    "owner_country": "Owner Country",
}
#: Case columns kept in case_opened.meta ("SR Latest Impact" is the case's latest, not its first).
CASE_META = {"impact": "SR Latest Impact", "product": "Product"}


@dataclass(slots=True)
class _StatusEvent:
    case_id: str
    status: str | None
    sub_status: str
    owner: Owner
    event: Event


class Bpic2013Incidents(TicketLogImporter):
    """BPI Challenge 2013 incident log (VINST), flattened to one CSV row per event."""

    name = "bpic2013-incidents"
    system = "bpic2013"
    summary = "BPIC 2013 incident log (SR Number, Change Date+Time, Status, Sub Status, ...)"
    default_source_tz = "UTC"
    columns = ("SR Number", "Change Date+Time", "Status", "Sub Status", "Involved ST", "Owner First Name")

    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        times = TimeConverter(parse_iso, self.zone)
        tracks: dict[str, CaseTrack] = {}
        for row in rows:
            if isinstance(row, RawItem):
                yield row
                continue
            try:
                change = self._parse(row, times, tracks)
            except FieldError as error:
                yield row.error(error)
                continue
            track = tracks.get(change.case_id)
            if track is None:
                track = tracks[change.case_id] = CaseTrack(owner=change.owner)
                case_meta = {key: row.get(column, MISSING) for key, column in CASE_META.items()}
                yield change.event.record(
                    "opened", "case_opened", meta=compact({**case_meta, "owner": compact(change.owner)})
                )
            track.events += 1
            yield from self._changes(change, track)

    def _parse(self, row: Row, times: TimeConverter, tracks: dict[str, CaseTrack]) -> _StatusEvent:
        case_id = row.require("SR Number", MISSING)
        text = row.require("Change Date+Time", MISSING)
        try:
            at = times(text)
        except ValueError as exc:
            raise FieldError("Change Date+Time", str(exc)) from None
        status_name = row.require("Status", MISSING)
        sub_status = row.get("Sub Status", MISSING) or ""
        person = row.get("Owner First Name", MISSING)
        previous = tracks.get(case_id)
        event = Event(
            system=self.system,
            case_id=case_id,
            key=str(row.line),
            at=at,
            actor={"role": "agent", "id": person} if person else {"role": "system", "id": "vinst"},
            origin=row.location(),
            ref=f"{case_id}/{(previous.events if previous else 0) + 1}",
            meta=compact({key: row.get(column, MISSING) for key, column in ROW_META.items()}),
        )
        return _StatusEvent(
            case_id=case_id,
            status=STATUS.get((status_name, sub_status), STATUS_FALLBACK.get(status_name)),
            sub_status=sub_status,
            owner={"group": row.get("Involved ST", MISSING), "agent": person},
            event=event,
        )

    def _changes(self, change: _StatusEvent, track: CaseTrack) -> Iterator[RawItem]:
        event = change.event
        if change.status == "solved":
            if track.status != "solved":
                # "In Call": solved while the customer was on the phone (first-contact resolution).
                channel = {"channel": "phone"} if change.sub_status == "In Call" else {}
                yield from track.resolve(event, **channel)
        elif change.status is not None:
            yield from track.move_to(event, change.status)
        previous_team = (track.owner or {}).get("group")
        yield from track.reassign(event, change.owner)
        team = change.owner["group"]
        if team is not None and support_line(team) > support_line(previous_team):
            yield event.record(
                "escalation",
                "escalation",
                to=team,
                reason=f"handed from support line {support_line(previous_team)} to line {support_line(team)}",
            )


def support_line(team: str | None) -> int:
    """1, 2 or 3: a team named ``... 2nd`` or ``... 3rd`` is 2nd or 3rd line, any other 1st line."""
    if team is None:
        return 1
    suffix = team.rsplit(" ", 1)[-1]
    return {"2nd": 2, "3rd": 3}.get(suffix, 1)
