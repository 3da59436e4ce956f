"""Event-time values: RFC 3339 timestamps with offsets, and durations such as ``4h`` or ``1d12h``.

serviceflow never reads the wall clock in the core; every evaluation takes an explicit ``now``. These
helpers parse what records and policies contain, rejecting naive timestamps, because a time without an
offset cannot be placed on the timeline of a case that spans time zones.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo

from serviceflow import limits

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


def parse_rfc3339(text: str) -> datetime | None:
    """The instant of an RFC 3339 date-time with seconds and an offset, or ``None`` if unsure.

    The fast path of record admission, where a schema check has already accepted the string: the
    shape is checked by position (cheaper than a regular expression) and the standard library parses.
    ``None`` means "not this fast": the caller decides with :func:`parse_datetime` and the schema's
    error messages. It never returns a naive datetime.
    """
    # fromisoformat also reads ISO 8601 forms RFC 3339 does not have (week dates, no seconds, a space
    # for the T); these positions rule them out. It refuses other scripts' digits by itself.
    if len(text) < 20 or text[10] != "T" or text[16] != ":" or text[7] != "-":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    zone = value.tzinfo
    if zone is None:
        return None
    if zone is not UTC:
        # One time zone object per offset, not one per timestamp: a batch holds a million of them.
        shared = _ZONES.get(zone)
        if shared is None:
            if len(_ZONES) < 4096:
                _ZONES[zone] = zone
        else:
            value = value.replace(tzinfo=shared)
    return value


_ZONES: dict[tzinfo, tzinfo] = {}


def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``90m``, ``4h``, ``1d12h`` or ``2w`` (or plain seconds) into a :class:`timedelta`.

    At most :data:`serviceflow.limits.MAX_DURATION_DAYS` (100 years): a longer one, ``nan`` or
    ``inf`` is a ``ValueError`` saying so, here where the policy or configuration names it, rather
    than an ``OverflowError`` when a deadline is computed from it.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(f"not a duration: {text!r} (a duration is a finite number of seconds)")
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        seconds: int | float = text
    elif isinstance(text, str) and _DURATION.match(text):
        seconds = sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))
    else:
        raise ValueError(f"not a duration (use forms like 30m, 4h, 2d, 1d12h): {text!r}")
    if seconds > limits.MAX_DURATION_DAYS * _UNIT_SECONDS["d"]:  # also an overflowed "1e999"-long text: inf
        # Not str() of a huge integer: past 4300 digits that raises a ValueError of its own.
        short = text < 10**40 if isinstance(text, int) else isinstance(text, float) or len(text) <= 40
        subject = f"duration {text!r}" if short else "the duration"
        raise ValueError(
            f"{subject} is longer than {limits.MAX_DURATION_DAYS // 365} years, the longest serviceflow "
            "takes (serviceflow.limits.MAX_DURATION_DAYS)"
        )
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
