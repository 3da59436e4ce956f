"""The ``serviceflow`` command group, and the one place library errors become CLI errors.

Every command runs inside :meth:`ServiceflowGroup.invoke`: a :class:`ServiceflowError` prints
``serviceflow: error: <message>`` and exits with its ``exit_code`` (2); any other exception is a bug,
reported in one line with exit code 3. ``--debug`` or ``SERVICEFLOW_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import errno
import traceback
from typing import Any

import click

from serviceflow.cli.explain import explain
from serviceflow.cli.lint import lint
from serviceflow.cli.options import DEBUG_ENV, debug_option, debug_requested, plugin_host, plugin_options
from serviceflow.cli.plugins import plugins, version_text
from serviceflow.cli.policies import policies
from serviceflow.cli.test import test
from serviceflow.cli.validate import validate
from serviceflow.errors import ServiceflowError

INTERNAL_ERROR_EXIT = 3


class ServiceflowGroup(click.Group):
    """A click group that turns library errors into messages and exit codes."""

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
            if debug_requested(ctx) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                raise
            click.echo(
                f"serviceflow: internal error: {type(exc).__name__}: {exc}\n"
                f"serviceflow: this is a bug; run again with --debug (or {DEBUG_ENV}=1) to see the traceback",
                err=True,
            )
            ctx.exit(INTERNAL_ERROR_EXIT)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version`` lists the plugins' versions too: a bug report needs both."""
    if not value or ctx.resilient_parsing:
        return
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


main.add_command(lint)
main.add_command(explain)
main.add_command(validate)
main.add_command(policies)
main.add_command(test)
main.add_command(plugins)
