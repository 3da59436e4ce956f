"""``webhook``: the built-in action that POSTs each finding, with its transition, to a URL, signed.

Signed per Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id`` is the transition's
idempotency key (the same on every retry, so a receiver drops repeats), ``webhook-timestamp`` the
send time in seconds, ``webhook-signature`` ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` made
by the ``standardwebhooks`` package with the shared secret. A timeout, a connection failure or a 5xx
(and 408, 429) is worth retrying; any other 4xx is the receiver refusing for good, reported as
:class:`ActionError` with ``retry=False`` so the outbox dead-letters it at once. The request is made
with the standard library, so the core imports no HTTP client. Options (``[actions.webhook]``):

* ``url`` (required): where to POST;
* ``secret`` or ``secret-env``: the signing secret (``whsec_``-prefixed base64, as Standard Webhooks
  issues them), or the name of the environment variable holding it;
* ``timeout``: how long to wait for an answer (default ``10s``).

The body::

    {"type": "serviceflow.finding.breached", "timestamp": "...",
     "data": {"transition": "breached", "idempotency_key": "...", "finding": {...lint --format json...}}}
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from serviceflow.contributions import ActionContext, ActionFunction
from serviceflow.errors import ActionError, ConfigError
from serviceflow.findings import Finding
from serviceflow.timeutil import format_datetime, parse_duration

NAME = "webhook"
_OPTIONS = {"url", "secret", "secret-env", "timeout"}
_RETRYABLE_4XX = {408, 425, 429}


def create(options: Mapping[str, Any]) -> ActionFunction:
    """The webhook action for the ``[actions.webhook]`` options."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError(
            f"action '{NAME}' has no option {', '.join(sorted(map(repr, unknown)))} "
            f"(options: {', '.join(sorted(_OPTIONS))})"
        )
    url = options.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(f"action '{NAME}': 'url' must be an http:// or https:// URL")
    secret = options.get("secret")
    if secret is None and "secret-env" in options:
        secret = os.environ.get(str(options["secret-env"]))
        if not secret:
            raise ConfigError(
                f"action '{NAME}': the environment variable {options['secret-env']!r} is not set"
            )
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"action '{NAME}': give the signing secret as 'secret' or 'secret-env'")
    try:
        timeout = parse_duration(options.get("timeout", "10s")).total_seconds()
    except ValueError as exc:
        raise ConfigError(f"action '{NAME}': 'timeout': {exc}") from None
    from standardwebhooks import Webhook

    try:
        signer = Webhook(secret)
    except Exception as exc:
        raise ConfigError(f"action '{NAME}': the secret is not a Standard Webhooks secret ({exc})") from None
    return _Webhook(url, signer, timeout)


class _Webhook:
    def __init__(self, url: str, signer: Any, timeout: float) -> None:
        self.url = url
        self.signer = signer
        self.timeout = timeout

    def __call__(self, finding: Finding, context: ActionContext) -> str:
        message_id = context.idempotency_key or "-".join(finding.key)
        body = json.dumps(
            {
                "type": f"serviceflow.finding.{context.transition}",
                "timestamp": format_datetime(context.now),
                "data": {
                    "transition": context.transition,
                    "idempotency_key": message_id,
                    "finding": finding.to_dict(),
                },
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode("utf-8")
        signature = self.signer.sign(msg_id=message_id, timestamp=context.now, data=body)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "serviceflow-webhook",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(context.now.timestamp())),
                "webhook-signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return f"POST {self.url}: {response.status}"
        except urllib.error.HTTPError as error:
            retry = error.code >= 500 or error.code in _RETRYABLE_4XX
            raise ActionError(f"POST {self.url}: {error.code} {error.reason}", retry=retry) from None
        except TimeoutError as error:
            raise ActionError(f"POST {self.url}: no answer in {self.timeout:g}s ({error})") from None
        except urllib.error.URLError as error:
            raise ActionError(f"POST {self.url}: {error.reason}") from None
        except OSError as error:
            raise ActionError(f"POST {self.url}: {error}") from None
