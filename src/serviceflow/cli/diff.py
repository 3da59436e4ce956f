"""``serviceflow diff``: what a policy change would do on the same records (a dry run, a replay).

The command resolves the two sides (:mod:`serviceflow.revisions`), builds an engine for each, and
renders what :func:`serviceflow.replay.replay` returns; the run itself is the library's.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

import click

from serviceflow.cli.options import (
    build_engine,
    debug_option,
    engine_option,
    input_format_option,
    load_user_config,
    now_option,
    output_option,
    plugin_options,
    policy_selection,
    selection_options,
)
from serviceflow.cli.output import check_output_path, echo_errors, emit_report, stderr_is_terminal, use_color
from serviceflow.cli.progress import TerminalProgress
from serviceflow.config import FAIL_LEVELS, Config
from serviceflow.replay import admits_alike, replay
from serviceflow.reporters.diff import render_diff_json, render_diff_text, summary_text
from serviceflow.revisions import Side, open_side
from serviceflow.subjects import describe_subjects
from serviceflow.timeutil import utc_now

DIFF_FORMATS = ("text", "json", "html")


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--before",
    "before_spec",
    required=True,
    metavar="CONFIG|POLICIES|git:REF",
    help="The policies as they are: a configuration file, a policy file or directory (replacing the "
    "configuration's policy-paths), or git:REF (the configuration and policies at that revision).",
)
@click.option(
    "--after",
    "after_spec",
    metavar="CONFIG|POLICIES|git:REF",
    help="The policies as they would be, written as --before. Default: the current configuration.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The configuration a policy directory side is set by, and where git:REF looks for one. "
    "Default: the nearest one above the working directory.",
)
@click.option("--no-bundled", is_flag=True, help="Leave out the bundled core policies on both sides.")
@selection_options
@now_option
@engine_option()
@click.option("--format", "report_format", type=click.Choice(DIFF_FORMATS), default="text", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_LEVELS),
    help="Exit 1 when the change makes a new violation at or above this severity. Default: 'fail-on' "
    "in the configuration, else error.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Changes shown per policy and kind in the text report (JSON lists them all).",
)
@output_option
@input_format_option
@plugin_options
@debug_option
def diff(
    paths: tuple[str, ...],
    before_spec: str,
    after_spec: str | None,
    config_path: Path | None,
    no_bundled: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    now: datetime | None,
    evaluator: str | None,
    report_format: str,
    fail_on: str | None,
    examples: int,
    output: Path | None,
    input_format: str,
) -> None:
    """Lint the same records under two policy sets, reading them once, and report what changes.

    Per policy: the findings that appear, disappear, or change status, severity or deadline, with
    counts and examples. PATH is read as by 'lint'. Waivers and baselines are not applied.

    \b
    Exit status: 0 no new violation, 1 a new violation at or above --fail-on, 2 input,
    configuration or engine errors, 3 internal error, 130 interrupted.
    """
    base = load_user_config(config_path)
    if output is not None:
        check_output_path(output, [Path(p) for p in paths if p != "-"])
    evaluated_at = now if now is not None else utc_now()
    chosen = policy_selection(select, ignore)
    level = fail_on or base.fail_on
    with contextlib.ExitStack() as stack:
        before_side = stack.enter_context(open_side(before_spec, base, config_path=config_path))
        after_side = stack.enter_context(
            open_side(after_spec, base, config_path=config_path)
            if after_spec is not None
            else contextlib.nullcontext(Side(_current_label(base), base))
        )
        before = stack.enter_context(
            build_engine(before_side.config, (), no_bundled, evaluator, select=chosen)
        )
        after = stack.enter_context(build_engine(after_side.config, (), no_bundled, evaluator, select=chosen))
        if report_format == "html":
            describe_subjects(before)
            describe_subjects(after)
        progress = TerminalProgress() if stderr_is_terminal() else None
        try:
            result = replay(
                before,
                after,
                list(paths),
                evaluated_at,
                input_format=input_format,
                progress=progress,
                shared_admission=admits_alike(before_side.config, after_side.config),
                before_label=before_side.label,
                after_label=after_side.label,
                meta={"inputs": list(paths)},
            )
        finally:
            if progress is not None:
                progress.clear()
    echo_errors(result.after.input_errors)
    if report_format == "json":
        text = render_diff_json(result, level)
    elif report_format == "html":
        from serviceflow.reporters.html import render_diff_html

        policies = {policy.id: policy for policy in (*before.policies, *after.policies)}
        text = render_diff_html(result, level, tuple(policies.values()))
    else:
        text = render_diff_text(result, level, examples)
    emit_report(text, output, color=use_color(output))
    if output is not None:
        click.echo(f"serviceflow: wrote {output}: {summary_text(result, level)}", err=True)
    click.get_current_context().exit(result.exit_status(level))


def _current_label(base: Config) -> str:
    """How the current configuration is named in the report: its file, or the defaults."""
    return str(base.source) if base.source is not None else "the defaults (no configuration file)"
