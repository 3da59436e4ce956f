"""Calendars from configuration data (the ``[calendars.NAME]`` tables of serviceflow.toml).

::

    [calendars.emea]
    timezone = "Europe/Berlin"
    hours = { mon = ["08:00-12:00", "13:00-17:00"], tue = ["08:00-17:00"], fri = ["08:00-15:00"] }
    holidays = ["2024-12-25", 2024-12-26]          # strings or TOML dates
    holidays-ical = "holidays/de.ics"              # or a list; relative to the configuration file
    holidays-ical-years = [2020, 2035]             # optional: years to expand recurring events over
    closures = [{ start = 2024-12-24T12:00:00, end = 2024-12-25T00:00:00 }]   # local, or with offsets

An interval ``"22:00-06:00"`` runs into the next day; ``"08:00-24:00"`` closes at midnight. Every error
is a :class:`ConfigError` whose JSON pointer names the key at fault (``/calendars/emea/hours/mon/1``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from serviceflow.calendars._wallclock import instant_at
from serviceflow.calendars.ical import DEFAULT_YEARS, load_ical_holidays
from serviceflow.calendars.model import ALWAYS, WEEKDAY_NAMES, Calendar, Closure, Interval, OpeningHoursError
from serviceflow.errors import ConfigError, Location

_KEYS = ("timezone", "hours", "holidays", "holidays-ical", "holidays-ical-years", "closures")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_INTERVAL = re.compile(rf"^\s*{_CLOCK}\s*-\s*{_CLOCK}\s*$")


class _Errors:
    """Builds ConfigErrors that carry the configuration file and a JSON pointer."""

    def __init__(self, source: str | Path | None, prefix: str) -> None:
        self.file = str(source) if source is not None else None
        self.prefix = prefix

    def __call__(self, message: str, *keys: str | int) -> ConfigError:
        pointer = self.prefix + "".join(f"/{_escape(key)}" for key in keys)
        return ConfigError(message, Location(self.file, None, pointer))


def calendars_from_config(
    data: Mapping[str, Any],
    base_dir: Path,
    *,
    source: str | Path | None = None,
    pointer_prefix: str = "",
) -> dict[str, Calendar]:
    """The calendars of a configuration, by name, always including the bundled ``always`` (24/7).

    ``data`` is the whole configuration table (its ``calendars`` key is read); ``base_dir`` resolves
    relative ``holidays-ical`` paths; ``source`` and ``pointer_prefix`` (``/tool/serviceflow`` inside
    pyproject.toml) only shape error locations.
    """
    errors = _Errors(source, pointer_prefix)
    tables = data.get("calendars", {})
    if not isinstance(tables, Mapping):
        raise errors("'calendars' must be a table of calendars by name", "calendars")
    calendars = {ALWAYS.name: ALWAYS}
    for name, table in tables.items():
        if name == ALWAYS.name:
            raise errors("'always' is the bundled 24/7 calendar; give yours another name", "calendars", name)
        if not _NAME.match(name):
            raise errors(
                f"calendar name {name!r} must be letters, digits, '-' or '_', not starting with '-' or '_'",
                "calendars",
                name,
            )
        if not isinstance(table, Mapping):
            raise errors(f"'calendars.{name}' must be a table", "calendars", name)
        calendars[name] = _calendar(name, table, base_dir, errors)
    return calendars


def _calendar(name: str, table: Mapping[str, Any], base_dir: Path, errors: _Errors) -> Calendar:
    at = ("calendars", name)
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        key = unknown[0]
        raise errors(f"unknown key '{key}' for calendar '{name}' (keys: {', '.join(_KEYS)})", *at, key)
    for required in ("timezone", "hours"):
        if required not in table:
            raise errors(f"calendar '{name}' needs '{required}'", *at, required)
    timezone = table["timezone"]
    try:
        zone = ZoneInfo(timezone) if isinstance(timezone, str) else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        zone = None
    if zone is None:
        message = f"unknown time zone {timezone!r} (use an IANA name such as 'Europe/Berlin')"
        raise errors(message, *at, "timezone")
    weekly_hours = _hours(table["hours"], errors, *at, "hours")
    holidays = set(_holidays(table.get("holidays", []), errors, *at, "holidays"))
    closures = _closures(table.get("closures", []), zone, errors, *at, "closures")
    years = _years(table.get("holidays-ical-years"), errors, *at, "holidays-ical-years")
    ical_paths = table.get("holidays-ical", [])
    if isinstance(ical_paths, str):
        ical_paths = [ical_paths]
        ical_pointers: list[tuple[str | int, ...]] = [(*at, "holidays-ical")]
    elif isinstance(ical_paths, list) and all(isinstance(path, str) for path in ical_paths):
        ical_pointers = [(*at, "holidays-ical", index) for index in range(len(ical_paths))]
    else:
        raise errors("'holidays-ical' must be a path or a list of paths", *at, "holidays-ical")
    for path, pointer in zip(ical_paths, ical_pointers, strict=True):
        try:
            loaded = load_ical_holidays(base_dir / path, years=years, floating_timezone=timezone)
        except ConfigError as exc:
            raise errors(f"holiday calendar {exc}", *pointer) from None
        holidays |= loaded.dates
        closures.extend(loaded.closures)
    try:
        return Calendar(name, timezone, weekly_hours, holidays, closures)
    except OpeningHoursError as exc:
        keys: tuple[str | int, ...] = (*at, "hours")
        if exc.weekday is not None and exc.index is not None:
            keys = (*keys, WEEKDAY_NAMES[exc.weekday], exc.index)
        raise errors(str(exc), *keys) from None


def _hours(value: Any, errors: _Errors, *at: str | int) -> dict[int, list[Interval]]:
    if not isinstance(value, Mapping):
        raise errors("'hours' must be a table of weekdays (mon ... sun) to lists of 'HH:MM-HH:MM'", *at)
    weekly: dict[int, list[Interval]] = {}
    for day, intervals in value.items():
        if day not in WEEKDAY_NAMES:
            raise errors(f"unknown weekday '{day}' (weekdays: {', '.join(WEEKDAY_NAMES)})", *at, day)
        if not isinstance(intervals, list):
            raise errors(f"'{day}' must be a list of intervals such as \"08:00-17:00\"", *at, day)
        weekly[WEEKDAY_NAMES.index(day)] = [
            _interval(text, errors, *at, day, index) for index, text in enumerate(intervals)
        ]
    if not any(weekly.values()):
        raise errors("a calendar needs opening hours on at least one weekday", *at)
    return weekly


def _interval(text: Any, errors: _Errors, *at: str | int) -> Interval:
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise errors(f'an interval is "HH:MM-HH:MM" (such as "08:00-17:00"), got {text!r}', *at)
    opens = _clock(match.group(1, 2, 3), end_of_day=False)
    closes = _clock(match.group(4, 5, 6), end_of_day=True)
    if opens is None or closes is None:
        raise errors(f"not a time of day in {text!r} (00:00 to 23:59:59; 24:00 only as an end)", *at)
    if opens == closes and not (opens == time() and match.group(4) == "24"):
        raise errors(f"interval {text!r} is empty; write 00:00-24:00 for a whole day", *at)
    return opens, closes


def _clock(parts: tuple[str | None, ...], *, end_of_day: bool) -> time | None:
    hour, minute, second = (int(part) if part else 0 for part in parts)
    if end_of_day and (hour, minute, second) == (24, 0, 0):
        return time()  # an end not after its start ends on the next day: 24:00 is next midnight
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _holidays(value: Any, errors: _Errors, *at: str | int) -> list[date]:
    if not isinstance(value, list):
        raise errors("'holidays' must be a list of dates such as \"2024-12-25\"", *at)
    dates = []
    for index, item in enumerate(value):
        if isinstance(item, date) and not isinstance(item, datetime):
            dates.append(item)
            continue
        try:
            dates.append(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise errors(f"not a date (YYYY-MM-DD): {item!r}", *at, index) from None
    return dates


def _closures(value: Any, zone: ZoneInfo, errors: _Errors, *at: str | int) -> list[Closure]:
    if not isinstance(value, list):
        raise errors("'closures' must be a list of tables with 'start' and 'end'", *at)
    closures = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"start", "end"}:
            raise errors("a closure is a table with exactly 'start' and 'end'", *at, index)
        start = _moment(item["start"], zone, errors, *at, index, "start")
        end = _moment(item["end"], zone, errors, *at, index, "end")
        if end <= start:
            raise errors("a closure must end after it starts", *at, index, "end")
        closures.append(Closure(start, end))
    return closures


def _moment(value: Any, zone: ZoneInfo, errors: _Errors, *at: str | int) -> datetime:
    """A TOML date-time or ISO string; without an offset it is wall-clock time in the calendar's zone."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise errors(f"not a date-time (such as 2024-12-24T12:00:00): {value!r}", *at)
    return value if value.tzinfo is not None else instant_at(zone, value)


def _years(value: Any, errors: _Errors, *at: str | int) -> range:
    if value is None:
        return DEFAULT_YEARS
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(year) is int and 1 <= year < 9999 for year in value)
        or value[0] > value[1]
    ):
        raise errors("'holidays-ical-years' must be [first year, last year], both included", *at)
    return range(value[0], value[1] + 1)


def _escape(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")
