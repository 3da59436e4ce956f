"""Options several commands share, and building an engine from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from serviceflow.config import EVALUATORS, Config, find_config, load_config
from serviceflow.engine import Engine
from serviceflow.importers import importer_names
from serviceflow.plugins import PluginHost, discover
from serviceflow.timeutil import parse_datetime

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_KEY = "serviceflow.debug"
PLUGINS_DIRS_KEY = "serviceflow.plugins_dirs"
STRICT_PLUGINS_KEY = "serviceflow.strict_plugins"
HOST_KEY = "serviceflow.host"
#: The --input-format value for serviceflow's own JSON Lines / JSON array record files.
RECORDS_FORMAT = "records"
DEBUG_ENV = "SERVICEFLOW_DEBUG"


def debug_requested(ctx: click.Context | None) -> bool:
    """``--debug`` anywhere on the command line, or ``SERVICEFLOW_DEBUG`` set to a true value."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return bool(ctx is not None and ctx.find_root().meta.get(DEBUG_KEY))


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[DEBUG_KEY] = True


def debug_option(function: F) -> F:
    """``--debug``: show the traceback of any error (accepted by the group and every command)."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help=f"Show tracebacks for errors (or set {DEBUG_ENV}=1).",
    )(function)


def _add_plugins_dirs(ctx: click.Context, _param: click.Parameter, value: tuple[Path, ...]) -> None:
    if value:
        ctx.find_root().meta.setdefault(PLUGINS_DIRS_KEY, []).extend(value)


def _set_strict(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta[STRICT_PLUGINS_KEY] = True


def plugin_options(function: F) -> F:
    """``--plugins-dir`` and ``--strict-plugins``, accepted by the group and by every command."""
    function = click.option(
        "--strict-plugins",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_strict,
        help="Stop with exit status 2 when a plugin fails to load (default: name it and go on).",
    )(function)
    return click.option(
        "--plugins-dir",
        multiple=True,
        expose_value=False,
        is_eager=True,
        callback=_add_plugins_dirs,
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Load each *.py file in DIR as a plugin (repeatable; or SERVICEFLOW_PLUGINS_DIR).",
    )(function)


def plugin_host(ctx: click.Context | None = None) -> PluginHost:
    """The run's plugin host, loaded once; each plugin that failed to load is named on stderr."""
    root = (ctx or click.get_current_context()).find_root()
    host = root.meta.get(HOST_KEY)
    if host is None:
        host = discover(root.meta.get(PLUGINS_DIRS_KEY, ()), strict=bool(root.meta.get(STRICT_PLUGINS_KEY)))
        root.meta[HOST_KEY] = host
        host.plugins()  # collect now, so that a failing hook is reported here too
        for failure in host.failures:
            click.echo(
                f"serviceflow: warning: plugin '{failure.name}' failed to load: {failure.error}", err=True
            )
    return host


def policy_source_options(function: F) -> F:
    """``--policies``, ``--config`` and ``--no-bundled``: which policies run, and how they are set."""
    function = click.option(
        "--no-bundled",
        is_flag=True,
        help="Leave out the bundled core policies (overrides 'bundled' in the configuration).",
    )(function)
    function = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Configuration file (serviceflow.toml or pyproject.toml). "
        "Default: the nearest one above the working directory.",
    )(function)
    function = click.option(
        "--policies",
        "policy_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="PATH",
        help="Extra policy file or directory (repeatable).",
    )(function)
    return function


def input_format_option(function: F) -> F:
    """``--input-format``: serviceflow's own records (default), an importer's log, or a plugin's format.

    Not a ``click.Choice``: plugins add formats, and they are known only once the plugins are loaded.
    """
    return click.option(
        "--input-format",
        default=RECORDS_FORMAT,
        show_default=True,
        metavar="FORMAT",
        help=f"Format of PATH: {', '.join([RECORDS_FORMAT, *importer_names()])}, or a plugin's "
        "(see 'serviceflow plugins'); help-desk event logs are mapped to records (docs/importers.md).",
    )(function)


def now_option(function: F) -> F:
    """``--now``: the instant to evaluate at (event time); ``None`` lets the command use the clock."""
    return click.option(
        "--now",
        callback=parse_datetime_option,
        metavar="ISO",
        help="Evaluate as of this RFC 3339 date-time with an offset. Default: the current time.",
    )(function)


def output_option(function: F) -> F:
    """``--output/-o FILE``: where the report goes instead of stdout (written whole, atomically)."""
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Write the report to FILE (replaced atomically) instead of stdout.",
    )(function)


def engine_option(purpose: str = "Evaluator") -> Callable[[F], F]:
    """``--engine native|durable``; ``None`` means the configuration's choice."""

    def decorate(function: F) -> F:
        return click.option(
            "--engine",
            "evaluator",
            type=click.Choice(EVALUATORS),
            help=f"{purpose}. Default: 'evaluator' in the configuration, else native.",
        )(function)

    return decorate


def parse_datetime_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Click callback: an RFC 3339 date-time that carries ``Z`` or an offset, or ``None`` if not given."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an RFC 3339 date-time with an offset (e.g. 2024-05-01T09:30:00Z)",
            ctx=ctx,
            param=param,
        ) from None


def load_user_config(config_path: Path | None) -> Config:
    """The named configuration file, or the nearest one above the working directory, or defaults."""
    return load_config(config_path if config_path is not None else find_config(Path.cwd()))


def build_engine(
    config: Config,
    policy_paths: Sequence[Path],
    no_bundled: bool,
    evaluator: str | None = None,
) -> Engine:
    """The engine the options describe; ``evaluator`` ``None`` means the configuration's choice."""
    return Engine.from_config(
        policy_paths=policy_paths,
        config=config,
        evaluator=evaluator,
        bundled=False if no_bundled else None,
        plugins=plugin_host(),
    )
