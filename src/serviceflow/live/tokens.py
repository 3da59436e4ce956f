"""Bearer tokens: made once, shown once, kept only as a hash, each with the scopes it grants.

Tokens are 256 random bits, so a plain SHA-256 is the right hash (a slow password hash protects
guessable secrets; these are not guessable), and looking one up is one indexed query. ``admin`` grants
every scope.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from serviceflow.errors import ConfigError

__all__ = ["PREFIX", "SCOPES", "check_scopes", "grants", "hash_token", "new_token"]

#: What each scope allows: ``ingest`` POST /v1/records; ``check`` gate checks; ``read`` cases,
#: findings, obligations and the outbox; ``admin`` all of them and retrying outbox items.
SCOPES = ("ingest", "check", "read", "admin")
PREFIX = "sf_"


def new_token() -> str:
    """A new token, to be shown to its owner once."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, checked and deduplicated in the order :data:`SCOPES` lists them."""
    given = set(scopes)
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise ConfigError(f"unknown scope '{unknown[0]}' (scopes: {', '.join(SCOPES)})")
    if not given:
        raise ConfigError(f"a token needs at least one scope ({', '.join(SCOPES)})")
    return tuple(scope for scope in SCOPES if scope in given)


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether a token with ``scopes`` may do what needs ``needed``."""
    held = set(scopes)
    return needed in held or "admin" in held
