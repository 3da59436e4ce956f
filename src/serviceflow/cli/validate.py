"""``serviceflow validate``: check records against their schemas, without evaluating any policy."""

from __future__ import annotations

import click

from serviceflow.cli.options import debug_option
from serviceflow.errors import InputError
from serviceflow.records import RecordValidator
from serviceflow.records.reader import expand_sources, read_source


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@debug_option
def validate(paths: tuple[str, ...]) -> None:
    """Check that every record is well-formed JSON and matches its type's schema.

    Every error is printed as FILE:LINE: /POINTER: MESSAGE. Exit status 0 when all records are valid,
    2 when any is not (or a file cannot be read). Duplicate ids and policies are not checked here.
    """
    validator = RecordValidator()
    valid = invalid = unreadable = 0
    # One source at a time, so that an unreadable file does not hide the files after it.
    for source in expand_sources(paths):
        try:
            for item in read_source(source):
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
