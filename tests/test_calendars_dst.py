"""Daylight-saving changes: opening hours stay wall-clock hours, business time stays real time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from serviceflow.calendars import Calendar

HOURS = timedelta(hours=1)
NINE_TO_FIVE = [(time(9), time(17))]

# (zone, Friday before the change, the Sunday of the change, the Monday after, hours the Sunday has)
DST_WEEKENDS = [
    pytest.param("Europe/Berlin", (2024, 3, 29), (2024, 3, 31), (2024, 4, 1), 23, id="berlin-spring-forward"),
    pytest.param("Europe/Berlin", (2024, 10, 25), (2024, 10, 27), (2024, 10, 28), 25, id="berlin-fall-back"),
    pytest.param(
        "America/New_York", (2024, 3, 8), (2024, 3, 10), (2024, 3, 11), 23, id="new-york-spring-forward"
    ),
    pytest.param(
        "America/New_York", (2024, 11, 1), (2024, 11, 3), (2024, 11, 4), 25, id="new-york-fall-back"
    ),
]


def weekdays(zone: str) -> Calendar:
    return Calendar("weekdays", zone, {day: NINE_TO_FIVE for day in range(5)})


def every_day(zone: str) -> Calendar:
    return Calendar("every-day", zone, {day: NINE_TO_FIVE for day in range(7)})


def around_the_clock(zone: str) -> Calendar:
    return Calendar("around-the-clock", zone, {day: [(time(0), time(0))] for day in range(7)})


def local(zone: str, ymd: tuple[int, int, int], hour: int = 0, minute: int = 0) -> datetime:
    return datetime(*ymd, hour, minute, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(("zone", "friday", "sunday", "monday", "sunday_hours"), DST_WEEKENDS)
def test_four_hour_deadline_from_two_hours_before_friday_close_lands_two_hours_after_monday_opening(
    zone: str,
    friday: tuple[int, int, int],
    sunday: tuple[int, int, int],
    monday: tuple[int, int, int],
    sunday_hours: int,
) -> None:
    start = local(zone, friday, 15)
    due = weekdays(zone).add(start, 4 * HOURS)
    assert due == local(zone, monday, 11)
    assert due.utcoffset() == local(zone, monday, 11).utcoffset()
    # The weekend between is an hour shorter or longer in real time; the business time is not.
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=68 + sunday_hours - 24)
    assert weekdays(zone).between(start, due) == 4 * HOURS


@pytest.mark.parametrize(("zone", "friday", "sunday", "monday", "sunday_hours"), DST_WEEKENDS)
def test_business_day_on_the_day_of_the_change_keeps_its_eight_local_hours(
    zone: str,
    friday: tuple[int, int, int],
    sunday: tuple[int, int, int],
    monday: tuple[int, int, int],
    sunday_hours: int,
) -> None:
    calendar = every_day(zone)
    assert calendar.between(local(zone, sunday), local(zone, monday)) == 8 * HOURS
    assert calendar.add(local(zone, sunday, 16), 2 * HOURS) == local(zone, monday, 10)
    assert calendar.is_open(local(zone, sunday, 9))
    assert not calendar.is_open(local(zone, sunday, 17))


@pytest.mark.parametrize(("zone", "friday", "sunday", "monday", "sunday_hours"), DST_WEEKENDS)
def test_around_the_clock_calendar_counts_the_real_length_of_the_day_of_the_change(
    zone: str,
    friday: tuple[int, int, int],
    sunday: tuple[int, int, int],
    monday: tuple[int, int, int],
    sunday_hours: int,
) -> None:
    calendar = around_the_clock(zone)
    assert calendar.between(local(zone, sunday), local(zone, monday)) == sunday_hours * HOURS
    start = local(zone, friday, 15)
    assert calendar.add(start, 100 * HOURS) == (start.astimezone(UTC) + 100 * HOURS).astimezone(start.tzinfo)


def test_night_shift_over_spring_forward_is_an_hour_short() -> None:
    nights = Calendar("nights", "Europe/Berlin", {day: [(time(22), time(6))] for day in range(7)})
    saturday = local("Europe/Berlin", (2024, 3, 30), 22)
    assert nights.between(saturday, local("Europe/Berlin", (2024, 3, 31), 6)) == 7 * HOURS
    assert nights.add(saturday, 7 * HOURS) == local("Europe/Berlin", (2024, 3, 31), 6)


def test_night_shift_over_fall_back_is_an_hour_long() -> None:
    nights = Calendar("nights", "America/New_York", {day: [(time(22), time(6))] for day in range(7)})
    saturday = local("America/New_York", (2024, 11, 2), 22)
    assert nights.between(saturday, local("America/New_York", (2024, 11, 3), 6)) == 9 * HOURS


def test_opening_at_a_skipped_local_time_opens_when_the_clocks_jump() -> None:
    # On 2024-03-31 Berlin's clocks jump from 02:00 to 03:00: 02:30 never happens.
    early = Calendar("early", "Europe/Berlin", {6: [(time(2, 30), time(5))]})
    sunday = local("Europe/Berlin", (2024, 3, 31))
    assert early.next_opening(sunday) == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert early.between(sunday, sunday + 24 * HOURS) == 2 * HOURS


def test_opening_at_a_repeated_local_time_opens_at_its_first_occurrence() -> None:
    # On 2024-10-27 Berlin's clocks fall back from 03:00 to 02:00: 02:30 happens twice.
    early = Calendar("early", "Europe/Berlin", {6: [(time(2, 30), time(5))]})
    sunday = local("Europe/Berlin", (2024, 10, 27))
    opening = early.next_opening(sunday)
    # Compared in UTC: Python calls a repeated local time unequal to every instant of another zone.
    assert opening.astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert (opening.hour, opening.minute, opening.fold) == (2, 30, 0)
    assert early.between(sunday, sunday + 24 * HOURS) == 3.5 * HOURS


def test_interval_entirely_inside_a_skipped_hour_never_opens_that_day() -> None:
    ghost = Calendar("ghost", "Europe/Berlin", {6: [(time(2, 10), time(2, 50))]})
    sunday = local("Europe/Berlin", (2024, 3, 31))
    assert ghost.between(sunday, sunday + 24 * HOURS) == timedelta(0)
    assert ghost.next_opening(sunday) == local("Europe/Berlin", (2024, 4, 7), 2, 10)


def test_deadline_weeks_ahead_across_both_changes_of_a_year_keeps_wall_clock_hours() -> None:
    calendar = weekdays("America/New_York")
    start = local("America/New_York", (2024, 3, 1), 10)  # a Friday in EST
    due = calendar.add(start, 40 * 8 * HOURS)  # 40 business days later: 2024-04-26, in EDT
    assert due == local("America/New_York", (2024, 4, 26), 10)
    assert calendar.add(due, 31 * 40 * HOURS) == local("America/New_York", (2024, 11, 29), 10)  # EST again


def test_start_given_in_utc_across_a_change_is_answered_in_utc() -> None:
    calendar = weekdays("Europe/Berlin")
    start = datetime(2024, 3, 29, 14, tzinfo=UTC)  # Friday 15:00 CET
    assert calendar.add(start, 4 * HOURS) == datetime(2024, 4, 1, 9, tzinfo=UTC)  # Monday 11:00 CEST
