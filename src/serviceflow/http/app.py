"""The HTTP API: a thin FastAPI adapter over one :class:`~serviceflow.live.Service`.

``create_app(service)`` builds the ASGI app; routes only translate HTTP (auth, bodies, query
parameters, status codes) and the service decides. Mount it in a help desk's own ASGI app::

    host.mount("/serviceflow", create_app(service))
    Background(service).start()      # a mounted app's lifespan is the host's: start the sweeper there

Every ``/v1`` route needs ``Authorization: Bearer <token>`` with its scope, except the plugins' webhook
routes under ``/v1/hooks/<plugin>/`` (:mod:`.hooks`), which authenticate each request by the calling
system's signature; every error is an RFC 9457 problem document (:mod:`.problems`). ``/healthz``,
``/readyz``, ``/metrics`` and ``/openapi.json`` are open, and say nothing about any case.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at run time,
# and they name dependencies local to create_app.
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as FastApiPath
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from serviceflow import __version__
from serviceflow.errors import RecordError
from serviceflow.http import models
from serviceflow.http.bodies import parse_json, parse_records, read_body, require_json
from serviceflow.http.hooks import SourceCollector, mount_routes
from serviceflow.http.metrics import CONTENT_TYPE, ServiceMetrics
from serviceflow.http.problems import install_handlers, problem, record_problem
from serviceflow.live.connectors import configured_routes
from serviceflow.live.errors import BadRequest, LiveError
from serviceflow.live.runner import Background
from serviceflow.live.service import Service, parse_instant
from serviceflow.live.store import TokenRow

__all__ = ["create_app"]

_bearer = HTTPBearer(auto_error=False, description="A token from 'serviceflow tokens create'")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": models.Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 413, 415, 422)
}


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def create_app(
    service: Service, *, background: Background | None = None, title: str = "serviceflow"
) -> FastAPI:
    """The ASGI app for ``service``. ``background``, when given, is started and stopped with the app's
    lifespan (``serviceflow serve`` passes its sweeper and outbox workers)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                await run_in_threadpool(background.stop)

    app = FastAPI(
        title=title,
        version=__version__,
        description="serviceflow live mode: ingest records, ask the gate, watch obligations (docs/live.md).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    metrics = ServiceMetrics(service)
    metrics.registry.register(SourceCollector(service))
    if service.observer is None:
        service.observer = metrics
    install_handlers(app)
    limit = service.settings.max_body

    def scope(needed: str) -> Callable[..., TokenRow]:
        def authorize(
            request: Request,
            _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> TokenRow:
            return service.authenticate(request.headers.get("authorization"), needed)

        return authorize

    ingest_scope = Depends(scope("ingest"))
    check_scope = Depends(scope("check"))
    read_scope = Depends(scope("read"))
    admin_scope = Depends(scope("admin"))

    @app.post(
        "/v1/records",
        response_model=models.IngestResponse,
        responses=_ERRORS,
        summary="Ingest records",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_records(
        request: Request,
        token: Annotated[TokenRow, ingest_scope],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
    ) -> Response:
        """Each record is admitted or rejected on its own; the accepted ones are committed, with each
        touched case re-evaluated and its actions enqueued, before the answer. With an
        ``Idempotency-Key``, a retried request gets the first answer and nothing is done again."""
        body = await read_body(request, limit)
        items = parse_records(request, body)
        idempotency = None
        if idempotency_key is not None:
            digest = hashlib.sha256(
                request.headers.get("content-type", "").encode() + b"\n" + body
            ).hexdigest()
            idempotency = (f"token:{token.id}", idempotency_key, digest)
        provenance = {"via": "http", "token": token.name}
        if idempotency_key is not None:
            provenance["idempotency_key"] = idempotency_key
        result = await run_in_threadpool(
            lambda: service.ingest(items, provenance=provenance, idempotency=idempotency)
        )
        return _json(result.to_dict())

    @app.get("/v1/cases/{case_id}", response_model=models.CaseResponse, responses=_ERRORS, summary="A case")
    def get_case(case_id: str, _token: Annotated[TokenRow, read_scope]) -> Response:
        """The case's records, its violations and pending obligations (each with its reason) and when
        time alone will next change them."""
        return _json(service.case(case_id).to_dict())

    @app.post(
        "/v1/cases/{case_id}/check",
        response_model=models.CheckResponse,
        responses=_ERRORS,
        summary="Ask the gate",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": models.CheckRequest.model_json_schema()}},
            }
        },
    )
    async def check_case(
        case_id: str, request: Request, _token: Annotated[TokenRow, check_scope]
    ) -> Response:
        """What the proposed record would change: ``allowed`` is false when it would cause a violation
        at or above the gate severity. Nothing is stored but the decision."""
        require_json(request)
        body = parse_json(await read_body(request, limit))
        if not isinstance(body, dict) or set(body) != {"record"}:
            raise BadRequest('the body must be {"record": {...}}')
        try:
            result = await run_in_threadpool(service.check, case_id, body["record"])
        except RecordError as error:
            return record_problem(error, "/record")
        return _json(result.to_dict())

    @app.get("/v1/findings", response_model=models.FindingsPage, responses=_ERRORS, summary="Findings")
    def get_findings(
        _token: Annotated[TokenRow, read_scope],
        status: Annotated[str | None, Query(description="violation, pending or error")] = None,
        policy: str | None = None,
        case_id: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> Response:
        """Current findings across cases, by case, policy and record."""
        page = service.findings(status=status, policy=policy, case_id=case_id, cursor=cursor, limit=limit)
        return _json(page.to_dict())

    @app.get(
        "/v1/obligations", response_model=models.FindingsPage, responses=_ERRORS, summary="Open obligations"
    )
    def get_obligations(
        _token: Annotated[TokenRow, read_scope],
        due_before: Annotated[str | None, Query(description="RFC 3339: only deadlines before this")] = None,
        cursor: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> Response:
        """Pending obligations across all cases, soonest deadline first."""
        before: datetime | None = parse_instant(due_before, "due_before") if due_before is not None else None
        return _json(service.obligations(due_before=before, cursor=cursor, limit=limit).to_dict())

    @app.get("/v1/outbox", response_model=models.OutboxPage, responses=_ERRORS, summary="The outbox")
    def get_outbox(
        _token: Annotated[TokenRow, read_scope],
        state: Annotated[str | None, Query(description="pending, delivering, delivered or dead")] = None,
        cursor: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> Response:
        """Actions per transition and how their delivery goes."""
        return _json(service.outbox(state=state, cursor=cursor, limit=limit).to_dict())

    @app.post(
        "/v1/outbox/{item_id}/retry",
        response_model=models.OutboxItem,
        responses=_ERRORS,
        summary="Retry an outbox item",
    )
    def retry_outbox(
        item_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)], _token: Annotated[TokenRow, admin_scope]
    ) -> Response:
        """Make an item (typically dead-lettered) pending again, due now, its attempts reset."""
        return _json(service.retry(item_id).to_dict())

    @app.get("/healthz", response_model=models.Health, summary="Is the process up")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", response_model=models.Health, responses={503: _ERRORS[400]}, summary="Can it serve")
    def readyz() -> Response:
        """200 when the store answers and its migrations are current; 503 otherwise."""
        try:
            readiness = service.readiness()
        except LiveError as error:
            return problem(503, error.message, title="Not ready")
        except Exception as error:  # the store's driver failing in a way of its own
            return problem(503, f"the store does not answer: {type(error).__name__}", title="Not ready")
        if not readiness["migrations_current"]:
            return problem(
                503,
                "the store's migrations are not current; run 'serviceflow db upgrade'",
                title="Not ready",
                **readiness,
            )
        return _json({"status": "ready", **readiness})

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    def get_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    # The connectors' webhooks, for each [routes.NAME] table: /v1/hooks/<plugin>/<name>/...
    mount_routes(app, service, configured_routes(service))
    return app
