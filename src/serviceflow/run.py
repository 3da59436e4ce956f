"""A lint run as a library call: read sources, evaluate, apply waivers, act, and say how it went.

``serviceflow lint`` only renders what :func:`lint` returns, and an HTTP service or a notebook can call
the same function::

    from serviceflow import Engine
    from serviceflow.run import lint
    with Engine.from_config() as engine:
        result = lint(engine, ["export.jsonl"], now=now, jobs=2)
    result.evaluation.violations, result.exit_status

The result is immutable. Actions run on the run's *transitions* (:mod:`serviceflow.transitions`): a
batch starts from nothing, so each violation is one ``violated`` transition and each action runs once
per violation, with an idempotency key that stays the same from run to run, so an action that keeps
what it did (the ``log`` action's file, a CRM) does not do it twice.

Exit status: 0 clean, 1 a violation at or above ``fail_on``, 2 input errors, engine errors or failed
actions (the report is complete but something could not be checked), 3 a bug, 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from serviceflow.actions import run_actions
from serviceflow.batch import Partition
from serviceflow.contributions import ActionFunction, ActionResult, ReaderSpec
from serviceflow.engine import Engine
from serviceflow.errors import InputError, Location, RecordError
from serviceflow.findings import Evaluation
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.raw import RECORDS_FORMAT, STDIN, RawItem
from serviceflow.records.reader import ITEM_LINE, ITEM_VALUE, read_records, reading, split_items
from serviceflow.transitions import ACTIONABLE, Transition, transitions
from serviceflow.waivers import Waiver, apply_waivers

__all__ = [
    "EXIT_CLEAN",
    "EXIT_ERRORS",
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "ItemSink",
    "LintResult",
    "Progress",
    "evaluate_sources",
    "exit_status",
    "feed",
    "lint",
    "read_sources_into",
]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERRORS = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

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


@dataclass(frozen=True)
class LintResult:
    """What a lint run found and did."""

    evaluation: Evaluation
    """Findings, pending obligations, input and engine errors; waived findings moved to ``waived``."""
    policies: tuple[CompiledPolicy, ...]
    """The policies that ran, with their effective severity."""
    transitions: tuple[Transition, ...]
    """Every obligation's change from nothing to what the run found."""
    actions: tuple[ActionResult, ...]
    """What each action did for each transition it was handed."""
    exit_status: int

    @property
    def failed_actions(self) -> tuple[ActionResult, ...]:
        return tuple(result for result in self.actions if not result.ok)


def lint(
    engine: Engine,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    input_format: str = RECORDS_FORMAT,
    stdin: BinaryIO | None = None,
    waivers: Sequence[Waiver] = (),
    actions: Mapping[str, ActionFunction] | None = None,
    fail_on: str = "error",
    jobs: int = 1,
    progress: Progress | None = None,
) -> LintResult:
    """Lint ``sources`` (files, directories, ``-`` for stdin) at ``now``; see the module docstring.

    A malformed or invalid record, or an unreadable file, is reported in the evaluation's input errors
    and skipped; every other record is still evaluated. ``jobs`` above 1 splits the cases between
    that many worker processes (:mod:`serviceflow.parallel`); the result is the same.
    """
    evaluation = evaluate_sources(
        engine, sources, now, input_format=input_format, stdin=stdin, jobs=jobs, progress=progress
    )
    evaluation = apply_waivers(evaluation, waivers)
    changes = tuple(transitions((), (*evaluation.violations, *evaluation.pending, *evaluation.engine_errors)))
    results: tuple[ActionResult, ...] = ()
    if actions:
        acted = [change for change in changes if change.kind in ACTIONABLE]
        results = tuple(run_actions(acted, actions, now, evaluation))
    failed = any(not result.ok for result in results)
    return LintResult(
        evaluation=evaluation,
        policies=tuple(engine.policies),
        transitions=changes,
        actions=results,
        exit_status=exit_status(evaluation, fail_on, failed_actions=failed),
    )


def exit_status(evaluation: Evaluation, fail_on: str, *, failed_actions: bool = False) -> int:
    """2 when input was bad, a plugin failed or an action failed; else 1 when a violation is at or
    above ``fail_on``; else 0."""
    if evaluation.input_error_count or evaluation.engine_errors or failed_actions:
        return EXIT_ERRORS
    return EXIT_FINDINGS if evaluation.fails(fail_on) else EXIT_CLEAN


def evaluate_sources(
    engine: Engine,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    input_format: str = RECORDS_FORMAT,
    stdin: BinaryIO | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    validate_only: bool = False,
) -> Evaluation:
    """Read, admit and evaluate ``sources`` at ``now``, in ``jobs`` processes: the evaluation.

    ``validate_only`` checks every item against its schema and evaluates nothing (``validate``): the
    evaluation then holds every error of every invalid record, ``records`` counting the valid ones.
    """
    reader = engine.plugins.reader(input_format)
    if jobs > 1:
        from serviceflow.parallel import evaluate_in_parallel

        return evaluate_in_parallel(
            engine,
            reader,
            sources,
            now,
            stdin=stdin,
            jobs=jobs,
            progress=progress,
            validate_only=validate_only,
        )
    partition = Partition(engine.admission, now, validate_only=validate_only)
    feed(partition, reader, sources, stdin=stdin, progress=progress)
    if progress is not None:
        progress.evaluating(0, 1)
    collector = partition.evaluate(engine.evaluator)
    if progress is not None:
        progress.evaluating(1, 1)
    return collector.freeze()


def read_sources_into(
    engine: Engine,
    reader: ReaderSpec,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    stdin: BinaryIO | None = None,
    progress: Progress | None = None,
) -> Partition:
    """Every item of ``sources`` admitted into one partition, not evaluated yet (``explain`` picks a
    case from it; :func:`evaluate_sources` evaluates it)."""
    partition = Partition(engine.admission, now)
    feed(partition, reader, sources, stdin=stdin, progress=progress)
    return partition


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
                    sink.add_raw(item, seq)
                    seq += 1
                    if progress is not None and seq % PROGRESS_EVERY == 0:
                        progress.reading(done_before, total, seq)
        except InputError as error:
            sink.input_error(error, seq)
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
    return seq


def _item_error(message: str, origin: Location) -> RecordError:
    return RecordError(message, Location(origin.file, origin.line, ""))


def _size(source: str | Path) -> int | None:
    if source == STDIN:
        return None
    try:
        return Path(source).stat().st_size
    except OSError:
        return 0
