"""``lint --explain``: each finding with the short reason the traced native evaluator gives for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from serviceflow.engine import Engine
from serviceflow.evaluators.base import CaseFindings, Evaluator
from serviceflow.explain.trace import TracingEvaluator
from serviceflow.explain.wording import reason
from serviceflow.records.model import Record

__all__ = ["ExplainingEvaluator", "explain_findings"]


def explain_findings(engine: Engine) -> None:
    """Make ``engine`` give every finding it reports its reason (:attr:`Finding.reason`)."""
    tracing = TracingEvaluator(engine.policies, engine.calendars)
    engine.wrap_evaluator(lambda inner: ExplainingEvaluator(inner, tracing))


class ExplainingEvaluator:
    """Another evaluator's findings, each with the reason the traced native evaluator gives for it.

    Cases without findings are not traced, so explaining costs nothing where there is nothing to
    explain. A finding the native evaluator would not produce (another evaluator disagreeing) keeps
    no reason.
    """

    def __init__(self, inner: Evaluator, tracing: TracingEvaluator) -> None:
        """``tracing`` traces the same policies, with the same calendars, as ``inner`` evaluates."""
        self.inner = inner
        self.name = inner.name
        self.tracing = tracing

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseFindings:
        outcome = self.inner.evaluate_case(case_id, records, now)
        if not outcome.findings:
            return outcome
        trace = self.tracing.trace_case(case_id, records, now)
        explained = []
        for finding in outcome.findings:
            subject = trace.for_finding(finding)
            explained.append(replace(finding, reason=reason(subject)) if subject is not None else finding)
        return CaseFindings(explained, outcome.changes)

    def close(self) -> None:
        self.tracing.close()
        self.inner.close()
