"""Business-time arithmetic of a Calendar: weekends, holidays, breaks, closures, offsets, night shifts."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from serviceflow.calendars import ALWAYS, Calendar, OpeningHoursError

BERLIN = ZoneInfo("Europe/Berlin")
PARIS = ZoneInfo("Europe/Paris")
TOKYO_OFFSET = timezone(timedelta(hours=9))
HOURS = timedelta(hours=1)

LUNCH_BREAK_DAY = [(time(8), time(12)), (time(13), time(17))]
# Mon-Thu 08-12 and 13-17 (8h), Fri 08-15 (7h): 39h a week, like the configuration example.
OFFICE_HOURS = {0: LUNCH_BREAK_DAY, 1: LUNCH_BREAK_DAY, 2: LUNCH_BREAK_DAY, 3: LUNCH_BREAK_DAY}
OFFICE_HOURS[4] = [(time(8), time(15))]


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def office(**kwargs: object) -> Calendar:
    return Calendar("office", "Europe/Berlin", OFFICE_HOURS, **kwargs)  # type: ignore[arg-type]


# 2024-06-03 is a Monday; 2024-06-07 a Friday.


def test_deadline_inside_one_business_day_is_plain_addition() -> None:
    assert office().add(berlin(2024, 6, 4, 9), 2 * HOURS) == berlin(2024, 6, 4, 11)


def test_deadline_across_a_weekend_resumes_on_monday_morning() -> None:
    assert office().add(berlin(2024, 6, 7, 13), 4 * HOURS) == berlin(2024, 6, 10, 10)


def test_deadline_across_a_holiday_skips_the_whole_day() -> None:
    calendar = office(holidays={date(2024, 6, 5)})
    assert calendar.add(berlin(2024, 6, 4, 15), 4 * HOURS) == berlin(2024, 6, 6, 10)


def test_deadline_across_a_lunch_break_pauses_for_the_break() -> None:
    assert office().add(berlin(2024, 6, 4, 11), 2 * HOURS) == berlin(2024, 6, 4, 14)


def test_start_during_the_lunch_break_counts_from_the_afternoon_opening() -> None:
    assert office().add(berlin(2024, 6, 4, 12, 30), 1 * HOURS) == berlin(2024, 6, 4, 14)


def test_start_exactly_at_opening_counts_from_that_instant() -> None:
    assert office().add(berlin(2024, 6, 4, 8), 1 * HOURS) == berlin(2024, 6, 4, 9)


def test_start_exactly_at_closing_counts_from_the_next_opening() -> None:
    assert office().add(berlin(2024, 6, 4, 17), 1 * HOURS) == berlin(2024, 6, 5, 9)
    assert office().add(berlin(2024, 6, 7, 15), 1 * HOURS) == berlin(2024, 6, 10, 9)


def test_start_before_opening_counts_from_the_opening() -> None:
    assert office().add(berlin(2024, 6, 4, 6), 1 * HOURS) == berlin(2024, 6, 4, 9)


def test_deadline_that_runs_out_at_closing_is_the_closing_instant() -> None:
    assert office().add(berlin(2024, 6, 4, 15), 2 * HOURS) == berlin(2024, 6, 4, 17)


def test_zero_duration_while_open_is_the_start_itself() -> None:
    assert office().add(berlin(2024, 6, 4, 10, 15), timedelta(0)) == berlin(2024, 6, 4, 10, 15)


def test_zero_duration_while_closed_is_the_next_opening() -> None:
    assert office().add(berlin(2024, 6, 8, 10), timedelta(0)) == berlin(2024, 6, 10, 8)
    assert office().add(berlin(2024, 6, 4, 17), timedelta(0)) == berlin(2024, 6, 5, 8)


def test_start_in_another_offset_is_placed_on_the_calendar_zone_and_answered_in_its_own_offset() -> None:
    paris = Calendar("paris", "Europe/Paris", {day: [(time(9), time(17))] for day in range(5)})
    start = datetime(2024, 6, 3, 23, 0, tzinfo=TOKYO_OFFSET)  # 16:00 in Paris, an hour before closing
    due = paris.add(start, 2 * HOURS)
    assert due == datetime(2024, 6, 4, 10, tzinfo=PARIS)
    assert due.tzinfo is TOKYO_OFFSET
    assert due.isoformat() == "2024-06-04T17:00:00+09:00"


def test_start_in_utc_is_answered_in_utc() -> None:
    paris = Calendar("paris", "Europe/Paris", {day: [(time(9), time(17))] for day in range(5)})
    due = paris.add(datetime(2024, 6, 3, 6, 0, tzinfo=UTC), 1 * HOURS)  # 08:00 in Paris: closed
    assert due == datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_between_counts_only_open_time_across_a_weekend() -> None:
    assert office().between(berlin(2024, 6, 7, 13), berlin(2024, 6, 10, 10)) == 4 * HOURS


def test_between_a_whole_week_is_the_weekly_business_time() -> None:
    calendar = office()
    assert calendar.between(berlin(2024, 6, 3), berlin(2024, 6, 10)) == 39 * HOURS
    assert calendar.weekly_business_time == 39 * HOURS


def test_between_is_zero_when_end_is_not_after_start() -> None:
    calendar = office()
    assert calendar.between(berlin(2024, 6, 4, 10), berlin(2024, 6, 4, 10)) == timedelta(0)
    assert calendar.between(berlin(2024, 6, 4, 11), berlin(2024, 6, 4, 9)) == timedelta(0)


def test_between_within_closed_time_is_zero() -> None:
    assert office().between(berlin(2024, 6, 8, 1), berlin(2024, 6, 9, 23)) == timedelta(0)


def test_is_open_at_opening_but_not_at_closing() -> None:
    calendar = office()
    assert calendar.is_open(berlin(2024, 6, 4, 8))
    assert calendar.is_open(berlin(2024, 6, 4, 11, 59, 59))
    assert not calendar.is_open(berlin(2024, 6, 4, 12))
    assert not calendar.is_open(berlin(2024, 6, 4, 17))
    assert not calendar.is_open(berlin(2024, 6, 8, 10))


def test_is_open_reads_an_instant_given_in_another_offset() -> None:
    assert office().is_open(datetime(2024, 6, 4, 7, 30, tzinfo=UTC))  # 09:30 in Berlin


def test_next_opening_of_an_open_instant_is_that_instant() -> None:
    assert office().next_opening(berlin(2024, 6, 4, 9, 30)) == berlin(2024, 6, 4, 9, 30)


def test_next_opening_after_friday_closing_is_monday_morning_in_the_callers_offset() -> None:
    opening = office().next_opening(datetime(2024, 6, 7, 13, 0, tzinfo=UTC))
    assert opening == berlin(2024, 6, 10, 8)
    assert opening.tzinfo is UTC


def test_partial_closure_pauses_the_clock() -> None:
    calendar = office(closures=[(berlin(2024, 6, 4, 14), berlin(2024, 6, 4, 16))])
    assert calendar.add(berlin(2024, 6, 4, 13), 2 * HOURS) == berlin(2024, 6, 4, 17)
    assert not calendar.is_open(berlin(2024, 6, 4, 15))
    assert calendar.between(berlin(2024, 6, 4, 8), berlin(2024, 6, 5, 8)) == 6 * HOURS


def test_overlapping_closures_are_merged_and_count_once() -> None:
    calendar = office(
        closures=[
            (berlin(2024, 6, 4, 9), berlin(2024, 6, 4, 11)),
            (berlin(2024, 6, 4, 10), berlin(2024, 6, 4, 14)),
            (datetime(2024, 6, 4, 12, tzinfo=UTC), datetime(2024, 6, 4, 12, 30, tzinfo=UTC)),
        ]
    )
    assert len(calendar.closures) == 1
    assert calendar.closures[0].end == berlin(2024, 6, 4, 14, 30)
    assert calendar.between(berlin(2024, 6, 4, 8), berlin(2024, 6, 4, 17)) == 3.5 * HOURS


def test_closure_over_many_weeks_is_skipped_to_its_end() -> None:
    calendar = office(closures=[(berlin(2024, 7, 1), berlin(2024, 9, 2))])
    assert calendar.add(berlin(2024, 6, 28, 14), 2 * HOURS) == berlin(2024, 9, 2, 9)


NIGHT_SHIFT = Calendar("nights", "Europe/Berlin", {day: [(time(22), time(6))] for day in range(5)})


def test_night_shift_runs_past_midnight_into_the_next_day() -> None:
    # Tuesday 23:00 + 3h: through midnight, Wednesday 02:00.
    assert NIGHT_SHIFT.add(berlin(2024, 6, 4, 23), 3 * HOURS) == berlin(2024, 6, 5, 2)
    assert NIGHT_SHIFT.is_open(berlin(2024, 6, 8, 5))  # Friday's shift ends Saturday 06:00
    assert not NIGHT_SHIFT.is_open(berlin(2024, 6, 8, 6))


def test_night_shift_of_friday_continues_into_saturday_then_waits_for_monday_night() -> None:
    assert NIGHT_SHIFT.add(berlin(2024, 6, 8, 5), 2 * HOURS) == berlin(2024, 6, 10, 23)


def test_sunday_night_shift_wraps_into_monday() -> None:
    calendar = Calendar("sunday-nights", "Europe/Berlin", {6: [(time(22), time(2))]})
    assert calendar.between(berlin(2024, 6, 9), berlin(2024, 6, 11)) == 4 * HOURS
    assert calendar.is_open(berlin(2024, 6, 10, 1))


def test_holiday_closes_the_part_of_a_night_shift_that_falls_on_it() -> None:
    calendar = Calendar(
        "nights", "Europe/Berlin", {day: [(time(22), time(6))] for day in range(5)}, {date(2024, 6, 5)}
    )
    # A holiday is a whole local date: Tuesday's shift stops at midnight, Wednesday's starts at midnight.
    assert calendar.between(berlin(2024, 6, 4, 22), berlin(2024, 6, 5, 22)) == 2 * HOURS
    assert calendar.between(berlin(2024, 6, 5, 22), berlin(2024, 6, 6, 6)) == 6 * HOURS


def test_interval_ending_at_midnight_joins_the_next_days_interval_from_midnight() -> None:
    calendar = Calendar("late", "Europe/Berlin", {4: [(time(16), time(0))], 5: [(time(0), time(2))]})
    assert calendar.add(berlin(2024, 6, 7, 23), 2 * HOURS) == berlin(2024, 6, 8, 1)
    assert calendar.is_open(berlin(2024, 6, 8, 0))
    assert calendar.weekly_business_time == 10 * HOURS


def test_whole_day_interval_with_midnight_to_midnight() -> None:
    calendar = Calendar("weekends", "Europe/Berlin", {5: [(time(0), time(0))], 6: [(time(0), time(0))]})
    assert calendar.between(berlin(2024, 6, 3), berlin(2024, 6, 10)) == 48 * HOURS


def test_sub_minute_precision_is_kept_to_the_microsecond() -> None:
    calendar = Calendar(
        "precise", "Europe/Berlin", {0: [(time(8, 0, 30), time(8, 1, 0, 500_000)), (time(9), time(10))]}
    )
    start = berlin(2024, 6, 3, 8, 0, 40).replace(microsecond=250_000)
    assert calendar.add(start, timedelta(seconds=20)) == berlin(2024, 6, 3, 8, 1).replace(microsecond=250_000)
    assert calendar.add(start, timedelta(seconds=21)) == berlin(2024, 6, 3, 9).replace(microsecond=750_000)
    assert calendar.between(start, berlin(2024, 6, 3, 9, 0, 1)) == timedelta(seconds=21, microseconds=250_000)


def test_always_calendar_is_plain_elapsed_time() -> None:
    start = datetime(2024, 2, 28, 22, 17, 3, 5, tzinfo=UTC)
    assert ALWAYS.name == "always"
    assert ALWAYS.add(start, 30 * HOURS) == start + 30 * HOURS
    assert ALWAYS.between(start, start + 1000 * HOURS) == 1000 * HOURS
    assert ALWAYS.is_open(start)


def test_long_duration_over_holidays_equals_the_same_time_added_in_short_steps() -> None:
    holidays = {
        date(2024, 12, 24),
        date(2024, 12, 25),
        date(2024, 12, 26),
        date(2025, 1, 1),
        date(2025, 4, 18),
    }
    calendar = office(holidays=holidays, closures=[(berlin(2025, 2, 3, 10), berlin(2025, 2, 5, 10))])
    start = berlin(2024, 11, 20, 10, 20)
    stepped = start
    for _ in range(400):
        stepped = calendar.add(stepped, 5 * HOURS)
    assert calendar.add(start, 2000 * HOURS) == stepped
    assert calendar.between(start, stepped) == 2000 * HOURS


def test_calendar_without_hours_never_opens() -> None:
    closed = Calendar("closed", "UTC", {})
    start = datetime(2024, 6, 3, tzinfo=UTC)
    assert not closed.is_open(start)
    assert closed.between(start, start + 1000 * HOURS) == timedelta(0)
    with pytest.raises(ValueError, match="never opens"):
        closed.add(start, HOURS)
    with pytest.raises(ValueError, match="never opens"):
        closed.next_opening(start)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        office().add(datetime(2024, 6, 4, 9), HOURS)


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        office().add(berlin(2024, 6, 4, 9), -HOURS)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Atlantis'"):
        Calendar("x", "Europe/Atlantis", OFFICE_HOURS)


def test_overlapping_intervals_name_the_weekday_and_interval() -> None:
    with pytest.raises(OpeningHoursError, match="overlap on mon") as caught:
        Calendar("x", "UTC", {0: [(time(8), time(12)), (time(11), time(17))]})
    assert (caught.value.weekday, caught.value.index) == (0, 1)


def test_night_shift_overlapping_the_next_mornings_hours_is_refused() -> None:
    with pytest.raises(OpeningHoursError, match="overlap on sat") as caught:
        Calendar("x", "UTC", {4: [(time(22), time(6))], 5: [(time(5), time(9))]})
    assert (caught.value.weekday, caught.value.index) == (5, 0)


def test_interval_that_opens_and_closes_at_the_same_time_is_refused() -> None:
    with pytest.raises(OpeningHoursError, match="same time"):
        Calendar("x", "UTC", {0: [(time(8), time(8))]})


def test_weekday_outside_monday_to_sunday_is_refused() -> None:
    with pytest.raises(OpeningHoursError, match="weekday"):
        Calendar("x", "UTC", {7: [(time(8), time(9))]})


def test_holiday_given_as_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match="closures"):
        Calendar("x", "UTC", OFFICE_HOURS, {datetime(2024, 12, 24, 12, tzinfo=UTC)})


def test_closure_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        office(closures=[(berlin(2024, 6, 4, 14), berlin(2024, 6, 4, 13))])


def test_calendar_is_immutable_and_hashable_by_value() -> None:
    calendar = office(holidays={date(2024, 12, 25)})
    with pytest.raises(AttributeError, match="immutable"):
        calendar.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        calendar.weekly_hours[5] = ((time(8), time(9)),)  # type: ignore[index]
    same = office(holidays=[date(2024, 12, 25)])
    assert calendar == same
    assert hash(calendar) == hash(same)
    assert calendar != office()


def test_repr_names_zone_hours_and_counts() -> None:
    assert repr(office(holidays={date(2024, 12, 25)})) == (
        "<Calendar 'office' Europe/Berlin 39h/week, 1 holidays, 0 closures>"
    )


def test_calendar_survives_pickling_for_worker_processes() -> None:
    closures = [(berlin(2024, 6, 4, 14), berlin(2024, 6, 4, 16))]
    calendar = office(holidays={date(2024, 12, 25)}, closures=closures)
    restored = pickle.loads(pickle.dumps(calendar))
    assert restored == calendar
    assert restored.add(berlin(2024, 6, 4, 13), 2 * HOURS) == berlin(2024, 6, 4, 17)


def test_weekly_hours_are_kept_as_given_in_immutable_pairs() -> None:
    calendar = Calendar("x", "UTC", {2: [[time(9), time(12)]], 3: []})  # type: ignore[list-item]
    assert dict(calendar.weekly_hours) == {2: ((time(9), time(12)),)}
