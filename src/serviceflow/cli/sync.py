"""``serviceflow sync SOURCE``: poll a connector's source into the store (cron, tests, a first import).

The source is a ``[sources.SOURCE]`` table of the configuration, of a kind a plugin offers
(``serviceflow_sources``); its records go through the same admission and store as ``POST /v1/records``
and its cursor is kept in the store, moved in the transaction that stores the records it covers, so
``sync --once`` from cron and a running ``serve`` can take turns on one store.
"""

from __future__ import annotations

import threading
from datetime import datetime

import click

from serviceflow.cli.options import debug_option, now_option, plugin_options
from serviceflow.cli.store import ServiceChoice, service_options
from serviceflow.live.connectors import MAX_POLLS_AT_ONCE, SourceFailed, SyncResult, source_runner


@click.command()
@click.argument("source_name", metavar="SOURCE")
@service_options
@click.option("--once", is_flag=True, help="Sync once (until nothing more is waiting) and exit.")
@click.option(
    "--from",
    "from_cursor",
    metavar="CURSOR",
    help="Start from this cursor instead of the stored one (re-read from an earlier point, or skip ahead); "
    "records already stored are recognised and not stored again.",
)
@click.option(
    "--max-polls",
    type=click.IntRange(1, 100_000),
    default=MAX_POLLS_AT_ONCE,
    show_default=True,
    help="With --once: stop after this many polls even if the source says more is waiting.",
)
@now_option
@plugin_options
@debug_option
def sync(
    source_name: str,
    choice: ServiceChoice,
    once: bool,
    from_cursor: str | None,
    max_polls: int,
    now: datetime | None,
) -> None:
    """Poll SOURCE (a [sources.SOURCE] table) and store its records, each case re-evaluated.

    Exit status 0 when the poll succeeded (records a source could not map are reported on stderr),
    2 when it failed: the source raised, hung past its poll-timeout, or is not configured. Without
    --once, keeps polling at the source's interval until interrupted, as 'serve' does.
    """
    service = choice.open(now)
    runner = source_runner(service, source_name)
    try:
        if once:
            try:
                result = runner.sync(max_polls=max_polls, cursor=from_cursor, reset=from_cursor is not None)
            except SourceFailed as error:
                runner.failed(error)
                raise
            _report(result)
            return
        if now is not None:
            raise click.BadParameter(
                "--now needs --once (a continuous sync follows the clock)", param_hint="'--now'"
            )
        if from_cursor is not None:
            runner.sync(max_polls=max_polls, cursor=from_cursor, reset=True)
        click.echo(f"serviceflow: syncing {source_name} into {service.store.url} until interrupted", err=True)
        stop = threading.Event()
        try:
            runner.run(stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        runner.close()


def _report(result: SyncResult) -> None:
    for line in (*result.problems, *result.rejected):
        click.echo(f"serviceflow: warning: {result.source}: {line}", err=True)
    if result.lost_race:
        click.echo(
            f"serviceflow: {result.source}: another process polled it meanwhile; nothing stored", err=True
        )
    more = "; more is waiting (run again)" if result.more else ""
    polls = f"{result.polls} poll{'s' if result.polls != 1 else ''}"
    click.echo(
        f"{result.source}: {polls}, {result.accepted} records stored, {result.duplicates} already held, "
        f"{len(result.rejected)} rejected, {len(result.problems)} problems; cursor {result.cursor}{more}"
    )
