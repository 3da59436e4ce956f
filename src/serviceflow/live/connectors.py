"""Connectors in the live service: sources polled into the store, and the context of webhook routes.

A plugin's source (``serviceflow_sources``) is run here for each ``[sources.NAME]`` table: by a thread
of its own in ``serviceflow serve`` (:meth:`SourceRunner.run`) and by ``serviceflow sync NAME --once``
(:meth:`SourceRunner.sync`). One poll (:meth:`SourceRunner.poll_once`):

1. reads the source's stored cursor;
2. calls ``poll(cursor)`` in a thread of its own and waits at most ``poll-timeout`` for it: a poll that
   hangs (a server that accepts the connection and never answers) is abandoned, counted as a failure,
   and the source is not polled again until that call has returned, so hung polls cannot pile up;
3. hands the records to :meth:`Service.ingest <serviceflow.live.service.Service.ingest>`, the path of
   ``POST /v1/records`` (admission, duplicates and conflicts, re-evaluation, outbox), with the
   provenance ``{via: source, source, system, ref}``;
4. moves the cursor **in the same transaction** as the records it covers, from the value read in
   step 1 to the batch's (a compare-and-set). So a crash can neither lose records (the cursor never
   passes records that were not committed) nor skip them; and when two ``serve`` processes on one
   PostgreSQL poll the same source at once, the second one's transaction finds the cursor moved and
   rolls back whole: its records are the first one's (record ids come from the system's event ids), so
   nothing is lost and nothing doubles. Idempotency is the second line: a source whose cursor is set
   back re-reads records the store already holds, and each is a *duplicate*, stored once.

A poll that raises or hangs stores nothing, leaves the cursor, is counted in the store
(``source_cursors``: ``/metrics`` reads it there, whichever process polled) and logged; the thread then
waits ``interval`` doubled per consecutive failure up to ``max-backoff``, with jitter, and tries again.
Nothing a source does stops the service.

Routes (``serviceflow_routes``) are mounted by the HTTP adapter; what they may ask of the service is
:class:`ServiceContext` (the :class:`~serviceflow.contributions.RouteContext` protocol): store records
and take replay claims in one transaction.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from serviceflow.contributions import (
    DEFAULT_SOURCE_INTERVAL,
    Ingested,
    RouteSpec,
    Source,
    SourceBatch,
    SourceSpec,
    WebhookHandler,
)
from serviceflow.errors import PLUGIN_FAILURES, ConfigError, Location, RecordError, ServiceflowError
from serviceflow.live.ingest import IngestResult
from serviceflow.live.service import Service
from serviceflow.live.store import SourceState, Unit
from serviceflow.timeutil import parse_duration

__all__ = [
    "ConfiguredRoute",
    "ServiceContext",
    "SourceFailed",
    "SourceRunner",
    "SourceSettings",
    "SyncResult",
    "configured_routes",
    "configured_sources",
    "source_runner",
]

LOGGER = logging.getLogger("serviceflow.live.sources")
#: Keys of a ``[sources.NAME]`` table the service reads itself; the rest are the source's options.
SOURCE_KEYS = frozenset({"type", "enabled", "interval", "poll-timeout", "max-backoff", "start"})
#: Polls in a row a source may ask for at once (``more``) before its thread waits an interval anyway.
MAX_POLLS_AT_ONCE = 100
_ERROR_CHARS = 2000


class SourceFailed(ServiceflowError):
    """A poll of a source failed (it raised, hung, or returned something that is not a batch);
    nothing was stored and its cursor did not move."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"source '{source}': {message}")
        self.source = source


class _CursorMoved(Exception):
    """Raised inside the ingest transaction to roll it back: another process moved the cursor."""


class _Replayed(Exception):
    """Raised inside a route's ingest transaction to roll it back: a claim is already held."""


# --- settings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSettings:
    """One ``[sources.NAME]`` table, checked: what the service reads, and the source's own options."""

    name: str
    kind: str
    enabled: bool = True
    interval: timedelta = DEFAULT_SOURCE_INTERVAL
    poll_timeout: timedelta = timedelta(minutes=2)
    max_backoff: timedelta = timedelta(minutes=15)
    start: str = "beginning"
    """``beginning``: the first poll reads the whole history; ``now``: only what happens from now on."""
    options: Mapping[str, Any] = field(default_factory=dict)


def source_settings(
    name: str, table: Mapping[str, Any], spec: SourceSpec | None, where: Location
) -> SourceSettings:
    """The settings of ``[sources.NAME]``; every problem a :class:`ConfigError` naming the key."""

    def error(message: str, key: str) -> ConfigError:
        return ConfigError(f"[sources.{name}] '{key}' {message}", where)

    kind = table.get("type", name)
    if not isinstance(kind, str) or not kind:
        raise error("must name a kind of source (a plugin's source)", "type")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise error("must be true or false", "enabled")
    default_interval = spec.interval if spec is not None else DEFAULT_SOURCE_INTERVAL
    start = table.get("start", "beginning")
    if start not in ("beginning", "now"):
        raise error("must be 'beginning' (read the history) or 'now' (only what happens next)", "start")
    return SourceSettings(
        name=name,
        kind=kind,
        enabled=enabled,
        interval=_duration(table, "interval", default_interval, error),
        poll_timeout=_duration(table, "poll-timeout", timedelta(minutes=2), error),
        max_backoff=_duration(table, "max-backoff", timedelta(minutes=15), error),
        start=start,
        options={key: value for key, value in table.items() if key not in SOURCE_KEYS},
    )


def _duration(
    table: Mapping[str, Any], key: str, default: timedelta, error: Callable[[str, str], ConfigError]
) -> timedelta:
    value = table.get(key)
    if value is None:
        return default
    try:
        duration = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise error(f"is not a duration ('30s', '5m'): {exc}", key) from None
    if duration <= timedelta(0):
        raise error("must be longer than zero", key)
    return duration


# --- what a connector may ask of the service ------------------------------------------------------------


class ServiceContext:
    """A connector's handle on the service (:class:`~serviceflow.contributions.RouteContext`)."""

    def __init__(self, service: Service, name: str, kind: str = "source") -> None:
        self.service = service
        self._name = name
        self.kind = kind

    @property
    def name(self) -> str:
        return self._name

    @property
    def config_dir(self) -> Path | None:
        source = self.service.config.source
        return source.parent if source is not None else None

    def now(self) -> datetime:
        return self.service.clock.now()

    def case_of_record(self, record_id: str) -> str | None:
        found = self.service.store.transact(lambda unit: unit.find_records([record_id]), write=False)
        stored = found.get(record_id)
        return stored.case_id if stored is not None else None

    def claimed(self, key: str) -> bool:
        return self.service.store.key_claimed(key, self.now())

    def ingest(
        self, records: Sequence[Mapping[str, Any]], *, claims: Sequence[tuple[str, datetime]] = ()
    ) -> Ingested:
        moment = self.now()
        items, refs = _with_source_refs(records)

        def take_claims(unit: Unit, _result: IngestResult) -> None:
            for key, expires_at in claims:
                if not unit.claim_key(key, moment, expires_at):
                    raise _Replayed(key)

        try:
            result = self.service.ingest(
                items,
                provenance=lambda index: {"via": f"route {self._name}", **refs.get(index, {})},
                now=moment,
                within=take_claims,
            )
        except _Replayed:
            return Ingested(replayed=True)
        return _ingested(result)


def _ingested(result: IngestResult) -> Ingested:
    return Ingested(
        result.accepted,
        result.duplicates,
        tuple(f"record {item.index}: {item.pointer or '/'}: {item.message}" for item in result.rejected),
        result.cases,
    )


def _with_source_refs(records: Iterable[Any]) -> tuple[list[Any], dict[int, dict[str, str]]]:
    """The records, those without ``source: {system, ref}`` turned into rejections, and each one's ref.

    A connector's records must say which event of which system they came from: that is what makes a
    finding traceable to the system and a re-read recognisable; a record without it is refused as a
    connector bug, visibly, rather than stored untraceable.
    """
    items: list[Any] = []
    refs: dict[int, dict[str, str]] = {}
    for index, record in enumerate(records):
        source = record.get("source") if isinstance(record, Mapping) else None
        system = source.get("system") if isinstance(source, Mapping) else None
        ref = source.get("ref") if isinstance(source, Mapping) else None
        if isinstance(record, Mapping) and not (
            isinstance(system, str) and system and isinstance(ref, str) and ref
        ):
            items.append(
                RecordError(
                    "a connector's record must carry source: {system, ref} (the event it came from)",
                    Location(pointer="/source"),
                )
            )
            continue
        if isinstance(system, str) and isinstance(ref, str):
            refs[index] = {"system": system, "ref": ref}
        items.append(record)
    return items, refs


# --- sources ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    """What :meth:`SourceRunner.sync` did: polls made, records stored, where the cursor is."""

    source: str
    polls: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    cursor: str | None = None
    more: bool = False
    """The last poll said more is waiting (``sync`` stopped at its poll limit)."""
    lost_race: bool = False
    """Another process moved the cursor during the last poll: this one stored nothing of it."""

    def __add__(self, other: SyncResult) -> SyncResult:
        return SyncResult(
            self.source,
            self.polls + other.polls,
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            self.problems + other.problems,
            other.cursor,
            other.more,
            other.lost_race,
        )


class SourceRunner:
    """One configured source in one service: polls it, stores what it read, keeps its cursor."""

    def __init__(
        self, service: Service, spec: SourceSpec, settings: SourceSettings, rng: random.Random | None = None
    ) -> None:
        self.service = service
        self.spec = spec
        self.settings = settings
        self.name = settings.name
        self.rng = rng or random.Random()
        self.context = ServiceContext(service, settings.name)
        try:
            self.source: Source = spec.create(dict(settings.options), self.context)
        except ServiceflowError:
            raise
        except PLUGIN_FAILURES as exc:
            raise ConfigError(
                f"source '{self.name}' (plugin '{spec.plugin}') could not be created: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self.failures = 0
        self._busy: threading.Event | None = None
        """Set when a call abandoned after ``poll-timeout`` returns; no new poll starts before."""
        self._jobs: queue.SimpleQueue[_Job | None] | None = None

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None
        try:
            self.source.close()
        except PLUGIN_FAILURES:
            LOGGER.exception("source '%s' failed to close", self.name)

    # --- one poll ---------------------------------------------------------------------------------

    def poll_once(self, *, cursor: str | None = None, reset: bool = False) -> SyncResult:
        """Poll once and store what was read with the new cursor, in one transaction.

        ``reset`` starts from ``cursor`` instead of the stored one (``sync --from``). Raises
        :class:`SourceFailed` when the poll fails; nothing is stored then.
        """
        state = self._state()
        stored = state.cursor if state is not None else None
        start = cursor if reset else stored
        if start is None and not reset and self.settings.start == "now":
            start = self._current_cursor()
        batch = self._call(lambda: self.source.poll(start), "poll")
        if not isinstance(batch, SourceBatch) or not isinstance(batch.cursor, str):
            raise SourceFailed(
                self.name, f"poll returned {type(batch).__name__}, not a SourceBatch with a cursor"
            )
        moment = self.service.clock.now()
        items, refs = _with_source_refs(batch.records)
        records_from = {"via": "source", "source": self.name}

        def move_cursor(unit: Unit, result: IngestResult) -> None:
            # After the records, in their transaction: both commit or neither does.
            if reset:
                current = unit.source_state(self.name)
                expected = current.cursor if current is not None else None
            else:
                expected = stored
            if not unit.advance_source(self.name, expected, batch.cursor, result.accepted, moment):
                raise _CursorMoved()

        try:
            result = self.service.ingest(
                items,
                provenance=lambda index: {**records_from, **refs.get(index, {})},
                now=moment,
                within=move_cursor,
            )
        except _CursorMoved:
            LOGGER.info(
                "source '%s': another process polled it meanwhile; this poll stored nothing", self.name
            )
            return SyncResult(self.name, polls=1, cursor=stored, lost_race=True)
        self.failures = 0
        problems = tuple(str(problem) for problem in batch.problems)
        rejected = _ingested(result).rejected
        for line in (*problems, *rejected):
            LOGGER.warning("source '%s': %s", self.name, line)
        if result.accepted or result.duplicates:
            LOGGER.info(
                "source '%s': %d records stored, %d already held; cursor %s",
                self.name,
                result.accepted,
                result.duplicates,
                batch.cursor,
            )
        return SyncResult(
            self.name,
            1,
            result.accepted,
            result.duplicates,
            rejected,
            problems,
            batch.cursor,
            bool(batch.more),
        )

    def sync(
        self, *, max_polls: int = MAX_POLLS_AT_ONCE, cursor: str | None = None, reset: bool = False
    ) -> SyncResult:
        """Poll until the source has nothing more waiting (at most ``max_polls`` times)."""
        total = self.poll_once(cursor=cursor, reset=reset)
        while total.more and total.polls < max_polls and not total.lost_race:
            total = total + self.poll_once()
        return total

    def failed(self, error: BaseException) -> str:
        """Count a failed poll (in the store, for ``/metrics``) and say what failed."""
        self.failures += 1
        message = str(error) if isinstance(error, SourceFailed) else f"{type(error).__name__}: {error}"
        message = message.replace("\x00", "")[:_ERROR_CHARS]
        try:
            self.service.store.source_failed(self.name, message, self.service.clock.now())
        except Exception:  # the store itself is away: the log still says it
            LOGGER.exception("source '%s': could not record the failure in the store", self.name)
        return message

    def _state(self) -> SourceState | None:
        return self.service.store.transact(lambda unit: unit.source_state(self.name), write=False)

    def _current_cursor(self) -> str:
        current = getattr(self.source, "current_cursor", None)
        if not callable(current):
            raise SourceFailed(
                self.name, "start = 'now', but this kind of source cannot tell its newest position"
            )
        cursor = self._call(current, "current_cursor")
        if not isinstance(cursor, str):
            raise SourceFailed(self.name, f"current_cursor() returned {type(cursor).__name__}, not a string")
        return cursor

    def _call(self, function: Callable[[], Any], what: str) -> Any:
        """``function()`` on this source's worker thread, waited for at most ``poll-timeout``.

        One long-lived thread per source, not one per poll: a source's calls into the service (a
        store lookup from inside ``poll``) then reuse that thread's database connection.
        """
        if self._busy is not None:
            if not self._busy.is_set():
                raise SourceFailed(
                    self.name,
                    "an earlier poll that was abandoned has still not returned; not polling again yet",
                )
            self._busy = None
        outcome: dict[str, Any] = {}
        done = threading.Event()
        self._worker().put((function, outcome, done))
        seconds = self.settings.poll_timeout.total_seconds()
        if not done.wait(seconds):
            self._busy = done
            raise SourceFailed(self.name, f"{what} did not return within {seconds:g}s; abandoned")
        if "error" in outcome:
            error = outcome["error"]
            detail = str(error) if isinstance(error, ServiceflowError) else f"{type(error).__name__}: {error}"
            raise SourceFailed(self.name, f"{what} failed: {detail}") from error
        return outcome.get("value")

    def polling(self) -> bool:
        """Whether an abandoned call is still running (the source is not polled until it returns)."""
        return self._busy is not None and not self._busy.is_set()

    def _worker(self) -> queue.SimpleQueue[_Job | None]:
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            jobs = self._jobs
            # A daemon: a poll hung in a system call must not keep the process from exiting.
            thread = threading.Thread(
                target=_work, args=(jobs,), name=f"serviceflow-source-{self.name}-poll", daemon=True
            )
            thread.start()
        return self._jobs

    # --- the background thread ------------------------------------------------------------------------

    def delay(self) -> float:
        """Seconds until the next poll: the interval, or after failures a backoff with jitter."""
        interval = self.settings.interval.total_seconds()
        if not self.failures:
            return interval
        ceiling = min(interval * 2 ** min(self.failures, 30), self.settings.max_backoff.total_seconds())
        ceiling = max(ceiling, interval)
        return ceiling / 2 + ceiling / 2 * self.rng.random()

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval`` until ``stop`` is set; failures are logged and backed off, never fatal."""
        clock = self.service.clock
        at_once = 0
        while not stop.is_set():
            try:
                result = self.poll_once()
            except Exception as error:
                message = self.failed(error)
                wait = self.delay()
                LOGGER.error(
                    "source '%s' failed (%d in a row): %s; next poll in %.0fs",
                    self.name,
                    self.failures,
                    message,
                    wait,
                )
                at_once = 0
            else:
                if result.more and at_once < MAX_POLLS_AT_ONCE:
                    at_once += 1
                    continue
                at_once = 0
                wait = self.delay()
            clock.wait(stop, wait)


#: A call for a source's worker thread: the function, where its outcome goes, and the event set after.
_Job = tuple[Callable[[], Any], dict[str, Any], threading.Event]


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        function, outcome, done = job
        try:
            outcome["value"] = function()
        except PLUGIN_FAILURES as exc:
            outcome["error"] = exc
        finally:
            done.set()


def source_runner(service: Service, name: str) -> SourceRunner:
    """The runner of ``[sources.NAME]``; a ConfigError when it is not configured or its kind unknown."""
    tables = service.config.sources
    if name not in tables:
        configured = ", ".join(sorted(tables)) or "none"
        raise ConfigError(
            f"no [sources.{name}] table in the configuration (configured sources: {configured})",
            service.config.location("sources"),
        )
    return _runner(service, name, tables[name])


def configured_sources(service: Service) -> list[SourceRunner]:
    """A runner for every enabled ``[sources.NAME]`` table (what ``serve`` polls)."""
    runners = []
    for name, table in sorted(service.config.sources.items()):
        runner = _runner(service, name, table)
        if runner.settings.enabled:
            runners.append(runner)
        else:
            runner.close()
    return runners


def _runner(service: Service, name: str, table: Mapping[str, Any]) -> SourceRunner:
    where = service.config.location("sources", name)
    kind = table.get("type", name)
    spec = service.engine.plugins.sources.get(kind) if isinstance(kind, str) else None
    settings = source_settings(name, table, spec, where)
    if spec is None:
        known = ", ".join(sorted(service.engine.plugins.sources)) or "none: install a connector plugin"
        raise ConfigError(
            f"[sources.{name}]: no plugin offers a source '{settings.kind}' (sources: {known})", where
        )
    return SourceRunner(service, spec, settings)


# --- routes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfiguredRoute:
    """A route to mount: where (``prefix`` + each of ``spec.paths``), and the handler created for it."""

    spec: RouteSpec
    prefix: str
    handler: WebhookHandler

    @property
    def urls(self) -> list[str]:
        return [self.prefix + path for path in self.spec.paths]


def configured_routes(service: Service) -> list[ConfiguredRoute]:
    """A handler for every ``[routes.NAME]`` table, mounted at ``/v1/hooks/<plugin>/<name>``."""
    routes = []
    known = service.engine.plugins.routes
    for name, table in sorted(service.config.routes.items()):
        where = service.config.location("routes", name)
        spec = known.get(name)
        if spec is None:
            names = ", ".join(sorted(known)) or "none: install a connector plugin"
            raise ConfigError(f"[routes.{name}]: no plugin offers a route '{name}' (routes: {names})", where)
        context = ServiceContext(service, name, "route")
        try:
            handler = spec.create(dict(table), context)
        except ServiceflowError:
            raise
        except PLUGIN_FAILURES as exc:
            raise ConfigError(
                f"route '{name}' (plugin '{spec.plugin}') could not be created: {type(exc).__name__}: {exc}",
                where,
            ) from None
        if not callable(handler):
            raise ConfigError(
                f"route '{name}' (plugin '{spec.plugin}'): create() did not return a handler", where
            )
        routes.append(ConfiguredRoute(spec, f"/v1/hooks/{spec.plugin or name}/{name}", handler))
    return routes
