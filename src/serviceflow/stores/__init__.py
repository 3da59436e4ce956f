"""Stores: where live mode keeps its state, behind :class:`serviceflow.live.store.Store`.

``open_store(url)`` picks the adapter from the URL: a path or ``sqlite:///path`` is SQLite
(:mod:`.sqlite`, the default ``./serviceflow.db``), ``postgresql://...`` is PostgreSQL
(:mod:`.postgres`, extra ``serviceflow[postgres]``; imported only when asked for). The SQL both share
is in :mod:`.sql`, the schema's migrations in :mod:`.schema`.
"""

from __future__ import annotations

import os

from serviceflow.errors import ConfigError
from serviceflow.live.store import Store

__all__ = ["DB_ENV", "DEFAULT_DB", "open_store"]

DEFAULT_DB = "serviceflow.db"
#: The store URL when ``--db`` is not given.
DB_ENV = "SERVICEFLOW_DB"


def open_store(url: str | None = None) -> Store:
    """The store at ``url`` (default: ``$SERVICEFLOW_DB``, else ``./serviceflow.db``)."""
    target = url or os.environ.get(DB_ENV) or DEFAULT_DB
    if target.startswith(("postgresql://", "postgres://")):
        try:
            from serviceflow.stores.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(str(exc)) from None
        return PostgresStore(target)
    if target.startswith("sqlite://"):
        target = target.removeprefix("sqlite://")
        target = target[1:] if target.startswith("/") and not target.startswith("//") else target
        target = target or DEFAULT_DB
    elif "://" in target:
        raise ConfigError(
            f"unknown store URL '{target}' (use a file path, sqlite:///PATH or postgresql://...)"
        )
    from serviceflow.stores.sqlite import SqliteStore

    return SqliteStore(target)
