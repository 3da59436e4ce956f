"""Read raw records from files, directories and stdin, remembering where each one came from.

Two formats, told apart by the content: JSON Lines (one value per line) and a JSON array. JSON Lines
files are streamed line by line, so an export of any size fits in memory; an array is read whole, as
it cannot be split reliably without parsing it. Files ending in ``.gz`` are decompressed on the fly.
Text is UTF-8, with or without a byte order mark.

Values are decoded with orjson, the fastest well-kept JSON parser for Python; it is also stricter
than the standard library where strictness protects what comes after: no ``NaN`` or ``Infinity``, no
lone surrogates (text no report format could write), nesting at most 1,024 deep. When a line is not
accepted, the standard library's wording of the problem is used where it has one, for its column.

Nothing here knows what a record looks like: each item comes out as a :class:`RawItem` with its
origin (file and 1-based line) and either the decoded JSON value or a :class:`RecordError` saying why
that line is not JSON. A bad line never stops the lines after it.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from serviceflow import limits
from serviceflow.errors import InputError, Location, RecordError
from serviceflow.records.raw import STDIN, STDIN_NAME, RawItem, nesting_problem, standard_input

__all__ = [
    "ITEM_ERROR",
    "ITEM_LINE",
    "ITEM_VALUE",
    "RECORD_FILE_SUFFIXES",
    "OpenedSource",
    "UnreadableSource",
    "decode_line",
    "expand_sources",
    "open_source",
    "read_records",
    "read_source",
    "read_sources",
    "reading",
    "source_name",
    "split_items",
    "split_stream",
]

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
    """The sources with each directory replaced by the record files inside it (sorted, recursive).

    Symbolic links to files are followed, links to directories are not (a link loop cannot make the
    walk endless). A directory that cannot be listed, or holds more than
    :data:`~serviceflow.limits.MAX_DIRECTORY_FILES` record files, stays in the list as an
    :class:`UnreadableSource`, which reading reports as an input error naming it, after the files
    that could be read.
    """
    expanded: list[str | Path] = []
    for source in sources:
        if source != STDIN and Path(source).is_dir():
            expanded.extend(_directory_files(Path(source)))
        else:
            expanded.append(source)
    return expanded


class UnreadableSource(str):
    """A source that cannot be read, with why; reading it raises the InputError it stands for."""

    reason: str

    def __new__(cls, name: str, reason: str) -> UnreadableSource:
        source = super().__new__(cls, name)
        source.reason = reason
        return source


def _directory_files(directory: Path) -> list[str | Path]:
    found: list[Path] = []
    problems: list[str | Path] = []

    def unreadable(error: OSError) -> None:
        name = error.filename if error.filename is not None else str(directory)
        problems.append(UnreadableSource(str(name), f"cannot list the directory: {error.strerror or error}"))

    limit = limits.MAX_DIRECTORY_FILES
    for folder, subfolders, files in os.walk(directory, onerror=unreadable):
        subfolders.sort()
        for file in files:
            if file.endswith(RECORD_FILE_SUFFIXES) and os.path.isfile(os.path.join(folder, file)):
                found.append(Path(folder, file))
        if len(found) > limit:
            reason = (
                f"the directory holds more than {limit:,} record files "
                "(serviceflow.limits.MAX_DIRECTORY_FILES); name fewer, or a narrower directory"
            )
            return [UnreadableSource(str(directory), reason)]
    return [*sorted(found), *problems]


def source_name(source: str | Path) -> str:
    """The file name a source's items carry (``<stdin>`` for ``-``)."""
    return STDIN_NAME if source == STDIN else str(source)


def read_source(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[RawItem]:
    """The items of one file (gzip decompressed) or, for ``-``, of ``stdin``."""
    name = source_name(source)
    for kind, line, payload in split_stream(source, stdin):
        origin = Location(name, line)
        if kind is _LINE:
            yield decode_line(payload, origin)
        elif kind is _VALUE:
            yield RawItem(origin, payload)
        else:
            yield _error_item(origin, payload)


# What split_stream yields: a JSON Lines line (bytes, not decoded yet), an array element (decoded),
# or an error message for the line given.
ITEM_LINE = _LINE = "line"
ITEM_VALUE = _VALUE = "value"
ITEM_ERROR = _ERROR = "error"


def read_records(sources: Sequence[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawItem]:
    """The built-in ``records`` reader: every item of each source (a directory is one source per file
    after :func:`expand_sources`)."""
    for source in sources:
        yield from read_source(source, stdin)


def split_stream(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[tuple[str, int, Any]]:
    """``(kind, line, payload)`` for each item of a source, leaving JSON Lines lines undecoded.

    The split between reading and decoding lets ``lint --jobs`` hand undecoded lines to the worker
    that owns their case, so the decoding happens in parallel. Raises InputError when the source
    cannot be read.
    """
    with reading(source, stdin) as opened:
        yield from split_items(opened.stream, opened.name)


class OpenedSource:
    """An open source: its name, its (decompressed) bytes, and how far into the file reading is."""

    def __init__(
        self, name: str, stream: BinaryIO | gzip.GzipFile, raw: BinaryIO | None, size: int | None
    ) -> None:
        self.name, self._raw, self.size = name, raw, size
        self.stream: BinaryIO = stream  # type: ignore[assignment]  # a GzipFile reads as a binary file

    def position(self) -> int:
        """Bytes of the file (compressed, for gzip) read so far; 0 where it cannot be told (stdin)."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0


@contextlib.contextmanager
def reading(source: str | Path, stdin: BinaryIO | None = None) -> Iterator[OpenedSource]:
    """Open a source for reading; any failure to read it, then or later, is an InputError naming it.

    ``-`` is ``stdin`` (default ``sys.stdin.buffer``), which is not closed. A file ending in ``.gz``
    is gzip; standard input is recognised as gzip by its first bytes (as the importers do), so a
    compressed export can be piped in.
    """
    name = source_name(source)
    if isinstance(source, UnreadableSource):
        raise InputError(f"cannot read {name}: {source.reason}", Location(file=name))
    try:
        with contextlib.ExitStack() as stack:
            if source == STDIN:
                raw: BinaryIO = standard_input(stdin)
                stream: BinaryIO | gzip.GzipFile = raw
                peek = getattr(raw, "peek", None)
                if peek is not None and peek(2)[:2] == _GZIP_MAGIC:
                    stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
                yield OpenedSource(name, stream, None, None)
                return
            raw = stack.enter_context(Path(source).open("rb"))
            size = os.fstat(raw.fileno()).st_size
            stream = raw
            if str(source).endswith(".gz"):
                stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            yield OpenedSource(name, stream, raw, size)
    except (OSError, EOFError, zlib.error) as exc:
        # gzip reports a corrupt or truncated file only while reading, possibly after some items.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(f"cannot read {name}: {reason}", Location(file=name)) from exc


def open_source(
    source: str | Path, stdin: BinaryIO | None = None
) -> contextlib.AbstractContextManager[BinaryIO]:
    """The source's bytes (gzip decompressed) in a ``with`` block; see :func:`reading`."""
    return _stream_of(reading(source, stdin))


@contextlib.contextmanager
def _stream_of(opened: contextlib.AbstractContextManager[OpenedSource]) -> Iterator[BinaryIO]:
    with opened as source:
        yield source.stream


_GZIP_MAGIC = b"\x1f\x8b"


def decode_line(raw: bytes, origin: Location) -> RawItem:
    """The RawItem of one JSON Lines line: its value, or why it is not JSON (or nested too deeply).

    A line over :data:`~serviceflow.limits.MAX_LINE_BYTES` is refused here too, for readers that
    cut lines themselves (``--dask`` blocks) rather than through :func:`split_items`.
    """
    if len(raw) - raw.endswith(b"\n") > limits.MAX_LINE_BYTES:  # the newline is not part of the line
        return _error_item(origin, _overlong_message(limits.MAX_LINE_BYTES))
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error_item(origin, _line_problem(raw, exc))
    # Brackets bound the depth: most lines have a handful, and need no walk.
    if raw.count(b"{") + raw.count(b"[") > limits.MAX_RECORD_DEPTH:
        problem = nesting_problem(value)
        if problem is not None:
            return _error_item(origin, problem)
    return RawItem(origin, value)


def _line_problem(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8: byte {bad.start + 1} of the line is invalid"
    try:
        json.loads(text.rstrip("\r\n"))  # a record cut short is reported at the line's end, not the next
    except json.JSONDecodeError as standard:
        return f"{standard.msg} (column {standard.colno})"
    except (RecursionError, ValueError):
        pass  # nested too deeply, or an integer of more digits than Python converts: orjson's words
    return f"{exc.msg} (column {exc.colno})"


#: How many non-blank lines at the start of a source may fail to look like records before reading
#: stops with one message instead of one error per line (a CSV log read without --input-format).
_PROBE_LINES = 5

#: How often (in lines) the decompressed size of a gzip source is checked against its limit.
_SIZE_CHECK_LINES = 1 << 16


class _Overlong(bytes):
    """A line longer than :data:`~serviceflow.limits.MAX_LINE_BYTES`, whose rest has been skipped."""


def split_items(stream: BinaryIO, name: str = "<input>") -> Iterator[tuple[str, int, Any]]:
    """``(kind, line, payload)`` for each item of an open stream (see :func:`split_stream`).

    A source whose first lines do not look like JSON records (none starts with ``{`` or ``[``) is
    refused with an InputError that says what it looks like, rather than reported line by line.
    Lines are read at most :data:`~serviceflow.limits.MAX_LINE_BYTES` at a time: a longer line is
    that line's error, skipped without being held; a gzip stream that decompresses to more than
    :data:`~serviceflow.limits.MAX_DECOMPRESSED_BYTES` ends with an error.
    """
    line_limit = limits.MAX_LINE_BYTES
    readline = stream.readline
    lines: Iterator[bytes] = iter(functools.partial(readline, line_limit + 1), b"")
    leading: list[bytes] = []
    first: bytes = b""
    for line in lines:
        if not leading and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        if line.strip(_WHITESPACE):
            first = line
            if _too_long(line, line_limit) and line.lstrip(_WHITESPACE)[:1] == b"[":
                # One array on one long line (a common export): read it whole, as an array.
                leading.append(line)
                yield from _split_array(_read_array(leading, stream, name))
                return
            leading.append(_bounded(line, line_limit, readline))
            break
        leading.append(_bounded(line, line_limit, readline))
    if first and first.lstrip(_WHITESPACE)[:1] not in (b"{", b"["):
        _probe(name, first, lines, leading, line_limit, readline)
    if first.lstrip(_WHITESPACE)[:1] == b"[" and not _complete_line_followed(
        first, lines, leading, line_limit, readline
    ):
        yield from _split_array(_read_array(leading, stream, name))
        return
    line_number = 0
    for raw in leading:
        line_number += 1
        if type(raw) is _Overlong:
            yield _ERROR, line_number, _overlong_message(line_limit)
        elif raw.strip(_WHITESPACE):
            yield _LINE, line_number, raw
    size_left = _decompressed_size_check(stream, name)
    for raw in lines:
        line_number += 1
        if len(raw) > line_limit and raw[-1:] != b"\n":
            _skip_rest_of_line(readline)
            yield _ERROR, line_number, _overlong_message(line_limit)
        elif raw.strip(_WHITESPACE):
            yield _LINE, line_number, raw
        if not line_number % _SIZE_CHECK_LINES and size_left is not None and size_left() < 0:
            yield _ERROR, line_number, _decompressed_message()
            return
    if size_left is not None and size_left() < 0:
        yield _ERROR, line_number, _decompressed_message()


def _too_long(line: bytes, limit: int) -> bool:
    return len(line) > limit and line[-1:] != b"\n"


def _bounded(line: bytes, limit: int, readline: Callable[[int], bytes]) -> bytes:
    """The line, or an :class:`_Overlong` marker after skipping the rest of a line over the limit."""
    if _too_long(line, limit):
        _skip_rest_of_line(readline)
        return _Overlong()
    return line


def _skip_rest_of_line(readline: Callable[[int], bytes]) -> None:
    """Read past the end of the current line in bounded pieces, keeping none of it."""
    while True:
        piece = readline(1 << 20)
        if not piece or piece[-1:] == b"\n":
            return


def _overlong_message(limit: int) -> str:
    return (
        f"the line is longer than {limit:,} bytes, the longest a record may be "
        "(serviceflow.limits.MAX_LINE_BYTES); it was skipped"
    )


def _decompressed_size_check(stream: BinaryIO, name: str) -> Callable[[], int] | None:
    """For a gzip stream, a function giving how many bytes it may still decompress (negative: over)."""
    if not isinstance(stream, gzip.GzipFile):
        return None

    def size_left() -> int:
        return limits.MAX_DECOMPRESSED_BYTES - stream.tell()

    return size_left


def _decompressed_message() -> str:
    return (
        f"the file decompresses to more than {limits.MAX_DECOMPRESSED_BYTES:,} bytes "
        "(serviceflow.limits.MAX_DECOMPRESSED_BYTES); the rest of it is skipped"
    )


def _read_array(leading: list[bytes], stream: BinaryIO, name: str) -> bytes:
    """The whole of a file that is one JSON array; an InputError when it is over the array limit."""
    limit = limits.MAX_ARRAY_BYTES
    head = b"".join(leading)
    rest = stream.read(max(limit - len(head), 0) + 1)
    if len(head) + len(rest) > limit:
        raise InputError(
            f"{name} is a JSON array larger than {limit:,} bytes (serviceflow.limits.MAX_ARRAY_BYTES); "
            "an array is read whole, so write records this large as JSON Lines, which are streamed",
            Location(file=name, line=1),
        )
    return head + rest


def _probe(
    name: str,
    first: bytes,
    lines: Iterator[bytes],
    leading: list[bytes],
    limit: int,
    readline: Callable[[int], bytes],
) -> None:
    """Raise InputError when none of the first few non-blank lines could be a record."""
    seen = 1
    for line in lines:
        line = _bounded(line, limit, readline)
        leading.append(line)
        stripped = line.strip(_WHITESPACE)
        if not stripped:
            continue
        if stripped[:1] in (b"{", b"["):
            return
        seen += 1
        if seen >= _PROBE_LINES:
            break
    else:
        if seen < 2:
            return  # one odd line alone: report it as that line's error
    shown = first.strip(_WHITESPACE)[:60].decode("utf-8", "replace")
    if first.count(b",") >= 2 or first.count(b";") >= 2 or first.count(b"\t") >= 2:
        hint = (
            "it looks like CSV: if it is a help-desk log, name its format with --input-format "
            "(see 'serviceflow plugins' for the formats)"
        )
    else:
        hint = "serviceflow records are JSON Lines (one JSON object per line) or a JSON array"
    raise InputError(
        f"{name} does not look like serviceflow records: its first lines do not start with '{{' "
        f"({shown!r}...); {hint}",
        Location(file=name, line=1),
    )


def _complete_line_followed(
    first: bytes,
    lines: Iterator[bytes],
    leading: list[bytes],
    limit: int,
    readline: Callable[[int], bytes],
) -> bool:
    """Whether a first line starting with ``[`` is a line of JSON Lines rather than an array's start.

    It is when more lines follow and it is either a whole JSON value (JSON Lines whose first line
    happens to be an array, reported as that line's error) or not a whole value but not ending the way
    an array's first line does (``[``, an element and ``,``, or an element opening with ``{`` or
    ``[``): a record line damaged at its start. Reading either as an array would lose every later line
    at the first error; a file of one line is an array either way. The lines read to find out are
    appended to ``leading``.
    """
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        if first.rstrip(_WHITESPACE).endswith((b"[", b",", b"{")):
            return False
    for line in lines:
        leading.append(_bounded(line, limit, readline))
        if line.strip(_WHITESPACE):
            return True
    return False


def _split_array(content: bytes) -> Iterator[tuple[str, int, Any]]:
    """Each element of a JSON array, decoded, with the line its value starts on."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        yield _ERROR, line, "not UTF-8: invalid byte; the rest of the file is skipped"
        return
    position = _skip_whitespace(text, text.index("[") + 1)
    if text.startswith("]", position):
        yield from _after_array(text, position)
        return
    line = 1
    counted_to = 0
    while True:
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            _, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            # After a broken element the array's structure is unknown: no later element can be trusted.
            message = f"{exc.msg} (column {exc.colno}); the rest of the array is skipped"
            yield _ERROR, exc.lineno, message
            return
        except RecursionError:
            yield _ERROR, line, "nested too deeply; the rest of the array is skipped"
            return
        except ValueError as exc:  # an integer of more digits than Python converts
            yield _ERROR, line, f"{exc}; the rest of the array is skipped"
            return
        try:
            value = orjson.loads(text[position:end])
        except orjson.JSONDecodeError as exc:
            yield _ERROR, line, exc.msg
        else:
            problem = nesting_problem(value)
            if problem is None:
                yield _VALUE, line, value
            else:
                yield _ERROR, line, problem
        position = _skip_whitespace(text, end)
        if text.startswith(",", position):
            position = _skip_whitespace(text, position + 1)
        elif text.startswith("]", position):
            yield from _after_array(text, position)
            return
        else:
            yield _decode_error(text, position, "Expecting ',' delimiter")
            return


def _after_array(text: str, closing: int) -> Iterator[tuple[str, int, Any]]:
    position = _skip_whitespace(text, closing + 1)
    if position < len(text):
        yield _decode_error(text, position, "Extra data after the array")


def _skip_whitespace(text: str, position: int) -> int:
    return _JSON_WHITESPACE.match(text, position).end()  # type: ignore[union-attr]


def _decode_error(text: str, position: int, message: str) -> tuple[str, int, Any]:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return _ERROR, line, f"{message} (column {column})"


def _error_item(origin: Location, message: str) -> RawItem:
    return RawItem(origin, None, RecordError(message, Location(origin.file, origin.line, "")))
