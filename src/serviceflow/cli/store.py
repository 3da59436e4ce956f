"""What the store commands share: ``--db URL``, and building a service from the options.

Every command that touches the store takes ``--db`` (default ``$SERVICEFLOW_DB``, else
``./serviceflow.db``) and brings the store's schema up to date before using it (migrations are
idempotent; a store newer than this code is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from serviceflow.cli.options import (
    build_engine,
    engine_option,
    load_user_config,
    policy_selection,
    policy_source_options,
    selection_options,
)
from serviceflow.live.clock import Clock, SystemClock
from serviceflow.live.service import Service
from serviceflow.live.settings import live_settings
from serviceflow.live.store import Store
from serviceflow.stores import DB_ENV, DEFAULT_DB, open_store

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["db_option", "open_upgraded", "service_from", "service_options"]


def db_option(function: F) -> F:
    return click.option(
        "--db",
        "db_url",
        envvar=DB_ENV,
        metavar="URL",
        help=f"The store: a SQLite file path (or sqlite:///PATH) or postgresql://... "
        f"Default: ${DB_ENV}, else ./{DEFAULT_DB}.",
    )(function)


def service_options(function: F) -> F:
    """``--db`` plus the options that choose the policies (as ``lint`` has them)."""
    function = selection_options(function)
    function = engine_option()(function)
    function = policy_source_options(function)
    return db_option(function)


def open_upgraded(db_url: str | None) -> Store:
    store = open_store(db_url)
    store.upgrade()
    return store


def service_from(
    db_url: str | None,
    config_path: Path | None,
    policy_paths: tuple[Path, ...],
    no_bundled: bool,
    evaluator: str | None,
    select: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    clock: Clock | None = None,
) -> Service:
    """A service over the upgraded store, with the engine and ``[live]`` settings the options name."""
    config = load_user_config(config_path)
    settings = live_settings(config)
    engine = build_engine(config, list(policy_paths), no_bundled, evaluator, policy_selection(select, ignore))
    store = open_upgraded(db_url)
    return Service(store, engine, clock=clock or SystemClock(), config=config, settings=settings)
