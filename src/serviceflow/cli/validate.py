"""``serviceflow validate``: check records against their schemas, without evaluating any policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import click

from serviceflow.cli.options import RECORDS_FORMAT, debug_option, input_format_option
from serviceflow.errors import InputError
from serviceflow.importers import get_importer
from serviceflow.importers.csvlog import expand_csv_sources
from serviceflow.records import RawItem, RecordValidator
from serviceflow.records.reader import expand_sources, read_source


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@input_format_option
@debug_option
def validate(paths: tuple[str, ...], input_format: str) -> None:
    """Check that every record is well-formed JSON and matches its type's schema.

    With --input-format, PATH is a help-desk event log: each of its rows must be readable and every
    record the importer makes from it must match its schema.

    Every error is printed as FILE:LINE: /POINTER: MESSAGE. Exit status 0 when all records are valid,
    2 when any is not (or a file cannot be read). Duplicate ids and policies are not checked here.
    """
    validator = RecordValidator()
    valid = invalid = unreadable = 0
    sources, read = _reader(paths, input_format)
    # One source at a time, so that an unreadable file does not hide the files after it.
    for source in sources:
        try:
            for item in read(source):
                errors = (
                    [item.error] if item.error is not None else validator.iter_errors(item.data, item.origin)
                )
                for error in errors:
                    click.echo(str(error))
                if errors:
                    invalid += 1
                else:
                    valid += 1
        except InputError as error:
            click.echo(str(error))
            unreadable += 1
    ctx = click.get_current_context()
    if invalid or unreadable:
        problems = [f"{invalid} of {valid + invalid} records invalid"]
        if unreadable:
            problems.append(f"{unreadable} {'source' if unreadable == 1 else 'sources'} unreadable")
        click.echo("; ".join(problems), err=True)
        ctx.exit(2)
    click.echo(f"{valid} {'record' if valid == 1 else 'records'} valid", err=True)


def _reader(
    paths: Iterable[str], input_format: str
) -> tuple[list[str | Path], Callable[[str | Path], Iterable[RawItem]]]:
    """The sources to read one by one, and how to read one, for ``input_format``."""
    if input_format == RECORDS_FORMAT:
        return expand_sources(paths), read_source
    importer = get_importer(input_format)
    return expand_csv_sources(paths, importer.accepts), lambda source: importer([source], None)
