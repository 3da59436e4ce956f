"""The item every reader yields: one JSON value (or why it could not be decoded) and where it was read.

Readers (serviceflow's own record files, the importers of help-desk logs, plugins' formats) know
nothing of schemas; admission (:mod:`serviceflow.records.admission`) turns their items into records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serviceflow.errors import Location, RecordError

__all__ = ["RECORDS_FORMAT", "STDIN", "STDIN_NAME", "RawItem"]

#: The ``--input-format`` of serviceflow's own records: JSON Lines or JSON arrays, optionally gzip.
RECORDS_FORMAT = "records"
#: The source name that means "read standard input", and the file name its items carry.
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(slots=True)
class RawItem:
    """One JSON value read from a source, or the reason it could not be decoded (never both)."""

    origin: Location
    data: Any | None
    error: RecordError | None = None
