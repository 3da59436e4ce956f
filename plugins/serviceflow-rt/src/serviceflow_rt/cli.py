"""``serviceflow rt`` commands: ``install-gate``, ``uninstall-gate``, ``export``.

A thin click layer over :mod:`serviceflow_rt.gate` and :mod:`serviceflow_rt.source`: library errors
become a one-line message and exit status 2 here, in one place. The plugin hands :data:`rt` to
serviceflow through the ``serviceflow_commands`` hook (``serviceflow rt ...``); ``python -m
serviceflow_rt`` and ``serviceflow-rt`` run the same group without serviceflow's CLI.

Polling RT into the service's store is serviceflow's own ``serviceflow sync rt --once`` (the ``rt``
source); ``export`` writes the records to a JSON Lines file instead, keeping its cursor in a file, for
``serviceflow lint`` without a store. Its RT settings come from a TOML file's ``[sources.rt]`` table
(the :class:`RtConfig` options); the token may instead come from the environment
(``SERVICEFLOW_RT_TOKEN``, or the variable ``token-env`` names), so that it need not be written into a
file others read.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from serviceflow.plugin import ConfigError, ServiceflowError
from serviceflow_rt import gate
from serviceflow_rt.config import RtConfig, config_from_options
from serviceflow_rt.source import RtSource, sync_once

F = TypeVar("F", bound=Callable[..., Any])


def _errors_exit_2(function: F) -> F:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ServiceflowError, OSError) as error:
            click.echo(f"serviceflow-rt: error: {error}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def load_config(path: Path) -> RtConfig:
    """The ``[sources.rt]`` table of a TOML file, the token defaulting to ``SERVICEFLOW_RT_TOKEN``."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    table = document.get("sources", {}).get("rt")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [sources.rt] table")
    return config_from_options(table, what=f"{path} [sources.rt]")


@click.group(name="rt")
def rt() -> None:
    """Request Tracker 5: install the status gate, export ticket history to a file.

    Syncing RT into the service's store is 'serviceflow sync rt --once' (a [sources.rt] table).
    """


@rt.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option(
    "--state", type=click.Path(path_type=Path, dir_okay=False), required=True, help="File holding the cursor."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="JSON Lines to append to.",
)
@click.option("--from-now", is_flag=True, help="Without a cursor yet: start at RT's newest transaction.")
@_errors_exit_2
def export(config_path: Path, state: Path, output: Path, from_now: bool) -> None:
    """Append the records of the RT transactions after the cursor in STATE to OUTPUT (JSON Lines)."""
    source = RtSource(load_config(config_path))
    try:
        if from_now and not state.exists():
            state.write_text(source.current_cursor() + "\n")
        result = sync_once(source, state, output)
    finally:
        source.close()
    for problem in result.problems:
        click.echo(f"serviceflow-rt: warning: {problem}", err=True)
    click.echo(f"{result.records} records, cursor {result.cursor}, {len(result.problems)} problems", err=True)


@rt.command(name="install-gate")
@click.option("--url", required=True, help="serviceflow's base URL, as RT reaches it.")
@click.option(
    "--token", envvar="SERVICEFLOW_GATE_TOKEN", required=True, help="A serviceflow token (check scope)."
)
@click.option("--status", "statuses", multiple=True, default=("resolved",), show_default=True)
@click.option("--case-prefix", default="rt-", show_default=True)
@click.option(
    "--fail-open", is_flag=True, help="Allow the change when serviceflow cannot answer (default: refuse)."
)
@click.option("--timeout", type=float, default=5.0, show_default=True)
@click.option("--lib-dir", type=click.Path(path_type=Path, file_okay=False), default=gate.DEFAULT_LOCAL_LIB)
@click.option(
    "--site-config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=gate.DEFAULT_SITE_CONFIG_DIR,
)
@click.option("--force", is_flag=True, help="Replace an RT/Ticket_Local.pm that is not this gate.")
@_errors_exit_2
def install_gate(**options: Any) -> None:
    """Install the status gate into RT; restart RT afterwards."""
    installed = gate.install_gate(
        options.pop("url"), options.pop("token"), statuses=options.pop("statuses"), **options
    )
    click.echo(f"installed {installed.overlay} and {installed.site_config}; restart RT to load them")


@rt.command(name="uninstall-gate")
@click.option("--lib-dir", type=click.Path(path_type=Path, file_okay=False), default=gate.DEFAULT_LOCAL_LIB)
@click.option(
    "--site-config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=gate.DEFAULT_SITE_CONFIG_DIR,
)
@_errors_exit_2
def uninstall_gate(lib_dir: Path, site_config_dir: Path) -> None:
    """Remove the status gate from RT; restart RT afterwards."""
    removed = gate.uninstall_gate(lib_dir, site_config_dir)
    click.echo("removed " + ", ".join(map(str, removed)) if removed else "the gate was not installed")
