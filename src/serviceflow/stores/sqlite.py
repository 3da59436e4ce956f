"""The SQLite store: embedded, nothing to start, the default (``./serviceflow.db``).

One file in WAL mode (readers never wait for the writer), one connection per thread, and every write
transaction ``BEGIN IMMEDIATE``: SQLite has one writer at a time, so taking the write lock up front
means a transaction never fails half-way for want of it, and there are no row locks to take (the
locking methods of the unit are no-ops here). ``synchronous = FULL``: a commit that returned is on
disk, which is what "acknowledged means committed" promises.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from serviceflow.live.codec import to_micros
from serviceflow.live.errors import StoreError
from serviceflow.live.store import SchemaStatus, Unit
from serviceflow.stores.schema import MIGRATIONS, latest_version
from serviceflow.stores.sql import Dialect, SqlQueries, SqlUnit

__all__ = ["SQLITE", "SqliteStore"]

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite",
    lock_rows="",
    skip_locked="",
    serial_key="INTEGER PRIMARY KEY AUTOINCREMENT",
    advisory_lock=None,
)
#: How long a writer waits for another's transaction before giving up (SQLite's busy timeout).
BUSY_TIMEOUT_SECONDS = 60.0


class _Connection:
    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.raw.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.raw.execute(sql, tuple(params)).rowcount

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.raw.executemany(sql, [tuple(p) for p in params])


class SqliteStore(SqlQueries):
    """A store in one SQLite file."""

    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> _Connection:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                raw = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
                )
                raw.execute("PRAGMA journal_mode = WAL")
                raw.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from None
            connection = self._local.connection = _Connection(raw)
            with self._lock:
                self._all.append(raw)
        return connection

    def transact(self, work: Callable[[Unit], T], *, write: bool = True) -> T:
        connection = self._connection()
        raw = connection.raw
        for attempt in range(5):
            try:
                raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 4:
                    raise StoreError(f"the SQLite store {self.path} is busy: {exc}") from None
                time.sleep(0.05 * (attempt + 1))  # another process holds the write lock past the timeout
        try:
            result = work(SqlUnit(connection, SQLITE))
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return result

    # --- migrations -----------------------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        try:
            rows = self._connection().rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            )
            applied: tuple[int, ...] = ()
            if rows:
                applied = tuple(
                    row[0]
                    for row in self._connection().rows(
                        "SELECT version FROM schema_migrations ORDER BY version"
                    )
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the SQLite store {self.path}: {exc}") from None
        return SchemaStatus(max(applied, default=0), latest_version(), applied)

    def upgrade(self) -> SchemaStatus:
        def migrate(unit: Unit) -> None:
            db = unit.db  # type: ignore[attr-defined]
            db.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_us BIGINT)"
            )
            applied = {row[0] for row in db.rows("SELECT version FROM schema_migrations")}
            newest = max(applied, default=0)
            if newest > latest_version():
                raise StoreError(_too_new(self.url, newest))
            for version in sorted(MIGRATIONS):
                if version in applied:
                    continue
                for statement in MIGRATIONS[version]:
                    db.run(statement.replace("{id}", SQLITE.serial_key))
                db.run(
                    "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)",
                    (version, to_micros(_utc_now())),
                )

        self.transact(migrate)
        return self.schema_status()

    def close(self) -> None:
        with self._lock:
            for raw in self._all:
                with contextlib.suppress(sqlite3.Error):
                    raw.close()
            self._all.clear()
        self._local = threading.local()


def _too_new(url: str, version: int) -> str:
    return (
        f"the store {url} has schema version {version}, newer than this serviceflow knows "
        f"({latest_version()}): it was upgraded by a newer serviceflow; upgrade serviceflow to use it"
    )


def _utc_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
