"""Reading sources into whoever evaluates them: the one reading loop of lint, validate, explain,
ingest, ``--jobs`` and ``diff``.

:func:`feed` numbers every item (``seq``) across the sources in order, the number by which a case's
ties are ordered and the first of two duplicate ids is chosen, so every way of running serviceflow
must read exactly this way (``--dask`` reads blocks in parallel and gives each item the same number;
see :mod:`serviceflow.dask.blocks`). It knows nothing of evaluation: items go to an :class:`ItemSink`
(a :class:`~serviceflow.batch.Partition`, or ``--jobs``'s router).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from serviceflow.contributions import ReaderSpec
from serviceflow.errors import PLUGIN_FAILURES, InputError, Location, RecordError
from serviceflow.records.raw import STDIN, STDIN_NAME, RawItem, nesting_problem
from serviceflow.records.reader import ITEM_LINE, ITEM_VALUE, read_records, reading, split_items

__all__ = ["PROGRESS_EVERY", "ItemSink", "Progress", "checked_item", "feed", "reader_failed"]

#: How often (in items) reading reports its progress.
PROGRESS_EVERY = 8192


class Progress(Protocol):
    """What a long run reports as it goes (the CLI draws it on a terminal)."""

    def reading(self, done: int, total: int | None, items: int) -> None:
        """``done`` of ``total`` bytes of input read (``None``: unknown, as for stdin), ``items`` so far."""

    def evaluating(self, done: int, total: int) -> None:
        """``done`` of ``total`` partitions (or cases) evaluated."""


class ItemSink(Protocol):
    """Where reading puts what it reads: a :class:`~serviceflow.batch.Partition`, or a router."""

    def add_line(self, line: bytes, origin: Location, seq: int) -> None: ...

    def add_raw(self, item: RawItem, seq: int) -> None: ...

    def input_error(self, error: InputError, seq: int) -> None: ...


def feed(
    sink: ItemSink,
    reader: ReaderSpec,
    sources: Sequence[str | Path],
    *,
    stdin: BinaryIO | None = None,
    progress: Progress | None = None,
) -> int:
    """Read every source in order into ``sink``, numbering items (``seq``) across sources; the count.

    Serviceflow's own JSON Lines go to the sink undecoded (``add_line``), so that whoever owns the
    line decodes it; every other item comes as a reader's RawItem. A source that cannot be read is
    one input error, and reading goes on with the next.
    """
    expanded = reader.expand(sources)
    sizes = [_size(source) for source in expanded]
    total = None if any(size is None for size in sizes) else sum(size or 0 for size in sizes)
    done_before = 0
    seq = 0
    for source, size in zip(expanded, sizes, strict=True):
        try:
            if reader.read is read_records:
                seq = _feed_records(sink, source, stdin, seq, progress, done_before, total)
            else:
                for item in reader.read([source], stdin):
                    sink.add_raw(checked_item(item, reader), seq)
                    seq += 1
                    if progress is not None and seq % PROGRESS_EVERY == 0:
                        progress.reading(done_before, total, seq)
        except InputError as error:
            sink.input_error(error, seq)
            seq += 1
        except PLUGIN_FAILURES as exc:
            # A reader's own bug (or its sys.exit) ends its source, not the run: named, then go on.
            sink.input_error(reader_failed(reader, source, exc), seq)
            seq += 1
        done_before += size or 0
        if progress is not None:
            progress.reading(done_before, total, seq)
    return seq


def _feed_records(
    sink: ItemSink,
    source: str | Path,
    stdin: BinaryIO | None,
    seq: int,
    progress: Progress | None,
    done_before: int,
    total: int | None,
) -> int:
    try:
        with reading(source, stdin) as opened:
            name = opened.name
            add_line, add_raw = sink.add_line, sink.add_raw
            for kind, line, payload in split_items(opened.stream, name):
                if kind is ITEM_LINE:
                    add_line(payload, Location(name, line), seq)
                elif kind is ITEM_VALUE:
                    add_raw(RawItem(Location(name, line), payload), seq)
                else:
                    origin = Location(name, line)
                    add_raw(RawItem(origin, None, _item_error(payload, origin)), seq)
                seq += 1
                if progress is not None and seq % PROGRESS_EVERY == 0:
                    progress.reading(done_before + opened.position(), total, seq)
    except InputError as error:
        # Reported here, after the items read before it (a truncated gzip), so that it and the next
        # source's items do not reuse their seq.
        sink.input_error(error, seq)
        seq += 1
    return seq


def checked_item(item: Any, reader: ReaderSpec) -> RawItem:
    """A reader plugin's item as admission may take it: a RawItem, nested no deeper than a record may be."""
    if not isinstance(item, RawItem):
        raise InputError(
            f"reader '{reader.name}'{_of_plugin(reader)} yielded a {type(item).__name__}, not a RawItem"
        )
    if item.data is not None:
        problem = nesting_problem(item.data)
        if problem is not None:
            origin = item.origin if isinstance(item.origin, Location) else Location()
            return RawItem(origin, None, _item_error(problem, origin))
    return item


def reader_failed(reader: ReaderSpec, source: str | Path, exc: BaseException) -> InputError:
    name = STDIN_NAME if source == STDIN else str(source)
    return InputError(
        f"reader '{reader.name}'{_of_plugin(reader)} failed on {name}: {type(exc).__name__}: {exc}",
        Location(file=name),
    )


def _of_plugin(reader: ReaderSpec) -> str:
    return f" (plugin '{reader.plugin}')" if reader.plugin else ""


def _item_error(message: str, origin: Location) -> RecordError:
    return RecordError(message, Location(origin.file, origin.line, ""))


def _size(source: str | Path) -> int | None:
    if source == STDIN:
        return None
    try:
        return Path(source).stat().st_size
    except OSError:
        return 0
