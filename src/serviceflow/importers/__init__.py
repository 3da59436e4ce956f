"""Importers: read help-desk event logs in their own format and yield serviceflow records.

The engine asks for one by name (``Engine.lint(..., input_format="servicenow-incidents")``); an
importer is a callable ``(sources, stdin) -> Iterable[RawItem]``, like the reader of serviceflow's own
record files, so every record it makes is validated and evaluated the same way. See docs/importers.md
for what each log's rows become and what is lost on the way.
"""

from __future__ import annotations

from datetime import tzinfo

from serviceflow.errors import InputError
from serviceflow.importers.bpic2013 import Bpic2013Incidents
from serviceflow.importers.bpic2014 import Bpic2014Incidents
from serviceflow.importers.helpdesk import HelpdeskLog
from serviceflow.importers.servicenow import ServiceNowIncidents
from serviceflow.importers.ticketlog import TicketLogImporter

__all__ = ["IMPORTERS", "TicketLogImporter", "get_importer", "importer_names"]

#: Every importer by the name ``--input-format`` takes, each with its log's default source zone.
IMPORTERS: dict[str, TicketLogImporter] = {
    importer.name: importer
    for importer in (ServiceNowIncidents(), Bpic2013Incidents(), Bpic2014Incidents(), HelpdeskLog())
}


def importer_names() -> list[str]:
    """The names of the importers, sorted (``records``, serviceflow's own format, is not one of them)."""
    return sorted(IMPORTERS)


def get_importer(name: str, source_tz: str | tzinfo | None = None) -> TicketLogImporter:
    """The importer called ``name``; ``source_tz`` overrides the zone its log's bare timestamps are in.

    Raises InputError naming the known formats when there is no such importer, or when ``source_tz``
    is not a time zone.
    """
    importer = IMPORTERS.get(name)
    if importer is None:
        known = ", ".join(["records", *importer_names()])
        raise InputError(f"unknown input format {name!r} (formats: {known})")
    return importer if source_tz is None else importer.with_source_tz(source_tz)
