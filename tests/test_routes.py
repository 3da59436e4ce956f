"""The ``serviceflow_routes`` hook: a plugin's webhook endpoints under ``/v1/hooks/<plugin>/<name>``.

The route here is a desk that signs each webhook with HMAC-SHA256 of the body under a shared secret,
verified the way real providers' webhooks are (constant-time comparison, the claim of each signature
taken in the transaction that stores the request's records). Requests go through the real ASGI app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from live_support import AGENT, T0, at
from serviceflow import Engine, hookimpl
from serviceflow.config import Config
from serviceflow.errors import ConfigError
from serviceflow.http import create_app
from serviceflow.live import ManualClock, Service
from serviceflow.live.store import Store
from serviceflow.plugin import (
    RouteContext,
    RouteSpec,
    WebhookHandler,
    WebhookRequest,
    WebhookResponse,
)
from serviceflow.plugins import PluginHost

SECRET = b"desk-shared-secret"
URL = "/v1/hooks/deskplugin/desk/events"


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class DeskRoutes:
    """A plugin whose route verifies the desk's signature and stores each event as a contact."""

    def __init__(self) -> None:
        self.calls: list[WebhookRequest] = []
        self.fail = False
        self.answer_wrong_type = False

    @hookimpl
    def serviceflow_routes(self) -> list[RouteSpec]:
        return [
            RouteSpec(
                "desk",
                self.create,
                "X-Desk-Signature: HMAC-SHA256 of the body under the shared secret",
                paths=("/events",),
                max_body=4096,
                description="Events the desk pushes",
            )
        ]

    def create(self, options: Mapping[str, Any], context: RouteContext) -> WebhookHandler:
        secret = str(options["secret"]).encode()

        def handle(request: WebhookRequest) -> WebhookResponse:
            self.calls.append(request)
            if self.fail:
                raise RuntimeError("the desk's mapping broke")
            if self.answer_wrong_type:
                return "ok"  # type: ignore[return-value]
            signature = request.header("x-desk-signature") or ""
            if not hmac.compare_digest(signature, sign(request.body, secret)):
                return WebhookResponse.problem(403, "the signature does not verify")
            if context.claimed(f"desk:{signature}"):
                return WebhookResponse.problem(403, "replayed")
            try:
                events = json.loads(request.body)["events"]
                if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
                    raise TypeError(events)
            except (ValueError, KeyError, TypeError):
                return WebhookResponse.problem(400, "the body is not {events: [...]}")
            records = [
                {
                    "id": f"desk-{event['id']}",
                    "case_id": event["case"],
                    "type": "contact",
                    "at": event["at"],
                    "actor": AGENT,
                    "channel": "web",
                    "direction": "inbound",
                    "source": {"system": "desk", "ref": str(event["id"])},
                }
                for event in events
            ]
            outcome = context.ingest(
                records, claims=[(f"desk:{signature}", context.now() + timedelta(hours=1))]
            )
            if outcome.replayed:
                return WebhookResponse.problem(403, "replayed")
            answer = {
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected": outcome.rejected,
            }
            return WebhookResponse(200, json.dumps(answer).encode(), "application/json")

        return handle


@pytest.fixture
def routes() -> DeskRoutes:
    return DeskRoutes()


@pytest.fixture
def route_engine(routes: DeskRoutes) -> Iterator[Engine]:
    host = PluginHost()
    host.register(routes, "deskplugin")
    with Engine.from_config(config=Config(), plugins=host) as engine:
        yield engine


@pytest.fixture
def service(store: Store, route_engine: Engine, clock: ManualClock) -> Service:
    return Service(
        store, route_engine, clock=clock, config=Config(routes={"desk": {"secret": SECRET.decode()}})
    )


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as test_client:
        yield test_client


def events_body(*ids: int, case: str = "c1") -> bytes:
    events = [{"id": identifier, "case": case, "at": at(identifier)} for identifier in ids]
    return json.dumps({"events": events}).encode()


def post(client: TestClient, body: bytes, signature: str | None = None, **headers: str) -> Any:
    sent = {"content-type": "application/json", **headers}
    if signature is not None:
        sent["x-desk-signature"] = signature
    return client.post(URL, content=body, headers=sent)


def stored(service: Service) -> int:
    return sum(len(service.case(case_id).records) for case_id in ("c1", "c2") if _exists(service, case_id))


def _exists(service: Service, case_id: str) -> bool:
    return service.store.transact(lambda unit: unit.case(case_id), write=False) is not None


def test_a_signed_webhook_is_stored_through_admission_without_a_bearer_token(
    client: TestClient, service: Service, routes: DeskRoutes
) -> None:
    body = events_body(1, 2)

    response = post(client, body, sign(body))

    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert [record["id"] for record in service.case("c1").records] == ["desk-1", "desk-2"]
    (request,) = routes.calls
    assert (request.method, request.path, request.content_type, request.received_at) == (
        "POST",
        "/events",
        "application/json",
        T0,
    )
    assert request.url == "http://testserver" + URL and request.body == body
    (stored_record,) = service.store.transact(
        lambda unit: unit.find_records(["desk-1"]), write=False
    ).values()
    assert stored_record.provenance == {"via": "route desk", "system": "desk", "ref": "1"}


@pytest.mark.parametrize(
    "signature",
    [None, "", sign(b"another body"), sign(events_body(1), b"wrong secret"), "00" * 32],
    ids=["unsigned", "empty", "other-body", "wrong-secret", "forged"],
)
def test_an_unsigned_or_forged_webhook_gets_403_and_stores_nothing(
    client: TestClient, service: Service, signature: str | None
) -> None:
    response = post(client, events_body(1), signature)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the signature does not verify"
    assert service.store.case_count() == 0


def test_a_replayed_webhook_gets_403_and_stores_nothing_more(client: TestClient, service: Service) -> None:
    body = events_body(1)
    assert post(client, body, sign(body)).status_code == 200

    replay = post(client, body, sign(body))

    assert (replay.status_code, replay.json()["detail"]) == (403, "replayed")
    assert stored(service) == 1


def test_a_claim_expires_and_the_same_event_is_then_a_duplicate_not_a_second_record(
    client: TestClient, service: Service, clock: ManualClock
) -> None:
    body = events_body(1)
    post(client, body, sign(body))
    clock.advance(timedelta(hours=2))

    again = post(client, body, sign(body))

    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    assert stored(service) == 1


def test_of_two_copies_arriving_at_once_exactly_one_is_stored(
    service: Service, route_engine: Engine, routes: DeskRoutes
) -> None:
    """The claim is taken in the records' transaction: the second copy rolls back and is refused."""
    handler = create_handler(service, routes)
    body = events_body(1, 2, 3)
    request = WebhookRequest(
        "POST", "http://x" + URL, "/events", "", {"x-desk-signature": sign(body)}, body, T0
    )
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def send() -> None:
        barrier.wait()
        answers.append(handler(request).status)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(answers) == [200, 403, 403, 403]
    assert stored(service) == 3


def create_handler(service: Service, routes: DeskRoutes) -> WebhookHandler:
    from serviceflow.live.connectors import configured_routes

    (route,) = configured_routes(service)
    return route.handler


def test_an_oversized_body_is_refused_with_413_before_the_handler_runs(
    client: TestClient, routes: DeskRoutes, service: Service
) -> None:
    body = json.dumps({"events": [], "padding": "x" * 5000}).encode()

    response = post(client, body, sign(body))
    chunked = client.post(
        URL, content=iter([body[:3000], body[3000:]]), headers={"x-desk-signature": sign(body)}
    )

    assert (response.status_code, chunked.status_code) == (413, 413)
    assert response.headers["content-type"] == "application/problem+json"
    assert routes.calls == [] and service.store.case_count() == 0


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'{"events": 7}', b"[]"], ids=repr)
def test_a_malformed_but_signed_body_is_400_and_stores_nothing(
    client: TestClient, service: Service, body: bytes
) -> None:
    response = post(client, body, sign(body))
    assert response.status_code == 400, response.text
    assert service.store.case_count() == 0


def test_a_record_the_schemas_refuse_is_reported_and_the_rest_stored(
    client: TestClient, service: Service
) -> None:
    events = [{"id": 1, "case": "c1", "at": at(1)}, {"id": 2, "case": "c1", "at": "yesterday"}]
    body = json.dumps({"events": events}).encode()

    response = post(client, body, sign(body))

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"] == [
        "record 1: /at: 'yesterday' is not a 'date-time' (RFC 3339 with offset)"
    ]


def test_a_handler_that_raises_or_answers_nonsense_is_a_500_problem(
    client: TestClient, routes: DeskRoutes, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    body = events_body(1)
    routes.fail = True
    raised = post(client, body, sign(body))
    routes.fail, routes.answer_wrong_type = False, True
    nonsense = post(client, body, sign(body))

    for response in (raised, nonsense):
        assert response.status_code == 500
        assert response.json()["detail"] == "the desk route failed; see the service's log"
    assert "the desk's mapping broke" in caplog.text
    assert service.store.case_count() == 0


def test_routes_are_mounted_only_when_configured(
    store: Store, route_engine: Engine, clock: ManualClock
) -> None:
    unconfigured = Service(store, route_engine, clock=clock)
    with TestClient(create_app(unconfigured)) as client:
        body = events_body(1)
        assert post(client, body, sign(body)).status_code == 404
        assert not any(path.startswith("/v1/hooks") for path in client.get("/openapi.json").json()["paths"])


def test_the_route_is_in_the_openapi_document_with_how_it_authenticates(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert "X-Desk-Signature: HMAC-SHA256" in operation["description"]
    assert "security" not in operation


def test_a_route_table_no_plugin_offers_is_a_configuration_error(
    store: Store, route_engine: Engine, clock: ManualClock
) -> None:
    service = Service(store, route_engine, clock=clock, config=Config(routes={"twilio": {}}))
    with pytest.raises(ConfigError, match=r"no plugin offers a route 'twilio' \(routes: desk\)"):
        create_app(service)


class BadRoutes:
    @hookimpl
    def serviceflow_routes(self) -> list[RouteSpec]:
        return [RouteSpec("open", lambda options, context: lambda request: WebhookResponse(200), " ")]


class BadPaths:
    @hookimpl
    def serviceflow_routes(self) -> list[RouteSpec]:
        return [RouteSpec("paths", lambda o, c: lambda r: WebhookResponse(200), "HMAC", paths=("/../etc",))]


def test_a_route_must_say_how_it_authenticates_and_have_safe_paths() -> None:
    host = PluginHost()
    host.register(BadRoutes(), "open")
    host.register(BadPaths(), "paths")
    assert host.routes == {}
    errors = {failure.name: failure.error for failure in host.failures}
    assert "say how requests are authenticated" in errors["open"]
    assert "paths must be '' or like '/voice'" in errors["paths"]


def test_the_request_object_parses_forms_and_refuses_hostile_ones() -> None:
    def request(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> WebhookRequest:
        return WebhookRequest("POST", "http://x/", "", "", {"content-type": content_type}, body, T0)

    assert request(b"CallSid=CA1&Body=a+b%21&Body=").form() == [
        ("CallSid", "CA1"),
        ("Body", "a b!"),
        ("Body", ""),
    ]
    assert request(b"a=1", "application/x-www-form-urlencoded; charset=utf-8").form() == [("a", "1")]
    with pytest.raises(ValueError, match="not UTF-8"):
        request(b"a=\xff").form()
    with pytest.raises(ValueError, match="not a form"):
        request(b"{}", "application/json").form()
    with pytest.raises(ValueError):
        request(b"&".join(b"f%d=1" % n for n in range(1001))).form()


def test_a_response_must_have_a_real_status_and_problems_are_rfc_9457() -> None:
    with pytest.raises(ValueError, match="not an HTTP status"):
        WebhookResponse(42)
    problem = WebhookResponse.problem(403, "bad signature")
    assert problem.content_type == "application/problem+json"
    assert json.loads(problem.body) == {
        "type": "https://serviceflow.dev/problems/forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "bad signature",
    }
    assert WebhookResponse(200, "<Response/>").body == b"<Response/>"  # type: ignore[arg-type]
