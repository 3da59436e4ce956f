"""End to end: Twilio's webhooks, signed exactly as Twilio signs them, sent over HTTP to a running
``serviceflow serve`` (the installed ``phone`` plugin's ``twilio`` route, SQLite in the test's directory).

The signatures are computed by the ``twilio`` package's own ``RequestValidator`` over the URL Twilio
would call (``public-url`` + the route's path) and the form parameters. The service follows the wall
clock, so the events carry the current time.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from phone_helpers import AUTH_TOKEN, call_params, sign, sms_params

from serviceflow.testing.serve import RunningServe as Serve
from serviceflow.testing.serve import running_serve as running

VOICE = "/v1/hooks/phone/twilio/voice"
SMS = "/v1/hooks/phone/twilio/sms"
CASE = "case-1001"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One service for the module (each test uses calls of its own): starting one takes about 2 s."""
    tmp_path = tmp_path_factory.mktemp("phone-serve")
    (tmp_path / "customers.csv").write_text("number,customer_id,case_id\n+14155550123,cust-42,case-1001\n")

    def configure(service: Serve) -> None:
        (tmp_path / "serviceflow.toml").write_text(
            f"""
[routes.twilio]
auth-token-env = "TWILIO_AUTH_TOKEN"
public-url = "{service.url}"
customers = "customers.csv"
""",
            encoding="utf-8",
        )

    env = {
        **os.environ,
        "SERVICEFLOW_LOAD_PLUGINS": "phone",
        "SERVICEFLOW_DB": str(tmp_path / "serviceflow.db"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    with running(tmp_path, env, configure) as service:
        yield service


def twilio_post(
    serve: Serve, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN, signed_url: str | None = None
) -> tuple[int, str, bytes]:
    """POST the form as Twilio does, signed with ``token`` for ``signed_url`` (default: the real URL)."""
    body = urlencode(list(params.items())).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(signed_url or serve.url + path, params, token),
        "User-Agent": "TwilioProxy/1.1",
    }
    return serve.post(path, body, headers)


_CALLS = itertools.count(1)


def new_call_sid() -> str:
    return f"CA{next(_CALLS):032x}"


def now_params(status: str, **overrides: str) -> dict[str, str]:
    """A voice status callback of a call ending now (the service checks Timestamp against its clock),
    by default from a number no customer has: the call is then a case of its own, ``twilio-<CallSid>``."""
    values = {
        "From": "+14155550199",
        "Caller": "+14155550199",
        "Timestamp": format_datetime(datetime.now(UTC)),
        **overrides,
    }
    return call_params(status, **values)


def contacts(serve: Serve, case: str) -> list[dict[str, Any]]:
    status, case = serve.request("GET", f"/v1/cases/{case}")
    if status == 404:
        return []
    assert status == 200, case
    return [record for record in case["records"] if record["type"] == "contact"]


def records_stored(serve: Serve) -> float:
    """The service's count of records stored (its /metrics), to see that a refusal stored nothing."""
    with urllib.request.urlopen(serve.url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("serviceflow_records_ingested_total "):
                return float(line.split()[1])
    raise AssertionError("no serviceflow_records_ingested_total in /metrics")


def test_a_signed_call_becomes_one_contact_and_replays_are_refused(serve: Serve) -> None:
    call = {"CallSid": "CA" + "a" * 32, "From": "+14155550123", "Caller": "+14155550123"}
    ringing_params = now_params("ringing", **call)
    ringing = twilio_post(serve, VOICE, ringing_params)
    assert ringing[0] == 200 and contacts(serve, CASE) == []  # progress: acknowledged, nothing stored
    completed_params = now_params("completed", **call)
    completed = twilio_post(serve, VOICE, completed_params)

    assert (completed[0], completed[1], completed[2]) == (
        200,
        "text/xml; charset=utf-8",
        b'<?xml version="1.0" encoding="UTF-8"?><Response/>',
    )
    (contact,) = contacts(serve, CASE)
    assert (contact["id"], contact["channel"], contact["direction"], contact["customer_id"]) == (
        "twilio-CA" + "a" * 32,
        "phone",
        "inbound",
        "cust-42",
    )
    assert (contact["meta"]["status"], contact["meta"]["duration_seconds"]) == ("answered", 192)
    assert contact["source"] == {"system": "twilio", "ref": "CA" + "a" * 32}

    # The same signed requests again, as an attacker (or a confused proxy) replays them.
    for params in (completed_params, ringing_params):
        status, kind, body = twilio_post(serve, VOICE, params)
        assert (status, kind) == (403, "application/problem+json"), body
        assert json.loads(body)["detail"].startswith("replayed")
    assert len(contacts(serve, CASE)) == 1


def test_a_signed_sms_becomes_a_contact_with_its_text(serve: Serve) -> None:
    status, _kind, _body = twilio_post(serve, SMS, sms_params(From="+14155550177"))
    assert status == 200
    (contact,) = contacts(serve, "twilio-SM" + "b" * 32)
    assert (contact["channel"], contact["text"]) == ("sms", "The pipe still leaks. Can someone come today?")


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "wrong-token", "tampered", "other-url", "bearer-token-instead"],
)
def test_a_forged_or_unsigned_callback_gets_403_and_stores_nothing(serve: Serve, forgery: str) -> None:
    sid = new_call_sid()
    params = now_params("completed", CallSid=sid)
    body = urlencode(list(params.items())).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if forgery == "wrong-token":
        headers["X-Twilio-Signature"] = sign(serve.url + VOICE, params, "not-the-auth-token")
    elif forgery == "tampered":
        headers["X-Twilio-Signature"] = sign(serve.url + VOICE, params)
        body = urlencode(list({**params, "CallDuration": "5"}.items())).encode()
    elif forgery == "other-url":
        headers["X-Twilio-Signature"] = sign("https://evil.example" + VOICE, params)
    elif forgery == "bearer-token-instead":
        headers["Authorization"] = f"Bearer {serve.token}"

    status, kind, answer = serve.post(VOICE, body, headers)

    assert (status, kind) == (403, "application/problem+json"), answer
    assert contacts(serve, f"twilio-{sid}") == []
    # The genuine request is not spoiled by the forgery having been seen.
    assert twilio_post(serve, VOICE, params)[0] == 200
    assert len(contacts(serve, f"twilio-{sid}")) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"Body=" + b"x" * (100 * 1024), "application/x-www-form-urlencoded", 413),  # the route's limit
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded", 403),
        (b'{"CallSid": "CA1"}', "application/json", 403),
        (b"<xml/>", "text/xml", 415),
    ],
    ids=["100KiB", "not-utf8", "json-without-bodySHA256", "xml"],
)
def test_hostile_bodies_are_refused_and_store_nothing(
    serve: Serve, body: bytes, content_type: str, expected: int
) -> None:
    headers = {"Content-Type": content_type, "X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    before = records_stored(serve)
    status, kind, answer = serve.post(VOICE, body, headers)
    assert (status, kind) == (expected, "application/problem+json"), answer[:300]
    assert records_stored(serve) == before


def test_a_body_declared_over_the_services_limit_is_refused_before_it_is_sent(serve: Serve) -> None:
    """413 on the Content-Length alone: the service reads none of the 2 MiB."""
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
    try:
        connection.putrequest("POST", VOICE)
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, response.getheader("content-type")) == (413, "application/problem+json")
    finally:
        connection.close()


def test_a_signed_but_meaningless_callback_is_400_and_an_old_one_403(serve: Serve) -> None:
    sid = new_call_sid()
    missing = {
        key: value for key, value in now_params("completed", CallSid=sid).items() if key != "CallStatus"
    }
    stale = now_params(
        "completed", CallSid=sid, Timestamp=format_datetime(datetime.now(UTC) - timedelta(days=2))
    )

    assert twilio_post(serve, VOICE, missing)[0] == 400
    assert twilio_post(serve, VOICE, stale)[0] == 403
    assert contacts(serve, f"twilio-{sid}") == []
