"""Admit records as :meth:`serviceflow.Engine.evaluate` does: validate, check calendars, group by case.

Coverage is collected from records given directly (a policy test's records), without an engine, so it
repeats the engine's admission step here: what it refuses, the engine refuses too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from serviceflow.calendars import Calendar
from serviceflow.errors import InputError, Location, RecordError
from serviceflow.records import CaseStore, RecordValidator
from serviceflow.records.model import Record

__all__ = ["admit_records"]


def admit_records(
    records: Iterable[Mapping[str, Any] | Record],
    validator: RecordValidator,
    calendars: Mapping[str, Calendar],
) -> tuple[CaseStore, list[InputError]]:
    """The valid records grouped into cases, and why each other record was refused."""
    store = CaseStore(validator.schemas)
    errors: list[InputError] = []
    for index, item in enumerate(records, start=1):
        origin = Location("<records>", index)
        try:
            record = item if isinstance(item, Record) else validator.to_record(item, origin)
        except RecordError as error:
            errors.append(error)
            continue
        calendar = record.get("calendar") if record.type == "case_opened" else None
        if calendar is not None and calendar not in calendars:
            known = ", ".join(sorted(calendars))
            pointer = replace(record.origin or origin, pointer="/calendar")
            errors.append(
                RecordError(f"unknown calendar '{calendar}' (calendars: {known})", pointer, record.id)
            )
            continue
        duplicate = store.add(record)
        if duplicate is not None:
            errors.append(duplicate)
    return store, errors
