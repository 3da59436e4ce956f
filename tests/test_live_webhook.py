"""The built-in webhook action against a real HTTP receiver on loopback, through the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from live_support import T0, WEBHOOK_SECRET, Receiver, at, contact, make_service, opened, verify_webhook
from serviceflow import Engine
from serviceflow.actions import webhook
from serviceflow.errors import ConfigError
from serviceflow.live import ManualClock, OutboxState, Service
from serviceflow.live.store import Store


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _service(
    store: Store, engine: Engine, clock: ManualClock, receiver: Receiver, timeout: str = "2s"
) -> Service:
    action = webhook.create({"url": receiver.url, "secret": WEBHOOK_SECRET, "timeout": timeout})
    return make_service(store, engine, clock, actions={"webhook": action})


def _escalation_deadline_passes(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=1))
    service.ingest([opened("c1", "r1", at()), contact("c1", "k1", at(10), flags=["values_in_question"])])
    clock.set(T0 + timedelta(minutes=10, hours=4, seconds=1))
    assert service.sweep().enqueued >= 1


def test_a_passed_escalation_deadline_is_posted_signed_with_its_idempotency_key(
    store: Store, engine: Engine, clock: ManualClock, receiver: Receiver
) -> None:
    service = _service(store, engine, clock, receiver)
    _escalation_deadline_passes(service, clock)
    delivered = service.deliver()
    assert delivered and {d.state for d in delivered} == {OutboxState.DELIVERED}
    bodies = {}
    for headers, body in receiver.requests:
        payload = verify_webhook(headers, body)
        bodies[payload["data"]["finding"]["policy"]] = (headers, payload)
    headers, payload = bodies["escalate-values-in-question"]
    assert payload["type"] == "serviceflow.finding.breached"
    assert payload["data"]["finding"]["status"] == "violation"
    # An action says why, as lint's report does: the finding is traced before it is enqueued.
    assert payload["data"]["finding"]["reason"] == "no escalation record in the case"
    item = next(
        i for i in service.outbox().items if i["transition"]["policy"] == "escalate-values-in-question"
    )
    assert headers["webhook-id"] == item["idempotency_key"] == payload["data"]["idempotency_key"]
    assert headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    # The reference implementation accepts the signature too (its clock check aside).
    signer = Webhook(WEBHOOK_SECRET)
    assert signer.sign(headers["webhook-id"], clock.now(), body) in headers["webhook-signature"]


def test_a_5xx_is_retried_with_the_same_key_and_a_4xx_is_dead(
    store: Store, engine: Engine, clock: ManualClock, receiver: Receiver
) -> None:
    service = _service(store, engine, clock, receiver)
    _escalation_deadline_passes(service, clock)
    count = len(service.outbox().items)
    receiver.answers = [503] * count
    assert {d.state for d in service.deliver()} == {OutboxState.PENDING}
    clock.set(clock.now() + timedelta(hours=1))
    assert {d.state for d in service.deliver()} == {OutboxState.DELIVERED}
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(ids) == 2 * count and sorted(ids[:count]) == sorted(ids[count:])
    # a refusal
    item = service.outbox().items[0]
    service.retry(item["id"])
    receiver.answers = [400]
    [refused] = service.deliver()
    assert refused.state is OutboxState.DEAD and "400" in refused.detail


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    store: Store, engine: Engine, clock: ManualClock, receiver: Receiver
) -> None:
    service = _service(store, engine, clock, receiver, timeout="0.3s")
    _escalation_deadline_passes(service, clock)
    receiver.answers = [0]  # the first request hangs past the timeout
    results = service.deliver(limit=1)
    receiver.release.set()
    assert results[0].state is OutboxState.PENDING and "no answer" in results[0].detail


def test_webhook_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="url"):
        webhook.create({"secret": WEBHOOK_SECRET})
    with pytest.raises(ConfigError, match="secret"):
        webhook.create({"url": "http://127.0.0.1:1/x"})
    with pytest.raises(ConfigError, match="no option"):
        webhook.create({"url": "http://127.0.0.1:1/x", "secret": WEBHOOK_SECRET, "retries": 3})
    with pytest.raises(ConfigError, match="not set"):
        webhook.create({"url": "http://127.0.0.1:1/x", "secret-env": "SERVICEFLOW_NO_SUCH_VARIABLE"})
