"""The record as evaluators see it: a validated JSON object with its date-times parsed.

Validation happens once, at the edge (:mod:`serviceflow.records.validate`); evaluators then read
fields by dotted path without re-checking types. ``seq`` is the record's position within its case
after the stable sort by ``at``, so "before" and "after" are well defined even for equal timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serviceflow.errors import Location

_MISSING = object()


@dataclass(slots=True, eq=False)
class Record:
    """One interaction record of one case."""

    id: str
    case_id: str
    type: str
    at: datetime
    fields: dict[str, Any]
    origin: Location | None = None
    seq: int = 0

    def get(self, path: str | tuple[str, ...], default: Any = None) -> Any:
        """Value at a dotted path (``window.start``), or ``default`` when any step is missing."""
        parts = path.split(".") if isinstance(path, str) else path
        value: Any = self.fields
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
                if value is _MISSING:
                    return default
            else:
                return default
        return value
