"""Delivering the outbox: each action, for each transition, at least once, with backoff, then dead.

An outbox item is one row whose state is its whole life (:class:`OutboxState`): *pending* until its
next attempt is due, *delivering* while a worker holds it (until its lease runs out, so that a worker
killed mid-delivery leaves it to the next one), then *delivered*, or *pending* again with a later
attempt time (exponential backoff with jitter), or *dead* after the last attempt or a refusal that
retrying cannot fix (a receiver's 4xx). Every attempt hands the action the same idempotency key.

Each action is delivered in its own lane (thread): a receiver that hangs or fails holds back its own
items only, never another action's.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from serviceflow.actions import act
from serviceflow.contributions import ActionContext, ActionFunction
from serviceflow.live.clock import Clock
from serviceflow.live.codec import transition_from_dict
from serviceflow.live.settings import OutboxSettings
from serviceflow.live.store import OutboxItem, OutboxState, Store

__all__ = ["Delivered", "Deliverer", "backoff_delay"]

LOGGER = logging.getLogger("serviceflow.live.outbox")
#: Items one lane claims at a time: small, so that a lease covers only what is being worked on.
CLAIM = 10


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one attempt at one item came to."""

    item_id: int
    action: str
    state: OutboxState
    attempts: int
    detail: str


def backoff_delay(attempts: int, settings: OutboxSettings, rng: random.Random) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from ``backoff`` up to
    ``max-backoff``, then "equal jitter" (half fixed, half random) so that retries spread out."""
    ceiling = min(settings.backoff * (2 ** max(0, attempts - 1)), settings.max_backoff)
    return ceiling / 2 + ceiling / 2 * rng.random()


class Deliverer:
    """Hands due outbox items to their actions and records how each attempt went."""

    def __init__(
        self,
        store: Store,
        actions: Mapping[str, ActionFunction],
        clock: Clock,
        settings: OutboxSettings,
        rng: random.Random | None = None,
        on_result: Callable[[Delivered], None] | None = None,
    ) -> None:
        self.store = store
        self.actions = dict(actions)
        self.clock = clock
        self.settings = settings
        self.rng = rng or random.Random()
        self.on_result = on_result
        self._wakes = {action: threading.Event() for action in self.actions}

    def notify(self) -> None:
        """New items may be due: wake every lane."""
        for event in self._wakes.values():
            event.set()

    def deliver_due(self, action: str | None = None, limit: int = CLAIM) -> list[Delivered]:
        """One pass: claim up to ``limit`` due items of ``action`` (or of every action, one lane after
        the other) and attempt each once."""
        names = [action] if action is not None else sorted(self.actions)
        done: list[Delivered] = []
        for name in names:
            now = self.clock.now()
            items = self.store.claim_outbox(name, now, now + self.settings.lease, limit)
            done.extend(self.attempt(item) for item in items)
        return done

    def attempt(self, item: OutboxItem) -> Delivered:
        """Hand one claimed item to its action (its attempt was counted when it was claimed)."""
        function = self.actions.get(item.action)
        now = self.clock.now()
        if function is None:
            # An action no longer configured: keep the item, visibly, rather than drop it.
            outcome = self._fail(item, f"action '{item.action}' is not configured here", retry=True, now=now)
            return outcome
        transition = transition_from_dict(item.transition)
        context = ActionContext(now, None, transition.kind.value, item.idempotency_key)
        result = act(item.action, function, transition, context)
        if result.ok:
            self.store.finish_outbox(
                item.id, state=OutboxState.DELIVERED, next_attempt_at=now, error=None, now=self.clock.now()
            )
            outcome = Delivered(item.id, item.action, OutboxState.DELIVERED, item.attempts, result.detail)
        else:
            outcome = self._fail(item, result.detail, retry=result.retry, now=self.clock.now())
        if self.on_result is not None:
            self.on_result(outcome)
        return outcome

    def _fail(self, item: OutboxItem, detail: str, *, retry: bool, now: datetime) -> Delivered:
        if not retry or item.attempts >= self.settings.max_attempts:
            state, when = OutboxState.DEAD, now
            LOGGER.warning(
                "outbox item %s (%s) dead after %s attempts: %s", item.id, item.action, item.attempts, detail
            )
        else:
            state, when = OutboxState.PENDING, now + backoff_delay(item.attempts, self.settings, self.rng)
        self.store.finish_outbox(item.id, state=state, next_attempt_at=when, error=detail[:2000], now=now)
        return Delivered(item.id, item.action, state, item.attempts, detail)

    # --- running in the background ----------------------------------------------------------------

    def run_lane(self, action: str, stop: threading.Event, max_sleep: float = 30.0) -> None:
        """Deliver ``action``'s items until ``stop`` is set, waiting for the next due attempt (or
        for :meth:`notify`)."""
        wake = self._wakes[action]
        while not stop.is_set():
            try:
                done = self.deliver_due(action)
            except Exception:  # the store is away for a moment: wait, then try again
                LOGGER.exception("outbox lane '%s' failed; trying again", action)
                done = []
            if done:
                continue
            due = self.store.earliest_attempt()
            wait = max_sleep
            if due is not None:
                wait = min(max_sleep, max(0.05, (due - self.clock.now()).total_seconds()))
            self.clock.wait(wake, wait)
            wake.clear()

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """One daemon thread per configured action; set ``stop`` and :meth:`notify` to end them."""
        threads = []
        for action in sorted(self.actions):
            thread = threading.Thread(
                target=self.run_lane, args=(action, stop), name=f"serviceflow-outbox-{action}", daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads
