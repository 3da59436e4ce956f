"""Records: read them, admit them (validate, parse, enrich), and hold a batch of them case by case.

The data path is a reader (:mod:`.reader`, or an importer) yielding :class:`RawItem` s ->
:class:`Admission` (schema check, date-times parsed once, enrichers, ``seq``) -> :class:`Record` ->
a :class:`CaseBuffer` for a batch (or a store, live) -> one case at a time, in event-time order.
"""

from serviceflow.records.admission import Admission
from serviceflow.records.buffer import CaseBuffer
from serviceflow.records.model import Record
from serviceflow.records.raw import RECORDS_FORMAT, STDIN, RawItem
from serviceflow.records.reader import read_sources
from serviceflow.records.schemas import SchemaSet, bundled_schema_dir, load_schemas
from serviceflow.records.validate import RecordValidator

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
