"""Replay protection for signed webhooks: each signed request is accepted once.

A Twilio signature covers the URL and the parameters but no time, so a captured request stays
validly signed forever. Two things stop a replay:

* **A window.** A request that says when its event happened (voice status callbacks carry
  ``Timestamp``) is refused when that is more than the window before ``now``, or more than a few
  minutes after it (a clock that is wrong is not a reason to accept anything).
* **A seen store.** Inside the window, each request's :func:`replay_key` is claimed in a
  :class:`SeenStore`; a second claim of the same key fails and the request is refused. Keys are kept
  for the window, so the store stays small.

Inbound SMS webhooks carry no time, so only the store protects them, and only for the window: after
it, a replayed message would be accepted again, but its record id (the ``MessageSid``) is the one the
store of records already has, and admission refuses a duplicate id. That is the second, permanent line.

The store is injected: :class:`MemorySeenStore` for one process and for tests; in the live service the
``twilio`` route backs :class:`SeenStore` with the service's database
(:class:`serviceflow_phone.routes.StoreClaims`), so that the claim and the ingest of the records commit
in one transaction (a request whose records could not be stored must not stay "seen").
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["MemorySeenStore", "SeenStore", "replay_key"]

LOGGER = logging.getLogger("serviceflow_phone.replay")


@runtime_checkable
class SeenStore(Protocol):
    """Remembers which signed requests were accepted, until each key expires."""

    def claim(self, key: str, seen_at: datetime, expires_at: datetime) -> bool:
        """Record ``key`` and return True, or return False when it is already held and unexpired.

        Must be atomic: of two concurrent claims of one key, exactly one succeeds.
        """
        ...


def replay_key(kind: str, sid: str, status: str, signature: str) -> str:
    """The key a request is claimed under: readable where it can be, a digest where it must be.

    Equal signatures mean equal signed content (URL and every parameter), so the signature alone
    identifies a request; the kind, sid and status make the key say what it is about in the store.
    """
    digest = hashlib.sha256(signature.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"twilio:{kind}:{sid}:{status}:{digest}"


class MemorySeenStore:
    """A :class:`SeenStore` in this process's memory, thread-safe, with at most ``capacity`` keys.

    When full of unexpired keys it forgets the ones closest to expiry first, and says so in the log:
    the records' own ids still stop a replay from storing anything twice.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._expiry: dict[str, datetime] = {}
        self._queue: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

    def claim(self, key: str, seen_at: datetime, expires_at: datetime) -> bool:
        with self._lock:
            self._expire(seen_at)
            held = self._expiry.get(key)
            if held is not None and held > seen_at:
                return False
            while len(self._expiry) >= self.capacity:
                expiry, oldest = heapq.heappop(self._queue)
                if self._expiry.get(oldest) == expiry:
                    del self._expiry[oldest]
                    LOGGER.warning(
                        "replay store full (%d keys): forgot a key before its expiry", self.capacity
                    )
            self._expiry[key] = expires_at
            heapq.heappush(self._queue, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._expiry)

    def _expire(self, now: datetime) -> None:
        while self._queue and self._queue[0][0] <= now:
            expiry, key = heapq.heappop(self._queue)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]
