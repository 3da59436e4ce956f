"""``serviceflow validate``: check records against their schemas, without evaluating any policy."""

from __future__ import annotations

import click

from serviceflow.cli.options import debug_option, input_format_option, plugin_host, plugin_options
from serviceflow.engine import validator_for
from serviceflow.errors import InputError


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@input_format_option
@plugin_options
@debug_option
def validate(paths: tuple[str, ...], input_format: str) -> None:
    """Check that every record is well-formed JSON and matches its type's schema.

    With --input-format, PATH is a help-desk event log: each of its rows must be readable and every
    record the importer makes from it must match its schema.

    Every error is printed as FILE:LINE: /POINTER: MESSAGE. Exit status 0 when all records are valid,
    2 when any is not (or a file cannot be read). Duplicate ids and policies are not checked here.
    """
    host = plugin_host()
    validator = validator_for(host)  # the built-in record types and the plugins'
    reader = host.reader(input_format)
    valid = invalid = unreadable = 0
    # One source at a time, so that an unreadable file does not hide the files after it.
    for source in reader.expand(paths):
        try:
            for item in reader.read([source], None):
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
