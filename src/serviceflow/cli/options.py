"""Options several commands share, and building an engine from them."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from serviceflow.plugins import PluginHost, discover
from serviceflow.records.raw import RECORDS_FORMAT
from serviceflow.timeutil import parse_datetime

if TYPE_CHECKING:
    from serviceflow.config import Config
    from serviceflow.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_KEY = "serviceflow.debug"
PLUGINS_DIRS_KEY = "serviceflow.plugins_dirs"
STRICT_PLUGINS_KEY = "serviceflow.strict_plugins"
HOST_KEY = "serviceflow.host"
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
        help="Format of PATH: records (serviceflow's JSON Lines or JSON arrays), an importer's "
        "(servicenow-incidents, bpic2013-incidents, bpic2014-incidents, helpdesk-log, ...) or a plugin's; "
        "'serviceflow plugins' lists them all (docs/importers.md).",
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
    """``--engine NAME`` (native, durable or a plugin's); ``None`` means the configuration's choice.

    Not a ``click.Choice``: plugins add evaluators, known only once they are loaded; the engine
    refuses an unknown name and lists the known ones.
    """

    def decorate(function: F) -> F:
        return click.option(
            "--engine",
            "evaluator",
            metavar="NAME",
            help=f"{purpose}: native, durable, or a plugin's. Default: 'evaluator' in the configuration, "
            "else native.",
        )(function)

    return decorate


def _parse_jobs(ctx: click.Context, param: click.Parameter, value: str) -> int:
    if value == "auto":
        return os.cpu_count() or 1
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise click.BadParameter(f"{value!r} is not a positive number of processes or 'auto'", ctx, param)
    return jobs


def jobs_option(function: F) -> F:
    """``--jobs N|auto``: worker processes; the output is the same for every N."""
    return click.option(
        "--jobs",
        "-j",
        default="1",
        show_default=True,
        callback=_parse_jobs,
        metavar="N",
        help="Worker processes to split the cases between ('auto': one per CPU). The report is the same.",
    )(function)


def _parse_dask(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from serviceflow.errors import ServiceflowError

    try:
        # Where Dask is missing, the option fails here, naming the extra to install.
        from serviceflow.dask import parse_address

        parse_address(value)
    except ServiceflowError as exc:
        raise click.BadParameter(exc.message, ctx, param) from None
    return value


def dask_option(function: F) -> F:
    """``--dask ADDRESS``: run on a Dask cluster (extra ``dask``); the output is that of one process."""
    return click.option(
        "--dask",
        callback=_parse_dask,
        metavar="ADDRESS",
        help="Run on Dask: a scheduler address (tcp://HOST:8786) or local:N to start N worker processes "
        "here (needs 'serviceflow[dask]'; docs/scale-out.md). The report is the same.",
    )(function)


def check_dask_and_jobs(dask: str | None, jobs: int) -> None:
    """``--dask`` and ``--jobs`` both choose where the work runs: only one may be given."""
    if dask is not None and jobs != 1:
        raise click.UsageError("--dask and --jobs cannot be used together: Dask's workers are the jobs")


def selection_options(function: F) -> F:
    """``--select``/``--ignore``: policies by id or glob, as ruff chooses rules."""
    function = click.option(
        "--ignore",
        multiple=True,
        metavar="ID",
        help="Leave out policies whose id matches (a glob such as 'tone-*'; comma-separated or repeated).",
    )(function)
    return click.option(
        "--select",
        multiple=True,
        metavar="ID",
        help="Run only policies whose id matches (a glob such as 'tone-*'; comma-separated or repeated).",
    )(function)


def policy_selection(select: Sequence[str], ignore: Sequence[str]) -> Callable[[str], bool] | None:
    """A predicate on policy ids for ``--select``/``--ignore`` (``None``: every policy runs)."""
    chosen = [pattern for value in select for pattern in value.split(",") if pattern.strip()]
    left_out = [pattern for value in ignore for pattern in value.split(",") if pattern.strip()]
    if not chosen and not left_out:
        return None

    def runs(policy_id: str) -> bool:
        if chosen and not any(fnmatch.fnmatchcase(policy_id, pattern.strip()) for pattern in chosen):
            return False
        return not any(fnmatch.fnmatchcase(policy_id, pattern.strip()) for pattern in left_out)

    return runs


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
    from serviceflow.config import find_config, load_config

    return load_config(config_path if config_path is not None else find_config(Path.cwd()))


def build_engine(
    config: Config,
    policy_paths: Sequence[Path],
    no_bundled: bool,
    evaluator: str | None = None,
    select: Callable[[str], bool] | None = None,
) -> Engine:
    """The engine the options describe; ``evaluator`` ``None`` means the configuration's choice."""
    from serviceflow.engine import Engine

    return Engine.from_config(
        policy_paths=policy_paths,
        config=config,
        evaluator=evaluator,
        bundled=False if no_bundled else None,
        plugins=plugin_host(),
        select=select,
    )
