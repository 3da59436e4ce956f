"""``serviceflow lint``: evaluate record files against the policies and report the findings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from serviceflow.cli.options import (
    build_engine,
    debug_option,
    input_format_option,
    load_user_config,
    parse_datetime_option,
    policy_source_options,
)
from serviceflow.cli.output import echo_errors, emit_report, stderr_is_terminal, use_color
from serviceflow.config import EVALUATORS, FAIL_LEVELS
from serviceflow.findings import Evaluation
from serviceflow.reporters import REPORTERS, render, summary_line
from serviceflow.timeutil import utc_now

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INPUT_ERRORS = 2


def exit_code_for(evaluation: Evaluation, fail_on: str) -> int:
    """2 when any input was bad or a plugin failed, else 1 when a violation is at or above ``fail_on``."""
    if evaluation.input_errors or evaluation.engine_errors:
        return EXIT_INPUT_ERRORS
    return EXIT_FINDINGS if evaluation.fails(fail_on) else EXIT_CLEAN


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@policy_source_options
@click.option(
    "--now",
    callback=parse_datetime_option,
    metavar="ISO",
    help="Evaluate as of this RFC 3339 date-time with an offset. Default: the current time.",
)
@click.option(
    "--engine",
    "evaluator",
    type=click.Choice(EVALUATORS),
    help="Evaluator. Default: 'evaluator' in the configuration, else native.",
)
@click.option(
    "--format",
    "report_format",
    type=click.Choice(list(REPORTERS)),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_LEVELS),
    help="Exit 1 when a violation is at or above this severity. Default: 'fail-on' in the "
    "configuration, else error.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the report to FILE (replaced atomically) instead of stdout.",
)
@input_format_option
@debug_option
def lint(
    paths: tuple[str, ...],
    policy_paths: tuple[Path, ...],
    config_path: Path | None,
    no_bundled: bool,
    now: datetime | None,
    evaluator: str | None,
    report_format: str,
    fail_on: str | None,
    output: Path | None,
    input_format: str,
) -> None:
    """Check records against the policies, case by case, as of --now.

    PATH is a JSON Lines or JSON array file (optionally .gz), a directory of them, or - for stdin;
    with --input-format, a help-desk event log in that format.
    Malformed or invalid records are reported on stderr and skipped; the other records are still
    evaluated and reported, and the exit status is 2.
    """
    config = load_user_config(config_path)
    evaluated_at = now if now is not None else utc_now()
    with build_engine(config, policy_paths, no_bundled, evaluator) as engine:
        progress = _Progress() if stderr_is_terminal() else None
        try:
            # stdin=None: the library reads sys.stdin.buffer for "-" at the time it gets there.
            evaluation = engine.lint(
                list(paths), evaluated_at, on_progress=progress, input_format=input_format
            )
        finally:
            if progress is not None:
                progress.clear()
        policies = list(engine.policies)
    echo_errors(evaluation.input_errors)
    color = use_color(output)
    emit_report(render(evaluation, report_format, policies=policies, color=color), output, color=color)
    if output is not None:
        click.echo(f"serviceflow: wrote {output}: {summary_line(evaluation)}", err=True)
    click.get_current_context().exit(exit_code_for(evaluation, fail_on or config.fail_on))


class _Progress:
    """A one-line record counter on a terminal's stderr, for runs long enough to report progress."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, records_read: int) -> None:
        self.shown = True
        click.echo(f"\rserviceflow: {records_read:,} records read", nl=False, err=True)

    def clear(self) -> None:
        if self.shown:
            click.echo("\r\x1b[K", nl=False, err=True)
