"""Reading request bodies: a size limit enforced while reading, and the two record formats.

The limit is checked against ``Content-Length`` before anything is read and again while the body
streams in (a chunked body has no length), so an oversized request is refused with 413 having cost at
most the limit in memory. ``POST /v1/records`` takes a JSON array, or JSON Lines with
``Content-Type: application/x-ndjson``; a line that is not JSON is that item's rejection, not the
request's.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from serviceflow.errors import Location, RecordError
from serviceflow.http.problems import PayloadTooLarge, UnsupportedMediaType
from serviceflow.live.errors import BadRequest

__all__ = ["JSON_TYPES", "NDJSON_TYPES", "media_type", "parse_json", "parse_records", "read_body"]

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/jsonlines"})


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`PayloadTooLarge` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if length > limit:
            raise PayloadTooLarge(f"the body is {length} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_json(request: Request) -> None:
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not '{media_type(request) or 'none'}'"
        )


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None


def parse_records(request: Request, body: bytes) -> list[Any]:
    """The items of a records request: decoded values, or a RecordError for a line that is not JSON."""
    kind = media_type(request)
    if kind in JSON_TYPES:
        items = parse_json(body)
        if not isinstance(items, list):
            raise BadRequest(
                "the body must be a JSON array of records (or JSON Lines as application/x-ndjson)"
            )
        return items
    if kind in NDJSON_TYPES:
        parsed: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                parsed.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                parsed.append(RecordError(f"not JSON: {exc}", Location(None, None, "")))
        return parsed
    raise UnsupportedMediaType(
        f"Content-Type must be application/json or application/x-ndjson, not '{kind or 'none'}'"
    )
