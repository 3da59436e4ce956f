"""``serviceflow sweep``: re-evaluate the cases whose deadlines have passed (for cron and tests)."""

from __future__ import annotations

import threading
from datetime import datetime

import click

from serviceflow.cli.options import debug_option, now_option, plugin_options
from serviceflow.cli.store import ServiceChoice, service_options


@click.command()
@service_options
@click.option("--once", is_flag=True, help="Sweep once and exit (else keep sweeping until interrupted).")
@now_option
@click.option("--deliver", is_flag=True, help="With --once: also make one delivery pass over the outbox.")
@plugin_options
@debug_option
def sweep(
    choice: ServiceChoice,
    once: bool,
    now: datetime | None,
    deliver: bool,
) -> None:
    """Re-evaluate every case whose next change is due, record the transitions, enqueue their actions.

    Without --once, keeps sweeping (sleeping until the earliest deadline) and delivering the outbox,
    as 'serve' does without the HTTP API.
    """
    service = choice.open(now)
    if once:
        result = service.sweep()
        click.echo(
            f"swept {result.cases} cases at {service.clock.now().isoformat()}: "
            f"{result.transitions} transitions, {result.enqueued} actions enqueued"
        )
        if deliver:
            delivered = service.deliver()
            click.echo(
                f"delivered {sum(1 for d in delivered if d.state.value == 'delivered')} "
                f"of {len(delivered)} due"
            )
        return
    if now is not None:
        raise click.BadParameter(
            "--now needs --once (a continuous sweep follows the clock)", param_hint="'--now'"
        )
    from serviceflow.live.runner import Background

    background = Background(service)
    background.start()
    click.echo(f"serviceflow: sweeping {service.store.url} until interrupted", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        background.stop()
