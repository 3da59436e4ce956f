"""Opaque cursors: where the next page starts, as a token a client hands back unread.

A cursor is the sort key of the last item of a page, as URL-safe base64 of JSON. Keyset pagination
(``WHERE key > cursor``) keeps each page one indexed range read, and stays correct while rows are
added, unlike an offset.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from serviceflow.live.errors import BadRequest

__all__ = ["MAX_LIMIT", "check_limit", "decode_cursor", "encode_cursor"]

MAX_LIMIT = 1000


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, length: int) -> list[Any] | None:
    """The key in ``cursor`` (``None``: the first page); a cursor not made here is a BadRequest."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != length or not all(_part(part) for part in key):
        raise BadRequest("'cursor' is not a cursor this service gave out")
    return key


def _part(part: Any) -> bool:
    """A cursor holds text without NUL (no store keeps it) and 64-bit integers (no store takes more)."""
    if isinstance(part, str):
        return "\x00" not in part
    return isinstance(part, int) and not isinstance(part, bool) and -(2**63) <= part < 2**63


def check_limit(limit: int | None, default: int = 100) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > MAX_LIMIT:
        raise BadRequest(f"'limit' must be between 1 and {MAX_LIMIT}")
    return limit
