"""A batch of records evaluated at one ``now``: admit every item, hold the cases, evaluate them all.

:class:`Partition` is the unit of batch work. ``Engine.evaluate`` and ``lint --jobs 1`` use one for
the whole input; ``lint --jobs N`` (:mod:`serviceflow.parallel`) and Dask give each worker one for
the cases it owns, then settle what crosses partitions (a record id seen in two of them, a customer's
cases in several) through a coordinator, so that the findings are those of one partition.

Every item carries ``seq``, its place in the whole input; input errors are reported in that order,
whichever partition found them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.findings import EvaluationCollector, Finding
from serviceflow.records.buffer import CaseBuffer
from serviceflow.records.customers import CustomerFacts, PreviousCase
from serviceflow.records.raw import RawItem
from serviceflow.records.reader import decode_line

if TYPE_CHECKING:
    from serviceflow.evaluators.base import Evaluator
    from serviceflow.records.admission import Admission

__all__ = ["Partition", "frozen_heap", "held_by_refcount"]


@contextlib.contextmanager
def held_by_refcount() -> Iterator[None]:
    """While a batch is admitted and evaluated, keep the cyclic garbage collector off its records.

    A batch holds every record of an input (a million objects and their tuples) and creates no
    reference cycles, so the collector's passes find nothing, yet each full pass walks them all: it
    cost about half of the admission time. The collector is paused while records are admitted, then
    what is held is frozen (left out of every later pass) while the cases are evaluated and released.
    Both are undone on the way out. Memory is still freed as before, by reference counting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave everything alive now out of the collector's passes (see :func:`held_by_refcount`)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Partition:
    """Admitted records of a batch (or of one partition of it), and what evaluating them found."""

    def __init__(
        self, admission: Admission, now: datetime, *, validate_only: bool = False, customer_scope: bool = True
    ) -> None:
        """``validate_only``: check each item against its schema, reporting every error of an invalid
        one, and keep nothing (``serviceflow validate``). ``customer_scope``: derive ``previous_case``
        (see :mod:`serviceflow.records.customers`); off when no policy reads it."""
        self.admission = admission
        self.now = now
        self.validate_only = validate_only
        self.buffer = CaseBuffer(customer_scope=customer_scope)
        self.collector = EvaluationCollector(now)
        self._problems: list[Finding | RecordError] = []

    def add(self, item: Any, origin: Location, seq: int) -> None:
        """Admit one item (a JSON object as read, or a Record) found at ``origin``, ``seq`` in the input."""
        if self.validate_only:
            self._validate(item, origin, seq)
            return
        problems = self._problems
        try:
            record = self.admission.admit(item, origin, seq, problems)
        except RecordError as error:
            self.collector.add_input_error(error, seq)
            self.collector.rejected += 1
            return
        if problems:
            for problem in problems:
                if isinstance(problem, Finding):
                    self.collector.add(problem)
                else:
                    self.collector.add_input_error(problem, seq)
            problems.clear()
        duplicate = self.buffer.add(record)
        if duplicate is not None:
            self.collector.add_input_error(duplicate, seq)
            self.collector.rejected += 1

    def _validate(self, item: Any, origin: Location, seq: int) -> None:
        errors = self.admission.validator.iter_errors(item, origin)
        for error in errors:
            self.collector.add_input_error(error, seq)
        if errors:
            self.collector.rejected += 1
        else:
            self.collector.records += 1

    def add_raw(self, item: RawItem, seq: int) -> None:
        """Admit a reader's item, or report why it could not be read."""
        if item.error is not None:
            self.collector.add_input_error(item.error, seq)
            self.collector.rejected += 1
        else:
            self.add(item.data, item.origin, seq)

    def add_line(self, line: bytes, origin: Location, seq: int) -> None:
        """Decode and admit one JSON Lines line."""
        self.add_raw(decode_line(line, origin), seq)

    def input_error(self, error: InputError, seq: int) -> None:
        """A source (or item) that could not be read at all, at ``seq`` in the input."""
        self.collector.add_input_error(error, seq)

    # --- what crosses partitions ---------------------------------------------------------------------

    def id_digests(self) -> list[tuple[int, int]]:
        return self.buffer.id_digests()

    def records_with_digests(self, digests: set[int]) -> list[tuple[int, str, int, Location | None]]:
        return self.buffer.records_with_digests(digests)

    def drop_duplicates(self, duplicates: Mapping[int, Location | None]) -> None:
        """Refuse the records with these ``seq``: another partition kept their id first (at the origin)."""
        for record in self.buffer.drop(duplicates):
            first = duplicates[record.seq]
            origin = record.origin or Location()
            place = str(Location(first.file, first.line)) if first is not None else str(Location())
            error = RecordError(
                f"duplicate record id {record.id!r} (first at {place})",
                Location(origin.file, origin.line, "/id"),
                record.id,
            )
            self.collector.add_input_error(error, record.seq)
            self.collector.rejected += 1

    def customer_facts(self) -> CustomerFacts:
        return self.buffer.customer_facts()

    def use_previous_cases(self, previous: Mapping[str, PreviousCase]) -> None:
        self.buffer.use_previous_cases(previous)

    # --- evaluation ------------------------------------------------------------------------------------

    def evaluate(self, evaluator: Evaluator) -> EvaluationCollector:
        """Evaluate every case (releasing each as it goes); the collector holds what was found."""
        collector = self.collector
        if self.validate_only:
            return collector
        collector.records = len(self.buffer)
        collector.cases = self.buffer.case_count
        add = collector.add
        now = self.now
        for case_id, records in self.buffer.cases():
            for finding in evaluator.evaluate_case(case_id, records, now).findings:
                add(finding)
        return collector
