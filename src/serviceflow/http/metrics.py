"""``GET /metrics``: the service's counters in Prometheus' text format, one registry per app.

Counters and the gate-check latency histogram are fed by the service as it works (this module is its
:class:`~serviceflow.live.Observer`); the outbox depth by state, the sweeper's lag (how far past due
the earliest ``next_change`` is) and the cases left to re-evaluate are read from the store at scrape
time, so they are right whichever process did the work.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from serviceflow.live.service import Service

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceMetrics:
    """Prometheus metrics of one service."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records_ingested = Counter(
            "serviceflow_records_ingested", "Records stored", registry=self.registry
        )
        self.duplicates = Counter(
            "serviceflow_records_duplicate",
            "Records sent again with the same content",
            registry=self.registry,
        )
        self.rejected = Counter(
            "serviceflow_records_rejected", "Records refused (invalid or conflicting)", registry=self.registry
        )
        self.evaluations = Counter(
            "serviceflow_evaluations",
            "Case evaluations (ingest, sweep, re-evaluation)",
            registry=self.registry,
        )
        self.checks = Counter(
            "serviceflow_gate_checks", "Gate checks answered", ["allowed"], registry=self.registry
        )
        self.check_seconds = Histogram(
            "serviceflow_gate_check_seconds",
            "Gate check latency",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(service))

    # --- the Observer protocol ---

    def ingested(self, accepted: int, duplicates: int, rejected: int) -> None:
        self.records_ingested.inc(accepted)
        self.duplicates.inc(duplicates)
        self.rejected.inc(rejected)

    def evaluated(self, cases: int) -> None:
        self.evaluations.inc(cases)

    def checked(self, seconds: float, allowed: bool) -> None:
        self.checks.labels(allowed="true" if allowed else "false").inc()
        self.check_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def describe(self) -> Iterator[Metric]:
        """The families without values: registering must not query a store that may not be migrated."""
        yield GaugeMetricFamily("serviceflow_outbox_items", _OUTBOX_HELP, labels=["state"])
        yield GaugeMetricFamily("serviceflow_sweeper_lag_seconds", _LAG_HELP)
        yield GaugeMetricFamily("serviceflow_stale_cases", _STALE_HELP)

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.service.store.outbox_depth()
            earliest = self.service.store.earliest_next_change()
            stale = self.service.stale_cases()
        except Exception:  # the store is away: /readyz says so; the counters still scrape
            return
        depth = GaugeMetricFamily("serviceflow_outbox_items", _OUTBOX_HELP, labels=["state"])
        for state, count in sorted(counts.items()):
            depth.add_metric([state], count)
        yield depth
        lag = max(0.0, (self.service.clock.now() - earliest).total_seconds()) if earliest is not None else 0.0
        yield GaugeMetricFamily("serviceflow_sweeper_lag_seconds", _LAG_HELP, value=lag)
        yield GaugeMetricFamily("serviceflow_stale_cases", _STALE_HELP, value=stale)


_OUTBOX_HELP = "Outbox items by state"
_LAG_HELP = "How far past due the earliest next_change is (0 while the sweeper keeps up)"
_STALE_HELP = "Open cases not yet re-evaluated under the current policy revision"
