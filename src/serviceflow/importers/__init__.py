"""Importers: read help-desk event logs in their own format and yield serviceflow records.

Each importer is a :class:`TicketLogImporter`, a callable ``(sources, stdin) -> Iterable[RawItem]``
like the reader of serviceflow's own record files, so every record it makes is admitted and
evaluated the same way. The built-in plugin (:mod:`serviceflow.plugins.builtin`) registers them as
input formats; the plugin host is the one registry (``--input-format NAME``, ``serviceflow plugins``).
See docs/importers.md for what each log's rows become and what is lost on the way.
"""

from __future__ import annotations

from serviceflow.importers.bpic2013 import Bpic2013Incidents
from serviceflow.importers.bpic2014 import Bpic2014Incidents
from serviceflow.importers.helpdesk import HelpdeskLog
from serviceflow.importers.servicenow import ServiceNowIncidents
from serviceflow.importers.ticketlog import TicketLogImporter

__all__ = [
    "BUILT_IN_IMPORTERS",
    "Bpic2013Incidents",
    "Bpic2014Incidents",
    "HelpdeskLog",
    "ServiceNowIncidents",
    "TicketLogImporter",
]

#: The importers serviceflow ships, as the built-in plugin registers them.
BUILT_IN_IMPORTERS: tuple[type[TicketLogImporter], ...] = (
    ServiceNowIncidents,
    Bpic2013Incidents,
    Bpic2014Incidents,
    HelpdeskLog,
)
