"""Reading CSV event logs: rows with their lines, bad rows reported and skipped, zone-less times placed."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from serviceflow.errors import InputError, Location
from serviceflow.importers.csvlog import (
    FieldError,
    Row,
    TimeConverter,
    expand_csv_sources,
    parse_day_first,
    parse_iso,
    read_rows,
    resolve_zone,
)
from serviceflow.records import RawItem

LOG = "case,state,at\nC1,New,2016-02-29 01:16:00\nC1,Closed,2016-03-05 12:00:00\n"


def good_rows(items: Iterable[Row | RawItem]) -> list[Row]:
    """The rows, after checking that none was reported as an error."""
    items = list(items)
    assert all(isinstance(item, Row) for item in items), items
    return [item for item in items if isinstance(item, Row)]


def rows_and_errors(items: list[Row | RawItem]) -> tuple[list[Row], list[RawItem]]:
    rows = [item for item in items if isinstance(item, Row)]
    errors = [item for item in items if isinstance(item, RawItem)]
    return rows, errors


def test_plain_and_gzip_files_give_the_same_rows_with_their_lines(tmp_path: Path) -> None:
    plain = tmp_path / "log.csv"
    plain.write_text(LOG)
    packed = tmp_path / "log.csv.gz"
    packed.write_bytes(gzip.compress(LOG.encode()))
    from_plain = good_rows(read_rows(plain, required=("case",)))
    from_gzip = good_rows(read_rows(packed, required=("case",)))
    assert [(row.line, row.values) for row in from_plain] == [(row.line, row.values) for row in from_gzip]
    assert [row.line for row in from_plain] == [2, 3]
    assert from_plain[0].values == {"case": "C1", "state": "New", "at": "2016-02-29 01:16:00"}


def test_gzip_on_stdin_is_recognised_by_its_first_bytes() -> None:
    rows = good_rows(read_rows("-", io.BytesIO(gzip.compress(LOG.encode()))))
    assert [row.file for row in rows] == ["<stdin>", "<stdin>"]


def test_a_row_spanning_lines_keeps_the_line_it_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text('case,note\nC1,"two\nlines"\nC2,one line\n')
    rows = good_rows(read_rows(path))
    assert [(row.line, row.values["note"]) for row in rows] == [(2, "two\nlines"), (4, "one line")]


def test_a_bad_row_is_reported_with_its_line_and_the_rows_after_it_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("case,state,at\nC1,New\nC2,New,2016-02-29 01:16:00\n")
    rows, errors = rows_and_errors(list(read_rows(path)))
    assert [row.values["case"] for row in rows] == ["C2"]
    [error] = errors
    assert error.error is not None
    assert str(error.error) == f"{path}:2: /: the row has 2 fields, the header has 3"


def test_bytes_that_are_not_utf8_spoil_only_their_row(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"case,state\nC1,Cl\xffosed\nC2,New\n")
    rows, errors = rows_and_errors(list(read_rows(path)))
    assert [row.values["case"] for row in rows] == ["C2"]
    assert errors[0].origin == Location(str(path), 2)
    assert errors[0].error is not None
    assert "not UTF-8" in errors[0].error.message


def test_a_byte_order_mark_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xef\xbb\xbfcase,state\r\n\r\nC1,New\r\n")
    [row] = good_rows(read_rows(path, required=("case",)))
    assert row.values == {"case": "C1", "state": "New"}
    assert row.line == 3


def test_rows_are_streamed_without_reading_the_whole_file() -> None:
    body = b"case,state\n" + b"C1,New\n" * 200_000
    stream = io.BytesIO(body)
    rows = read_rows("-", stream)
    next(rows)
    assert stream.tell() < len(body) // 10


def test_a_missing_column_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("case,state\nC1,New\n")
    with pytest.raises(InputError, match="lacks the columns at, owner"):
        list(read_rows(path, required=("case", "at", "owner")))


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"\x1f\x8bnot really gzip", "cannot read")],
    ids=["empty", "corrupt-gzip"],
)
def test_an_unreadable_file_is_an_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "log.csv.gz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(read_rows(path))


def test_a_missing_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read .*missing\.csv"):
        list(read_rows(tmp_path / "missing.csv"))


def test_a_field_error_points_at_its_column() -> None:
    row = Row("log.csv", 7, {"sys_updated_at": "yesterday"})
    item = row.error(FieldError("sys_updated_at", "not a date-time"))
    assert item.data is None
    assert item.origin == Location("log.csv", 7)
    assert str(item.error) == "log.csv:7: /sys_updated_at: not a date-time"


def test_a_directory_stands_for_its_csv_files_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b.csv.gz", "a.csv", "notes.txt", "c_cases.csv"):
        (tmp_path / name).write_text("x")
    assert expand_csv_sources([tmp_path]) == [
        tmp_path / "a.csv",
        tmp_path / "b.csv.gz",
        tmp_path / "c_cases.csv",
    ]
    assert expand_csv_sources([tmp_path], lambda path: "cases" not in path.name) == [
        tmp_path / "a.csv",
        tmp_path / "b.csv.gz",
    ]


def test_zone_less_times_are_placed_in_the_source_zone_with_its_daylight_saving() -> None:
    times = TimeConverter(parse_iso, resolve_zone("Europe/Amsterdam"))
    assert times("2013-02-13 12:03:35") == "2013-02-13T12:03:35+01:00"
    assert times("2013-07-13 12:03:35") == "2013-07-13T12:03:35+02:00"


def test_the_wall_clock_hour_that_occurs_twice_is_read_as_the_first() -> None:
    times = TimeConverter(parse_iso, resolve_zone("Europe/Amsterdam"))
    assert times("2013-10-27 02:30:00") == "2013-10-27T02:30:00+02:00"


def test_a_timestamp_with_an_offset_keeps_it_whatever_the_source_zone() -> None:
    times = TimeConverter(parse_iso, resolve_zone("Europe/Amsterdam"))
    assert times("2010-03-31T16:59:42+00:00") == "2010-03-31T16:59:42Z"


def test_day_first_minute_timestamps_get_seconds_and_utc_by_default() -> None:
    times = TimeConverter(parse_day_first, resolve_zone("UTC"))
    assert times("29/2/2016 01:16") == "2016-02-29T01:16:00Z"
    assert times.convert("5/3/2016 12:00")[1] == datetime(2016, 3, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2016-02-29 01:16", "31/2/2016 01:16", "29/2/16 01:16", "?"])
def test_text_that_is_not_a_day_first_timestamp_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a date-time like 29/2/2016 01:16"):
        parse_day_first(text)


def test_a_fixed_offset_is_a_source_zone() -> None:
    times = TimeConverter(parse_iso, resolve_zone("-03:00"))
    assert times("2016-02-29 01:16:00") == "2016-02-29T01:16:00-03:00"


def test_an_unknown_time_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        resolve_zone("Mars/Olympus")
