"""The ``serviceflow`` command group, and the one place library errors become CLI errors.

Every command runs inside :meth:`ServiceflowGroup.invoke`: a :class:`ServiceflowError` prints
``serviceflow: error: <message>`` and exits with its ``exit_code`` (2); any other exception is a bug,
reported in one line with exit code 3. ``--debug`` or ``SERVICEFLOW_DEBUG=1`` shows the traceback.
Around that, :meth:`ServiceflowGroup.main` gives Ctrl-C its conventional status, 130, and a reader of
standard output that goes away (``serviceflow lint ... | head``) ends the run quietly with 141, as
the shell reports a process killed by SIGPIPE; click's own handling would exit 1 for both, which
here means "violations found".
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from typing import Any

import click

from serviceflow.cli.options import DEBUG_ENV, debug_option, debug_requested, plugin_host, plugin_options
from serviceflow.contributions import CommandSpec
from serviceflow.errors import PLUGIN_FAILURES, ServiceflowError

INTERNAL_ERROR_EXIT = 3
INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141
_PLUGIN_COMMANDS_KEY = "serviceflow.plugin_commands"


#: Each command and where it lives, imported only when it runs (or ``--help`` lists it): importing
#: every command (and the engine, HTTP and database code behind them) would make ``--version`` and an
#: empty lint wait for code they never use.
COMMANDS: dict[str, str] = {
    "lint": "serviceflow.cli.lint:lint",
    "diff": "serviceflow.cli.diff:diff",
    "explain": "serviceflow.cli.explain:explain",
    "validate": "serviceflow.cli.validate:validate",
    "policies": "serviceflow.cli.policies:policies",
    "test": "serviceflow.cli.test:test",
    "plugins": "serviceflow.cli.plugins:plugins",
    # Live mode: the service and its store (docs/live.md).
    "serve": "serviceflow.cli.serve:serve",
    "sweep": "serviceflow.cli.sweep:sweep",
    "ingest": "serviceflow.cli.ingest:ingest",
    "tokens": "serviceflow.cli.admin:tokens",
    "outbox": "serviceflow.cli.admin:outbox",
    "db": "serviceflow.cli.admin:db",
    # Connectors: poll a plugin's source into the store (docs/plugins.md).
    "sync": "serviceflow.cli.sync:sync",
}


class ServiceflowGroup(click.Group):
    """A click group that turns library errors into messages and exit codes, and loads commands lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]
        return [*own, *sorted(name for name in _plugin_commands(ctx) if name not in own)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        where = COMMANDS.get(name)
        if where is None:
            # Not serviceflow's own: only now are the plugins loaded, to look for it among theirs.
            return super().get_command(ctx, name) or _plugin_command(ctx, name)
        module, attribute = where.split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        if sys.stderr is None:  # started with stderr closed (2>&-): messages go nowhere, statuses count
            sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - as long as the process
        try:
            status = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:  # click's name for KeyboardInterrupt (and EOF at a prompt)
            click.echo("serviceflow: interrupted", err=True)
            sys.exit(INTERRUPTED_EXIT)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(status if isinstance(status, int) else 0)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        """Parse the command line; an error from an eager option (``--version`` loading plugins with
        ``--strict-plugins``) is a message and exit status 2, as it is inside a command."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except ServiceflowError as exc:
            click.echo(f"serviceflow: error: {exc}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ServiceflowError as exc:
            if debug_requested(ctx):
                traceback.print_exc()
            click.echo(f"serviceflow: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                _silence_stdout()  # before click's own handling, which would exit 1 ("violations")
                ctx.exit(BROKEN_PIPE_EXIT)
            if debug_requested(ctx):
                raise
            click.echo(
                f"serviceflow: internal error: {type(exc).__name__}: {exc}\n"
                f"serviceflow: this is a bug; run again with --debug (or {DEBUG_ENV}=1) to see the traceback",
                err=True,
            )
            ctx.exit(INTERNAL_ERROR_EXIT)


def _plugin_commands(ctx: click.Context) -> dict[str, CommandSpec]:
    """The commands plugins add (``serviceflow_commands``), by name; the plugins are loaded once per
    run, and only when this is asked (a name that is not serviceflow's own, or ``--help``)."""
    root = ctx.find_root()
    specs: dict[str, CommandSpec] | None = root.meta.get(_PLUGIN_COMMANDS_KEY)
    if specs is None:
        specs = root.meta[_PLUGIN_COMMANDS_KEY] = dict(plugin_host(ctx).commands)
    return specs


def _plugin_command(ctx: click.Context, name: str) -> click.Command | None:
    """Plugin command ``name``, loaded; one that fails to load or is not a click command is named on
    stderr and left out, like any plugin failure."""
    spec = _plugin_commands(ctx).get(name)
    if spec is None:
        return None
    try:
        command = spec.resolve()
    except PLUGIN_FAILURES as exc:
        problem = f"failed to load: {type(exc).__name__}: {exc}"
    else:
        if isinstance(command, click.Command):
            return command
        problem = f"is {type(command).__name__}, not a click command"
    click.echo(
        f"serviceflow: warning: plugin '{spec.plugin}': command '{name}' {problem}; it is left out", err=True
    )
    return None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version`` lists the plugins' versions too: a bug report needs both."""
    if not value or ctx.resilient_parsing:
        return
    from serviceflow.cli.plugins import version_text

    click.echo(version_text(plugin_host(ctx)))
    ctx.exit()


@click.group(cls=ServiceflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show serviceflow's version and its plugins' versions, then exit.",
)
@plugin_options
@debug_option
def main() -> None:
    """Validate customer-service interaction records and check them against policies.

    \b
    Exit status: 0 clean, 1 violations at or above --fail-on,
    2 usage, configuration, policy or input errors, 3 internal error.
    """


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail on the pipe too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
