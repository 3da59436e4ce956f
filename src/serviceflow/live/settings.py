"""The ``[live]`` table of the configuration: how the service gates, acts, retries and sweeps.

::

    [live]
    gate = "error"               # a check says no when a new violation is at or above this severity
    actions = ["webhook"]        # actions run, from the outbox, on each transition that breaks an obligation
    max-body = 1048576           # request body limit in bytes (413 beyond it)

    [live.outbox]
    max-attempts = 8             # then the item is dead-lettered (visible, retryable by hand)
    backoff = "5s"               # first retry delay; doubled each attempt, with jitter
    max-backoff = "1h"
    lease = "2m"                 # how long a delivery may run before another worker may try again

    [live.sweeper]
    max-sleep = "60s"            # the longest the sweeper sleeps when no deadline is nearer
    batch = 200                  # cases re-evaluated per transaction

Each action's own options stay in ``[actions.NAME]``. Every problem is a :class:`ConfigError` naming the
setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from serviceflow.config import Config
from serviceflow.errors import ConfigError
from serviceflow.findings import Severity
from serviceflow.timeutil import parse_duration

__all__ = ["DEFAULT_MAX_BODY", "LiveSettings", "OutboxSettings", "SweeperSettings", "live_settings"]

DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class OutboxSettings:
    """Delivery of actions: at least once, backing off exponentially, then dead-lettered."""

    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)


@dataclass(frozen=True)
class SweeperSettings:
    """How the sweeper waits for deadlines and how much it takes on at once."""

    max_sleep: timedelta = timedelta(seconds=60)
    batch: int = 200


@dataclass(frozen=True)
class LiveSettings:
    """Everything the service reads from ``[live]``."""

    gate: Severity = Severity.ERROR
    actions: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    sweeper: SweeperSettings = field(default_factory=SweeperSettings)


_TOP = {"gate", "actions", "max-body", "outbox", "sweeper"}
_OUTBOX = {"max-attempts", "backoff", "max-backoff", "lease"}
_SWEEPER = {"max-sleep", "batch"}


def live_settings(config: Config) -> LiveSettings:
    """The service's settings from ``config.live``, checked."""
    data = config.live

    def error(message: str, *keys: str) -> ConfigError:
        return ConfigError(message, config.location("live", *keys))

    _only(data, _TOP, error)
    gate = data.get("gate", "error")
    if gate not in ("error", "warning", "info"):
        raise error("'gate' must be error, warning or info", "gate")
    actions = data.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(name, str) and name for name in actions):
        raise error("'actions' must be a list of action names", "actions")
    max_body = _positive_int(data.get("max-body", DEFAULT_MAX_BODY), error, "max-body")
    outbox_data = _table(data.get("outbox", {}), error, "outbox")
    _only(outbox_data, _OUTBOX, error, "outbox")
    outbox = OutboxSettings(
        max_attempts=_positive_int(outbox_data.get("max-attempts", 8), error, "outbox", "max-attempts"),
        backoff=_duration(outbox_data.get("backoff", "5s"), error, "outbox", "backoff"),
        max_backoff=_duration(outbox_data.get("max-backoff", "1h"), error, "outbox", "max-backoff"),
        lease=_duration(outbox_data.get("lease", "2m"), error, "outbox", "lease"),
    )
    sweeper_data = _table(data.get("sweeper", {}), error, "sweeper")
    _only(sweeper_data, _SWEEPER, error, "sweeper")
    sweeper = SweeperSettings(
        max_sleep=_duration(sweeper_data.get("max-sleep", "60s"), error, "sweeper", "max-sleep"),
        batch=_positive_int(sweeper_data.get("batch", 200), error, "sweeper", "batch"),
    )
    return LiveSettings(Severity(gate), tuple(actions), max_body, outbox, sweeper)


def _only(data: Mapping[str, Any], known: set[str], error: Any, *keys: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        where = ".".join(("live", *keys))
        raise error(
            f"unknown setting '{unknown[0]}' in [{where}] (settings: {', '.join(sorted(known))})",
            *keys,
            unknown[0],
        )


def _table(value: Any, error: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise error(f"'{key}' must be a table", key)
    return value


def _positive_int(value: Any, error: Any, *keys: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"'{keys[-1]}' must be a positive whole number", *keys)
    return value


def _duration(value: Any, error: Any, *keys: str) -> timedelta:
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise error(f"'{keys[-1]}': {exc}", *keys) from None
    if duration <= timedelta(0):
        raise error(f"'{keys[-1]}' must be longer than zero", *keys)
    return duration
