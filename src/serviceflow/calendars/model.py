"""Business-hours calendars: deadlines and elapsed time counted only while a service desk is open.

A :class:`Calendar` is weekly opening hours in local wall-clock time, in one IANA time zone, minus
holidays (whole local days) and partial closures (ranges of instants). Its arithmetic is what SLA tools
such as Zendesk, Zammad and RT offer, with these rules:

* **Real time, local hours.** Opening hours are wall-clock times, so 08:00-16:00 stays 08:00-16:00 across
  a daylight-saving change (a business day keeps its 8 hours); business time itself is measured on the
  real timeline, so an interval that contains the change is an hour shorter or longer, and a 24/7
  calendar agrees exactly with plain ``start + duration``.
* **Intervals are half-open**: open at 08:00, closed at 17:00. An interval whose end is not after its
  start ends on the next day: ``(22:00, 06:00)`` is a night shift, ``(08:00, 00:00)`` closes at 24:00
  and ``(00:00, 00:00)`` is the whole day.
* **A holiday closes its whole local date**, including the part of a night shift that falls on it.
* **Zero duration**: ``add(start, 0)`` is ``start`` when open, else the next opening (as Zendesk does).
  A positive duration that runs out exactly at a closing gives that closing instant.
* **No negative time**: ``between(start, end)`` is zero when ``end <= start``.
* **Results keep the caller's zone**: ``add`` and ``next_opening`` answer in the ``tzinfo`` of their
  argument, whatever the calendar's zone is.

Long durations skip whole weeks arithmetically (a plain week is worth the nominal weekly hours), and
step day by day only through weeks that hold a holiday, a closure or an offset change; a closure that
shuts whole days is jumped over.

**Bounded.** Answers lie within :data:`serviceflow.limits.MAX_BUSINESS_SPAN_YEARS` of wall-clock time
from the start, and before the year 9999. A calendar open one second a week asked for years of
business time, a closure that never ends, or a span from the year 1 to now raise
:class:`CalendarRangeError` (a ``ValueError``) at once or after walking at most that horizon, never
``OverflowError`` and never a loop for ages. It is an error rather than a saturated "never": a
deadline the calendar cannot place is not a date, and printing one would be a lie; the evaluator
reports it as that record's error.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from serviceflow import limits
from serviceflow.calendars._wallclock import ONE_MICROSECOND, first_offset_change, instant_at, local_date
from serviceflow.timeutil import format_duration

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ONE_DAY = timedelta(days=1)
_DAY_MICROS = _ONE_DAY // ONE_MICROSECOND
_MIDNIGHT = time()
# Day spans are cached per calendar; past this many days the cache starts afresh instead of growing.
_SPAN_CACHE_DAYS = 4096

Interval = tuple[time, time]
Span = tuple[datetime, datetime]


class Closure(NamedTuple):
    """A partial closure: the calendar is shut from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime


class CalendarRangeError(ValueError):
    """Business-time arithmetic whose answer the calendar cannot reach: past the year 9999, or further
    from its start than :data:`serviceflow.limits.MAX_BUSINESS_SPAN_YEARS`."""


class OpeningHoursError(ValueError):
    """Weekly opening hours are invalid; ``weekday`` and ``index`` name the offending interval."""

    def __init__(self, message: str, weekday: int | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.weekday = weekday
        self.index = index


class Calendar:
    """Opening hours in one time zone, minus holidays and closures; immutable and hashable.

    ``weekly_hours`` maps a weekday (0 = Monday ... 6 = Sunday, as :meth:`date.weekday`) to its
    ``(opens, closes)`` intervals; a missing weekday is closed. ``holidays`` are local dates, closed
    whole. ``closures`` are ``(start, end)`` pairs of aware datetimes.
    """

    __slots__ = (
        "_closure_ends",
        "_closures",
        "_day_micros",
        "_hash",
        "_holiday_order",
        "_holidays",
        "_name",
        "_span_cache",
        "_timezone",
        "_week_micros",
        "_weekly_hours",
        "_zone",
    )
    _closure_ends: tuple[datetime, ...]
    _closures: tuple[Closure, ...]
    _day_micros: tuple[tuple[tuple[int, int], ...], ...]
    _hash: int
    _holiday_order: tuple[date, ...]
    _holidays: frozenset[date]
    _name: str
    _span_cache: dict[date, tuple[Span, ...]]
    _timezone: str
    _week_micros: int
    _weekly_hours: Mapping[int, tuple[Interval, ...]]
    _zone: ZoneInfo

    def __init__(
        self,
        name: str,
        timezone: str,
        weekly_hours: Mapping[int, Sequence[Interval]],
        holidays: Iterable[date] = (),
        closures: Iterable[tuple[datetime, datetime]] = (),
    ) -> None:
        day_micros = _day_micros(weekly_hours)
        holiday_set = frozenset(_checked_holiday(value) for value in holidays)
        merged_closures = _merged_closures(closures)
        fields: dict[str, Any] = {
            "_name": name,
            "_timezone": timezone,
            "_zone": _zone(timezone),
            "_weekly_hours": MappingProxyType(
                {
                    day: tuple((opens, closes) for opens, closes in weekly_hours[day])
                    for day in sorted(weekly_hours)
                    if weekly_hours[day]
                }
            ),
            "_day_micros": day_micros,
            "_week_micros": sum(end - start for spans in day_micros for start, end in spans),
            "_holidays": holiday_set,
            "_holiday_order": tuple(sorted(holiday_set)),
            "_closures": merged_closures,
            "_closure_ends": tuple(closure.end for closure in merged_closures),
            "_span_cache": {},
        }
        fields["_hash"] = hash((name, timezone, day_micros, holiday_set, merged_closures))
        for slot, value in fields.items():
            object.__setattr__(self, slot, value)

    # -- what it is -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def timezone(self) -> str:
        """The IANA zone whose wall clock the opening hours and holidays are written in."""
        return self._timezone

    @property
    def weekly_hours(self) -> Mapping[int, tuple[Interval, ...]]:
        """The opening intervals as given, by weekday (0 = Monday); closed weekdays are absent."""
        return self._weekly_hours

    @property
    def holidays(self) -> frozenset[date]:
        return self._holidays

    @property
    def closures(self) -> tuple[Closure, ...]:
        """The partial closures, in UTC, sorted, with overlapping or touching ones merged."""
        return self._closures

    @property
    def weekly_business_time(self) -> timedelta:
        """Nominal business time of a week without holidays, closures or daylight-saving changes."""
        return timedelta(microseconds=self._week_micros)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Calendar is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Calendar is immutable (cannot delete {name!r})")

    def __reduce__(self) -> tuple[type[Calendar], tuple[Any, ...]]:
        # The default would restore the slots through __setattr__, which refuses; rebuild instead.
        weekly_hours = {day: list(intervals) for day, intervals in self._weekly_hours.items()}
        return Calendar, (self._name, self._timezone, weekly_hours, self._holidays, self._closures)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calendar):
            return NotImplemented
        return (
            self._name == other._name
            and self._timezone == other._timezone
            and self._day_micros == other._day_micros
            and self._holidays == other._holidays
            and self._closures == other._closures
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        hours = self._week_micros / 3_600_000_000
        return (
            f"<Calendar {self._name!r} {self._timezone} {hours:g}h/week, "
            f"{len(self._holidays)} holidays, {len(self._closures)} closures>"
        )

    # -- arithmetic -------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """Whether the calendar is open at the aware instant ``at`` (open at opening, shut at closing)."""
        moment = _instant(at, "at")
        today = local_date(self._zone, moment)
        return any(
            opens <= moment < closes
            for day in (today - _ONE_DAY, today, today + _ONE_DAY)
            for opens, closes in self._spans(day)
        )

    def next_opening(self, at: datetime) -> datetime:
        """The first instant at or after ``at`` when the calendar is open: ``at`` itself if open.

        Returned in ``at``'s own ``tzinfo``. Raises ``ValueError`` for a calendar with no opening hours.
        """
        moment = _instant(at, "at")
        self._require_opening_hours()
        try:
            day = local_date(self._zone, moment) - _ONE_DAY
            horizon = self._horizon(moment)
            while True:
                for opens, closes in self._spans(day):
                    if closes > moment:
                        return max(opens, moment).astimezone(at.tzinfo)
                day = self._past_closure(day + _ONE_DAY)
                if day > horizon:
                    raise self._range_error(f"it does not open within {_span_words()} after {at.isoformat()}")
        except OverflowError:
            raise self._range_error(
                f"it does not open again after {at.isoformat()} before the year 9999"
            ) from None

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of business time has elapsed after ``start``.

        Counting begins at ``start`` if open, else at the next opening; a zero duration therefore gives
        the next opening (or ``start`` itself when open). The result is in ``start``'s own ``tzinfo``.
        """
        origin = _instant(start, "start")
        remaining = _micros(duration)
        if remaining == 0:
            return self.next_opening(start)
        self._require_opening_hours()
        too_far = f"{format_duration(duration)} of business time after {start.isoformat()} ends after "
        try:
            day = local_date(self._zone, origin) - _ONE_DAY
            horizon = self._horizon(origin)
            while True:
                if day.weekday() == 0 and remaining > self._week_micros:
                    # Capped at the horizon first: an uncapped jump could pass the year 9999.
                    limit = min((remaining - 1) // self._week_micros, (horizon - day).days // 7 + 1)
                    weeks = self._plain_weeks(day, origin, limit)
                    remaining -= weeks * self._week_micros
                    day += timedelta(weeks=weeks)
                for opens, closes in self._spans(day):
                    opens = max(opens, origin)
                    if closes <= opens:
                        continue
                    available = (closes - opens) // ONE_MICROSECOND
                    if remaining <= available:
                        return (opens + timedelta(microseconds=remaining)).astimezone(start.tzinfo)
                    remaining -= available
                day = self._past_closure(day + _ONE_DAY)
                if day > horizon:
                    raise self._range_error(too_far + _span_words())
        except OverflowError:
            raise self._range_error(too_far + "the year 9999") from None

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed from ``start`` to ``end``; zero when ``end`` is not after ``start``."""
        origin, finish = _instant(start, "start"), _instant(end, "end")
        if finish <= origin:
            return timedelta(0)
        if finish - origin > timedelta(days=365.25 * limits.MAX_BUSINESS_SPAN_YEARS):
            raise self._range_error(
                f"business time from {start.isoformat()} to {end.isoformat()} spans more than {_span_words()}"
            )
        total = 0
        try:
            day = local_date(self._zone, origin) - _ONE_DAY
            last_day = local_date(self._zone, finish)
            while self._day_start(day) < finish:
                if day.weekday() == 0 and self._week_micros:
                    weeks = self._plain_weeks(day, origin, (last_day - day).days // 7)
                    total += weeks * self._week_micros
                    day += timedelta(weeks=weeks)
                for opens, closes in self._spans(day):
                    opens, closes = max(opens, origin), min(closes, finish)
                    if closes > opens:
                        total += (closes - opens) // ONE_MICROSECOND
                day = self._past_closure(day + _ONE_DAY)
        except OverflowError:
            raise self._range_error(
                f"business time up to {end.isoformat()} runs past the year 9999"
            ) from None
        return timedelta(microseconds=total)

    # -- internals --------------------------------------------------------------------------------

    def _horizon(self, origin: datetime) -> date:
        """The last local date an answer starting at ``origin`` may reach (``MAX_BUSINESS_SPAN_YEARS``)."""
        days = round(365.25 * limits.MAX_BUSINESS_SPAN_YEARS)
        first = local_date(self._zone, origin)
        return first + timedelta(days=min(days, (date.max - first).days))

    def _range_error(self, problem: str) -> CalendarRangeError:
        return CalendarRangeError(f"calendar {self._name!r}: {problem}")

    def _past_closure(self, day: date) -> date:
        """``day``, or the day before the end of a closure that shuts ``day`` whole: nothing is open
        between, so stepping through a closure of years one day at a time would only cost time."""
        if not self._closures:
            return day
        day_start = self._day_start(day)
        index = bisect_right(self._closure_ends, day_start)
        if index < len(self._closures) and self._closures[index].start <= day_start:
            return max(day, local_date(self._zone, self._closures[index].end) - _ONE_DAY)
        return day

    def _require_opening_hours(self) -> None:
        if not self._week_micros:
            raise ValueError(f"calendar {self._name!r} has no opening hours, so it never opens")

    def _day_start(self, day: date) -> datetime:
        return instant_at(self._zone, datetime.combine(day, _MIDNIGHT))

    def _spans(self, day: date) -> tuple[Span, ...]:
        """The open spans of one local date, as UTC instants, after holidays and closures."""
        cached = self._span_cache.get(day)
        if cached is not None:
            return cached
        spans: list[Span] = []
        if day not in self._holidays:
            midnight = datetime.combine(day, _MIDNIGHT)
            for start, end in self._day_micros[day.weekday()]:
                opens = instant_at(self._zone, midnight + timedelta(microseconds=start))
                closes = instant_at(self._zone, midnight + timedelta(microseconds=end))
                spans.extend(self._minus_closures(opens, closes))
        if len(self._span_cache) >= _SPAN_CACHE_DAYS:
            self._span_cache.clear()
        result = self._span_cache[day] = tuple(spans)
        return result

    def _minus_closures(self, opens: datetime, closes: datetime) -> list[Span]:
        pieces = []
        cursor = opens
        index = bisect_right(self._closure_ends, opens)
        while index < len(self._closures) and self._closures[index].start < closes:
            closure = self._closures[index]
            if closure.start > cursor:
                pieces.append((cursor, closure.start))
            cursor = max(cursor, closure.end)
            index += 1
        if cursor < closes:
            pieces.append((cursor, closes))
        return pieces

    def _plain_weeks(self, monday: date, origin: datetime, limit: int) -> int:
        """How many whole weeks from local ``monday`` on (at most ``limit``) are worth the nominal hours.

        A week qualifies when it starts at or after ``origin`` and holds no holiday, no closure and no
        change of the zone's UTC offset; only then is its real business time its nominal one.
        """
        if limit <= 0:
            return 0
        week_start = self._day_start(monday)
        if week_start < origin:
            return 0

        def weeks_before(instant: datetime) -> int:
            if instant <= week_start:
                return 0
            return (local_date(self._zone, instant) - monday).days // 7

        weeks = limit
        holiday_index = bisect_left(self._holiday_order, monday)
        if holiday_index < len(self._holiday_order):
            weeks = min(weeks, (self._holiday_order[holiday_index] - monday).days // 7)
        closure_index = bisect_right(self._closure_ends, week_start)
        if closure_index < len(self._closures):
            weeks = min(weeks, weeks_before(self._closures[closure_index].start))
        if weeks <= 0:
            return 0
        horizon = self._day_start(monday + timedelta(weeks=weeks))
        change = first_offset_change(self._zone, week_start, horizon)
        if change is not None:
            weeks = min(weeks, weeks_before(change))
        return weeks


def _span_words() -> str:
    return f"{limits.MAX_BUSINESS_SPAN_YEARS} years (serviceflow.limits.MAX_BUSINESS_SPAN_YEARS)"


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(
            f"unknown time zone {timezone!r} (use an IANA name such as 'Europe/Berlin')"
        ) from None


def _instant(value: datetime, label: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{label} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} must be timezone-aware, got the naive {value.isoformat()}")
    return value.astimezone(UTC)


def _micros(duration: timedelta) -> int:
    if not isinstance(duration, timedelta):
        raise TypeError(f"duration must be a timedelta, not {type(duration).__name__}")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    return duration // ONE_MICROSECOND


def _time_micros(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def _format_time(value: time) -> str:
    return value.isoformat(timespec="seconds" if value.second or value.microsecond else "minutes")


def _day_micros(weekly_hours: Mapping[int, Sequence[Interval]]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Opening spans per weekday in microseconds after local midnight, split at midnight and merged."""
    days: list[list[tuple[int, int, int, int]]] = [[] for _ in WEEKDAY_NAMES]
    for weekday, intervals in weekly_hours.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise OpeningHoursError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
        for index, interval in enumerate(intervals):
            opens, closes = _checked_interval(interval, weekday, index)
            start, end = _time_micros(opens), _time_micros(closes)
            if end <= start:
                end += _DAY_MICROS
            days[weekday].append((start, min(end, _DAY_MICROS), weekday, index))
            if end > _DAY_MICROS:
                days[(weekday + 1) % 7].append((0, end - _DAY_MICROS, weekday, index))

    def describe(weekday: int, index: int) -> str:
        opens, closes = weekly_hours[weekday][index]
        return f"{WEEKDAY_NAMES[weekday]} {_format_time(opens)}-{_format_time(closes)}"

    result = []
    for day, pieces in enumerate(days):
        merged: list[tuple[int, int]] = []
        previous = (0, 0)
        for start, end, weekday, index in sorted(pieces):
            if merged and start < merged[-1][1]:
                raise OpeningHoursError(
                    f"opening hours overlap on {WEEKDAY_NAMES[day]}: "
                    f"{describe(weekday, index)} overlaps {describe(*previous)}",
                    weekday,
                    index,
                )
            if merged and start == merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
            previous = (weekday, index)
        result.append(tuple(merged))
    return tuple(result)


def _checked_interval(interval: Interval, weekday: int, index: int) -> Interval:
    if (
        not isinstance(interval, tuple | list)
        or len(interval) != 2
        or not all(isinstance(value, time) and value.tzinfo is None for value in interval)
    ):
        raise OpeningHoursError(
            f"an opening interval must be a pair of naive times (opens, closes), got {interval!r}",
            weekday,
            index,
        )
    opens, closes = interval
    if opens == closes and opens != _MIDNIGHT:
        raise OpeningHoursError(
            f"interval {_format_time(opens)}-{_format_time(closes)} opens and closes at the same time "
            "(00:00-24:00 is the whole day)",
            weekday,
            index,
        )
    return opens, closes


def _checked_holiday(value: date) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"a holiday must be a date, not {type(value).__name__} (use closures for times)")
    return value


def _merged_closures(closures: Iterable[tuple[datetime, datetime]]) -> tuple[Closure, ...]:
    ranges = []
    for start, end in closures:
        closure = Closure(_instant(start, "closure start"), _instant(end, "closure end"))
        if closure.end <= closure.start:
            raise ValueError(f"a closure must end after it starts: {start.isoformat()} to {end.isoformat()}")
        ranges.append(closure)
    merged: list[Closure] = []
    for closure in sorted(ranges):
        if merged and closure.start <= merged[-1].end:
            merged[-1] = Closure(merged[-1].start, max(merged[-1].end, closure.end))
        else:
            merged.append(closure)
    return tuple(merged)


ALWAYS = Calendar("always", "UTC", {weekday: [(_MIDNIGHT, _MIDNIGHT)] for weekday in range(7)})
"""The bundled 24/7 calendar: business time is plain elapsed time."""
