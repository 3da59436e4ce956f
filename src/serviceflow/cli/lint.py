"""``serviceflow lint``: evaluate record files against the policies and report the findings.

The command parses options, builds the engine and renders: the run itself (reading, evaluation,
waivers, actions, exit status) is :func:`serviceflow.run.lint`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from serviceflow.baseline import baseline_text, load_baseline
from serviceflow.cli.options import (
    build_engine,
    check_dask_and_jobs,
    dask_option,
    debug_option,
    engine_option,
    input_format_option,
    jobs_option,
    load_user_config,
    now_option,
    output_option,
    plugin_host,
    plugin_options,
    policy_selection,
    policy_source_options,
    selection_options,
)
from serviceflow.cli.output import (
    check_output_path,
    echo_errors,
    emit_report,
    require_stdout,
    stderr_is_terminal,
    stray_output_to_stderr,
    use_color,
    write_atomically,
)
from serviceflow.cli.progress import TerminalProgress
from serviceflow.config import FAIL_LEVELS
from serviceflow.contributions import ReporterSpec
from serviceflow.reporters import ReportOptions, report_pieces, summary_line
from serviceflow.run import LintResult
from serviceflow.run import lint as run_lint
from serviceflow.subjects import describe_subjects
from serviceflow.timeutil import utc_now
from serviceflow.waivers import load_waivers, waiver_warnings


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@policy_source_options
@selection_options
@now_option
@engine_option()
@click.option(
    "--format",
    "report_format",
    default="text",
    show_default=True,
    metavar="FORMAT",
    help="Report format: text, json, sarif, junit, github, html, or a plugin's (see 'serviceflow plugins').",
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
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Report only violations not recorded in this baseline (matched by policy, case and record; "
    "see docs/baseline.md); count the recorded ones that are gone.",
)
@click.option(
    "--write-baseline",
    "write_baseline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write this run's violations (those not waived) to FILE as a baseline (replaced atomically).",
)
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
@jobs_option
@dask_option
@input_format_option
@plugin_options
@debug_option
def lint(
    paths: tuple[str, ...],
    policy_paths: tuple[Path, ...],
    config_path: Path | None,
    no_bundled: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    now: datetime | None,
    evaluator: str | None,
    report_format: str,
    fail_on: str | None,
    output: Path | None,
    input_format: str,
    waivers_path: Path | None,
    show_waived: bool,
    baseline_path: Path | None,
    write_baseline_path: Path | None,
    actions: tuple[str, ...],
    explain: bool,
    jobs: int,
    dask: str | None,
) -> None:
    """Check records against the policies, case by case, as of --now.

    PATH is a JSON Lines or JSON array file (optionally gzip), a directory of them, or - for stdin;
    with --input-format, a help-desk event log in that format.
    Malformed or invalid records are reported on stderr and skipped; the other records are still
    evaluated and reported, and the exit status is 2.
    Waived findings do not count for --fail-on; expired and unused waivers are warnings on stderr.

    \b
    Exit status: 0 clean, 1 a violation at or above --fail-on, 2 input, configuration or engine
    errors or a failed action, 3 internal error, 130 interrupted.
    """
    with stray_output_to_stderr():  # a plugin's print() must not corrupt a report on stdout
        check_dask_and_jobs(dask, jobs)
        config = load_user_config(config_path)
        # Read before evaluating, so that a broken waivers file fails fast rather than after a long run.
        waivers_file = waivers_path or config.waivers
        waivers = load_waivers(waivers_file) if waivers_file is not None else []
        baseline = load_baseline(baseline_path) if baseline_path is not None else None
        inputs = [*map(Path, (p for p in paths if p != "-")), *filter(None, [waivers_file])]
        if output is not None:
            check_output_path(output, [*inputs, *filter(None, [baseline_path, write_baseline_path])])
        else:
            require_stdout()
        if write_baseline_path is not None:
            check_output_path(write_baseline_path, inputs)
        evaluated_at = now if now is not None else utc_now()
        reporter = choose_reporter(report_format)
        act = plugin_host().action_functions(list(actions), config.actions) if actions else {}
        chosen = policy_selection(select, ignore)
        with build_engine(config, policy_paths, no_bundled, evaluator, select=chosen) as engine:
            if explain:
                from serviceflow.explain.reasons import explain_findings

                explain_findings(engine)
            if report_format == "html":
                describe_subjects(engine)  # the report groups findings by week, actor and channel
            progress = TerminalProgress() if stderr_is_terminal() else None
            try:
                # stdin=None: the library reads sys.stdin.buffer for "-" at the time it gets there.
                result = run_lint(
                    engine,
                    list(paths),
                    evaluated_at,
                    input_format=input_format,
                    waivers=waivers,
                    actions=act,
                    fail_on=fail_on or config.fail_on,
                    jobs=jobs,
                    progress=progress,
                    dask=dask,
                    baseline=baseline,
                )
            finally:
                if progress is not None:
                    progress.clear()
        _report(result, reporter, output, show_waived)
        if result.baseline is not None:
            click.echo(f"serviceflow: baseline: {result.baseline.summary()}", err=True)
        if write_baseline_path is not None:
            recorded = [*result.evaluation.violations, *(result.baseline.matched if result.baseline else ())]
            write_atomically(write_baseline_path, baseline_text(recorded, evaluated_at), inputs)
            click.echo(
                f"serviceflow: wrote baseline {write_baseline_path}: {len(recorded):,} violations", err=True
            )
    click.get_current_context().exit(result.exit_status)


def _report(result: LintResult, reporter: ReporterSpec, output: Path | None, show_waived: bool) -> None:
    evaluation = result.evaluation
    echo_errors(evaluation.input_errors)
    if evaluation.more_input_errors:
        click.echo(
            f"serviceflow: ... and {evaluation.more_input_errors:,} more input errors (not shown)", err=True
        )
    for warning in waiver_warnings(evaluation, [policy.id for policy in result.policies]):
        click.echo(f"serviceflow: warning: {warning}", err=True)
    color = use_color(output)
    options = ReportOptions(policies=result.policies, color=color, show_waived=show_waived)
    emit_report(report_pieces(reporter, evaluation, options), output, color=color)
    if output is not None:
        click.echo(f"serviceflow: wrote {output}: {summary_line(evaluation)}", err=True)
    for failure in result.failed_actions:
        click.echo(
            f"serviceflow: error: action '{failure.action}' failed for {'/'.join(failure.finding_key)}: "
            f"{failure.detail}",
            err=True,
        )
    if result.actions:
        done = len(result.actions) - len(result.failed_actions)
        click.echo(f"serviceflow: actions: {done} done, {len(result.failed_actions)} failed", err=True)


def choose_reporter(name: str) -> ReporterSpec:
    """The reporter for ``--format name`` among the built-in and plugin formats."""
    reporters = plugin_host().reporters
    if name not in reporters:
        raise click.BadParameter(
            f"unknown format {name!r} (formats: {', '.join(reporters)})", param_hint="'--format'"
        )
    return reporters[name]
