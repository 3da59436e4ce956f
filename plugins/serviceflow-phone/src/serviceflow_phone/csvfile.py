"""CSV rows with their line numbers from a plain or gzip file, bad lines reported rather than raised.

The same reading contract as serviceflow's importers of help-desk logs (docs/importers.md):

* plain or gzip-compressed, told apart by the first bytes, so ``Master.csv.1.gz`` and a gzip stream on
  standard input both work, and never decompressed past serviceflow's bound (a gzip bomb ends with an
  :class:`~serviceflow.plugin.InputError`): :func:`serviceflow.plugin.decompressed_stream` does both;
* each row carries the 1-based line it starts on;
* a row with bytes that are not UTF-8, a line longer than :data:`MAX_LINE` bytes (Asterisk's own
  limit is 1,024) or a row the csv module rejects becomes a :class:`BadRow`; the rows after it are
  still read;
* a file that cannot be read (missing, corrupt or truncated gzip) raises ``OSError``/``EOFError``
  for the caller to turn into an input error for that file only.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["MAX_LINE", "BadRow", "CsvRow", "read_csv_rows"]

#: Longest line read; a longer one is skipped whole and reported (a row is at most 1 KiB in Asterisk).
MAX_LINE = 64 * 1024


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    fields: list[str]


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    message: str


class _Lines:
    """Text lines of a binary stream; remembers lines that were not UTF-8 or were too long."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(MAX_LINE + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line, unread
                raw = self._stream.readline(MAX_LINE)
            self.problems[self.number] = f"the line is longer than {MAX_LINE} bytes"
            return "\n"
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if b"\x00" in raw:
            self.problems[self.number] = "the line has NUL bytes"
            return "\n"
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problems[self.number] = "not UTF-8: the row has invalid bytes"
            return raw.decode("utf-8", "replace")


def read_csv_rows(stream: BinaryIO) -> Iterator[CsvRow | BadRow]:
    """Every row of ``stream`` (no header), or why a row cannot be read; blank lines are skipped."""
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(start, f"not a CSV row: {exc}")
            continue
        problem = next(
            (
                lines.problems.pop(number)
                for number in range(start, reader.line_num + 1)
                if number in lines.problems
            ),
            None,
        )
        if problem is not None:
            yield BadRow(start, problem)
            continue
        if fields:
            yield CsvRow(start, fields)
