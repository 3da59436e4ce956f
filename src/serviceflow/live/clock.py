"""The service's one clock: where ``now`` comes from, and how a background loop waits.

Every evaluation in serviceflow takes an explicit ``now``; in live mode that instant comes from one
injectable object, so that tests set it (:class:`ManualClock`) and never sleep, and production reads
the wall clock (:class:`SystemClock`). A loop that must wait (the sweeper until the earliest deadline,
the outbox until the next attempt) waits through the clock too, on an event that new work sets.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """What the service needs of time."""

    def now(self) -> datetime:
        """The current instant, with a time zone."""
        ...

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Wait until ``wake`` is set or ``seconds`` have passed; whether ``wake`` was set."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to: tests set it, and waiting never blocks.

    ``wait`` returns at once (after advancing the clock by the time waited, when ``advance_on_wait``
    is set), so a loop driven by this clock runs as fast as the machine allows and a test decides
    what time it is at each step.
    """

    def __init__(self, start: datetime, *, advance_on_wait: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time needs a time zone offset")
        self._now = start
        self._lock = threading.Lock()
        self.advance_on_wait = advance_on_wait

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("a clock's time needs a time zone offset")
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        if wake.is_set():
            return True
        if self.advance_on_wait:
            self.advance(timedelta(seconds=max(0.0, seconds)))
        return False
