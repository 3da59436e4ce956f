"""Twilio request verification: signed as Twilio signs; refused when unsigned, tampered or replayed."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from phone_helpers import (
    AUTH_TOKEN,
    NOW,
    PUBLIC_URL,
    SMS_PATH,
    VOICE_PATH,
    call_params,
    form_request,
    sign,
    sms_params,
)
from serviceflow_phone.replay import MemorySeenStore
from serviceflow_phone.twilio_requests import Refused, signed_url, verify
from serviceflow_phone.webhooks import TwilioWebhookConfig, handle_twilio_request
from twilio.request_validator import RequestValidator

# The worked example of Twilio's request-validation documentation: auth token 12345, this URL and
# these five POST parameters are signed RSOYDt4T1cUTdK1PDd93/VVr8B8=. Sources: the twilio package's
# own tests (github.com/twilio/twilio-python, tests/unit/test_request_validator.py, ValidationTest.
# setUp, which also pins the JSON body, its SHA-256 and the signature of the URL carrying it) and
# twilio-php's docs/usage/validation.rst, which print the same example.
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
EXAMPLE_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
EXAMPLE_BODY = '{"property": "value", "boolean": true}'
EXAMPLE_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
EXAMPLE_BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="
# Twilio's current page (https://www.twilio.com/docs/usage/webhooks/webhooks-security) shows the same
# example with the caller +14158675310, signed GvWf1cFY/Q7PnoempGyD5oXAezc= (the page itself could not
# be read from here; the value is the one independent implementations pin as "from the Twilio docs").
DOCS_PARAMS = {**EXAMPLE_PARAMS, "From": "+14158675310", "Caller": "+14158675310"}
DOCS_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="


def config(**overrides: object) -> TwilioWebhookConfig:
    values: dict[str, object] = {"auth_tokens": (AUTH_TOKEN,), "public_url": PUBLIC_URL}
    values.update(overrides)
    return TwilioWebhookConfig(**values)  # type: ignore[arg-type]


def form_headers(signature: str) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}


def test_the_published_example_signature_is_what_our_signing_and_verifying_agree_on() -> None:
    assert sign(EXAMPLE_URL, EXAMPLE_PARAMS) == EXAMPLE_SIGNATURE
    assert sign(EXAMPLE_URL, DOCS_PARAMS) == DOCS_SIGNATURE
    body = urlencode(EXAMPLE_PARAMS).encode()
    verified = verify(EXAMPLE_URL, form_headers(EXAMPLE_SIGNATURE), body, [AUTH_TOKEN])
    assert dict(verified.params) == EXAMPLE_PARAMS
    assert verify(EXAMPLE_URL, form_headers(DOCS_SIGNATURE), urlencode(DOCS_PARAMS).encode(), [AUTH_TOKEN])


def test_the_published_json_body_example_verifies_through_body_sha256() -> None:
    assert RequestValidator(AUTH_TOKEN).compute_hash(EXAMPLE_BODY) == EXAMPLE_BODY_HASH
    url = f"{EXAMPLE_URL}&bodySHA256={EXAMPLE_BODY_HASH}"
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": EXAMPLE_BODY_SIGNATURE}
    verified = verify(url, headers, EXAMPLE_BODY.encode(), [AUTH_TOKEN])
    assert dict(verified.params) == {"property": "value", "boolean": "true"}
    with pytest.raises(Refused) as refused:  # one byte changed: the hash no longer matches
        verify(url, headers, EXAMPLE_BODY.replace("value", "valuE").encode(), [AUTH_TOKEN])
    assert refused.value.status == 403


def test_a_json_body_without_body_sha256_in_the_url_is_refused() -> None:
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": sign(EXAMPLE_URL, {})}
    with pytest.raises(Refused, match="bodySHA256") as refused:
        verify(EXAMPLE_URL, headers, EXAMPLE_BODY.encode(), [AUTH_TOKEN])
    assert refused.value.status == 403


def test_a_signed_status_callback_is_accepted_and_makes_the_calls_contact() -> None:
    url, headers, body = form_request(VOICE_PATH, call_params())
    result = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW)
    assert result.status == 200
    assert [record["id"] for record in result.records] == ["twilio-CA" + "a" * 32]
    assert result.body.endswith("<Response/>") and result.content_type == "text/xml"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "CallDuration": "1"}, id="changed value"),
        pytest.param(lambda p: {**p, "Extra": "x"}, id="added parameter"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "From"}, id="removed parameter"),
        pytest.param(lambda p: {**p, "CallStatus": "completed "}, id="trailing space"),
    ],
)
def test_a_tampered_request_is_refused_and_makes_nothing(tamper) -> None:  # type: ignore[no-untyped-def]
    params = call_params()
    url, headers, _body = form_request(VOICE_PATH, params)
    body = urlencode(list(tamper(params).items())).encode()
    result = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW)
    assert (result.status, result.records) == (403, ())
    assert "signature does not match" in result.detail


def test_a_request_signed_for_another_url_is_refused() -> None:
    params = call_params()
    for other in (
        "https://evil.example.com" + VOICE_PATH,
        PUBLIC_URL + SMS_PATH,
        PUBLIC_URL + VOICE_PATH + "?x=1",
        "http://desk.example.com" + VOICE_PATH,
    ):
        url, headers, body = form_request(VOICE_PATH, params, signed_for=other)
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403, (
            other
        )


def test_the_signed_url_is_the_public_one_with_the_requests_path_and_query() -> None:
    assert signed_url(
        "https://desk.example.com/", "http://10.0.0.5:8000/v1/hooks/phone/twilio/voice?a=1&b=%20"
    ) == ("https://desk.example.com/v1/hooks/phone/twilio/voice?a=1&b=%20")
    assert signed_url("https://desk.example.com/sf", "/v1/x") == "https://desk.example.com/sf/v1/x"
    params = call_params()
    url, headers, body = form_request(
        VOICE_PATH + "?tenant=7", params, signed_for=PUBLIC_URL + VOICE_PATH + "?tenant=7"
    )
    assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 200


def test_twilio_signing_with_or_without_the_default_port_is_accepted() -> None:
    params = call_params()
    url, headers, body = form_request(
        VOICE_PATH, params, signed_for="https://desk.example.com:443" + VOICE_PATH
    )
    assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 200


def test_an_unsigned_request_is_refused() -> None:
    url, headers, body = form_request(VOICE_PATH, call_params())
    del headers["X-Twilio-Signature"]
    result = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW)
    assert (result.status, result.records) == (403, ())
    assert "no X-Twilio-Signature" in result.detail
    headers["x-twilio-signature"] = ""
    assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403


def test_header_names_are_matched_in_any_case() -> None:
    url, headers, body = form_request(VOICE_PATH, call_params())
    lowered = {name.lower(): value for name, value in headers.items()}
    assert handle_twilio_request(url, lowered, body, config(), MemorySeenStore(), NOW).status == 200


def test_a_replayed_request_is_refused_and_makes_nothing_the_second_time() -> None:
    seen = MemorySeenStore()
    url, headers, body = form_request(VOICE_PATH, call_params())
    first = handle_twilio_request(url, headers, body, config(), seen, NOW)
    again = handle_twilio_request(url, headers, body, config(), seen, NOW + timedelta(minutes=3))
    assert (first.status, len(first.records)) == (200, 1)
    assert (again.status, again.records) == (403, ())
    assert again.detail.startswith("replayed")


def test_a_replay_of_a_progress_callback_is_refused_too() -> None:
    seen = MemorySeenStore()
    url, headers, body = form_request(VOICE_PATH, call_params("ringing"))
    assert handle_twilio_request(url, headers, body, config(), seen, NOW).status == 200
    assert handle_twilio_request(url, headers, body, config(), seen, NOW).status == 403


def test_a_replay_after_the_window_is_refused_as_stale() -> None:
    url, headers, body = form_request(VOICE_PATH, call_params())
    later = NOW + timedelta(days=2)  # the seen store has forgotten it; the Timestamp has not changed
    result = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), later)
    assert (result.status, result.records) == (403, ())
    assert "older than the replay window" in result.detail


def test_an_event_dated_in_the_future_is_refused() -> None:
    params = call_params(Timestamp="Mon, 06 May 2024 10:28:12 +0000")
    url, headers, body = form_request(VOICE_PATH, params)
    assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403


def test_the_previous_auth_token_still_verifies_while_it_is_rotated() -> None:
    url, headers, body = form_request(VOICE_PATH, call_params(), token="old-token")
    assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403
    rotated = config(auth_tokens=(AUTH_TOKEN, "old-token"))
    assert handle_twilio_request(url, headers, body, rotated, MemorySeenStore(), NOW).status == 200


def test_a_webhooks_rule_shared_key_signature_uses_that_key_and_algorithm() -> None:
    params = call_params()
    url, headers, body = form_request(VOICE_PATH, params)
    shared = "shared-secret"
    headers["X-Twilio-Signature"] = RequestValidator(shared).compute_signature(
        PUBLIC_URL + VOICE_PATH, params, "HMAC_SHA256"
    )
    headers["X-Twilio-Webhooks-Signature-Settings"] = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    refused = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW)
    assert refused.status == 403 and "shared key" in refused.detail
    accepted = handle_twilio_request(
        url, headers, body, config(shared_key_secret=shared), MemorySeenStore(), NOW
    )
    assert accepted.status == 200
    headers["X-Twilio-Webhooks-Signature-Settings"] = "key=k,algorithm=HMAC_MD5"
    assert (
        handle_twilio_request(
            url, headers, body, config(shared_key_secret=shared), MemorySeenStore(), NOW
        ).status
        == 403
    )


def test_a_form_already_parsed_by_the_framework_verifies_like_the_raw_body() -> None:
    params = call_params()
    url, headers, _body = form_request(VOICE_PATH, params)
    result = handle_twilio_request(url, headers, params, config(), MemorySeenStore(), NOW)
    assert result.status == 200 and len(result.records) == 1
    as_lists = {name: [value] for name, value in params.items()}
    assert handle_twilio_request(url, headers, as_lists, config(), MemorySeenStore(), NOW).status == 200


def test_repeated_parameter_names_are_signed_as_twilio_signs_them() -> None:
    pairs = [
        ("CallSid", "CA" + "c" * 32),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ]
    expected = "https://desk.example.com" + VOICE_PATH
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        expected,
        {"CallSid": "CA" + "c" * 32, "CallStatus": "ringing", "Direction": "inbound", "Digits": "5678"},
    )
    headers = form_headers(signature)
    body = urlencode(pairs).encode()
    # Signed over one Digits value, sent with two: not what was signed.
    assert handle_twilio_request(VOICE_PATH, headers, body, config(), MemorySeenStore(), NOW).status == 403


class TestHostileBodies:
    def test_a_huge_body_is_refused_unread(self) -> None:
        url, headers, _ = form_request(VOICE_PATH, call_params())
        result = handle_twilio_request(url, headers, b"a=" + b"x" * 70_000, config(), MemorySeenStore(), NOW)
        assert (result.status, result.records) == (413, ())

    def test_a_body_that_is_not_utf8_is_refused(self) -> None:
        url, headers, _ = form_request(VOICE_PATH, call_params())
        result = handle_twilio_request(
            url, headers, b"From=\xff\xfe&CallSid=CA1", config(), MemorySeenStore(), NOW
        )
        assert result.status == 403 and "UTF-8" in result.detail

    def test_a_percent_escape_that_is_not_utf8_is_refused(self) -> None:
        url, headers, _ = form_request(VOICE_PATH, call_params())
        result = handle_twilio_request(url, headers, b"Body=%ff%fe", config(), MemorySeenStore(), NOW)
        assert result.status == 403 and "UTF-8" in result.detail

    def test_thousands_of_fields_are_refused(self) -> None:
        url, headers, _ = form_request(VOICE_PATH, call_params())
        body = "&".join(f"f{index}=1" for index in range(5000)).encode()
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status in (
            403,
            413,
        )
        body = "&".join(f"f{index}=1" for index in range(300)).encode()
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403

    def test_a_signature_header_that_is_not_a_signature_is_refused(self) -> None:
        url, headers, body = form_request(VOICE_PATH, call_params())
        headers["X-Twilio-Signature"] = "A" * 5000
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403
        headers["X-Twilio-Signature"] = "\x00\u202e" * 3
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 403

    def test_another_media_type_is_unsupported(self) -> None:
        url, headers, body = form_request(VOICE_PATH, call_params())
        headers["Content-Type"] = "text/plain"
        assert handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW).status == 415

    def test_deeply_nested_json_that_is_signed_is_a_400_not_a_crash(self) -> None:
        nested = "[" * 100_000 + "]" * 100_000
        body_hash = RequestValidator(AUTH_TOKEN).compute_hash(nested)
        path = f"{VOICE_PATH}?bodySHA256={body_hash}"
        headers = {"Content-Type": "application/json", "X-Twilio-Signature": sign(PUBLIC_URL + path, {})}
        result = handle_twilio_request(
            path, headers, nested.encode(), config(max_body_bytes=1024 * 1024), MemorySeenStore(), NOW
        )
        assert (result.status, result.records) == (400, ())

    def test_a_signed_json_status_callback_maps_like_the_form(self) -> None:
        text = json.dumps(call_params())
        body_hash = RequestValidator(AUTH_TOKEN).compute_hash(text)
        path = f"{VOICE_PATH}?bodySHA256={body_hash}"
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Twilio-Signature": sign(PUBLIC_URL + path, {}),
        }
        result = handle_twilio_request(path, headers, text.encode(), config(), MemorySeenStore(), NOW)
        assert result.status == 200 and result.records[0]["channel"] == "phone"

    def test_control_characters_in_a_signed_message_are_kept_out_of_the_record(self) -> None:
        params = sms_params(Body="leak\x00 under\x1b[31m the sink\r\nplease\u202e")
        url, headers, body = form_request(SMS_PATH, params)
        result = handle_twilio_request(url, headers, body, config(), MemorySeenStore(), NOW)
        assert result.status == 200
        text = result.records[0]["text"]
        assert "\x00" not in text and "\x1b" not in text
        assert text.startswith("leak\ufffd under\ufffd[31m the sink\r\nplease")
