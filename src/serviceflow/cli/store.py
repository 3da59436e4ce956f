"""What the store commands share: ``--db URL``, and building a service from the options.

Every command that touches the store takes ``--db`` (default ``$SERVICEFLOW_DB``, else
``./serviceflow.db``) and brings the store's schema up to date before using it (migrations are
idempotent; a store newer than this code is refused).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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
from serviceflow.live.clock import ManualClock, SystemClock
from serviceflow.live.service import Service
from serviceflow.live.settings import live_settings
from serviceflow.live.store import Store
from serviceflow.stores import DB_ENV, DEFAULT_DB, open_store

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["ServiceChoice", "db_option", "open_upgraded", "service_options"]


def db_option(function: F) -> F:
    return click.option(
        "--db",
        "db_url",
        envvar=DB_ENV,
        metavar="URL",
        help=f"The store: a SQLite file path (or sqlite:///PATH) or postgresql://... "
        f"Default: ${DB_ENV}, else ./{DEFAULT_DB}.",
    )(function)


@dataclass(frozen=True)
class ServiceChoice:
    """What ``--db`` and the policy options chose; :meth:`open` builds the service they name."""

    db_url: str | None
    config_path: Path | None
    policy_paths: tuple[Path, ...]
    no_bundled: bool
    evaluator: str | None
    select: tuple[str, ...]
    ignore: tuple[str, ...]

    def open(self, now: datetime | None = None) -> Service:
        """A service over the upgraded store, with the engine and ``[live]`` settings the options name;
        its clock stands at ``now`` when given (``--now``), else it is the system clock."""
        config = load_user_config(self.config_path)
        settings = live_settings(config)
        selection = policy_selection(self.select, self.ignore)
        engine = build_engine(config, list(self.policy_paths), self.no_bundled, self.evaluator, selection)
        store = open_upgraded(self.db_url)
        clock = ManualClock(now) if now is not None else SystemClock()
        return Service(store, engine, clock=clock, config=config, settings=settings)


def service_options(function: F) -> F:
    """``--db`` plus the options that choose the policies (as ``lint`` has them), given to the command
    as one ``choice: ServiceChoice``."""

    @functools.wraps(function)
    def command(
        *args: Any,
        db_url: str | None,
        config_path: Path | None,
        policy_paths: tuple[Path, ...],
        no_bundled: bool,
        evaluator: str | None,
        select: tuple[str, ...],
        ignore: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        choice = ServiceChoice(db_url, config_path, policy_paths, no_bundled, evaluator, select, ignore)
        return function(*args, choice=choice, **kwargs)

    decorated = selection_options(command)
    decorated = engine_option()(decorated)
    decorated = policy_source_options(decorated)
    return db_option(decorated)  # type: ignore[return-value]


def open_upgraded(db_url: str | None) -> Store:
    store = open_store(db_url)
    store.upgrade()
    return store
