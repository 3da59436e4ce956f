"""Calendars that would expand or count for ever (issue 13, mechanisms 1 and 3).

An iCalendar ``RRULE:FREQ=SECONDLY`` expanded for ever; a calendar open one second a week with a long
``within`` overflowed; a closure that never ends stepped day by day to the year 9999. Expansion is now
bounded by count and by the years asked for, and business-time arithmetic answers within
``MAX_BUSINESS_SPAN_YEARS`` or raises CalendarRangeError (a ValueError), quickly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import pytest

from serviceflow import limits
from serviceflow.calendars.ical import load_ical_holidays
from serviceflow.calendars.model import Calendar, CalendarRangeError
from serviceflow.errors import ConfigError

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OFFICE = {weekday: [(clock(9), clock(17))] for weekday in range(5)}


@contextmanager
def within_seconds(limit: float) -> Iterator[None]:
    started = time.perf_counter()
    yield
    assert time.perf_counter() - started < limit


def ics(tmp_path: Path, *events: str) -> Path:
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:e{index}\r\nSUMMARY:event {index}\r\n{event}END:VEVENT\r\n"
        for index, event in enumerate(events)
    )
    path = tmp_path / "calendar.ics"
    path.write_text(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
    return path


# --- iCalendar expansion ----------------------------------------------------------------------


@pytest.mark.parametrize("frequency", ["SECONDLY", "MINUTELY", "HOURLY"])
def test_rules_finer_than_daily_are_refused_naming_file_and_event(tmp_path: Path, frequency: str) -> None:
    path = ics(tmp_path, f"DTSTART:20240101T000000Z\r\nDTEND:20240101T000001Z\r\nRRULE:FREQ={frequency}\r\n")
    with within_seconds(2), pytest.raises(ConfigError, match=f"FREQ={frequency} is not supported") as caught:
        load_ical_holidays(path)
    assert caught.value.location.file == str(path)
    assert "event 0" in caught.value.message


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;BYYEARDAY=366;BYMONTH=1",
    ],
)
def test_a_rule_that_never_matches_again_loads_quickly(tmp_path: Path, rule: str) -> None:
    path = ics(tmp_path, f"DTSTART;VALUE=DATE:20240101\r\nRRULE:{rule}\r\n")
    with within_seconds(2):
        holidays = load_ical_holidays(path)
    assert holidays.dates == {date(2024, 1, 1)}  # DTSTART is always the first occurrence


def test_a_daily_rule_over_the_default_century_loads(tmp_path: Path) -> None:
    path = ics(tmp_path, "DTSTART;VALUE=DATE:20000101\r\nRRULE:FREQ=DAILY\r\n")
    with within_seconds(3):
        holidays = load_ical_holidays(path)
    assert len(holidays.dates) == (date(2101, 1, 1) - date(2000, 1, 1)).days


def test_a_daily_rule_from_the_year_1_exceeds_the_occurrence_limit_quickly(tmp_path: Path) -> None:
    path = ics(tmp_path, "DTSTART;VALUE=DATE:00010101\r\nRRULE:FREQ=DAILY\r\n")
    with within_seconds(3), pytest.raises(ConfigError, match="more than 100000 occurrences"):
        load_ical_holidays(path)


def test_an_all_day_event_of_thousands_of_years_exceeds_the_limit(tmp_path: Path) -> None:
    path = ics(tmp_path, "DTSTART;VALUE=DATE:19900101\r\nDTEND;VALUE=DATE:99991231\r\n")
    with within_seconds(2), pytest.raises(ConfigError, match="MAX_ICAL_OCCURRENCES"):
        load_ical_holidays(path)


def test_the_occurrence_limit_is_read_from_serviceflow_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_ICAL_OCCURRENCES", 5)
    path = ics(tmp_path, "DTSTART;VALUE=DATE:20200101\r\nRRULE:FREQ=YEARLY\r\n")
    with pytest.raises(ConfigError, match="more than 5 occurrences"):
        load_ical_holidays(path, years=range(2020, 2031))


def test_expansion_keeps_weekdays_leap_days_zones_until_and_exdates(tmp_path: Path) -> None:
    # Expanded in a window moved by whole 400-year cycles: the answers must be the written years'.
    path = ics(
        tmp_path,
        "DTSTART;VALUE=DATE:20000229\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;UNTIL=20130101\r\n",
        "DTSTART;TZID=Europe/Berlin:20240331T013000\r\nDTEND;TZID=Europe/Berlin:20240331T033000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;COUNT=3\r\nEXDATE;TZID=Europe/Berlin:20250330T013000\r\n",
    )
    holidays = load_ical_holidays(path)
    assert sorted(holidays.dates) == [date(year, 2, 29) for year in (2000, 2004, 2008, 2012)]
    assert [closure.start.astimezone(UTC).isoformat() for closure in holidays.closures] == [
        "2024-03-31T00:30:00+00:00",  # 01:30 in Berlin, still winter time
        "2026-03-29T00:30:00+00:00",  # 2025-03-30 excluded; the last Sunday of March 2026
    ]


def test_a_timed_event_ending_after_9999_is_a_clear_error(tmp_path: Path) -> None:
    path = ics(tmp_path, "DTSTART:99991231T230000Z\r\nDURATION:PT2H\r\n")
    with pytest.raises(ConfigError, match="after the year 9999"):
        load_ical_holidays(path)


# --- business-time arithmetic -------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_one_second_a_week_with_a_long_within_is_a_range_error_quickly(zone: str) -> None:
    tiny = Calendar("tiny", zone, {0: [(clock(9, 0, 0), clock(9, 0, 1))]})
    assert tiny.add(START, timedelta(minutes=1)) > START  # a minute: 60 weeks, fine
    for within in (timedelta(days=30), timedelta(days=36525)):
        with within_seconds(3), pytest.raises(CalendarRangeError, match="MAX_BUSINESS_SPAN_YEARS"):
            tiny.add(START, within)


def test_a_deadline_past_9999_is_a_range_error_not_an_overflow() -> None:
    office = Calendar("office", "America/New_York", OFFICE)
    with pytest.raises(CalendarRangeError, match="9999"):
        office.add(datetime(9999, 12, 30, 12, tzinfo=UTC), timedelta(hours=48))
    with pytest.raises(CalendarRangeError, match="9999"):
        office.next_opening(datetime(9999, 12, 31, 22, tzinfo=UTC))


def test_a_range_error_is_a_value_error_for_callers_that_catch_those() -> None:
    assert issubclass(CalendarRangeError, ValueError)


def test_business_time_over_more_than_the_horizon_is_refused_at_once() -> None:
    office = Calendar("office", "Europe/Berlin", OFFICE)
    with within_seconds(1), pytest.raises(CalendarRangeError, match="spans more than 500 years"):
        office.between(datetime(1, 1, 1, tzinfo=UTC), START)


def test_a_closure_that_never_ends_means_no_opening_found_quickly() -> None:
    shut = Calendar("shut", "Europe/Berlin", OFFICE, closures=[(START, datetime(9999, 12, 31, tzinfo=UTC))])
    with within_seconds(2), pytest.raises(CalendarRangeError):
        shut.next_opening(START)
    with within_seconds(2), pytest.raises(CalendarRangeError):
        shut.add(START, timedelta(hours=1))


def test_a_closure_of_decades_is_jumped_over_to_the_next_opening() -> None:
    reopening = datetime(2074, 5, 7, tzinfo=UTC)  # a Monday
    closed = Calendar("closed", "UTC", OFFICE, closures=[(START, reopening)])
    with within_seconds(1):
        assert closed.next_opening(START) == datetime(2074, 5, 7, 9, tzinfo=UTC)
        assert closed.add(START, timedelta(hours=1)) == datetime(2074, 5, 7, 10, tzinfo=UTC)
        assert closed.between(START, datetime(2074, 5, 8, tzinfo=UTC)) == timedelta(hours=8)


def test_the_longest_duration_still_fits_an_office_calendar() -> None:
    office = Calendar("office", "Europe/Berlin", OFFICE)
    with within_seconds(5):
        deadline = office.add(START, timedelta(days=limits.MAX_DURATION_DAYS))
    assert deadline.year < START.year + limits.MAX_BUSINESS_SPAN_YEARS


@pytest.mark.parametrize(
    "rule", ["RRULE:BEGIN:VEVENT", "RRULE:FREQ=", "RRULE:FREQ=DAILY;UNTIL=notadate", "RRULE:;;"]
)
def test_a_broken_recurrence_rule_is_a_configuration_error(tmp_path: Path, rule: str) -> None:
    """Found by fuzzing: icalendar raises its own error types when a broken property is read."""
    path = tmp_path / "broken.ics"
    path.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:u1\nDTSTART;VALUE=DATE:20241225\n"
        f"{rule}\nSUMMARY:Christmas\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    with pytest.raises(ConfigError, match="event 'Christmas'"):
        load_ical_holidays(path)
