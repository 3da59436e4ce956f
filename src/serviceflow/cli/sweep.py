"""``serviceflow sweep``: re-evaluate the cases whose deadlines have passed (for cron and tests)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import click

from serviceflow.cli.options import debug_option, now_option, plugin_options
from serviceflow.cli.store import service_from, service_options
from serviceflow.live.clock import ManualClock, SystemClock


@click.command()
@service_options
@click.option("--once", is_flag=True, help="Sweep once and exit (else keep sweeping until interrupted).")
@now_option
@click.option("--deliver", is_flag=True, help="With --once: also make one delivery pass over the outbox.")
@plugin_options
@debug_option
def sweep(
    db_url: str | None,
    config_path: Path | None,
    policy_paths: tuple[Path, ...],
    no_bundled: bool,
    evaluator: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    once: bool,
    now: datetime | None,
    deliver: bool,
) -> None:
    """Re-evaluate every case whose next change is due, record the transitions, enqueue their actions.

    Without --once, keeps sweeping (sleeping until the earliest deadline) and delivering the outbox,
    as 'serve' does without the HTTP API.
    """
    clock = ManualClock(now) if now is not None else SystemClock()
    service = service_from(
        db_url, config_path, policy_paths, no_bundled, evaluator, select, ignore, clock=clock
    )
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
