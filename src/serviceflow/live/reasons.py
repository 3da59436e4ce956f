"""Why each finding fired, for the service's answers: the traced native evaluator, on demand.

Live verdicts are made without tracing (it would double the cost of every ingest and sweep); a reason
is worked out when an answer shows the finding: a gate check's violations, a case's findings. The
trace replays the case's records at the instant the findings were evaluated, so the reason is that of
the stored verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from serviceflow.engine import Engine
from serviceflow.explain.trace import TracingEvaluator
from serviceflow.explain.wording import reason
from serviceflow.findings import Finding
from serviceflow.records.model import Record, case_order

__all__ = ["Reasons"]


class Reasons:
    """Adds :attr:`Finding.reason` to findings of one engine's policies."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()  # a tracer records as it goes: one per thread

    def _tracer(self, policy_ids: frozenset[str]) -> TracingEvaluator:
        """A tracer of only the policies asked about: tracing every policy of a long case costs tens
        of milliseconds, one or two policies a few."""
        tracers: dict[frozenset[str], TracingEvaluator] | None = getattr(self._local, "tracers", None)
        if tracers is None:
            tracers = self._local.tracers = {}
        tracer = tracers.get(policy_ids)
        if tracer is None:
            if len(tracers) >= _MAX_TRACERS:
                tracers.clear()
            policies = [policy for policy in self._engine.policies if policy.id in policy_ids]
            tracer = tracers[policy_ids] = TracingEvaluator(policies, self._engine.calendars)
        return tracer

    def explain(
        self, case_id: str, records: Sequence[Record], now: datetime, findings: Sequence[Finding]
    ) -> tuple[Finding, ...]:
        """``findings`` of the case at ``now``, each with its reason where the trace has one."""
        if not findings:
            return tuple(findings)
        tracer = self._tracer(frozenset(finding.policy for finding in findings))
        trace = tracer.trace_case(case_id, sorted(records, key=case_order), now)
        explained = []
        for finding in findings:
            subject = trace.for_finding(finding)
            explained.append(replace(finding, reason=reason(subject)) if subject is not None else finding)
        return tuple(explained)


#: Tracers kept per thread (one per set of policies asked about).
_MAX_TRACERS = 64
