"""Calendars from configuration tables, and the ConfigErrors that point at the key at fault."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from serviceflow.calendars import ALWAYS, calendars_from_config
from serviceflow.errors import ConfigError

DATA = Path(__file__).parent / "data" / "calendars"
BERLIN = ZoneInfo("Europe/Berlin")
HOURS = timedelta(hours=1)

EXAMPLE = (
    "[calendars.emea]\n"
    'timezone = "Europe/Berlin"\n'
    'hours = { mon = ["08:00-12:00", "13:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], '
    'thu = ["08:00-17:00"], fri = ["08:00-15:00"] }\n'
    'holidays = ["2024-12-25", 2024-12-26]\n'
    'holidays-ical = "de-2024.ics"\n'
    "holidays-ical-years = [2024, 2025]\n"
    'closures = [{ start = 2024-12-24T12:00:00, end = "2024-12-24T14:00:00+01:00" }]\n'
)


def emea(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"timezone": "Europe/Berlin", "hours": {"mon": ["08:00-12:00", "13:00-17:00"]}}
    table.update(changes)
    return {"calendars": {"emea": table}}


def load(data: dict[str, Any]) -> dict[str, Any]:
    return calendars_from_config(data, DATA, source="serviceflow.toml")


def test_example_configuration_builds_the_calendar() -> None:
    calendars = calendars_from_config(tomllib.loads(EXAMPLE), DATA)
    calendar = calendars["emea"]
    assert calendar.timezone == "Europe/Berlin"
    assert calendar.weekly_hours[0] == ((time(8), time(12)), (time(13), time(17)))
    assert 5 not in calendar.weekly_hours
    assert calendar.weekly_business_time == (8 + 9 * 3 + 7) * HOURS
    assert {date(2024, 12, 25), date(2024, 12, 26), date(2024, 3, 29), date(2025, 10, 3)} <= calendar.holidays
    assert date(2026, 1, 1) not in calendar.holidays
    # The configured closure (12:00-14:00) merges with the file's Christmas Eve closure (12:00-24:00).
    assert (calendar.closures[-2].start, calendar.closures[-2].end) == (
        datetime(2024, 12, 24, 12, tzinfo=BERLIN),
        datetime(2024, 12, 25, tzinfo=BERLIN),
    )


def test_bundled_always_calendar_is_always_there() -> None:
    assert load({}) == {"always": ALWAYS}
    assert load(emea())["always"] is ALWAYS


def test_interval_may_end_at_midnight_or_run_past_it() -> None:
    hours = {"fri": ["16:00-24:00"], "sat": ["22:00-06:00"], "sun": ["08:00-20:00"], "tue": ["00:00-24:00"]}
    calendar = load(emea(hours=hours))["emea"]
    assert calendar.weekly_business_time == (8 + 8 + 12 + 24) * HOURS
    assert calendar.is_open(datetime(2024, 6, 7, 23, 59, tzinfo=BERLIN))  # Friday until midnight
    assert calendar.is_open(datetime(2024, 6, 9, 5, 59, tzinfo=BERLIN))  # Saturday's night shift, on Sunday
    assert not calendar.is_open(datetime(2024, 6, 9, 6, tzinfo=BERLIN))


def test_seconds_are_allowed_in_intervals() -> None:
    calendar = load(emea(hours={"mon": ["08:00:30-08:01:15"]}))["emea"]
    assert calendar.weekly_business_time == timedelta(seconds=45)


def test_floating_times_in_a_holiday_file_are_read_in_the_calendars_zone() -> None:
    calendar = load(emea(**{"holidays-ical": ["floating.ics"]}))["emea"]
    assert calendar.closures[0].start == datetime(2024, 6, 10, 10, tzinfo=UTC)


BAD_TABLES = [
    pytest.param({"calendars": []}, "/calendars", "must be a table", id="calendars-not-a-table"),
    pytest.param(
        {"calendars": {"emea": "x"}}, "/calendars/emea", "must be a table", id="calendar-not-a-table"
    ),
    pytest.param({"calendars": {"always": {}}}, "/calendars/always", "bundled", id="name-taken"),
    pytest.param({"calendars": {"e mea": {}}}, "/calendars/e mea", "letters, digits", id="bad-name"),
    pytest.param(
        emea(holiday=["2024-12-25"]), "/calendars/emea/holiday", "unknown key 'holiday'", id="unknown-key"
    ),
    pytest.param(
        {"calendars": {"emea": {"hours": {}}}}, "/calendars/emea/timezone", "needs", id="no-timezone"
    ),
    pytest.param(
        {"calendars": {"emea": {"timezone": "UTC"}}}, "/calendars/emea/hours", "needs 'hours'", id="no-hours"
    ),
    pytest.param(
        emea(timezone="Europe/Atlantis"), "/calendars/emea/timezone", "unknown time zone", id="bad-zone"
    ),
    pytest.param(
        emea(timezone="/etc/passwd"), "/calendars/emea/timezone", "unknown time zone", id="zone-path"
    ),
    pytest.param(emea(hours=["08:00-17:00"]), "/calendars/emea/hours", "table of weekdays", id="hours-list"),
    pytest.param(
        emea(hours={"monday": ["08:00-17:00"]}), "/calendars/emea/hours/monday", "weekday", id="weekday"
    ),
    pytest.param(emea(hours={"mon": "08:00-17:00"}), "/calendars/emea/hours/mon", "list", id="day-not-list"),
    pytest.param(
        emea(hours={"mon": ["8-17"]}), "/calendars/emea/hours/mon/0", "HH:MM-HH:MM", id="no-minutes"
    ),
    pytest.param(
        emea(hours={"mon": ["08:00-12:00", "13:00-25:00"]}),
        "/calendars/emea/hours/mon/1",
        "time of day",
        id="25h",
    ),
    pytest.param(
        emea(hours={"mon": ["24:00-08:00"]}), "/calendars/emea/hours/mon/0", "24:00 only", id="opens-24"
    ),
    pytest.param(emea(hours={"mon": ["08:00-08:00"]}), "/calendars/emea/hours/mon/0", "empty", id="empty"),
    pytest.param(
        emea(hours={"mon": ["00:00-00:00"]}), "/calendars/emea/hours/mon/0", "00:00-24:00", id="0-0"
    ),
    pytest.param(
        emea(hours={"mon": ["08:00-12:00", "11:00-17:00"]}),
        "/calendars/emea/hours/mon/1",
        "overlap",
        id="overlap",
    ),
    pytest.param(
        emea(hours={"sun": ["22:00-06:00"], "mon": ["05:00-09:00"]}),
        "/calendars/emea/hours/mon/0",
        "overlap on mon",
        id="night-shift-overlap",
    ),
    pytest.param(
        emea(hours={"mon": [], "tue": []}), "/calendars/emea/hours", "at least one", id="never-open"
    ),
    pytest.param(emea(holidays="2024-12-25"), "/calendars/emea/holidays", "list of dates", id="holidays-str"),
    pytest.param(
        emea(holidays=["2024-12-25", "25.12.2024"]), "/calendars/emea/holidays/1", "YYYY", id="date"
    ),
    pytest.param(
        emea(holidays=[datetime(2024, 12, 25, 12)]),
        "/calendars/emea/holidays/0",
        "YYYY",
        id="holiday-datetime",
    ),
    pytest.param(emea(closures={}), "/calendars/emea/closures", "list of tables", id="closures-table"),
    pytest.param(
        emea(closures=[{"start": "x"}]), "/calendars/emea/closures/0", "'start' and 'end'", id="closure"
    ),
    pytest.param(
        emea(closures=[{"start": "2024-12-24T12:00", "end": "noon"}]),
        "/calendars/emea/closures/0/end",
        "not a date-time",
        id="closure-end",
    ),
    pytest.param(
        emea(closures=[{"start": "2024-12-24T12:00", "end": "2024-12-24T11:00"}]),
        "/calendars/emea/closures/0/end",
        "end after",
        id="closure-backwards",
    ),
    pytest.param(emea(**{"holidays-ical": 3}), "/calendars/emea/holidays-ical", "path", id="ical-not-path"),
    pytest.param(
        emea(**{"holidays-ical": "missing.ics"}),
        "/calendars/emea/holidays-ical",
        "cannot read",
        id="ical-missing",
    ),
    pytest.param(
        emea(**{"holidays-ical": ["de-2024.ics", "broken-date.ics"]}),
        "/calendars/emea/holidays-ical/1",
        "broken-date.ics.*Typo in the date",
        id="ical-broken",
    ),
    pytest.param(
        emea(**{"holidays-ical-years": [2030, 2020]}),
        "/calendars/emea/holidays-ical-years",
        "first year, last year",
        id="years-backwards",
    ),
    pytest.param(
        emea(**{"holidays-ical-years": 2024}),
        "/calendars/emea/holidays-ical-years",
        "first year",
        id="years-int",
    ),
]


@pytest.mark.parametrize(("data", "pointer", "message"), BAD_TABLES)
def test_bad_configuration_names_the_key_at_fault(data: dict[str, Any], pointer: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(data)
    assert caught.value.location.pointer == pointer
    assert caught.value.location.file == "serviceflow.toml"
    assert caught.value.location.line is None


def test_pointer_prefix_places_errors_inside_pyproject() -> None:
    with pytest.raises(ConfigError) as caught:
        calendars_from_config(
            emea(timezone="Mars"), DATA, source=Path("pyproject.toml"), pointer_prefix="/tool/serviceflow"
        )
    assert str(caught.value.location) == "pyproject.toml: /tool/serviceflow/calendars/emea/timezone"
