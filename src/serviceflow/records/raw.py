"""The item every reader yields: one JSON value (or why it could not be decoded) and where it was read.

Readers (serviceflow's own record files, the importers of help-desk logs, plugins' formats) know
nothing of schemas; admission (:mod:`serviceflow.records.admission`) turns their items into records.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

from serviceflow import limits
from serviceflow.errors import InputError, Location, RecordError

__all__ = ["RECORDS_FORMAT", "STDIN", "STDIN_NAME", "RawItem", "nesting_problem", "standard_input"]

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


def nesting_problem(value: Any) -> str | None:
    """Why ``value`` is nested too deeply to be a record, or None.

    Past :data:`~serviceflow.limits.MAX_RECORD_DEPTH` levels of objects and arrays a record could not
    be stored, reported or written into a policy test; the walk is iterative and stops at the limit,
    so a hostile value costs at most its size once.
    """
    limit = limits.MAX_RECORD_DEPTH
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return f"the record is nested more than {limit} levels deep (serviceflow.limits.MAX_RECORD_DEPTH)"
        inner: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(child for child in item.values() if isinstance(child, dict | list))
            elif isinstance(item, list):
                inner.extend(child for child in item if isinstance(child, dict | list))
        level = inner
    return None


def standard_input(stdin: BinaryIO | None = None) -> BinaryIO:
    """``stdin`` if given, else the process's standard input as bytes; an InputError when it is closed.

    A command run with standard input closed (``<&-``) has ``sys.stdin`` set to ``None``: reading ``-``
    then says so rather than failing on an attribute.
    """
    if stdin is not None:
        return stdin
    if sys.stdin is None:
        raise InputError(f"cannot read {STDIN_NAME}: standard input is closed", Location(file=STDIN_NAME))
    return sys.stdin.buffer
