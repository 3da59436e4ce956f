"""RFC 9457 problem documents: every error the HTTP API answers with, as ``application/problem+json``.

One function builds them and one set of exception handlers maps serviceflow's errors to them, so no
route formats an error itself. A record error carries its JSON pointer (``pointer``, and ``errors``
as RFC 9457's own example lists them); an unexpected exception is a 500 whose body says nothing of it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from serviceflow.errors import RecordError, ServiceflowError
from serviceflow.live.errors import LiveError

__all__ = ["PROBLEM_TYPE", "PayloadTooLarge", "UnsupportedMediaType", "install_handlers", "problem"]

LOGGER = logging.getLogger("serviceflow.http")
PROBLEM_TYPE = "application/problem+json"
_TYPE_BASE = "https://serviceflow.dev/problems/"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class PayloadTooLarge(LiveError):
    status = 413
    title = "Content too large"


class UnsupportedMediaType(LiveError):
    status = 415
    title = "Unsupported media type"


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response:
    """A problem document response."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + _slug(title or _TITLES.get(status, "error")),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = {"WWW-Authenticate": 'Bearer realm="serviceflow"'} if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _slug(title: str) -> str:
    return "-".join(title.lower().replace("-", " ").split())


def record_problem(error: RecordError, prefix: str = "") -> Response:
    pointer = prefix + (error.location.pointer or "")
    return problem(
        422,
        error.message,
        title="Invalid record",
        pointer=pointer,
        errors=[{"pointer": pointer, "detail": error.message}],
    )


def install_handlers(app: FastAPI) -> None:
    """Map every error to a problem document."""

    @app.exception_handler(LiveError)
    async def live_error(_request: Request, exc: LiveError) -> Response:
        return problem(exc.status, exc.message, title=exc.title)

    @app.exception_handler(RecordError)
    async def record_error(_request: Request, exc: RecordError) -> Response:
        return record_problem(exc)

    @app.exception_handler(ServiceflowError)
    async def serviceflow_error(_request: Request, exc: ServiceflowError) -> Response:
        return problem(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "pointer": "/" + "/".join(str(part) for part in error.get("loc", ())[1:]),
                "detail": str(error.get("msg", "invalid")),
            }
            for error in exc.errors()
        ]
        where = ", ".join(
            f"{'.'.join(map(str, error.get('loc', ())))}: {error.get('msg')}" for error in exc.errors()
        )
        return problem(400, f"invalid request parameters ({where})", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        LOGGER.exception("unexpected error answering %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it was logged")
