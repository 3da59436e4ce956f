"""Holidays from iCalendar files: all-day and timed events, recurrence, folding, and their errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from serviceflow.calendars import Calendar, load_ical_holidays
from serviceflow.errors import ConfigError

DATA = Path(__file__).parent / "data" / "calendars"
GERMAN = DATA / "de-2024.ics"
EDITS = DATA / "recurrence-edits.ics"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOURS = timedelta(hours=1)


def berlin(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=BERLIN)


def test_all_day_event_closes_its_dates_up_to_the_exclusive_end() -> None:
    dates = load_ical_holidays(GERMAN, years=range(2024, 2025)).dates
    assert {date(2024, 3, 29), date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1)} <= dates
    assert date(2024, 4, 2) not in dates
    assert date(2024, 3, 28) not in dates


def test_all_day_event_without_an_end_closes_one_day() -> None:
    dates = load_ical_holidays(GERMAN, years=range(2024, 2025)).dates
    assert date(2024, 5, 1) in dates
    assert date(2024, 5, 2) not in dates


def test_yearly_rule_is_expanded_over_the_requested_years_only() -> None:
    dates = load_ical_holidays(GERMAN, years=range(2025, 2027)).dates
    assert {date(2025, 12, 25), date(2025, 12, 26), date(2026, 10, 3), date(2026, 1, 1)} <= dates
    assert date(2024, 12, 25) not in dates
    assert date(2027, 1, 1) not in dates
    # An event that does not recur is kept whatever the years.
    assert date(2024, 3, 29) in dates


def test_yearly_rule_starts_at_its_dtstart_and_by_default_runs_to_the_end_of_the_century() -> None:
    dates = load_ical_holidays(GERMAN).dates
    assert date(2023, 12, 25) not in dates
    assert date(2100, 12, 26) in dates
    assert date(2101, 1, 1) not in dates


def test_event_with_tzid_is_a_partial_closure_in_that_zone() -> None:
    closures = load_ical_holidays(GERMAN, years=range(2024, 2025)).closures
    assert (berlin(2024, 12, 24, 12), berlin(2024, 12, 25)) in closures


def test_event_in_utc_is_a_partial_closure_at_that_instant() -> None:
    closures = load_ical_holidays(GERMAN, years=range(2024, 2025)).closures
    assert (datetime(2024, 6, 11, 7, tzinfo=UTC), datetime(2024, 6, 11, 9, tzinfo=UTC)) in closures


def test_folded_lines_are_unfolded_anywhere_in_a_property(tmp_path: Path) -> None:
    folded = tmp_path / "folded.ics"
    folded.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:f@t\r\n"
        b"DTSTART;VALU\r\n E=DATE:2024\r\n\t1231\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert load_ical_holidays(folded).dates == {date(2024, 12, 31)}


def test_lf_line_ends_are_accepted_as_well_as_crlf() -> None:
    assert b"\r\n" in GERMAN.read_bytes()
    assert b"\r\n" not in EDITS.read_bytes()
    assert load_ical_holidays(EDITS).dates


def test_exdate_removes_an_occurrence_and_a_utc_until_bounds_an_all_day_rule() -> None:
    dates = load_ical_holidays(EDITS).dates
    assert {date(2020, 6, 15), date(2021, 6, 15), date(2025, 6, 15), date(2026, 6, 15)} <= dates
    assert date(2022, 6, 15) not in dates
    assert date(2027, 6, 15) not in dates


def test_recurrence_id_override_moves_an_occurrence_and_a_cancelled_one_removes_it() -> None:
    dates = load_ical_holidays(EDITS).dates
    assert date(2023, 6, 16) in dates
    assert date(2023, 6, 15) not in dates
    assert date(2024, 6, 15) not in dates


def test_rdate_adds_occurrences_and_a_cancelled_event_closes_nothing() -> None:
    dates = load_ical_holidays(EDITS).dates
    assert {date(2024, 5, 31), date(2024, 10, 4)} <= dates
    assert date(2024, 7, 1) not in dates


def test_count_bounds_a_timed_rule_in_its_own_zone() -> None:
    closures = load_ical_holidays(EDITS).closures
    offsite = [closure for closure in closures if closure.start.tzinfo == NEW_YORK]
    assert [closure.start for closure in offsite] == [
        datetime(2024, 3, 1, 13, tzinfo=NEW_YORK),
        datetime(2025, 3, 1, 13, tzinfo=NEW_YORK),
    ]


def test_windows_zone_names_and_zones_defined_in_the_file_are_understood() -> None:
    starts = {closure.start.astimezone(UTC) for closure in load_ical_holidays(EDITS).closures}
    assert datetime(2024, 9, 2, 7, tzinfo=UTC) in starts  # W. Europe Standard Time, summer: +02:00
    assert datetime(2024, 9, 3, 12, tzinfo=UTC) in starts  # the file's own VTIMEZONE, summer: +02:00


def test_timed_event_without_an_end_closes_nothing() -> None:
    starts = {closure.start.astimezone(UTC) for closure in load_ical_holidays(EDITS).closures}
    assert datetime(2024, 9, 4, 10, tzinfo=UTC) not in starts


def test_floating_times_are_read_in_the_given_zone() -> None:
    closures = load_ical_holidays(DATA / "floating.ics", floating_timezone="Europe/Berlin").closures
    assert closures == ((berlin(2024, 6, 10, 12), berlin(2024, 6, 10, 13)),)


def test_floating_times_without_a_zone_are_an_error() -> None:
    with pytest.raises(ConfigError, match=r"All-hands.*floating time") as caught:
        load_ical_holidays(DATA / "floating.ics")
    assert caught.value.location.file == str(DATA / "floating.ics")


def test_unknown_tzid_is_an_error_naming_the_zone_and_event() -> None:
    with pytest.raises(ConfigError, match=r"Landing day.*unknown TZID 'Mars/Olympus_Mons'"):
        load_ical_holidays(DATA / "unknown-tzid.ics")


def test_malformed_date_is_an_error_naming_the_event() -> None:
    with pytest.raises(ConfigError, match="Typo in the date"):
        load_ical_holidays(DATA / "broken-date.ics")


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read holiday calendar") as caught:
        load_ical_holidays(tmp_path / "missing.ics")
    assert caught.value.location.file == str(tmp_path / "missing.ics")


def test_file_that_is_not_icalendar_is_an_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.ics"
    text.write_text("just some notes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an iCalendar file"):
        load_ical_holidays(text)


# The deadlines users complain about most: missing holidays, wrong pauses.

OFFICE = {day: [(time(9), time(17))] for day in range(5)}


def german_office() -> Calendar:
    holidays = load_ical_holidays(GERMAN, years=range(2024, 2026))
    return Calendar("emea", "Europe/Berlin", OFFICE, holidays.dates, holidays.closures)


def test_deadline_across_a_multi_day_ical_holiday_waits_for_it_to_end() -> None:
    # Thursday before Easter: Good Friday to Easter Monday are closed (and DST starts in between).
    assert german_office().add(berlin(2024, 3, 28, 15), 4 * HOURS) == berlin(2024, 4, 2, 11)


def test_deadline_across_a_partial_closure_and_following_holidays() -> None:
    # Christmas Eve closes at noon, then 25 and 26 December are holidays.
    assert german_office().add(berlin(2024, 12, 24, 11), 2 * HOURS) == berlin(2024, 12, 27, 10)


def test_deadline_across_a_utc_maintenance_window() -> None:
    # 07:00-09:00 UTC is 09:00-11:00 in Berlin summer time.
    assert german_office().add(berlin(2024, 6, 11, 9), HOURS) == berlin(2024, 6, 11, 12)
