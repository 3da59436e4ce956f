"""Records: read them from files, validate them against their type's schema, group them by case.

The data path is ``read_sources`` (raw JSON with file and line) -> ``RecordValidator.to_record``
(schema check, date-times parsed) -> ``CaseStore`` (grouped by case, ordered by event time).
"""

from serviceflow.records.cases import CaseStore
from serviceflow.records.model import Record
from serviceflow.records.reader import RawItem, read_sources
from serviceflow.records.schemas import SchemaSet, bundled_schema_dir, load_schemas
from serviceflow.records.validate import RecordValidator

__all__ = [
    "CaseStore",
    "RawItem",
    "Record",
    "RecordValidator",
    "SchemaSet",
    "bundled_schema_dir",
    "load_schemas",
    "read_sources",
]
