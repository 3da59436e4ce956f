"""A dry run of a policy change: the same records evaluated under two policy sets in one pass.

``serviceflow diff`` answers "what would this change do on last quarter's export?" The input is read
once. When both configurations admit records alike (the same enrichers with the same options, the
same calendar names: :func:`admits_alike`), each record is also admitted once, into one
:class:`~serviceflow.batch.Partition`, and each case, as the partition gives it out (and releases it),
is evaluated by the *before* evaluator and then by the *after* one. When they admit differently (an
enricher turned on), every item read is admitted into one partition per side, and each is evaluated
by its own evaluator: still one reading of the input. Either way the two evaluations are compared by
:func:`serviceflow.diff.compare`.

Waivers and baselines are not applied: the question is what the policies find, not what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow.batch import Partition
from serviceflow.config import Config
from serviceflow.diff import EvaluationDiff, compare
from serviceflow.engine import Engine
from serviceflow.errors import InputError, Location
from serviceflow.evaluators.base import CaseFindings, Evaluator
from serviceflow.feeding import Progress, feed
from serviceflow.findings import Evaluation, EvaluationCollector, Finding
from serviceflow.records.model import Record
from serviceflow.records.raw import RECORDS_FORMAT, RawItem

__all__ = ["admits_alike", "evaluate_twice", "replay"]


def admits_alike(before: Config, after: Config) -> bool:
    """Whether records admitted under one configuration are what the other would admit.

    Admission depends on the configuration only through the enrichers (and their options) and the
    names of the calendars a case may name; the record schemas come from the plugins, which are the
    same for both sides of one run.
    """
    return before.enrichers == after.enrichers and set(before.calendars) == set(after.calendars)


def replay(
    before: Engine,
    after: Engine,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    input_format: str = RECORDS_FORMAT,
    stdin: BinaryIO | None = None,
    progress: Progress | None = None,
    shared_admission: bool = False,
    before_label: str = "before",
    after_label: str = "after",
    meta: dict[str, Any] | None = None,
) -> EvaluationDiff:
    """Evaluate ``sources`` at ``now`` with both engines, reading them once, and compare.

    ``shared_admission`` admits each record once, with ``after``'s admission; pass it only when the
    engines' configurations admit alike (:func:`admits_alike`), else each side admits its own copy.
    """
    evaluated_before, evaluated_after = evaluate_twice(
        before,
        after,
        sources,
        now,
        input_format=input_format,
        stdin=stdin,
        progress=progress,
        shared_admission=shared_admission,
    )
    return compare(
        evaluated_before,
        evaluated_after,
        [policy.id for policy in before.policies],
        [policy.id for policy in after.policies],
        before_label=before_label,
        after_label=after_label,
        meta=meta,
    )


def evaluate_twice(
    before: Engine,
    after: Engine,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    input_format: str = RECORDS_FORMAT,
    stdin: BinaryIO | None = None,
    progress: Progress | None = None,
    shared_admission: bool = False,
) -> tuple[Evaluation, Evaluation]:
    """The evaluations of ``sources`` by ``before`` and by ``after``, the input read once."""
    reader = after.plugins.reader(input_format)
    if shared_admission:
        partition = Partition(after.admission, now)
        feed(partition, reader, sources, stdin=stdin, progress=progress)
        _evaluating(progress, 0)
        collected_before = EvaluationCollector(now)
        collected_before.merge(partition.collector)  # what admission found belongs to both sides
        both = _BothEvaluators(before.evaluator, after.evaluator, collected_before.add)
        collected_after = partition.evaluate(both)
        collected_before.records, collected_before.cases = collected_after.records, collected_after.cases
        _evaluating(progress, 1)
        return collected_before.freeze(), collected_after.freeze()
    sides = _Tee(Partition(before.admission, now), Partition(after.admission, now))
    feed(sides, reader, sources, stdin=stdin, progress=progress)
    _evaluating(progress, 0)
    evaluated_before = sides.before.evaluate(before.evaluator).freeze()
    evaluated_after = sides.after.evaluate(after.evaluator).freeze()
    _evaluating(progress, 1)
    return evaluated_before, evaluated_after


class _BothEvaluators:
    """Evaluates a case with the *before* evaluator (its findings go to ``collect``), then returns the
    *after* evaluator's findings: the partition releases each case once both have seen it."""

    name = "replay"

    def __init__(self, before: Evaluator, after: Evaluator, collect: Callable[[Finding], None]) -> None:
        self.before = before
        self.after = after
        self.collect = collect

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        collect = self.collect
        for finding in self.before.evaluate_case(case_id, records, now).findings:
            collect(finding)
        return self.after.evaluate_case(case_id, records, now)

    def close(self) -> None:
        """Nothing: each engine closes its own evaluator."""


class _Tee:
    """An item sink that admits every item into both sides' partitions (differing admissions)."""

    def __init__(self, before: Partition, after: Partition) -> None:
        self.before = before
        self.after = after

    def add_line(self, line: bytes, origin: Location, seq: int) -> None:
        self.before.add_line(line, origin, seq)
        self.after.add_line(line, origin, seq)

    def add_raw(self, item: RawItem, seq: int) -> None:
        self.before.add_raw(item, seq)
        self.after.add_raw(item, seq)

    def input_error(self, error: InputError, seq: int) -> None:
        self.before.input_error(error, seq)
        self.after.input_error(error, seq)


def _evaluating(progress: Progress | None, done: int) -> None:
    if progress is not None:
        progress.evaluating(done, 1)
