"""Live mode: serviceflow inside a help desk, as a library.

A :class:`Service` over a :class:`Store`, an :class:`~serviceflow.Engine` and one :class:`Clock`:
records are ingested as they happen and each touched case is re-evaluated in the same transaction;
a gate check answers "may I?" with reasons; the sweeper re-evaluates cases when a deadline passes; the
outbox delivers each action for each transition at least once. No HTTP framework and no database
driver is imported here: stores (:mod:`serviceflow.stores`) and the HTTP app (:mod:`serviceflow.http`)
are adapters. See docs/live.md.
"""

from serviceflow.live.clock import Clock, ManualClock, SystemClock
from serviceflow.live.errors import (
    BadRequest,
    Forbidden,
    IdempotencyMismatch,
    LiveError,
    NotFound,
    StoreError,
    Unauthorized,
)
from serviceflow.live.ingest import IngestResult, Rejected
from serviceflow.live.outbox import Delivered
from serviceflow.live.runner import Background
from serviceflow.live.service import CaseState, GateResult, Observer, Page, Service, SweepResult
from serviceflow.live.settings import LiveSettings, live_settings
from serviceflow.live.store import OutboxItem, OutboxState, Store, Unit

__all__ = [
    "Background",
    "BadRequest",
    "CaseState",
    "Clock",
    "Delivered",
    "Forbidden",
    "GateResult",
    "IdempotencyMismatch",
    "IngestResult",
    "LiveError",
    "LiveSettings",
    "ManualClock",
    "NotFound",
    "Observer",
    "OutboxItem",
    "OutboxState",
    "Page",
    "Rejected",
    "Service",
    "Store",
    "StoreError",
    "SweepResult",
    "SystemClock",
    "Unauthorized",
    "Unit",
    "live_settings",
]
