"""The ``twilio`` route: Twilio's webhooks mounted in the service at ``/v1/hooks/phone/twilio/...``.

``serviceflow serve`` mounts it when serviceflow.toml has a ``[routes.twilio]`` table (the options of
:meth:`~serviceflow_phone.webhooks.TwilioWebhookConfig.from_options`; ``customers`` relative to that
file), at two paths to give Twilio:

* ``/v1/hooks/phone/twilio/voice``: the number's voice *status callback* (each call's final status
  becomes its ``contact``; progress callbacks are acknowledged and stored nowhere);
* ``/v1/hooks/phone/twilio/sms``: the number's messaging webhook (each incoming message a ``contact``).

Each request is verified by :func:`~serviceflow_phone.webhooks.handle_twilio_request` against
``public-url`` + the path Twilio called (``X-Twilio-Signature``, the ``twilio`` package's
``RequestValidator``); the service's bearer tokens play no part. What it refuses (unsigned, tampered,
signed for another URL, stale, too large, not Twilio's form) is answered with a problem document and
nothing is stored.

**Replays.** A signature covers no time, so the request's replay key is claimed in the service's store,
in the transaction that stores its records (:meth:`~serviceflow.plugin.RouteContext.ingest`): a request
is "seen" exactly when its records are stored, a replay inside ``replay-window`` is refused with 403,
and of two copies arriving at once one is stored and the other refused. After the window a replayed
final callback makes the same record id, which the store recognises as a duplicate: still one contact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from serviceflow.plugin import RouteContext, WebhookHandler, WebhookRequest, WebhookResponse
from serviceflow_phone.webhooks import TwilioWebhookConfig, handle_twilio_request

__all__ = ["NAME", "PATHS", "StoreClaims", "create"]

LOGGER = logging.getLogger("serviceflow_phone.routes")
NAME = "twilio"
PATHS = ("/voice", "/sms")


class StoreClaims:
    """The :class:`~serviceflow_phone.replay.SeenStore` of one request, over the service's store.

    ``claim`` answers from what the store holds and remembers the claim; the claim itself is taken by
    ``context.ingest`` in the transaction that stores the records, so that a request whose records were
    not stored is not "seen", and a concurrent copy that got past this check is refused there.
    """

    def __init__(self, context: RouteContext) -> None:
        self.context = context
        self.claims: list[tuple[str, datetime]] = []

    def claim(self, key: str, seen_at: datetime, expires_at: datetime) -> bool:
        if self.context.claimed(key):
            return False
        self.claims.append((key, expires_at))
        return True


def create(options: Mapping[str, Any], context: RouteContext) -> WebhookHandler:
    """The handler of the ``twilio`` route, for the ``[routes.twilio]`` options."""
    config = TwilioWebhookConfig.from_options(options, base=context.config_dir)

    def handle(request: WebhookRequest) -> WebhookResponse:
        claims = StoreClaims(context)
        result = handle_twilio_request(
            request.url, request.headers, request.body, config, claims, request.received_at
        )
        if result.status != 200:
            return WebhookResponse.problem(result.status, result.detail)
        outcome = context.ingest(list(result.records), claims=claims.claims)
        if outcome.replayed:
            LOGGER.warning(
                "twilio request to %s refused (403): replayed while it was being stored", request.path
            )
            return WebhookResponse.problem(403, "replayed: this request was accepted before")
        if outcome.rejected:
            # A record the schemas or the store refused (a conflicting id): Twilio's debugger shows it.
            detail = "; ".join(outcome.rejected)
            LOGGER.error("twilio request to %s: record refused: %s", request.path, detail)
            return WebhookResponse.problem(422, f"the record was refused: {detail}", "Record refused")
        return WebhookResponse(200, result.body.encode("utf-8"), result.content_type)

    return handle
