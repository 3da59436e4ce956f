"""Helpers for serviceflow-phone's tests: CDR lines written as Asterisk writes them, signed requests.

A module of its own, not conftest.py: CI runs every plugin's tests in one session, where
``from conftest import`` could find another plugin's conftest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from serviceflow.plugin import Evaluation

AUTH_TOKEN = "12345"
PUBLIC_URL = "https://desk.example.com"
VOICE_PATH = "/v1/hooks/phone/twilio/voice"
SMS_PATH = "/v1/hooks/phone/twilio/sms"
NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
# Asterisk's cdr_csv column order, written out here rather than imported from serviceflow_phone.cdr:
# the tests hold the reader to the format, not to itself.
BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
_INTEGERS = {"duration", "billsec", "sequence"}
_DATES = {"start", "answer", "end"}


def cdr_line(
    *,
    loguniqueid: bool = True,
    loguserfield: bool = True,
    newcdrcolumns: bool = True,
    **values: Any,
) -> str:
    """One Master.csv line exactly as cdr_csv.c's build_csv_record writes it: strings in double quotes
    with quotes doubled, integers bare, an unset time as an empty bare field, no trailing comma."""
    columns = list(BASE_COLUMNS)
    if loguniqueid:
        columns.append("uniqueid")
    if loguserfield:
        columns.append("userfield")
    if newcdrcolumns:
        columns += ["peeraccount", "linkedid", "sequence"]
    defaults: dict[str, Any] = {
        "accountcode": "",
        "src": "4155550123",
        "dst": "100",
        "dcontext": "from-trunk",
        "clid": '"Jane Doe" <4155550123>',
        "channel": "PJSIP/provider-00000001",
        "dstchannel": "PJSIP/1001-00000002",
        "lastapp": "Dial",
        "lastdata": "PJSIP/1001,30",
        "start": "2024-05-06 09:15:02",
        "answer": "2024-05-06 09:15:10",
        "end": "2024-05-06 09:18:22",
        "duration": 200,
        "billsec": 192,
        "disposition": "ANSWERED",
        "amaflags": "DOCUMENTATION",
        "uniqueid": "1714986902.1",
        "userfield": "",
        "peeraccount": "",
        "linkedid": "1714986902.1",
        "sequence": 1,
    }
    defaults.update(values)
    fields = []
    for column in columns:
        value = defaults[column]
        if column in _INTEGERS:
            fields.append(str(value))
        elif column in _DATES and not value:
            fields.append("")
        else:
            fields.append('"' + str(value).replace('"', '""') + '"')
    return ",".join(fields) + "\n"


def sign(url: str, params: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send, computed by the twilio package itself."""
    return RequestValidator(token).compute_signature(url, dict(params))


def form_request(
    path: str, params: Mapping[str, str], *, token: str = AUTH_TOKEN, signed_for: str | None = None
) -> tuple[str, dict[str, str], bytes]:
    """(url as the service sees it, headers, body) of a form POST Twilio signed for ``signed_for``."""
    url = f"http://127.0.0.1:8000{path}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(signed_for or PUBLIC_URL + path, params, token),
    }
    return url, headers, urlencode(list(params.items())).encode("ascii")


def call_params(status: str = "completed", **overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": "CA" + "a" * 32,
        "CallStatus": status,
        "Direction": "inbound",
        "From": "+14155550123",
        "To": "+18005551212",
        "Caller": "+14155550123",
        "Called": "+18005551212",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": "3",
        "Timestamp": "Mon, 06 May 2024 09:28:12 +0000",
    }
    if status == "completed":
        params["CallDuration"] = "192"
    params.update(overrides)
    return params


def sms_params(**overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": "SM" + "b" * 32,
        "SmsMessageSid": "SM" + "b" * 32,
        "SmsSid": "SM" + "b" * 32,
        "SmsStatus": "received",
        "From": "+14155550123",
        "To": "+18005551212",
        "Body": "The pipe still leaks. Can someone come today?",
        "NumMedia": "0",
        "NumSegments": "1",
    }
    params.update(overrides)
    return params


def assert_valid(engine: Any, records: Sequence[Mapping[str, Any]]) -> Evaluation:
    """Every record passes serviceflow's schemas (the engine's admission, as lint and the service use)."""
    evaluation = engine.evaluate(list(records), NOW)
    assert [str(error) for error in evaluation.input_errors] == []
    return evaluation
