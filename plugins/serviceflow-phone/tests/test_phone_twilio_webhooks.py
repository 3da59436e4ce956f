"""Twilio webhooks to records: one contact per call, one per incoming message; customers by number."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from phone_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    NOW,
    PUBLIC_URL,
    SMS_PATH,
    VOICE_PATH,
    assert_valid,
    call_params,
    form_request,
    sms_params,
)
from serviceflow_phone.customers import CustomerMatch
from serviceflow_phone.numbers import PhoneNumbers
from serviceflow_phone.replay import MemorySeenStore, SeenStore
from serviceflow_phone.webhooks import TwilioWebhookConfig, WebhookResult, handle_twilio_request

from serviceflow.plugin import ConfigError

CALL_SID = "CA" + "a" * 32
CUSTOMERS = {"+14155550123": CustomerMatch("cust-42", "case-1001")}


def config(**overrides: object) -> TwilioWebhookConfig:
    values: dict[str, object] = {
        "auth_tokens": (AUTH_TOKEN,),
        "public_url": PUBLIC_URL,
        "customers": CUSTOMERS.get,
    }
    values.update(overrides)
    return TwilioWebhookConfig(**values)  # type: ignore[arg-type]


def post(
    path: str, params: dict[str, str], seen: SeenStore | None = None, **settings: object
) -> WebhookResult:
    url, headers, body = form_request(path, params)
    return handle_twilio_request(url, headers, body, config(**settings), seen or MemorySeenStore(), NOW)


def test_a_finished_inbound_call_is_one_contact_with_status_and_duration_in_meta(engine) -> None:  # type: ignore[no-untyped-def]
    result = post(VOICE_PATH, call_params())
    (record,) = result.records
    assert record == {
        "id": f"twilio-{CALL_SID}",
        "case_id": "case-1001",
        "type": "contact",
        "at": "2024-05-06T09:25:00Z",  # the Timestamp of the end, minus CallDuration
        "actor": {"role": "customer", "id": "cust-42"},
        "customer_id": "cust-42",
        "channel": "phone",
        "direction": "inbound",
        "summary": "Inbound call, answered, 3m12s",
        "source": {"system": "twilio", "ref": CALL_SID},
        "meta": {
            "status": "answered",
            "answered": True,
            "duration_seconds": 192,
            "ended_at": "2024-05-06T09:28:12Z",
            "twilio_status": "completed",
            "twilio_direction": "inbound",
            "customer_number": "+14155550123",
            "our_number": "+18005551212",
            "account_sid": ACCOUNT_SID,
        },
    }
    assert_valid(engine, result.records)


def test_progress_callbacks_make_no_record_and_the_final_one_makes_the_single_contact() -> None:
    seen = MemorySeenStore()
    statuses = ["initiated", "ringing", "in-progress", "completed"]
    results = [
        post(VOICE_PATH, call_params(status, SequenceNumber=str(number)), seen)
        for number, status in enumerate(statuses)
    ]
    assert [result.status for result in results] == [200, 200, 200, 200]
    assert [len(result.records) for result in results] == [0, 0, 0, 1]
    assert "a record is made when the call ends" in results[1].detail


def test_a_resent_final_callback_gives_the_same_record_id_so_the_store_keeps_one() -> None:
    seen = MemorySeenStore()
    first = post(VOICE_PATH, call_params(), seen)
    # Twilio resends with a new SequenceNumber (a new signature): not a replay, but the same call.
    again = post(VOICE_PATH, call_params(SequenceNumber="4"), seen)
    assert again.status == 200
    assert [record["id"] for record in again.records] == [record["id"] for record in first.records]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("busy", "busy"), ("no-answer", "no_answer"), ("canceled", "canceled"), ("failed", "failed")],
)
def test_unanswered_calls_are_contacts_with_their_status_and_no_talk_time(engine, status, expected) -> None:  # type: ignore[no-untyped-def]
    (record,) = post(VOICE_PATH, call_params(status)).records
    assert record["meta"]["status"] == expected
    assert record["meta"]["answered"] is False and record["meta"]["duration_seconds"] == 0
    assert record["at"] == "2024-05-06T09:28:12Z"
    assert_valid(engine, [record])


def test_an_outbound_call_is_the_organisations_contact_to_the_called_customer(engine) -> None:  # type: ignore[no-untyped-def]
    params = call_params(Direction="outbound-api", From="+18005551212", To="+14155550123")
    (record,) = post(VOICE_PATH, params).records
    assert record["direction"] == "outbound"
    assert record["actor"] == {"role": "agent", "id": "+18005551212"}
    assert record["customer_id"] == "cust-42"
    assert_valid(engine, [record])


def test_a_dial_leg_is_part_of_its_parent_call_and_makes_no_record() -> None:
    params = call_params(Direction="outbound-dial", ParentCallSid="CA" + "f" * 32)
    result = post(VOICE_PATH, params)
    assert (result.status, result.records) == (200, ())
    assert "leg of call" in result.detail


def test_an_unknown_caller_gets_a_case_of_the_call_and_is_named_by_number(engine) -> None:  # type: ignore[no-untyped-def]
    (record,) = post(VOICE_PATH, call_params(From="+442079460958")).records
    assert record["case_id"] == record["id"] == f"twilio-{CALL_SID}"
    assert record["actor"] == {"role": "customer", "id": "+442079460958"}
    assert "customer_id" not in record
    assert_valid(engine, [record])


def test_a_withheld_caller_is_unknown(engine) -> None:  # type: ignore[no-untyped-def]
    (record,) = post(VOICE_PATH, call_params(From="anonymous")).records
    assert record["actor"] == {"role": "customer", "id": "unknown"}
    assert "customer_number" not in record["meta"]
    assert_valid(engine, [record])


def test_case_by_call_keeps_each_call_in_its_own_case_even_for_known_customers() -> None:
    (record,) = post(VOICE_PATH, call_params(), case_by="call").records
    assert (record["case_id"], record["customer_id"]) == (f"twilio-{CALL_SID}", "cust-42")


def test_an_incoming_sms_is_a_contact_with_the_body_as_text(engine) -> None:  # type: ignore[no-untyped-def]
    (record,) = post(SMS_PATH, sms_params()).records
    assert record["id"] == "twilio-SM" + "b" * 32
    assert (record["channel"], record["direction"], record["case_id"]) == ("sms", "inbound", "case-1001")
    assert record["text"] == "The pipe still leaks. Can someone come today?"
    assert record["at"] == "2024-05-06T09:30:00Z"  # when it arrived: message webhooks carry no time
    assert record["meta"]["messaging_channel"] == "sms"
    assert_valid(engine, [record])


def test_a_whatsapp_message_is_a_chat_contact_matched_by_its_number(engine) -> None:  # type: ignore[no-untyped-def]
    params = sms_params(From="whatsapp:+14155550123", To="whatsapp:+18005551212")
    (record,) = post(SMS_PATH, params).records
    assert (record["channel"], record["customer_id"]) == ("chat", "cust-42")
    assert record["meta"]["messaging_channel"] == "whatsapp"
    assert_valid(engine, [record])


def test_a_picture_message_without_text_has_no_text_field(engine) -> None:  # type: ignore[no-untyped-def]
    params = sms_params(Body="", NumMedia="1", MediaUrl0="https://api.twilio.com/media/1")
    (record,) = post(SMS_PATH, params).records
    assert "text" not in record and record["meta"]["media_count"] == 1
    assert_valid(engine, [record])


def test_a_delivery_report_of_a_sent_message_is_acknowledged_without_a_record() -> None:
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "c" * 32,
        "MessageStatus": "delivered",
        "From": "+18005551212",
        "To": "+14155550123",
    }
    result = post(SMS_PATH, params)
    assert (result.status, result.records) == (200, ())


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"AccountSid": ACCOUNT_SID, "Foo": "bar"}, "neither a voice status callback"),
        (call_params(CallSid="../../etc"), "CallSid"),
        (call_params(CallStatus="exploded"), "unknown CallStatus"),
        (call_params(Direction="sideways"), "unknown Direction"),
        (call_params(CallDuration="-5"), "CallDuration"),
        (call_params(CallDuration="99999999999"), "CallDuration"),
        (call_params(Timestamp="yesterday at noon"), "Timestamp"),
        (sms_params(SmsStatus="", MessageStatus=""), "SmsStatus"),
        (sms_params(NumMedia="many"), "NumMedia"),
    ],
)
def test_a_signed_request_missing_what_a_record_needs_is_a_400(params, reason) -> None:  # type: ignore[no-untyped-def]
    result = post(VOICE_PATH, params)
    assert (result.status, result.records) == (400, ())
    assert reason in result.detail


def test_a_400_does_not_use_up_the_request_so_a_fixed_retry_is_not_a_replay() -> None:
    seen = MemorySeenStore()
    assert post(VOICE_PATH, call_params(Direction="sideways"), seen).status == 400
    assert len(seen) == 0


def test_a_failing_lookup_propagates_before_the_request_is_claimed() -> None:
    def unavailable(number: str) -> CustomerMatch | None:
        raise ConnectionError("the store is down")

    seen = MemorySeenStore()
    with pytest.raises(ConnectionError):
        post(VOICE_PATH, call_params(), seen, customers=unavailable)
    assert len(seen) == 0  # Twilio's retry will be accepted
    assert post(VOICE_PATH, call_params(), seen).status == 200


def test_numbers_never_reach_the_log_or_the_details(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="serviceflow_phone")
    seen = MemorySeenStore()
    results = [
        post(VOICE_PATH, call_params(), seen),
        post(VOICE_PATH, call_params(), seen),  # replayed
        post(SMS_PATH, sms_params(), seen),
        post(VOICE_PATH, call_params(Direction="sideways")),
    ]
    url, headers, body = form_request(VOICE_PATH, call_params())
    headers["X-Twilio-Signature"] = "forged"
    results.append(handle_twilio_request(url, headers, body, config(), seen, NOW))
    text = caplog.text + " ".join(result.detail for result in results)
    assert "twilio call" in caplog.text and "refused" in caplog.text
    for number in ("4155550123", "8005551212"):
        assert number not in text
    assert "+14*******23" in caplog.text


def test_the_lookup_may_be_a_csv_file_of_numbers_in_national_form(tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("number,customer_id,case_id\n(415) 555-0123,cust-42,case-9\n", encoding="utf-8")
    settings = TwilioWebhookConfig.from_options(
        {
            "auth-token": AUTH_TOKEN,
            "public-url": PUBLIC_URL,
            "customers": "customers.csv",
            "default-region": "US",
        },
        base=tmp_path,
    )
    url, headers, body = form_request(VOICE_PATH, call_params())
    (record,) = handle_twilio_request(url, headers, body, settings, MemorySeenStore(), NOW).records
    assert (record["customer_id"], record["case_id"]) == ("cust-42", "case-9")


class TestConfiguration:
    def test_the_auth_token_may_come_from_the_environment_and_never_shows_in_repr(self) -> None:
        settings = TwilioWebhookConfig.from_options(
            {"auth-token-env": "TWILIO_TOKEN", "public-url": PUBLIC_URL, "replay-window": "2h"},
            environ={"TWILIO_TOKEN": "s3cret-token"},
        )
        assert settings.auth_tokens == ("s3cret-token",)
        assert settings.replay_window == timedelta(hours=2)
        assert "s3cret" not in repr(settings)

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"public-url": PUBLIC_URL}, "'auth-token' is required"),
            ({"auth-token": "t", "auth-token-env": "X", "public-url": PUBLIC_URL}, "both set"),
            ({"auth-token-env": "UNSET_VARIABLE", "public-url": PUBLIC_URL}, "which is not set"),
            ({"auth-token": "t"}, "'public-url' is required"),
            ({"auth-token": "t", "public-url": "desk.example.com"}, "absolute URL"),
            ({"auth-token": "t", "public-url": "https://x.example/?a=1"}, "absolute URL"),
            (
                {"auth-token": "t", "public-url": PUBLIC_URL, "case-by": "customer"},
                "'case-by' must be one of",
            ),
            ({"auth-token": "t", "public-url": PUBLIC_URL, "replay-window": "soon"}, "positive duration"),
            ({"auth-token": "t", "public-url": PUBLIC_URL, "default-region": "Mars"}, "region code"),
            ({"auth-token": "t", "public-url": PUBLIC_URL, "max-body-bytes": 10}, "at least 1024"),
            (
                {"auth-token": "t", "public-url": PUBLIC_URL, "auth_token": "typo"},
                "has no option 'auth_token'",
            ),
            ({"auth-token": "t", "public-url": PUBLIC_URL, "customers": "missing.csv"}, "cannot read"),
        ],
    )
    def test_wrong_options_are_config_errors_that_say_what_to_fix(self, options, message, tmp_path) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ConfigError, match=message) as error:
            TwilioWebhookConfig.from_options(options, base=tmp_path, environ={})
        assert "typo" not in str(error.value) and "'t'" not in str(error.value)

    def test_an_injected_lookup_replaces_the_csv_file(self, tmp_path: Path) -> None:
        settings = TwilioWebhookConfig.from_options(
            {"auth-token": "t", "public-url": PUBLIC_URL, "customers": "missing.csv"},
            customers=lambda number: None,
            base=tmp_path,
        )
        assert settings.customers is not None and settings.customers("+14155550123") is None

    def test_numbers_in_the_customer_region(self) -> None:
        assert PhoneNumbers("de").e164("030 1234567") == "+49301234567"


class TestSeenStore:
    def test_a_key_is_held_until_it_expires(self) -> None:
        store = MemorySeenStore()
        assert store.claim("k", NOW, NOW + timedelta(hours=1))
        assert not store.claim("k", NOW + timedelta(minutes=59), NOW + timedelta(hours=2))
        assert store.claim("k", NOW + timedelta(hours=1), NOW + timedelta(hours=2))

    def test_a_full_store_forgets_the_keys_closest_to_expiry(self, caplog: pytest.LogCaptureFixture) -> None:
        store = MemorySeenStore(capacity=2)
        assert store.claim("a", NOW, NOW + timedelta(hours=1))
        assert store.claim("b", NOW, NOW + timedelta(hours=2))
        assert store.claim("c", NOW, NOW + timedelta(hours=3))
        assert len(store) == 2 and "replay store full" in caplog.text
        assert store.claim("a", NOW, NOW + timedelta(hours=1))  # forgotten
        assert not store.claim("c", NOW, NOW + timedelta(hours=3))

    def test_the_memory_store_is_a_seen_store(self) -> None:
        assert isinstance(MemorySeenStore(), SeenStore)
