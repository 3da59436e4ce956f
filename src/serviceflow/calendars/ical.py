"""Holidays from an iCalendar (RFC 5545) file, the format public holiday calendars are published in.

Parsing (line unfolding, parameters, ``TZID`` with its ``VTIMEZONE`` or an IANA or Windows name) is
left to the ``icalendar`` package; recurrences are expanded with ``dateutil.rrule``, which
``icalendar`` already depends on. What this module decides is what an event means for a service desk:

* an all-day event (``DTSTART;VALUE=DATE``) closes its dates, ``DTEND`` exclusive, one day without it;
* a timed event (``TZID``, ``Z`` or floating) is a partial closure from its start to its end;
* ``RRULE``/``RDATE``/``EXDATE`` repeat it; an unbounded rule is expanded over ``years`` only;
* a ``RECURRENCE-ID`` override replaces its occurrence, and ``STATUS:CANCELLED`` removes it;
* a timed event without an end or duration closes nothing and is skipped.

A calendar file is data from outside, so its expansion is bounded (docs/limits.md): a rule repeats
at most daily (``FREQ=HOURLY``, ``MINUTELY`` and ``SECONDLY`` close no holiday and could expand into
billions, so they are refused), and one file may produce at most
:data:`serviceflow.limits.MAX_ICAL_OCCURRENCES` closed dates and closures, counting every occurrence
the expansion goes through. Past either, loading fails with an error naming the file and the event.
Recurrences are expanded in a copy of the window moved a whole number of 400-year Gregorian cycles
towards year 9999 (dates, weekdays and leap years repeat exactly), because dateutil looks for the
next occurrence of a rule that never matches again until year 9999, one period at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from serviceflow import limits
from serviceflow.calendars.model import Closure
from serviceflow.errors import ConfigError, Location

if TYPE_CHECKING:
    from dateutil.rrule import rrule

DEFAULT_YEARS = range(2000, 2101)
"""Years over which an unbounded ``RRULE`` is expanded unless the caller says otherwise."""

_FINER_THAN_DAILY = ("HOURLY", "MINUTELY", "SECONDLY")
_GREGORIAN_CYCLE_YEARS = 400
# Expansion windows are moved to end at most here: far enough below 9999 that a time zone's offset
# cannot push an occurrence out of datetime's range.
_LAST_SHIFTED_YEAR = 9900


class Holidays(NamedTuple):
    """What an iCalendar file closes: whole local dates, and partial closures between instants."""

    dates: frozenset[date]
    closures: tuple[Closure, ...]


@dataclass(frozen=True)
class _Event:
    """One VEVENT, reduced to what a closure needs."""

    label: str
    uid: str | None
    start: date | datetime
    length: timedelta
    recurrence_id: date | datetime | None
    cancelled: bool
    component: Any


def load_ical_holidays(
    path: str | Path, *, years: range = DEFAULT_YEARS, floating_timezone: str | None = None
) -> Holidays:
    """Read the holidays and closures of an ``.ics`` file.

    ``years`` bounds the expansion of recurring events (by the year of each occurrence's start);
    events that do not recur are kept whatever their year. ``floating_timezone`` places times written
    without ``TZID`` or ``Z``; without it such a time is an error. Problems raise :class:`ConfigError`
    naming the file and the event.
    """
    # Imported here: icalendar takes about 80 ms to import, which only configurations with a file pay.
    import icalendar

    source = Path(path)
    try:
        calendar = icalendar.Calendar.from_ical(source.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read holiday calendar: {exc.strerror}", Location(str(source))) from None
    except ValueError as exc:
        raise ConfigError(f"not an iCalendar file: {exc}", Location(str(source))) from None
    floating_zone = _floating_zone(floating_timezone, source)
    events = [_event(component, source) for component in calendar.walk("VEVENT")]
    overridden: dict[str | None, set[date | datetime]] = {}
    for event in events:
        if event.recurrence_id is not None:
            overridden.setdefault(event.uid, set()).add(_moment_key(event.recurrence_id))
    dates: set[date] = set()
    closures: list[Closure] = []
    budget = _Budget(source)
    for event in events:
        if event.cancelled:
            continue
        skipped = overridden.get(event.uid, set()) if event.recurrence_id is None else set()
        try:
            starts = _occurrences(event, years, skipped, source, budget)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # icalendar: a broken property
            message = f"event {event.label!r}: bad recurrence: {exc}"
            raise ConfigError(message, Location(str(source))) from None
        for start in starts:
            try:
                if isinstance(start, datetime):
                    if event.length > timedelta(0):
                        opens = _aware(start, floating_zone, event, source)
                        closes = _aware(start + event.length, floating_zone, event, source)
                        closures.append(Closure(opens, closes))
                else:
                    days = max(event.length.days, 1)
                    budget.spend(event, days)
                    dates.update(start + timedelta(days=offset) for offset in range(days))
            except OverflowError:
                raise ConfigError(
                    f"event {event.label!r} ends after the year 9999", Location(str(source))
                ) from None
    return Holidays(frozenset(dates), tuple(sorted(closures)))


class _Budget:
    """How many more occurrences and closed dates one file may produce (``MAX_ICAL_OCCURRENCES``)."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.left = limits.MAX_ICAL_OCCURRENCES

    def spend(self, event: _Event, count: int = 1) -> None:
        self.left -= count
        if self.left < 0:
            raise ConfigError(
                f"event {event.label!r}: the calendar expands to more than {limits.MAX_ICAL_OCCURRENCES} "
                "occurrences and closed dates; narrow 'holidays-ical-years' or the rule, or raise "
                "serviceflow.limits.MAX_ICAL_OCCURRENCES (see docs/limits.md)",
                Location(str(self.source)),
            )


def _floating_zone(name: str | None, source: Path) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"unknown time zone {name!r} for floating times", Location(str(source))) from None


def _event(component: Any, source: Path) -> _Event:
    label = str(component.get("SUMMARY") or component.get("UID") or "an event without SUMMARY or UID")
    try:
        start = component.start
        length = component.end - start
        recurrence_id = component.decoded("RECURRENCE-ID") if "RECURRENCE-ID" in component else None
    except OverflowError:
        raise ConfigError(f"event {label!r} ends after the year 9999", Location(str(source))) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"event {label!r}: {exc}", Location(str(source))) from None
    if isinstance(start, datetime) and start.tzinfo is None and "TZID" in component["DTSTART"].params:
        zone_id = component["DTSTART"].params["TZID"]
        raise ConfigError(
            f"event {label!r}: unknown TZID {zone_id!r} (not IANA, not Windows, no VTIMEZONE)",
            Location(str(source)),
        )
    status = str(component.get("STATUS", "")).upper()
    uid = component.get("UID")
    return _Event(
        label=label,
        uid=str(uid) if uid is not None else None,
        start=start,
        length=length,
        recurrence_id=recurrence_id,
        cancelled=status == "CANCELLED",
        component=component,
    )


def _occurrences(
    event: _Event, years: range, skipped: set[date | datetime], source: Path, budget: _Budget
) -> Iterable[date | datetime]:
    """The starts of every occurrence of ``event``: DTSTART, then RRULE/RDATE, less EXDATE and overrides."""
    from dateutil.rrule import rruleset

    component = event.component
    try:
        rules, extra_starts = component.rrules, component.rdates
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # icalendar: a property it cannot parse
        raise ConfigError(f"event {event.label!r}: bad recurrence: {exc}", Location(str(source))) from None
    if not rules and not extra_starts:
        return [] if _moment_key(event.start) in skipped else [event.start]
    for rule in rules:
        frequency = str(rule.get("FREQ", [""])[0]).upper()
        if frequency in _FINER_THAN_DAILY:
            raise ConfigError(
                f"event {event.label!r}: FREQ={frequency} is not supported; a holiday calendar's rules "
                "repeat at most daily (an hourly closure belongs in the opening hours)",
                Location(str(source)),
            )
    all_day = not isinstance(event.start, datetime)
    first = event.start if isinstance(event.start, datetime) else datetime.combine(event.start, time())
    shift = _cycles_towards_9999(years, first)
    recurrence = rruleset()
    # RFC 5545: DTSTART is always the first occurrence, whether or not the rule matches it.
    recurrence.rdate(_shifted(first, shift))
    try:
        for rule in rules:
            recurrence.rrule(_rule(rule, first, shift))
        for value, _period in extra_starts:
            recurrence.rdate(_shifted(_like(value, first), shift))
        for value in component.exdates:
            recurrence.exdate(_shifted(_like(value, first), shift))
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        raise ConfigError(f"event {event.label!r}: bad recurrence: {exc}", Location(str(source))) from None
    window_start = datetime(years.start + shift, 1, 1, tzinfo=first.tzinfo)
    window_end = datetime(years.stop + shift, 1, 1, tzinfo=first.tzinfo)
    starts: list[date | datetime] = []
    # Walked one by one rather than with between(), so that every occurrence the expansion goes
    # through, before the window too, counts against the budget.
    for value in recurrence:
        budget.spend(event)
        if value >= window_end:
            break
        if value >= window_start:
            moved_back = _shifted(value, -shift)
            start = moved_back.date() if all_day else moved_back
            if _moment_key(start) not in skipped:
                starts.append(start)
    return starts


def _cycles_towards_9999(years: range, first: datetime) -> int:
    """Whole 400-year cycles (in years) that move the window and DTSTART as close to 9999 as is safe."""
    room = _LAST_SHIFTED_YEAR - max(years.stop, first.year)
    return max(room // _GREGORIAN_CYCLE_YEARS, 0) * _GREGORIAN_CYCLE_YEARS


def _shifted(value: datetime, years: int) -> datetime:
    """``value`` the same wall-clock time ``years`` later (a multiple of 400: Feb 29 stays valid)."""
    return value.replace(year=value.year + years) if years else value


def _rule(recur: Any, first: datetime, shift: int = 0) -> rrule:
    """A dateutil rule from an icalendar ``vRecur``, with ``UNTIL`` made comparable to ``first``.

    Published files often pair an all-day ``DTSTART`` with a UTC ``UNTIL`` (or the reverse), which
    dateutil refuses; the intent is plain, so ``UNTIL`` is moved into DTSTART's kind of time. The rule
    starts (and ends) ``shift`` years later than written (see :func:`_cycles_towards_9999`).
    """
    import icalendar
    from dateutil.rrule import rrule, rrulestr

    fields = icalendar.vRecur(recur)
    until = fields.pop("UNTIL", [None])[0]
    parsed = rrulestr(fields.to_ical().decode(), dtstart=_shifted(first, shift))
    if not isinstance(parsed, rrule):  # pragma: no cover - one RRULE value never gives a set
        raise ValueError("an RRULE must hold one rule")
    if until is None:
        return parsed
    if not isinstance(until, datetime):
        until = datetime.combine(until, time.max)
    if first.tzinfo is None:
        # An all-day or floating rule: a UTC UNTIL names the same calendar day.
        until = until if until.tzinfo is None else until.astimezone(UTC).replace(tzinfo=None)
    elif until.tzinfo is None:
        until = until.replace(tzinfo=first.tzinfo)
    if until.year + shift > _LAST_SHIFTED_YEAR:
        return parsed  # the window ends before this UNTIL, so it would end nothing the window holds
    return parsed.replace(until=_shifted(until, shift))


def _like(value: date | datetime, first: datetime) -> datetime:
    """``value`` as the same kind of datetime as ``first`` (naive or aware), for rruleset."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if first.tzinfo is None:
        return value.replace(tzinfo=None)
    return value.replace(tzinfo=first.tzinfo) if value.tzinfo is None else value


def _moment_key(value: date | datetime) -> date | datetime:
    """A key under which an occurrence and the RECURRENCE-ID naming it compare equal."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value
    return value


def _aware(value: datetime, floating_zone: ZoneInfo | None, event: _Event, source: Path) -> datetime:
    if value.tzinfo is not None:
        return value
    if floating_zone is None:
        raise ConfigError(
            f"event {event.label!r} has a floating time (no TZID, no Z); give the zone to read it in",
            Location(str(source)),
        )
    return value.replace(tzinfo=floating_zone)
