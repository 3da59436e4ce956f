"""Records: read them, admit them (validate, parse, enrich), and hold a batch of them case by case.

The data path is a reader (:mod:`.reader`, or an importer) yielding :class:`RawItem` s ->
:class:`Admission` (schema check, date-times parsed once, enrichers, ``seq``) -> :class:`Record` ->
a :class:`CaseBuffer` for a batch (or a store, live) -> one case at a time, in event-time order.

Names are loaded on first use: the validators pull in jsonschema-rs and the schema registry, which
the plugin API (it needs :class:`RawItem` alone) should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "RECORDS_FORMAT": "serviceflow.records.raw",
    "STDIN": "serviceflow.records.raw",
    "Admission": "serviceflow.records.admission",
    "CaseBuffer": "serviceflow.records.buffer",
    "RawItem": "serviceflow.records.raw",
    "Record": "serviceflow.records.model",
    "RecordValidator": "serviceflow.records.validate",
    "SchemaSet": "serviceflow.records.schemas",
    "bundled_schema_dir": "serviceflow.records.schemas",
    "load_schemas": "serviceflow.records.schemas",
    "read_sources": "serviceflow.records.reader",
}

__all__ = [
    "RECORDS_FORMAT",
    "STDIN",
    "Admission",
    "CaseBuffer",
    "RawItem",
    "Record",
    "RecordValidator",
    "SchemaSet",
    "bundled_schema_dir",
    "load_schemas",
    "read_sources",
]

if TYPE_CHECKING:
    from serviceflow.records.admission import Admission
    from serviceflow.records.buffer import CaseBuffer
    from serviceflow.records.model import Record
    from serviceflow.records.raw import RECORDS_FORMAT, STDIN, RawItem
    from serviceflow.records.reader import read_sources
    from serviceflow.records.schemas import SchemaSet, bundled_schema_dir, load_schemas
    from serviceflow.records.validate import RecordValidator


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'serviceflow.records' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
