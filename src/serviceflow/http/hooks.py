"""Connectors over HTTP: plugins' webhook routes under ``/v1/hooks``, and their sources in ``/metrics``.

A plugin's route handler never sees FastAPI: :func:`mount_routes` reads the request (its body no larger
than the route's ``max_body``, refused with 413 before the handler is called), hands the handler a
:class:`~serviceflow.contributions.WebhookRequest` in a worker thread, and sends back the
:class:`~serviceflow.contributions.WebhookResponse` as it is. These routes take no bearer token: the
handler authenticates each request by the calling system's signature (the route's ``authentication``
says how, and the OpenAPI document repeats it). A handler that raises, or answers something that is
not a response, gives a 500 problem document naming the route, and its error goes to the log.

:class:`SourceCollector` adds each source's polls, records, consecutive failures and last success to
``/metrics``, read from the store at scrape time like the outbox depth, so they are right whichever
process polled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from serviceflow.contributions import WebhookRequest, WebhookResponse
from serviceflow.errors import PLUGIN_FAILURES
from serviceflow.http.bodies import read_body
from serviceflow.http.problems import problem
from serviceflow.live.connectors import ConfiguredRoute
from serviceflow.live.service import Service

__all__ = ["SourceCollector", "mount_routes"]

LOGGER = logging.getLogger("serviceflow.http.hooks")


def mount_routes(app: FastAPI, service: Service, routes: Sequence[ConfiguredRoute]) -> None:
    """Add each configured route's paths to ``app``."""
    for route in routes:
        for path in route.spec.paths:
            url = route.prefix + path
            app.add_api_route(
                url,
                _endpoint(service, route, path),
                methods=list(route.spec.methods),
                summary=f"{route.spec.plugin or 'plugin'}: {route.spec.name}{path}",
                description=(
                    f"{route.spec.description or 'A webhook of the ' + route.spec.name + ' connector.'}\n\n"
                    f"Authentication: {route.spec.authentication} (no bearer token)."
                ),
                response_class=Response,
                responses={
                    413: {"description": "The body is over the route's limit"},
                    500: {"description": "The route's handler failed (see the service's log)"},
                },
                tags=["hooks"],
            )


def _endpoint(
    service: Service, route: ConfiguredRoute, path: str
) -> Callable[[Request], Awaitable[Response]]:
    spec = route.spec
    where = f"{spec.plugin}/{spec.name}{path}"

    async def endpoint(request: Request) -> Response:
        body = await read_body(request, spec.max_body)
        webhook = WebhookRequest(
            method=request.method,
            url=str(request.url),
            path=path,
            query=request.url.query,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            received_at=service.clock.now(),
        )
        try:
            response = await run_in_threadpool(route.handler, webhook)
        except PLUGIN_FAILURES:
            LOGGER.exception("route %s failed on a %s request", where, request.method)
            return problem(500, f"the {spec.name} route failed; see the service's log")
        if not isinstance(response, WebhookResponse):
            LOGGER.error("route %s answered %r, not a WebhookResponse", where, type(response).__name__)
            return problem(500, f"the {spec.name} route failed; see the service's log")
        return Response(
            response.body,
            status_code=response.status,
            media_type=response.content_type,
            headers=dict(response.headers),
        )

    endpoint.__name__ = f"hook_{spec.name}_{path.strip('/').replace('/', '_') or 'root'}".replace("-", "_")
    return endpoint


class SourceCollector(Collector):
    """Each source's state from the store (``source_cursors``), as Prometheus metrics."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def describe(self) -> Iterator[Metric]:
        """The families without values: registering must not query a store that may not be migrated."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            states = self.service.store.source_states()
        except Exception:  # the store is away or not migrated: /readyz says so; the rest still scrapes
            return
        polls, records, failures, success = self._families()
        for state in states:
            polls.add_metric([state.name], state.polls)
            records.add_metric([state.name], state.records)
            failures.add_metric([state.name], state.failures)
            if state.last_success_at is not None:
                success.add_metric([state.name], state.last_success_at.timestamp())
        yield from (polls, records, failures, success)

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            CounterMetricFamily(
                "serviceflow_source_polls", "Polls of each source, failed ones included", labels=["source"]
            ),
            CounterMetricFamily(
                "serviceflow_source_records", "Records stored from each source", labels=["source"]
            ),
            GaugeMetricFamily(
                "serviceflow_source_failures",
                "Failed polls of each source since its last success",
                labels=["source"],
            ),
            GaugeMetricFamily(
                "serviceflow_source_last_success_timestamp_seconds",
                "When each source last polled successfully (Unix time)",
                labels=["source"],
            ),
        )
