"""See the cases an :class:`~serviceflow.Engine` evaluates, as the engine admitted them.

``serviceflow explain`` must look at a case exactly as ``lint`` does (same readers and importers, same
validation, enrichment, calendars and duplicate checks), and ``lint --explain`` must explain the very
cases it reports. Both therefore let the engine read and admit the records as usual and stand an
evaluator of their own between the engine and its evaluator:

* :class:`CaseCapture` keeps the records of one case and evaluates nothing;
* :class:`~serviceflow.explain.reasons.ExplainingEvaluator` lets the engine's evaluator decide, then,
  only for a case with findings, runs the traced native evaluator and adds each finding's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from serviceflow.engine import Engine
from serviceflow.evaluators.base import Evaluator
from serviceflow.findings import Finding
from serviceflow.records.model import Record

__all__ = ["CaseCapture", "wrap_evaluator"]


def wrap_evaluator(engine: Engine, wrap: Callable[[Evaluator], Evaluator]) -> None:
    """Put ``wrap(evaluator)`` in place of the engine's evaluator for the rest of its life."""
    engine.wrap_evaluator(wrap)


@dataclass
class CaseCapture:
    """An evaluator that evaluates nothing and keeps the records of the case ``case_id``."""

    case_id: str
    inner: Evaluator
    records: list[Record] | None = None
    """The case's records, in case order, once the engine has handed them over."""
    case_ids: list[str] = field(default_factory=list)
    """Every case the engine saw, in order, to name them when ``case_id`` is not among them."""
    name: str = "capture"

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> list[Finding]:
        self.case_ids.append(case_id)
        if case_id == self.case_id:
            self.records = list(records)
        return []

    def close(self) -> None:
        self.inner.close()
