"""Reading help-desk event logs exported as CSV: rows with their line numbers, and zone-less times.

Every importer reads its log through here, so that they all behave alike at the edges:

- A file is streamed row by row, plain or gzip-compressed (told apart by its first bytes, so a
  ``.gz`` arriving on stdin works too); text is UTF-8 with or without a byte order mark.
- A row carries the file name and the 1-based line it starts on (the header is line 1), so that a
  record built from it, and any error about it, can be traced back with an editor.
- A bad row (wrong number of fields, bytes that are not UTF-8, a field the importer cannot read)
  becomes a :class:`~serviceflow.records.RawItem` holding a :class:`~serviceflow.errors.RecordError`
  with ``file:line`` and the column as JSON pointer (``/sys_updated_at``). It never stops the rows after it.
- A file that cannot be read at all (missing, corrupt gzip, no header, a needed column absent) raises
  :class:`~serviceflow.errors.InputError`, which ends that source only.

The logs' timestamps mostly carry no time zone. serviceflow records need an offset, so each importer
names the zone its log is assumed to be in and lets the caller override it (:func:`resolve_zone`).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.records import RawItem
from serviceflow.records.compressed import decompressed_stream
from serviceflow.records.raw import standard_input
from serviceflow.timeutil import format_datetime

__all__ = [
    "CSV_SUFFIXES",
    "STDIN",
    "FieldError",
    "Row",
    "TimeConverter",
    "expand_csv_sources",
    "parse_day_first",
    "parse_iso",
    "read_rows",
    "resolve_zone",
]

STDIN = "-"
STDIN_NAME = "<stdin>"
#: Files a directory argument contributes.
CSV_SUFFIXES = (".csv", ".csv.gz")

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_TIME_CACHE_LIMIT = 100_000


class FieldError(ValueError):
    """A field of a row cannot be read; the importer turns it into an error item for that row."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True, slots=True)
class Row:
    """One data row of a CSV log: its values by column name and where it starts."""

    file: str
    line: int
    values: dict[str, str]

    def get(self, column: str, missing: Sequence[str] = ("",)) -> str | None:
        """The value, stripped; ``None`` when absent or one of the log's ``missing`` markers."""
        value = self.values.get(column)
        if value is None:
            return None
        value = value.strip()
        return None if value in missing else value

    def require(self, column: str, missing: Sequence[str] = ("",)) -> str:
        """The value, or :class:`FieldError` when it is empty or missing."""
        value = self.get(column, missing)
        if value is None:
            raise FieldError(column, f"{column} is empty")
        return value

    def location(self, column: str | None = None) -> Location:
        return Location(self.file, self.line, None if column is None else _pointer(column))

    def error(self, error: FieldError) -> RawItem:
        """The error item reporting ``error`` at this row and column."""
        return error_item(self.location(error.column), error.message)


def error_item(location: Location, message: str) -> RawItem:
    """A RawItem that carries only an error (a row that could not be turned into records)."""
    origin = Location(location.file, location.line)
    return RawItem(origin, None, RecordError(message, location))


def expand_csv_sources(
    sources: Iterable[str | Path], accept: Callable[[Path], bool] | None = None
) -> list[str | Path]:
    """The sources, each directory replaced by its CSV files (``accept`` may narrow them), sorted."""
    expanded: list[str | Path] = []
    for source in sources:
        if source != STDIN and Path(source).is_dir():
            expanded.extend(
                sorted(
                    path
                    for path in Path(source).iterdir()
                    if path.is_file()
                    and path.name.endswith(CSV_SUFFIXES)
                    and (accept is None or accept(path))
                )
            )
        else:
            expanded.append(source)
    return expanded


def read_rows(
    source: str | Path,
    stdin: BinaryIO | None = None,
    required: Sequence[str] = (),
    hint: Callable[[Sequence[str]], str] | None = None,
) -> Iterator[Row | RawItem]:
    """Each data row of ``source`` (``-`` is ``stdin``), or an error item for a row that is not usable.

    Raises InputError when the source cannot be read or its header lacks a ``required`` column;
    ``hint`` may add advice to that message from the header it found.
    """
    name = STDIN_NAME if source == STDIN else str(source)
    try:
        if source == STDIN:
            stream = standard_input(stdin)
            yield from _rows(name, decompressed_stream(stream, name), required, hint)
        else:
            with Path(source).open("rb") as raw:
                yield from _rows(name, decompressed_stream(raw, name), required, hint)
    except (OSError, EOFError, zlib.error) as exc:
        # gzip reports a corrupt or truncated file only while reading, possibly after many rows.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(f"cannot read {name}: {reason}", Location(file=name)) from exc


class _Lines:
    """The lines of a binary stream as text, remembering which ones were not valid UTF-8."""

    def __init__(self, stream: BinaryIO) -> None:
        self._lines = iter(io.BufferedReader(stream) if isinstance(stream, io.RawIOBase) else stream)
        self.number = 0
        self.undecodable: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.number += 1
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable.add(self.number)
            return raw.decode("utf-8", "replace")


def _rows(
    name: str,
    stream: BinaryIO,
    required: Sequence[str],
    hint: Callable[[Sequence[str]], str] | None,
) -> Iterator[Row | RawItem]:
    lines = _Lines(stream)
    reader = csv.reader(lines)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise InputError(f"{name} is empty: expected a CSV header line", Location(name, 1)) from None
    except csv.Error as exc:
        raise InputError(f"{name}: the header is not CSV ({exc})", Location(name, 1)) from None
    missing = [column for column in required if column not in header]
    if missing:
        advice = hint(header) if hint is not None else ""
        raise InputError(
            f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}{advice}",
            Location(name, 1),
        )
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield error_item(Location(name, start, ""), f"not a CSV row: {exc}")
            continue
        if not fields:
            continue  # a blank line
        if lines.undecodable and any(line in lines.undecodable for line in range(start, reader.line_num + 1)):
            yield error_item(Location(name, start, ""), "not UTF-8: the row has invalid bytes")
            continue
        if len(fields) != width:
            yield error_item(
                Location(name, start, ""), f"the row has {len(fields)} fields, the header has {width}"
            )
            continue
        yield Row(name, start, dict(zip(header, fields, strict=True)))


def resolve_zone(zone: str | tzinfo) -> tzinfo:
    """A time zone from an IANA name (``Europe/Amsterdam``), ``UTC``, or a fixed offset (``+01:00``)."""
    if isinstance(zone, tzinfo):
        return zone
    text = zone.strip()
    if text.upper() in {"UTC", "Z"}:
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise InputError(
            f"unknown time zone {zone!r}: use an IANA name such as Europe/Amsterdam, UTC, "
            "or an offset such as +01:00"
        ) from None


def parse_day_first(text: str) -> datetime:
    """``29/2/2016 01:16`` or ``29/2/2016 01:16:30`` (day first, as ServiceNow exported it)."""
    try:
        date_part, time_part = text.split(" ")
        day, month, year = date_part.split("/")
        clock = [int(unit) for unit in time_part.split(":")]
        if len(year) != 4 or len(clock) not in (2, 3):
            raise ValueError(text)
        return datetime(
            int(year), int(month), int(day), clock[0], clock[1], clock[2] if len(clock) == 3 else 0
        )
    except ValueError:
        raise ValueError(f"not a date-time like 29/2/2016 01:16: {text!r}") from None


def parse_iso(text: str) -> datetime:
    """``2013-02-13 12:03:35`` or ``2010-03-31T16:59:42+02:00``; naive when the text has no offset."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time like 2013-02-13 12:03:35: {text!r}") from None


class TimeConverter:
    """Turns a log's timestamps into RFC 3339 strings, placing zone-less ones in the source zone.

    A wall-clock time that occurs twice (the hour the clocks go back) is read as the first of the two,
    and one that never occurs (the hour they go forward) with the offset before the change, as
    :mod:`zoneinfo` does by default. Results are cached: logs repeat the same timestamps often.
    """

    def __init__(self, parse: Callable[[str], datetime], zone: tzinfo) -> None:
        self._parse = parse
        self.zone = zone
        self._cache: dict[str, tuple[str, datetime]] = {}

    def __call__(self, text: str) -> str:
        """The RFC 3339 form of ``text``; ValueError when it is not a timestamp."""
        return self.convert(text)[0]

    def convert(self, text: str) -> tuple[str, datetime]:
        """The RFC 3339 form of ``text`` and the aware datetime it stands for."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        moment = self._parse(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        result = (format_datetime(moment), moment)
        if len(self._cache) >= _TIME_CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = result
        return result


def _pointer(column: str) -> str:
    return "/" + column.replace("~", "~0").replace("/", "~1")
