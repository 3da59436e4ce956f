"""What every ticket-log importer shares: the importer's shape, records built from events, case status.

A help-desk log says what happened to a ticket in its own words ("Awaiting User Info", "Wait - User",
"Resolve ticket"). Each importer translates those words; this module turns the translation into
serviceflow records the same way for every log:

- :class:`Event` is one row reduced to what all records built from it share (case, time, actor,
  where it came from). Its record ids are ``{case}-{line}-{kind}``: unique within a file, and
  readable (``INC0000045-3-status`` is the status change from line 3).
- :class:`CaseTrack` remembers one case's status and owner while the rows go by, so that a status
  change carries its ``from``, a repeated status is not a change, work on a solved or closed case
  becomes an explicit ``reopened``, and a new owner becomes a note with ``meta.owner_change``
  (serviceflow has no reassignment record type).
- :class:`TicketLogImporter` is the callable the engine asks for by name:
  ``importer(sources, stdin) -> Iterable[RawItem]``, with the log's source time zone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Self

from serviceflow.errors import Location
from serviceflow.importers.csvlog import Row, expand_csv_sources, read_rows, resolve_zone
from serviceflow.records import RawItem

__all__ = ["DONE", "CaseTrack", "Event", "Owner", "TicketLogImporter", "compact"]

#: Statuses after which further work on the case means it was reopened.
DONE = frozenset({"solved", "closed"})
_ACTIVE = frozenset({"open", "reopened"})

Owner = dict[str, str | None]


def compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` without its ``None`` values (meta keeps only what the log knew)."""
    return {key: value for key, value in mapping.items() if value is not None}


@dataclass(slots=True)
class Event:
    """One row of a log, reduced to what every record built from it shares."""

    system: str
    case_id: str
    key: str
    at: str
    actor: dict[str, str]
    origin: Location
    ref: str
    meta: dict[str, Any] = field(default_factory=dict)

    def record(
        self, kind: str, type_: str, *, meta: Mapping[str, Any] | None = None, **fields: Any
    ) -> RawItem:
        """A record of ``type_`` built from this event; ``kind`` tells it apart from its siblings."""
        data: dict[str, Any] = {
            "id": f"{self.case_id}-{self.key}-{kind}",
            "case_id": self.case_id,
            "type": type_,
            "at": self.at,
            "actor": dict(self.actor),
            "source": {"system": self.system, "ref": self.ref},
        }
        data.update(fields)
        extra = {**self.meta, **meta} if meta else dict(self.meta)
        if extra:
            data["meta"] = extra
        return RawItem(self.origin, data)


@dataclass(slots=True)
class CaseTrack:
    """One case's status and owner as its rows go by, and the records their changes call for."""

    status: str = "open"
    owner: Owner | None = None
    events: int = 0
    resolutions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def move_to(self, event: Event, target: str) -> Iterator[RawItem]:
        """Status changes to ``target``: none if already there, with a reopen first if the case was done.

        ``open`` after a reopen is no change: a reopened case is open again until it moves on.
        """
        if target == self.status or (target == "open" and self.status in _ACTIVE):
            return
        if self.status in DONE and target not in DONE:
            yield from self.reopen(event)
            if target == "open":
                return
        yield _status_change(event, "status", self.status, target)
        self.status = target

    def reopen(self, event: Event) -> Iterator[RawItem]:
        """An explicit reopen (the log says so, or work resumed on a solved or closed case)."""
        yield _status_change(event, "reopen", self.status, "reopened")
        self.status = "reopened"

    def resolve(self, event: Event, **fields: Any) -> Iterator[RawItem]:
        """A resolution record, then the status change to solved (if the case was not solved yet)."""
        self.resolutions += 1
        yield event.record("resolution", "resolution", **fields)
        yield from self.move_to(event, "solved")

    def reassign(self, event: Event, owner: Owner) -> Iterator[RawItem]:
        """A note with ``meta.owner_change`` when ``owner`` differs from the current one."""
        if owner == self.owner:
            return
        previous, self.owner = self.owner, owner
        text = f"Reassigned from {_describe(previous)} to {_describe(owner)}"
        yield event.record("owner", "note", text=text, meta={"owner_change": {"from": previous, "to": owner}})


def _status_change(event: Event, kind: str, source: str, target: str) -> RawItem:
    fields: dict[str, Any] = {"from": source, "to": target}  # "from" is a keyword in Python
    return event.record(kind, "status_change", **fields)


def _describe(owner: Owner | None) -> str:
    names = [value for value in (owner or {}).values() if value]
    return " / ".join(names) if names else "nobody"


class TicketLogImporter(ABC):
    """Reads one kind of help-desk log and yields serviceflow records (or row errors) in file order.

    Subclasses name the log, its columns and its source time zone, and implement :meth:`convert`.
    An instance is the ``(sources, stdin) -> Iterable[RawItem]`` callable :mod:`serviceflow.engine`
    expects; each call starts with fresh per-case state for every file.
    """

    name: ClassVar[str]
    system: ClassVar[str]
    summary: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    default_source_tz: ClassVar[str]

    def __init__(self, source_tz: str | tzinfo | None = None) -> None:
        self.source_tz = self.default_source_tz if source_tz is None else source_tz
        self.zone = resolve_zone(self.source_tz)

    def with_source_tz(self, source_tz: str | tzinfo) -> Self:
        """The same importer reading zone-less timestamps as times in ``source_tz``."""
        return type(self)(source_tz)

    def __call__(self, sources: Sequence[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawItem]:
        for source in expand_csv_sources(sources, self.accepts):
            yield from self.read_source(source, stdin)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} source_tz={str(self.source_tz)!r}>"

    def accepts(self, path: Path) -> bool:
        """Whether a CSV file found in a directory argument is one of this log's files."""
        return True

    def header_hint(self, header: Sequence[str]) -> str:
        """Advice appended to the error for a file whose header lacks this log's columns."""
        return f" (is this a {self.summary}?)"

    def read_source(self, source: str | Path, stdin: BinaryIO | None) -> Iterator[RawItem]:
        """The records of one file; per-case state does not carry over to the next file."""
        yield from self.convert(read_rows(source, stdin, self.columns, self.header_hint))

    @abstractmethod
    def convert(self, rows: Iterator[Row | RawItem]) -> Iterator[RawItem]:
        """Records for the rows of one file; error items from the reader pass through unchanged."""
