"""Admission: one raw item in, one record (or the reason it was refused) out.

Every way records enter serviceflow goes through here: ``lint`` and ``validate`` reading files,
``explain`` and ``serviceflow test`` reading a case, the live service's ingestion and gate checks.
Admission

1. validates the item against its type's schema (jsonschema-rs decides; jsonschema explains a
   refusal with every error's JSON pointer),
2. parses its date-times once, into the compact :class:`~serviceflow.records.model.Record`,
3. runs the enabled enrichers and validates the enriched record again,
4. checks that a case naming a business-hours calendar names one that is configured,
5. gives the record its ``seq``, its place in ingestion order, which the caller assigns.

What admission does not decide is whether a record id was seen before: that depends on what the
record is being added to (one input file, a store), so the :class:`~serviceflow.records.buffer.CaseBuffer`
and the stores decide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serviceflow.errors import Location, RecordError
from serviceflow.findings import Finding, Severity, Status
from serviceflow.records.model import Record
from serviceflow.records.validate import RecordValidator

__all__ = ["Admission"]


class Admission:
    """Turns raw items into records for one configuration (schemas, enrichers, calendars).

    Holds no state that changes per record, so one instance serves many threads and processes.
    ``enrichers`` is an :class:`~serviceflow.enrichers.EnricherChain` (or ``None``); ``calendars``
    the names of the configured business-hours calendars (``None``: any name is accepted).
    """

    def __init__(
        self,
        validator: RecordValidator | None = None,
        enrichers: Any = None,
        calendars: Mapping[str, Any] | None = None,
    ) -> None:
        self.validator = validator if validator is not None else RecordValidator()
        self.enrichers = enrichers if enrichers else None
        self.calendars = calendars
        self._known_calendars = ", ".join(sorted(calendars)) if calendars is not None else ""

    def admit(
        self, item: Any, origin: Location | None, seq: int, problems: list[Finding | RecordError]
    ) -> Record:
        """The record for ``item`` (a JSON object as read, or a Record already validated), with ``seq``.

        Raises :class:`RecordError` naming file, line and JSON pointer when the item is refused.
        Problems that do not refuse the record are appended to ``problems``: an enricher that raised
        (an engine-error :class:`Finding`), or one that made the record invalid (a RecordError); in
        both cases the record is admitted as it was read.
        """
        if isinstance(item, Record):
            record = Record.from_values(
                item.shape,
                item.values,
                item.origin or origin,
                seq,
                (item.id, item.case_id, item.type, item.at),
            )
        else:
            record = self.validator.to_record(item, origin, seq)
            if self.enrichers is not None:
                record = self._enrich(item, record, origin, seq, problems)
        if self.calendars is not None and record.type == "case_opened":
            calendar = record.get("calendar")
            if calendar is not None and calendar not in self.calendars:
                place = record.origin or origin or Location()
                raise RecordError(
                    f"unknown calendar '{calendar}' (calendars: {self._known_calendars})",
                    Location(place.file, place.line, "/calendar"),
                    record.id,
                )
        return record

    def _enrich(
        self,
        data: Mapping[str, Any],
        record: Record,
        origin: Location | None,
        seq: int,
        problems: list[Finding | RecordError],
    ) -> Record:
        """The record with its enrichers' fields, validated again; as read when an enricher failed."""
        enriched, failures = self.enrichers.apply(data)  # type: ignore[union-attr]
        for failure in failures:
            problems.append(
                Finding(
                    policy=f"enricher:{failure.name}",
                    severity=Severity.ERROR,
                    status=Status.ERROR,
                    case_id=record.case_id,
                    record_id=record.id,
                    message=failure.message,
                    evidence=(record.id,),
                    origin=record.origin,
                )
            )
        if enriched is None:
            return record
        try:
            return self.validator.to_record(enriched, origin, seq)
        except RecordError as error:
            names = ", ".join(enricher.name for enricher in self.enrichers.enrichers)  # type: ignore[union-attr]
            problems.append(
                RecordError(f"after enrichment ({names}): {error.message}", error.location, error.record_id)
            )
            return record
