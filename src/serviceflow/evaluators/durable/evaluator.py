"""The durable-rules evaluator: the same policies, the same findings, matched by durable-rules' Rete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from serviceflow.calendars import Calendar
from serviceflow.errors import EvaluatorError
from serviceflow.evaluators.base import CaseFindings
from serviceflow.evaluators.durable.machine import Program
from serviceflow.evaluators.durable.session import LOCK, Case, Runtime
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.records.model import Record


class DurableEvaluator:
    """Evaluates compiled policies with durable-rules 2.0.28 (CPython 3.11 and 3.12).

    The policies are compiled once into one ruleset; cases run in durable-rules sessions that are
    deleted every few cases. ``calendars`` are the business-hours calendars policies may count time in
    (as for the native evaluator). Safe to share between threads (calls are serialised: the C extension
    is not thread-safe). Call :meth:`close` to release the ruleset.
    """

    name = "durable"

    def __init__(
        self, policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar] | None = None
    ) -> None:
        self.policies = list(policies)
        self.calendars = dict(calendars or {})
        self._runtime = Runtime(Program(self.policies), self.calendars)

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        """Findings (violations and pending) for one case whose records are in case order."""
        with LOCK:
            if self._runtime.closed:
                raise EvaluatorError("the durable evaluator is closed")
            return Case(self._runtime, case_id, records, now).evaluate()

    def close(self) -> None:
        """Release the durable-rules ruleset; the evaluator cannot be used afterwards."""
        self._runtime.close()
