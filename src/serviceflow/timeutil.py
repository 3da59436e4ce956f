"""Event-time values: RFC 3339 timestamps with offsets, and durations such as ``4h`` or ``1d12h``.

serviceflow never reads the wall clock in the core; every evaluation takes an explicit ``now``. These
helpers parse what records and policies contain, rejecting naive timestamps, because a time without an
offset cannot be placed on the timeline of a case that spans time zones.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[wdhms]\s*)+$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 timestamp that carries ``Z`` or an offset; raise ``ValueError`` otherwise."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 date-time with an offset: {text!r}")
    normalized = text.replace("z", "Z").replace("t", "T")
    if normalized.endswith("Z"):
        normalized = normalized[:-1] + "+00:00"
    value = datetime.fromisoformat(normalized.replace(" ", "T", 1))
    if value.tzinfo is None:  # pragma: no cover - the regex requires an offset
        raise ValueError(f"date-time without an offset: {text!r}")
    return value


def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``90m``, ``4h``, ``1d12h`` or ``2w`` (or plain seconds) into a :class:`timedelta`."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        return timedelta(seconds=text)
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"not a duration (use forms like 30m, 4h, 2d, 1d12h): {text!r}")
    seconds = sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a duration the way policies write it (``1d12h``), for messages."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def format_datetime(value: datetime) -> str:
    """Render a timestamp as RFC 3339, keeping its own offset (``Z`` for UTC)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def utc_now() -> datetime:
    """The wall clock, for adapters only (the CLI's default ``--now``); the core never calls it."""
    return datetime.now(UTC)
