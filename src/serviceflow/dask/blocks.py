"""Input split into blocks that workers read, each item keeping the ``seq`` and origin one process gives.

A *block* is a byte range of a JSON Lines file, or a whole file where a range cannot be read on its
own: gzip (no random access), a JSON array or anything that does not start like JSON Lines (the
reader must see it whole to say what it is), and a help-desk log read by an importer. Planning needs
only each file's size; what a file holds is decided on the workers.

A block owns the lines that *start* inside its range, so every line belongs to exactly one block
whatever the block size, and a line longer than a block belongs to the block it starts in. A worker
reading a block does not know how many lines and items the blocks before it hold, so it numbers its
items from 0 and its lines from 1, and returns both counts with its items: when every block is read,
the first ``seq`` of block *b* is the number of items of the blocks before it, and its first line the
number of lines of the blocks of the same file before it. That is exact, costs nothing beyond the
one reading, and reads the data once rather than counting newlines in a pre-pass first.

What a line or an item *is* stays the reader's business: a block of JSON Lines applies the rules of
:func:`serviceflow.records.reader.split_items` (a UTF-8 byte order mark on the first line, blank
lines counted but not items), and a whole file goes through ``split_items`` itself, or the
importer's own ``read``, exactly as :func:`serviceflow.feeding.feed` does.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from serviceflow import limits
from serviceflow.contributions import ReaderSpec
from serviceflow.errors import PLUGIN_FAILURES, InputError, Location, RecordError, ServiceflowError
from serviceflow.feeding import checked_item, reader_failed
from serviceflow.records.raw import STDIN, RawItem
from serviceflow.records.reader import (
    ITEM_LINE,
    ITEM_VALUE,
    RECORD_FILE_SUFFIXES,
    read_records,
    reading,
    source_name,
    split_items,
)

__all__ = ["DEFAULT_BLOCK_SIZE", "Block", "BlockItems", "plan_blocks", "read_block"]

#: Bytes of JSON Lines per block: big enough that a block's task costs far more than scheduling it,
#: small enough that a large file keeps every worker busy.
DEFAULT_BLOCK_SIZE = 64 * 1024 * 1024
#: The smallest block :func:`plan_blocks` cuts to spread a small input (a block size given smaller
#: than this is still used).
MIN_BLOCK_SIZE = 1024 * 1024

#: Entry tags of what a block yields (see :class:`BlockItems`).
LINE, VALUE, ERROR = 0, 1, 2

_WHITESPACE = b" \t\r\n"
_HEAD_CHUNK = 64 * 1024
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of reading: ``[start, end)`` of a file, or the whole file (``end`` is ``None``)."""

    index: int
    source: str
    """What to open: a local path or an fsspec URL."""
    name: str
    """The file name its items carry, as one process names them."""
    start: int = 0
    end: int | None = None
    input_format: str = "records"
    size: int = 0
    """Bytes of the file it spans (compressed, for gzip), for progress."""
    file: int = 0
    """The file's place among the sources: a file named twice is read twice, its lines from 1 each time."""

    @property
    def whole(self) -> bool:
        return self.end is None


@dataclass(slots=True)
class BlockItems:
    """What reading a block gave: items numbered within the block, and how many lines and items.

    ``entries`` are ``(LINE, raw bytes, line, seq)`` for a JSON Lines line not decoded yet,
    ``(VALUE, RawItem, seq)`` for an item read whole (its origin final) and ``(ERROR, InputError,
    seq)`` for a source that could not be read. ``line`` and ``seq`` count within the block when
    ``relative`` (a byte range), else ``line`` is already the file's.
    """

    entries: list[tuple[Any, ...]]
    lines: int
    items: int
    relative: bool


def plan_blocks(
    sources: Sequence[str | Path], reader: ReaderSpec, block_size: int = DEFAULT_BLOCK_SIZE, spread: int = 1
) -> tuple[list[Block], int]:
    """The blocks of ``sources`` in input order, and the bytes they span (for progress).

    ``spread``: cut smaller blocks (down to :data:`MIN_BLOCK_SIZE`) where that makes at least this
    many, so that reading a modest input still keeps every worker busy.

    Paths are expanded as one process expands them (``reader.expand``: a directory is its record
    files, sorted); a glob that names no file as it is is expanded first (sorted), and a URL with a
    scheme is listed through fsspec. ``-`` (standard input) cannot be read by remote workers.
    """
    if block_size < 1:
        raise ServiceflowError(f"the block size must be positive, not {block_size}")
    floor = min(block_size, MIN_BLOCK_SIZE)
    expanded: list[str] = []
    for source in sources:
        text = str(source)
        if text == STDIN:
            raise ServiceflowError(
                "--dask cannot read standard input ('-'): the workers read files; name them"
            )
        if _is_url(text):
            if reader.read is not read_records:
                raise ServiceflowError(
                    f"--input-format {reader.name} reads local files only; {text} is a URL"
                )
            expanded.extend(_expand_url(text))
        elif not os.path.lexists(text) and _GLOB_CHARACTERS & set(text) and glob.glob(text, recursive=True):
            # As a shell expands it; a glob matching nothing stays as it is, reported as unreadable.
            matches = sorted(glob.glob(text, recursive=True))
            expanded.extend(str(path) for path in reader.expand(matches))
        else:
            expanded.extend(str(path) for path in reader.expand([source]))
    sizes = [_size(source) for source in expanded]
    total = sum(size or 0 for size in sizes)
    block_size = min(block_size, max(floor, -(-total // max(spread, 1))))
    blocks: list[Block] = []
    for file, (source, size) in enumerate(zip(expanded, sizes, strict=True)):
        if reader.read is not read_records:
            blocks.append(
                Block(
                    len(blocks),
                    source,
                    source_name(source),
                    input_format=reader.name,
                    size=size or 0,
                    file=file,
                )
            )
        elif size is None or source.endswith(".gz") or size <= block_size:
            blocks.append(Block(len(blocks), source, _name(source), size=size or 0, file=file))
        else:
            for start in range(0, size, block_size):
                end = min(start + block_size, size)
                blocks.append(
                    Block(len(blocks), source, _name(source), start, end, size=end - start, file=file)
                )
    return blocks, total


def read_block(block: Block, reader: ReaderSpec | None = None) -> BlockItems:
    """Read one block on a worker (see the module docstring); ``reader`` for an importer's format."""
    if block.input_format != "records":
        if reader is None:
            raise ServiceflowError(f"no reader for input format {block.input_format!r} on this worker")
        return _read_with(reader, block)
    if block.whole:
        return _read_whole(block)
    with _open(block.source) as stream:
        if not _starts_like_json_lines(stream):
            # An array or something else: the first block reads it whole, as one process would.
            if block.start == 0:
                return _read_whole(block)
            return BlockItems([], 0, 0, relative=True)
        data = _owned_bytes(stream, block.start, block.end or 0)
    return _split_lines(data, first_of_file=block.start == 0)


def _split_lines(data: bytes, *, first_of_file: bool) -> BlockItems:
    """Items of the lines in ``data`` (whole lines, each ending with a newline but perhaps the last)."""
    pieces = data.split(b"\n")
    last = pieces.pop()
    lines = [piece + b"\n" for piece in pieces]
    if last:
        lines.append(last)
    if first_of_file and lines and lines[0].startswith(codecs.BOM_UTF8):
        lines[0] = lines[0][len(codecs.BOM_UTF8) :]
    entries: list[tuple[Any, ...]] = []
    seq = 0
    for number, line in enumerate(lines, start=1):
        if line.strip(_WHITESPACE):
            entries.append((LINE, line, number, seq))
            seq += 1
    return BlockItems(entries, len(lines), seq, relative=True)


def _owned_bytes(stream: IO[bytes], start: int, end: int) -> bytes:
    """The bytes of the lines that start in ``[start, end)``, the last one read to its end."""
    if start == 0:
        stream.seek(0)
        data = stream.read(end)
    else:
        # The byte before the range says whether a line starts at ``start``.
        stream.seek(start - 1)
        data = stream.read(end - start + 1)
        cut = data.find(b"\n")
        if cut < 0:
            return b""  # one line runs through the whole range: it belongs to an earlier block
        data = data[cut + 1 :]
    if not data or data.endswith(b"\n"):
        return data
    rest = [data]
    # The last line is read to its end, but no further than a line may be long: an endless line stops
    # here, and decode_line reports it as one process does (the blocks inside it own no line).
    budget = limits.MAX_LINE_BYTES + 1
    while budget > 0:
        chunk = stream.read(min(_HEAD_CHUNK, budget))
        if not chunk:
            break
        budget -= len(chunk)
        cut = chunk.find(b"\n")
        if cut >= 0:
            rest.append(chunk[: cut + 1])
            break
        rest.append(chunk)
    return b"".join(rest)


def _starts_like_json_lines(stream: IO[bytes]) -> bool:
    """Whether every line of the file is an item, so that a byte range can be read alone.

    :func:`split_items` decides by the first non-blank line (the byte order mark set aside): ``{``
    makes JSON Lines, anything else needs the whole file (an array, or a refusal). Blank lines are
    whitespace only, so that line's first character is the file's first non-whitespace byte.
    """
    stream.seek(0)
    head = stream.read(len(codecs.BOM_UTF8))
    chunk = head[len(codecs.BOM_UTF8) :] if head == codecs.BOM_UTF8 else head
    while chunk:
        content = chunk.lstrip(_WHITESPACE)
        if content:
            return content[:1] == b"{"
        chunk = stream.read(_HEAD_CHUNK)
    return True  # empty, or blank lines only: no items either way


def _read_whole(block: Block) -> BlockItems:
    """A whole file through :func:`split_items`, as :func:`serviceflow.feeding.feed` reads it."""
    entries: list[tuple[Any, ...]] = []
    seq = 0
    name = block.name
    try:
        with _reading(block.source, name) as stream:
            for kind, line, payload in split_items(stream, name):
                if kind is ITEM_LINE:
                    entries.append((LINE, payload, line, seq))
                elif kind is ITEM_VALUE:
                    entries.append((VALUE, RawItem(Location(name, line), payload), seq))
                else:
                    origin = Location(name, line)
                    error = RecordError(payload, Location(name, line, ""))
                    entries.append((VALUE, RawItem(origin, None, error), seq))
                seq += 1
    except InputError as error:
        entries.append((ERROR, error, seq))
        seq += 1
    return BlockItems(entries, 0, seq, relative=False)


def _read_with(reader: ReaderSpec, block: Block) -> BlockItems:
    """A whole log through an importer's ``read``, as :func:`serviceflow.feeding.feed` reads it: the
    same checks of what a reader plugin yields, and its failure that source's error."""
    entries: list[tuple[Any, ...]] = []
    seq = 0
    try:
        for item in reader.read([block.source], None):
            entries.append((VALUE, checked_item(item, reader), seq))
            seq += 1
    except InputError as error:
        entries.append((ERROR, error, seq))
        seq += 1
    except PLUGIN_FAILURES as exc:
        entries.append((ERROR, reader_failed(reader, block.source, exc), seq))
        seq += 1
    return BlockItems(entries, 0, seq, relative=False)


# --- local files and fsspec URLs -----------------------------------------------------------------------


def _is_url(source: str) -> bool:
    return "://" in source


def _name(source: str) -> str:
    return source if _is_url(source) else source_name(source)


def _size(source: str) -> int | None:
    if _is_url(source):
        fs, path = _filesystem(source)
        try:
            return int(fs.size(path))
        except (OSError, ValueError):
            return None
    try:
        return Path(source).stat().st_size
    except OSError:
        return None


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ServiceflowError(f"reading {url} needs fsspec: pip install 'serviceflow[dask]'") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ServiceflowError(f"cannot read {url}: {exc}") from None
    return fs, path


def _expand_url(url: str) -> list[str]:
    """A URL's files: itself, the record files under it (a directory), or its glob's matches; sorted."""
    fs, path = _filesystem(url)
    if _GLOB_CHARACTERS & set(path):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(p for p in fs.find(path) if p.endswith(RECORD_FILE_SUFFIXES))
    else:
        return [url]
    return [fs.unstrip_protocol(p) for p in found]


@contextlib.contextmanager
def _open(source: str) -> Iterator[IO[bytes]]:
    """A seekable binary stream of a local file or a URL (byte ranges: never gzip)."""
    try:
        if _is_url(source):
            fs, path = _filesystem(source)
            with fs.open(path, "rb") as stream:
                yield stream
        else:
            with open(source, "rb") as stream:
                yield stream
    except OSError as exc:
        # A file that vanished or broke after planning: no report rather than one missing its items.
        raise ServiceflowError(f"cannot read {source}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def _reading(source: str, name: str) -> Iterator[BinaryIO]:
    """:func:`serviceflow.records.reader.reading` for a local file; the same errors for a URL."""
    if not _is_url(source):
        with reading(source) as opened:
            yield opened.stream
        return
    try:
        fs, path = _filesystem(source)
        with fs.open(path, "rb") as raw:
            if source.endswith(".gz"):
                with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                    yield unpacked  # type: ignore[misc]  # a GzipFile reads as a binary file
            else:
                yield raw
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(f"cannot read {name}: {reason}", Location(file=name)) from exc


def block_offsets(blocks: Sequence[Block], counts: Sequence[tuple[int, int, bool]]) -> list[tuple[int, int]]:
    """``(first seq, lines before it in its file)`` of each block, once every block was read."""
    offsets: list[tuple[int, int]] = []
    seq = 0
    lines_before = 0
    previous_file = -1
    for block, (lines, items, relative) in zip(blocks, counts, strict=True):
        if block.file != previous_file:
            lines_before, previous_file = 0, block.file
        offsets.append((seq, lines_before if relative else 0))
        seq += items
        lines_before += lines
    return offsets
