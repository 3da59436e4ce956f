"""``serviceflow validate``: check records against their schemas, without evaluating any policy."""

from __future__ import annotations

from pathlib import Path

import click

from serviceflow.cli.options import (
    check_dask_and_jobs,
    dask_option,
    debug_option,
    input_format_option,
    jobs_option,
    plugin_host,
    plugin_options,
)
from serviceflow.cli.output import stderr_is_terminal
from serviceflow.cli.progress import TerminalProgress
from serviceflow.engine import Engine
from serviceflow.errors import RecordError
from serviceflow.run import EXIT_ERRORS, evaluate_sources
from serviceflow.timeutil import utc_now


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@jobs_option
@dask_option
@input_format_option
@plugin_options
@debug_option
def validate(paths: tuple[str, ...], input_format: str, jobs: int, dask: str | None) -> None:
    """Check that every record is well-formed JSON and matches its type's schema.

    With --input-format, PATH is a help-desk event log: each of its rows must be readable and every
    record the importer makes from it must match its schema.

    Every error is printed as FILE:LINE: /POINTER: MESSAGE (the first 1,000; then how many more).
    Exit status 0 when all records are valid, 2 when any is not (or a file cannot be read).
    Duplicate ids and policies are not checked here: lint checks them.
    """
    check_dask_and_jobs(dask, jobs)
    # No policies: an engine that only admits (the built-in record types and the plugins').
    engine = Engine([], plugins=plugin_host())
    progress = TerminalProgress() if stderr_is_terminal() else None
    try:
        evaluation = evaluate_sources(
            engine,
            [Path(p) if p != "-" else p for p in paths],
            utc_now(),
            input_format=input_format,
            jobs=jobs,
            progress=progress,
            validate_only=True,
            dask=dask,
        )
    finally:
        if progress is not None:
            progress.clear()
    for error in evaluation.input_errors:
        click.echo(str(error))
    if evaluation.more_input_errors:
        click.echo(f"... and {evaluation.more_input_errors:,} more errors")
    valid, invalid = evaluation.records, evaluation.rejected
    unreadable = sum(1 for error in evaluation.input_errors if not isinstance(error, RecordError))
    ctx = click.get_current_context()
    if evaluation.input_error_count:
        problems = [f"{invalid} of {valid + invalid} records invalid"]
        if unreadable > 0:
            problems.append(f"{unreadable} {'source' if unreadable == 1 else 'sources'} unreadable")
        click.echo("; ".join(problems), err=True)
        ctx.exit(EXIT_ERRORS)
    click.echo(f"{valid} {'record' if valid == 1 else 'records'} valid", err=True)
