"""Read raw records from files, directories and stdin, remembering where each one came from.

Two formats, told apart by the first non-blank character: JSON Lines (one value per line) and a JSON
array. JSON Lines files are streamed line by line, so an export of any size fits in memory; an array
is read whole, as it cannot be split reliably without parsing it. Files ending in ``.gz`` are
decompressed on the fly. Text is UTF-8, with or without a byte order mark.

Nothing here knows what a record looks like: each item comes out as a :class:`RawItem` with its
origin (file and 1-based line) and either the decoded JSON value or a :class:`RecordError` saying why
that line is not JSON. A bad line never stops the lines after it.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.records.raw import STDIN, STDIN_NAME, RawItem

__all__ = ["RECORD_FILE_SUFFIXES", "STDIN", "RawItem", "expand_sources", "read_source", "read_sources"]

#: Files a directory argument contributes, searched recursively.
RECORD_FILE_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")

_WHITESPACE = b" \t\r\n"
_JSON_WHITESPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


def read_sources(sources: Sequence[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawItem]:
    """Every item of every source, in order; ``-`` reads ``stdin`` (default: ``sys.stdin.buffer``).

    A directory stands for its record files (:data:`RECORD_FILE_SUFFIXES`), recursively, in sorted
    order. A source that cannot be read (missing, a corrupt gzip) raises InputError naming it, which
    ends this iterator: to go on with the other sources, call :func:`read_source` once per path of
    :func:`expand_sources`.
    """
    for source in expand_sources(sources):
        yield from read_source(source, stdin)


def expand_sources(sources: Iterable[str | Path]) -> list[str | Path]:
    """The sources with each directory replaced by the record files inside it (sorted, recursive)."""
    expanded: list[str | Path] = []
    for source in sources:
        if source != STDIN and Path(source).is_dir():
            expanded.extend(
                sorted(
                    path
                    for path in Path(source).rglob("*")
                    if path.name.endswith(RECORD_FILE_SUFFIXES) and path.is_file()
                )
            )
        else:
            expanded.append(source)
    return expanded


def read_source(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[RawItem]:
    """The items of one file (``.gz`` decompressed) or, for ``-``, of ``stdin``."""
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from _read_stream(STDIN_NAME, stream)
        return
    name = str(source)
    try:
        with _open(Path(source)) as stream:
            yield from _read_stream(name, stream)
    except (OSError, EOFError, zlib.error) as exc:
        # gzip reports a corrupt or truncated file only while reading, possibly after some items.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(f"cannot read {name}: {reason}", Location(file=name)) from exc


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _read_stream(name: str, stream: BinaryIO) -> Iterator[RawItem]:
    lines = iter(stream)
    leading: list[bytes] = []
    first_char = b""
    for line in lines:
        if not leading and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        leading.append(line)
        stripped = line.lstrip(_WHITESPACE)
        if stripped:
            first_char = stripped[:1]
            break
    if first_char == b"[":
        yield from _read_array(name, b"".join(leading) + stream.read())
    else:
        yield from _read_lines(name, leading, lines)


def _read_lines(name: str, leading: list[bytes], rest: Iterator[bytes]) -> Iterator[RawItem]:
    line_number = 0
    for chunk in (leading, rest):
        for raw in chunk:
            line_number += 1
            if not raw.strip(_WHITESPACE):
                continue
            origin = Location(name, line_number)
            try:
                yield RawItem(origin, json.loads(raw.decode("utf-8")))
            except UnicodeDecodeError as exc:
                yield _error_item(origin, f"not UTF-8: byte {exc.start + 1} of the line is invalid")
            except json.JSONDecodeError as exc:
                yield _error_item(origin, f"{exc.msg} (column {exc.colno})")


def _read_array(name: str, content: bytes) -> Iterator[RawItem]:
    """Each element of a JSON array, with the line its value starts on."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        yield _error_item(Location(name, line), "not UTF-8: invalid byte; the rest of the file is skipped")
        return
    position = _skip_whitespace(text, text.index("[") + 1)
    if text.startswith("]", position):
        yield from _after_array(name, text, position)
        return
    line = 1
    counted_to = 0
    while True:
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            # After a broken element the array's structure is unknown: no later element can be trusted.
            message = f"{exc.msg} (column {exc.colno}); the rest of the array is skipped"
            yield _error_item(Location(name, exc.lineno), message)
            return
        yield RawItem(Location(name, line), value)
        position = _skip_whitespace(text, position)
        if text.startswith(",", position):
            position = _skip_whitespace(text, position + 1)
        elif text.startswith("]", position):
            yield from _after_array(name, text, position)
            return
        else:
            yield _decode_error(name, text, position, "Expecting ',' delimiter")
            return


def _after_array(name: str, text: str, closing: int) -> Iterator[RawItem]:
    position = _skip_whitespace(text, closing + 1)
    if position < len(text):
        yield _decode_error(name, text, position, "Extra data after the array")


def _skip_whitespace(text: str, position: int) -> int:
    return _JSON_WHITESPACE.match(text, position).end()  # type: ignore[union-attr]


def _decode_error(name: str, text: str, position: int, message: str) -> RawItem:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return _error_item(Location(name, line), f"{message} (column {column})")


def _error_item(origin: Location, message: str) -> RawItem:
    return RawItem(origin, None, RecordError(message, Location(origin.file, origin.line, "")))
