"""The service's background work in one process: the sweeper, re-evaluation after a policy change,
the outbox lanes and the connectors' sources, each a daemon thread that stops when told.

The sweeper sleeps until the earliest ``next_change`` in the store (at most ``max-sleep``, and woken
at once when records arrive), so a deadline is acted on as soon as it passes rather than on the next
tick of a fixed period. Several processes on one PostgreSQL share the work: each sweep takes the due
cases no other holds. A failure (the store away for a moment) is logged and retried on the next turn.

Each configured source (:mod:`.connectors`) polls in a thread of its own, every ``interval``, backing
off after failures; one source that fails or hangs delays only itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from serviceflow.live.connectors import SourceRunner
from serviceflow.live.service import Service

__all__ = ["Background"]

LOGGER = logging.getLogger("serviceflow.live")
#: Extra wait past a deadline, so that a wake-up is never a hair early.
_MARGIN_SECONDS = 0.01


class Background:
    """Starts and stops the background threads of one service."""

    def __init__(
        self,
        service: Service,
        *,
        sweeper: bool = True,
        delivery: bool = True,
        sources: Sequence[SourceRunner] = (),
    ) -> None:
        """``sources``: the configured sources to poll (:func:`~.connectors.configured_sources`)."""
        self.service = service
        self.sweeper = sweeper
        self.delivery = delivery
        self.sources = list(sources)
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.stale_left: int | None = None
        """Open cases still to be re-evaluated under the current revision (``None``: not counted yet)."""

    def start(self) -> None:
        if self.sweeper:
            self._spawn("serviceflow-reevaluate", self._reevaluate)
            self._spawn("serviceflow-sweeper", self._sweep_loop)
        if self.delivery:
            self.threads.extend(self.service.deliverer.start(self.stop_event))
        for source in self.sources:
            self._spawn(
                f"serviceflow-source-{source.name}", lambda source=source: source.run(self.stop_event)
            )

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.service.sweeper_wake.set()
        self.service.deliverer.notify()
        for thread in self.threads:
            thread.join(timeout)
        for source in self.sources:
            source.close()

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self.threads.append(thread)

    def _reevaluate(self) -> None:
        """Bring every open case to the current policy revision, in batches, saying how far it got."""
        service = self.service
        try:
            self.stale_left = service.stale_cases()
            if self.stale_left:
                LOGGER.warning(
                    "policy revision %s: re-evaluating %d open cases in the background",
                    service.revision,
                    self.stale_left,
                )
            while self.stale_left and not self.stop_event.is_set():
                done = service.reevaluate_stale(limit=service.settings.sweeper.batch)
                self.stale_left = service.stale_cases()
                LOGGER.info("re-evaluated %d cases; %d left", done, self.stale_left)
                if not done:
                    break
        except Exception:
            LOGGER.exception("re-evaluating cases under the new policy revision failed")

    def _sweep_loop(self) -> None:
        service = self.service
        clock = service.clock
        max_sleep = service.settings.sweeper.max_sleep.total_seconds()
        while not self.stop_event.is_set():
            service.sweeper_wake.clear()
            try:
                result = service.sweep()
                if result.cases:
                    LOGGER.info(
                        "swept %d cases: %d transitions, %d actions enqueued",
                        result.cases,
                        result.transitions,
                        result.enqueued,
                    )
                earliest = service.store.earliest_next_change()
            except Exception:
                LOGGER.exception("the sweeper failed; trying again")
                earliest = None
            wait = max_sleep
            if earliest is not None:
                wait = min(max_sleep, max(0.0, (earliest - clock.now()).total_seconds()) + _MARGIN_SECONDS)
            clock.wait(service.sweeper_wake, wait)
