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
from typing import Any, BinaryIO

from serviceflow.actions import run_actions
from serviceflow.baseline import Baseline, BaselineComparison, apply_baseline
from serviceflow.batch import Partition, frozen_heap, held_by_refcount
from serviceflow.contributions import ActionFunction, ActionResult, ReaderSpec
from serviceflow.engine import Engine
from serviceflow.feeding import ItemSink, Progress, feed
from serviceflow.findings import Evaluation
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.raw import RECORDS_FORMAT
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
    baseline: BaselineComparison | None = None
    """What the baseline (``lint --baseline``) matched and found gone; ``None`` without one. The
    violations it matched are left out of ``evaluation``, the transitions, the actions and the exit
    status."""

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
    baseline: Baseline | None = None,
    dask: Any = None,
) -> LintResult:
    """Lint ``sources`` (files, directories, ``-`` for stdin) at ``now``; see the module docstring.

    A malformed or invalid record, or an unreadable file, is reported in the evaluation's input errors
    and skipped; every other record is still evaluated. ``jobs`` above 1 splits the cases between
    that many worker processes (:mod:`serviceflow.parallel`), ``dask`` (``local:N``, a scheduler
    address or a ``distributed.Client``) runs it on Dask (:mod:`serviceflow.dask`); the result is the
    same. ``baseline``
    leaves out the violations it records, after waivers (:mod:`serviceflow.baseline`).
    """
    evaluation = evaluate_sources(
        engine, sources, now, input_format=input_format, stdin=stdin, jobs=jobs, progress=progress, dask=dask
    )
    evaluation = apply_waivers(evaluation, waivers)
    compared = None
    if baseline is not None:
        evaluation, compared = apply_baseline(evaluation, baseline, {policy.id for policy in engine.policies})
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
        baseline=compared,
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
    dask: Any = None,
) -> Evaluation:
    """Read, admit and evaluate ``sources`` at ``now``, in ``jobs`` processes: the evaluation.

    ``validate_only`` checks every item against its schema and evaluates nothing (``validate``): the
    evaluation then holds every error of every invalid record, ``records`` counting the valid ones.
    """
    reader = engine.plugins.reader(input_format)
    if dask is not None:
        from serviceflow.dask import evaluate_on_dask  # the optional extra, only when asked for

        return evaluate_on_dask(
            engine, reader, sources, now, dask, progress=progress, validate_only=validate_only
        )
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
    partition = Partition(
        engine.admission, now, validate_only=validate_only, customer_scope=engine.customer_scope
    )
    with held_by_refcount():
        feed(partition, reader, sources, stdin=stdin, progress=progress)
    if progress is not None:
        progress.evaluating(0, 1)
    with frozen_heap():
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
    partition = Partition(engine.admission, now, customer_scope=engine.customer_scope)
    feed(partition, reader, sources, stdin=stdin, progress=progress)
    return partition
