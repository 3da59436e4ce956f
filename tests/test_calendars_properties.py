"""Properties of calendar arithmetic over random instants, offsets and durations (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serviceflow.calendars import ALWAYS, Calendar

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

LUNCH_BREAK_DAY = [(time(8), time(12)), (time(13), time(17))]
CALENDARS = [
    Calendar(
        "office",
        "Europe/Berlin",
        {
            0: LUNCH_BREAK_DAY,
            1: LUNCH_BREAK_DAY,
            2: LUNCH_BREAK_DAY,
            3: LUNCH_BREAK_DAY,
            4: [(time(8), time(15))],
        },
        holidays={
            date(2024, 3, 29),
            date(2024, 4, 1),
            date(2024, 12, 25),
            date(2024, 12, 26),
            date(2025, 1, 1),
        },
        closures=[(datetime(2024, 12, 24, 12, tzinfo=BERLIN), datetime(2024, 12, 25, tzinfo=BERLIN))],
    ),
    Calendar(
        "nights",
        "America/New_York",
        {day: [(time(22), time(6))] for day in range(5)} | {6: [(time(1, 30), time(2, 30))]},
        holidays={date(2024, 7, 4), date(2024, 11, 28)},
    ),
    Calendar("around-the-clock-berlin", "Europe/Berlin", {day: [(time(0), time(0))] for day in range(7)}),
    Calendar(
        "precise",
        "Asia/Tokyo",
        {2: [(time(9, 0, 0, 1), time(9, 0, 0, 999_999)), (time(18, 30), time(18, 45))]},
    ),
]

zones: st.SearchStrategy[tzinfo] = st.sampled_from(
    [UTC, BERLIN, NEW_YORK, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]
)
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(2023, 6, 1), max_value=datetime(2026, 6, 1)),
    zones,
)
durations = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3000)),
)
calendars = st.sampled_from(CALENDARS)


@SETTINGS
@given(calendars, instants, durations)
def test_business_time_between_a_start_and_its_deadline_is_the_duration(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    assert calendar.between(start, calendar.add(start, duration)) == duration


@SETTINGS
@given(calendars, instants, durations)
def test_deadline_is_in_the_starts_own_zone_and_never_before_it(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    due = calendar.add(start, duration)
    assert due.tzinfo is start.tzinfo
    assert due.astimezone(UTC) >= start.astimezone(UTC)


@SETTINGS
@given(calendars, instants, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_adding_the_business_time_between_two_instants_reaches_no_later_than_the_second(
    calendar: Calendar, start: datetime, gap: timedelta
) -> None:
    end = (start.astimezone(UTC) + gap).astimezone(start.tzinfo)
    elapsed = calendar.between(start, end)
    reached = calendar.add(start, elapsed)
    if elapsed:
        assert reached.astimezone(UTC) <= end.astimezone(UTC)
        assert calendar.between(reached, end) == timedelta(0)


@SETTINGS
@given(
    calendars,
    instants,
    st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90)), min_size=2),
)
def test_business_time_adds_up_over_consecutive_stretches(
    calendar: Calendar, start: datetime, gaps: list[timedelta]
) -> None:
    points = [start.astimezone(UTC)]
    for gap in gaps:
        points.append(points[-1] + gap)
    pieces = sum((calendar.between(a, b) for a, b in pairwise(points)), timedelta(0))
    assert pieces == calendar.between(points[0], points[-1])


@SETTINGS
@given(
    calendars,
    instants,
    st.lists(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(hours=30)), min_size=1),
)
def test_one_long_deadline_equals_the_same_time_added_in_short_steps(
    calendar: Calendar, start: datetime, steps: list[timedelta]
) -> None:
    # Short steps never skip a whole week, so this checks the arithmetic week skipping against stepping.
    stepped = start
    for step in steps:
        stepped = calendar.add(stepped, step)
    assert calendar.add(start, sum(steps, timedelta(0))).astimezone(UTC) == stepped.astimezone(UTC)


@SETTINGS
@given(calendars, instants)
def test_next_opening_is_open_and_nothing_before_it_is(calendar: Calendar, moment: datetime) -> None:
    opening = calendar.next_opening(moment)
    assert calendar.is_open(opening)
    assert calendar.between(moment, opening) == timedelta(0)
    assert calendar.is_open(moment) == (opening.astimezone(UTC) == moment.astimezone(UTC))


@SETTINGS
@given(instants, durations)
def test_around_the_clock_calendars_equal_plain_elapsed_time(start: datetime, duration: timedelta) -> None:
    plain = start.astimezone(UTC) + duration
    for calendar in (ALWAYS, CALENDARS[2]):
        assert calendar.add(start, duration).astimezone(UTC) == plain
        assert calendar.between(start, plain) == duration
