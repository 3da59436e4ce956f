"""``serviceflow ingest``: bulk-load an export or a history into the store, through the same admission.

Records are read as ``lint`` reads them (any input format), grouped by case and stored a few thousand
at a time, whole cases per transaction, so that each case is evaluated about once, at lint's pace.
Invalid and conflicting records are reported as ``file:line: pointer: message``; duplicates (already
stored with the same content) are counted, so running the same ingest twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from serviceflow.cli.options import debug_option, input_format_option, now_option, plugin_host, plugin_options
from serviceflow.cli.store import ServiceChoice, service_options
from serviceflow.errors import InputError, Location
from serviceflow.feeding import feed
from serviceflow.records.raw import RawItem
from serviceflow.records.reader import decode_line

#: Records per transaction (whole cases): large enough to amortise a commit, small enough to hold.
CHUNK = 5000


class _Collect:
    """An ItemSink keeping every item with where it was read."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Location]] = []
        self.errors: list[InputError] = []

    def add_line(self, line: bytes, origin: Location, seq: int) -> None:
        self.add_raw(decode_line(line, origin), seq)

    def add_raw(self, item: RawItem, seq: int) -> None:
        self.items.append((item.error if item.error is not None else item.data, item.origin))

    def input_error(self, error: InputError, seq: int) -> None:
        self.errors.append(error)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="FILE...")
@service_options
@now_option
@input_format_option
@plugin_options
@debug_option
def ingest(
    paths: tuple[str, ...],
    choice: ServiceChoice,
    now: datetime | None,
    input_format: str,
) -> None:
    """Load records from FILE... into the store and evaluate their cases at --now (default: now).

    \b
    Exit status: 0 every record stored or already there, 2 some were rejected or unreadable.
    """
    service = choice.open(now)
    sink = _Collect()
    feed(sink, plugin_host().reader(input_format), list(paths))
    by_case: dict[str, list[tuple[Any, Location]]] = {}
    for data, origin in sink.items:
        case_id = data.get("case_id") if isinstance(data, Mapping) else None
        by_case.setdefault(case_id if isinstance(case_id, str) else "", []).append((data, origin))
    accepted = duplicates = rejected = 0
    chunk: list[tuple[Any, Location]] = []
    chunks = []
    for records in by_case.values():
        chunk.extend(records)
        if len(chunk) >= CHUNK:
            chunks.append(chunk)
            chunk = []
    if chunk:
        chunks.append(chunk)
    for part in chunks:
        origins = [origin for _, origin in part]

        def provenance(index: int, origins: list[Location] = origins) -> dict[str, Any]:
            return {"via": "file", "file": origins[index].file, "line": origins[index].line}

        result = service.ingest(
            [data for data, _ in part],
            provenance=provenance,
        )
        accepted += result.accepted
        duplicates += result.duplicates
        rejected += len(result.rejected)
        for item in result.rejected:
            origin = origins[item.index]
            click.echo(f"{Location(origin.file, origin.line, item.pointer)}: {item.message}", err=True)
    for error in sink.errors:
        click.echo(str(error), err=True)
    click.echo(
        f"ingested {accepted} records into {service.store.url} "
        f"({duplicates} already stored, {rejected} rejected)"
    )
    if rejected or sink.errors:
        click.get_current_context().exit(2)
