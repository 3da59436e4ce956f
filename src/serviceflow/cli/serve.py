"""``serviceflow serve``: the HTTP service, its sweeper and its outbox workers, in one process.

Needs the extra ``serviceflow[serve]`` (FastAPI, uvicorn, prometheus-client). Migrations run first;
when the policy revision differs from the one the store's open cases were evaluated under, they are
re-evaluated in the background (``/readyz`` and ``/metrics`` say how many are left).
"""

from __future__ import annotations

import click

from serviceflow.cli.options import debug_option, plugin_options
from serviceflow.cli.store import ServiceChoice, service_options
from serviceflow.errors import ConfigError


@click.command()
@service_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--no-sweeper", is_flag=True, help="Do not sweep deadlines in this process.")
@click.option("--no-delivery", is_flag=True, help="Do not deliver outbox items in this process.")
@click.option("--no-sources", is_flag=True, help="Do not poll the configured [sources.*] in this process.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@plugin_options
@debug_option
def serve(
    choice: ServiceChoice,
    host: str,
    port: int,
    no_sweeper: bool,
    no_delivery: bool,
    no_sources: bool,
    log_level: str,
) -> None:
    """Serve the HTTP API (docs/live.md): ingest, cases, gate checks, findings, obligations, outbox.

    Binds 127.0.0.1:8080 by default; every /v1 endpoint needs a token from 'serviceflow tokens create'.
    """
    try:
        import uvicorn

        from serviceflow.http import create_app
    except ImportError as exc:
        raise ConfigError(
            f"'serviceflow serve' needs the serve extra: pip install 'serviceflow[serve]' ({exc})"
        ) from None
    import logging

    from serviceflow.live.runner import Background

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = choice.open()
    from serviceflow.live.connectors import configured_sources

    sources = [] if no_sources else configured_sources(service)
    background = Background(service, sweeper=not no_sweeper, delivery=not no_delivery, sources=sources)
    app = create_app(service, background=background)
    click.echo(
        f"serviceflow: serving http://{host}:{port} (store {service.store.url}, "
        f"policy revision {service.revision}, actions: {', '.join(service.actions) or 'none'}, "
        f"sources: {', '.join(source.name for source in sources) or 'none'})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
