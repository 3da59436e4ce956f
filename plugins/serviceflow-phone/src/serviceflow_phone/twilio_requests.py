"""Is this request from Twilio? Its ``X-Twilio-Signature``, checked with the ``twilio`` package.

Twilio signs each webhook with HMAC-SHA1, keyed with the account's auth token, over the URL it was
configured to call followed by every form parameter's name and value in name order; for a JSON body it
signs the URL with the body's SHA-256 appended as the ``bodySHA256`` query parameter. The check itself
is :class:`twilio.request_validator.RequestValidator`'s, which also accepts the URL with and without
the default port, as Twilio's own signing is inconsistent there. This module decides what to feed it:

* **The URL Twilio called**, not the one this process sees behind a proxy or load balancer: the
  configured public URL (scheme, host and any path prefix the proxy strips) followed by the request's
  own path and query, byte for byte as received.
* **The parameters**, decoded exactly as sent: every value of a repeated name, blank values kept. A
  body that is not UTF-8, not form data, or too large cannot be verified and is refused.
* **The secret**: the auth token (and, while it is rotated, the previous one). A request carrying
  ``X-Twilio-Webhooks-Signature-Settings`` was signed with a Webhooks Rule's shared key and the
  algorithm the header names; without a configured shared key it is refused.

Only :func:`verify` is meant to be called; it returns the verified parameters or raises
:class:`Refused` with the HTTP status the route should answer (403, 413 or 415).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlsplit

from twilio.request_validator import RequestValidator, get_signature_algorithm

__all__ = [
    "SETTINGS_HEADER",
    "SIGNATURE_HEADER",
    "FormParams",
    "Refused",
    "VerifiedRequest",
    "signed_url",
    "verify",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
#: Twilio's webhooks have a few dozen parameters; an SMS with ten media files about 60.
MAX_FIELDS = 200
#: A base64 HMAC-SHA256 is 44 characters; anything much longer is not a signature.
MAX_SIGNATURE_LENGTH = 128
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Refused(Exception):
    """The request is refused before anything is read from it: ``status`` and why, numbers masked."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FormParams(dict[str, str]):
    """Form parameters: the first value of each name, and every value through ``getall`` (which
    ``RequestValidator`` uses, as for a MultiDict, so that a repeated name is signed as Twilio signs it)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for name, value in pairs:
            self._all.setdefault(name, []).append(value)
            self.setdefault(name, value)

    def getall(self, name: str) -> list[str]:
        return list(self._all[name])


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose signature was checked: its parameters (flat strings) and its signature."""

    params: Mapping[str, str]
    signature: str
    url: str


def signed_url(public_url: str, request_url: str) -> str:
    """The URL Twilio signed: ``public_url`` followed by the path and query of ``request_url``.

    ``request_url`` is what the route received, absolute (``http://10.0.0.5:8000/v1/hooks/phone/twilio/voice``)
    or just the target (``/v1/hooks/phone/twilio/voice?x=1``); its path and query are kept as they came.
    """
    target = urlsplit(request_url)
    path = target.path or "/"
    return public_url.rstrip("/") + path + (f"?{target.query}" if target.query else "")


def verify(
    url: str,
    headers: Mapping[str, str],
    body: bytes | Mapping[str, str | Sequence[str]],
    secrets: Sequence[str],
    shared_key_secret: str | None = None,
) -> VerifiedRequest:
    """Check a request's signature; the verified parameters, or :class:`Refused`.

    ``url`` is the signed URL (:func:`signed_url`), ``headers`` the request's (any case), ``body`` its
    raw bytes or, when a framework already parsed the form, the parsed fields.
    """
    header = _headers(headers)
    signature = header.get(SIGNATURE_HEADER.lower())
    if not signature:
        raise Refused(403, f"no {SIGNATURE_HEADER} header: not a request from Twilio")
    if len(signature) > MAX_SIGNATURE_LENGTH:
        raise Refused(403, f"the {SIGNATURE_HEADER} header is not a signature")
    settings = header.get(SETTINGS_HEADER.lower())
    if settings is not None:
        if not shared_key_secret:
            raise Refused(
                403, f"signed with a Webhooks Rule's shared key ({SETTINGS_HEADER}), none is configured"
            )
        keys, algorithm = [shared_key_secret], get_signature_algorithm(settings)
    else:
        keys, algorithm = list(secrets), None

    media_type = header.get("content-type", FORM).split(";")[0].strip().lower()
    if isinstance(body, Mapping):
        signed: FormParams | str = _form_from_mapping(body)
    elif media_type == FORM:
        signed = _form_from_bytes(body)
    elif media_type == JSON:
        if "bodySHA256" not in parse_qs(urlsplit(url).query):
            raise Refused(403, "a JSON body must be signed through the bodySHA256 query parameter")
        signed = _text(body)
    else:
        raise Refused(415, f"cannot verify a {media_type[:40]!r} body: Twilio sends form data or JSON")

    if not any(RequestValidator(key).validate(url, signed, signature, algorithm) for key in keys):
        raise Refused(403, "the signature does not match: wrong URL, auth token or parameters")
    params = _json_params(signed) if isinstance(signed, str) else signed
    return VerifiedRequest(params, signature, url)


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(403, "the body is not UTF-8, so it cannot be what Twilio signed") from None


def _form_from_bytes(body: bytes) -> FormParams:
    text = _text(body)
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise Refused(403, "a form value is not UTF-8, so it cannot be what Twilio signed") from None
    except ValueError:
        raise Refused(403, f"more than {MAX_FIELDS} form fields: not a Twilio webhook") from None
    return FormParams(pairs)


def _form_from_mapping(fields: Mapping[str, str | Sequence[str]]) -> FormParams:
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(item, str) for item in values):
            raise Refused(403, "form values must be strings")
        pairs.extend((str(name), item) for item in values)
    if len(pairs) > MAX_FIELDS:
        raise Refused(403, f"more than {MAX_FIELDS} form fields: not a Twilio webhook")
    return FormParams(pairs)


class _Unusable(Refused):
    """Verified, but not something this package can read (a 400: it did come from Twilio)."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def _json_params(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _Unusable("the JSON body does not parse") from None
    if not isinstance(data, dict):
        raise _Unusable("the JSON body is not an object")
    params: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            params[name] = str(value)
        elif value is not None:
            raise _Unusable(f"the JSON field {name[:40]!r} is not a string or a number")
    return params
