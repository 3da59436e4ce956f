"""The PostgreSQL store: shared by several ``serve`` processes (extra ``serviceflow[postgres]``).

psycopg 3 with a connection pool; every unit of work is one ``with conn.transaction()``. Concurrency
is PostgreSQL's: an ingest locks its customers (transaction-scoped advisory locks) and then its cases'
rows (``SELECT ... FOR UPDATE``), both in sorted order, so two ingests never deadlock over a case; the
sweeper and outbox workers take rows with ``FOR UPDATE SKIP LOCKED``, so several processes share the
due cases and items, one case is evaluated by one worker at a time, and a worker that dies leaves its
rows to the others when its transaction ends. A deadlock or serialisation failure PostgreSQL reports
anyway is retried whole. The schema is the connection's ``search_path`` (default ``public``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - reported by stores.open_store
    raise ImportError(
        f"the PostgreSQL store needs psycopg 3 and psycopg-pool: pip install 'serviceflow[postgres]' ({exc})"
    ) from exc

from serviceflow.live.codec import to_micros
from serviceflow.live.errors import StoreError
from serviceflow.live.store import SchemaStatus, Unit
from serviceflow.stores.schema import MIGRATIONS, latest_version
from serviceflow.stores.sql import Dialect, SqlQueries, SqlUnit

__all__ = ["POSTGRES", "PostgresStore"]

T = TypeVar("T")

POSTGRES = Dialect(
    name="postgresql",
    lock_rows=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    serial_key="BIGSERIAL PRIMARY KEY",
    advisory_lock="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
)
_RETRIES = 8
_PLACEHOLDER = re.compile(r"\?")
_MIGRATION_LOCK = 0x5E4F_1F10


def _pg(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql)


class _Connection:
    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.raw.execute(_pg(sql), tuple(params), prepare=False)
        return cursor.fetchall() if cursor.description is not None else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.raw.execute(_pg(sql), tuple(params)).rowcount

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(p) for p in params]
        if batch:
            with self.raw.cursor() as cursor:
                cursor.executemany(_pg(sql), batch)


class PostgresStore(SqlQueries):
    """A store in a PostgreSQL database (its tables in the connection's first schema)."""

    dialect = POSTGRES

    def __init__(self, url: str, *, max_connections: int = 20) -> None:
        self.url = _redact(url)
        self._conninfo = url
        try:
            self._pool = ConnectionPool(
                url, min_size=1, max_size=max_connections, open=False, timeout=30.0, name="serviceflow"
            )
            self._pool.open(wait=True, timeout=10.0)
        except Exception as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store {self.url}: {_short(exc)}") from None

    def transact(self, work: Callable[[Unit], T], *, write: bool = True) -> T:
        for attempt in range(_RETRIES):
            try:
                with self._pool.connection() as raw, raw.transaction():
                    return work(SqlUnit(_Connection(raw), POSTGRES))
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
            except psycopg.OperationalError as exc:
                raise StoreError(f"the PostgreSQL store {self.url} failed: {_short(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    # --- migrations -----------------------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        def read(unit: Unit) -> tuple[int, ...]:
            db = unit.db  # type: ignore[attr-defined]
            exists = db.rows("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0]
            if not exists:
                return ()
            return tuple(row[0] for row in db.rows("SELECT version FROM schema_migrations ORDER BY version"))

        try:
            applied = self.transact(read, write=False)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the PostgreSQL store {self.url}: {_short(exc)}") from None
        return SchemaStatus(max(applied, default=0), latest_version(), applied)

    def upgrade(self) -> SchemaStatus:
        def migrate(unit: Unit) -> None:
            db = unit.db  # type: ignore[attr-defined]
            # Two processes starting at once: one migrates, the other waits and finds nothing to do.
            db.rows("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            db.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_us BIGINT)"
            )
            applied = {row[0] for row in db.rows("SELECT version FROM schema_migrations")}
            newest = max(applied, default=0)
            if newest > latest_version():
                raise StoreError(
                    f"the store {self.url} has schema version {newest}, newer than this serviceflow knows "
                    f"({latest_version()}): a newer serviceflow upgraded it; upgrade serviceflow to use it"
                )
            for version in sorted(MIGRATIONS):
                if version in applied:
                    continue
                for statement in MIGRATIONS[version]:
                    db.run(statement.replace("{id}", POSTGRES.serial_key))
                db.run(
                    "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)",
                    (version, to_micros(datetime.now(UTC))),
                )

        self.transact(migrate)
        return self.schema_status()

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
