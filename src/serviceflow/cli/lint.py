"""``serviceflow lint``: evaluate record files against the policies and report the findings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from serviceflow.actions import failed, run_actions
from serviceflow.cli.options import (
    build_engine,
    debug_option,
    engine_option,
    input_format_option,
    load_user_config,
    now_option,
    output_option,
    plugin_host,
    plugin_options,
    policy_source_options,
)
from serviceflow.cli.output import echo_errors, emit_report, stderr_is_terminal, use_color
from serviceflow.config import FAIL_LEVELS
from serviceflow.contributions import ActionFunction
from serviceflow.explain.reasons import explain_findings
from serviceflow.findings import Evaluation
from serviceflow.plugins import ReporterSpec
from serviceflow.reporters import REPORTERS, ReportOptions, summary_line
from serviceflow.timeutil import utc_now
from serviceflow.waivers import apply_waivers, load_waivers, waiver_warnings

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
@now_option
@engine_option()
@click.option(
    "--format",
    "report_format",
    default="text",
    show_default=True,
    metavar="FORMAT",
    help=f"Report format: {', '.join(REPORTERS)}, or a plugin's (see 'serviceflow plugins').",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_LEVELS),
    help="Exit 1 when a violation is at or above this severity. Default: 'fail-on' in the "
    "configuration, else error.",
)
@output_option
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Waivers file (YAML): findings it covers are counted apart and do not fail the run. "
    "Default: 'waivers' in the configuration.",
)
@click.option("--show-waived", is_flag=True, help="List waived findings in the text report too.")
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="NAME",
    help="Run this action (e.g. log) on each violation that is not waived, with the options of "
    "[actions.NAME] in the configuration (repeatable). A failed action makes the exit status 2.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Say why each finding fired: the first condition that failed, with the values compared "
    "(the native evaluator is traced again on the cases that have findings).",
)
@input_format_option
@plugin_options
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
    waivers_path: Path | None,
    show_waived: bool,
    actions: tuple[str, ...],
    explain: bool,
) -> None:
    """Check records against the policies, case by case, as of --now.

    PATH is a JSON Lines or JSON array file (optionally .gz), a directory of them, or - for stdin;
    with --input-format, a help-desk event log in that format.
    Malformed or invalid records are reported on stderr and skipped; the other records are still
    evaluated and reported, and the exit status is 2.
    Waived findings do not count for --fail-on; expired and unused waivers are warnings on stderr.
    """
    config = load_user_config(config_path)
    # Read before evaluating, so that a broken waivers file fails fast rather than after a long run.
    waivers_file = waivers_path or config.waivers
    waivers = load_waivers(waivers_file) if waivers_file is not None else []
    evaluated_at = now if now is not None else utc_now()
    reporter = choose_reporter(report_format)
    act = plugin_host().action_functions(list(actions), config.actions) if actions else {}
    with build_engine(config, policy_paths, no_bundled, evaluator) as engine:
        if explain:
            explain_findings(engine)
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
    apply_waivers(evaluation, waivers)
    echo_errors(evaluation.input_errors)
    for warning in waiver_warnings(evaluation, [policy.id for policy in policies]):
        click.echo(f"serviceflow: warning: {warning}", err=True)
    color = use_color(output)
    options = ReportOptions(policies=policies, color=color, show_waived=show_waived)
    report = reporter.render(evaluation, options)
    emit_report(report, output, color=color)
    if output is not None:
        click.echo(f"serviceflow: wrote {output}: {summary_line(evaluation)}", err=True)
    status = exit_code_for(evaluation, fail_on or config.fail_on)
    if act and _run_actions(evaluation, act):
        status = EXIT_INPUT_ERRORS
    click.get_current_context().exit(status)


def _run_actions(evaluation: Evaluation, act: dict[str, ActionFunction]) -> int:
    """Run the chosen actions on the violations; name each failure on stderr; return how many failed."""
    results = run_actions(evaluation, act)
    failures = failed(results)
    for result in failures:
        click.echo(
            f"serviceflow: error: action '{result.action}' failed for {'/'.join(result.finding_key)}: "
            f"{result.detail}",
            err=True,
        )
    done = len(results) - len(failures)
    if results:
        click.echo(f"serviceflow: actions: {done} done, {len(failures)} failed", err=True)
    return len(failures)


def choose_reporter(name: str) -> ReporterSpec:
    """The reporter for ``--format name`` among the built-in and plugin formats."""
    reporters = plugin_host().reporters
    if name not in reporters:
        raise click.BadParameter(
            f"unknown format {name!r} (formats: {', '.join(reporters)})", param_hint="'--format'"
        )
    return reporters[name]


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
