"""The errors of live mode, in serviceflow's one hierarchy (:mod:`serviceflow.errors`).

Each carries what an adapter needs to answer: the HTTP layer maps ``status`` to a response and the
CLI prints the message and exits 2, as for every :class:`~serviceflow.errors.ServiceflowError`::

    ServiceflowError
    └── LiveError                 ``status``: the HTTP status an adapter answers with
        ├── NotFound              an unknown case or outbox item (404)
        ├── BadRequest            a malformed cursor, filter or body (400)
        ├── IdempotencyMismatch   an Idempotency-Key reused for another request (422)
        ├── Unauthorized          no token, or one the store does not know (401)
        ├── Forbidden             a token without the scope the request needs (403)
        └── StoreError            the store cannot be used: unreachable, or its schema is not this code's
"""

from __future__ import annotations

from serviceflow.errors import Location, ServiceflowError

__all__ = [
    "BadRequest",
    "Forbidden",
    "IdempotencyMismatch",
    "LiveError",
    "NotFound",
    "StoreError",
    "Unauthorized",
]


class LiveError(ServiceflowError):
    """A request live mode refuses; ``status`` is the HTTP status that says why."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message, location)


class NotFound(LiveError):
    status = 404
    title = "Not found"


class BadRequest(LiveError):
    status = 400
    title = "Bad request"


class IdempotencyMismatch(LiveError):
    status = 422
    title = "Idempotency-Key reused"


class Unauthorized(LiveError):
    status = 401
    title = "Unauthorized"


class Forbidden(LiveError):
    status = 403
    title = "Forbidden"


class StoreError(LiveError):
    """The store cannot serve: unreachable, not migrated, or migrated by a newer serviceflow."""

    status = 503
    title = "Store unavailable"
