"""The HTTP API over a real store: status codes, problem documents, auth, limits, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the HTTP API needs the serve extra: pip install 'serviceflow[serve]'")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from live_support import T0, at, close, example_records, make_service, opened
from serviceflow import Engine
from serviceflow.http import create_app
from serviceflow.live import ManualClock, Service
from serviceflow.live.settings import LiveSettings
from serviceflow.live.store import Store
from serviceflow.timeutil import parse_datetime

PROBLEM = "application/problem+json"


@pytest.fixture
def api(
    store: Store, engine: Engine, clock: ManualClock
) -> Iterator[tuple[TestClient, Service, dict[str, str]]]:
    service = make_service(store, engine, clock, settings=LiveSettings(max_body=64 * 1024))
    tokens = {
        scope: service.create_token(scope, [scope])[0] for scope in ("ingest", "check", "read", "admin")
    }
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield client, service, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def test_a_help_desk_posts_records_and_reads_the_case(api: Any, clock: ManualClock) -> None:
    client, _, tokens = api
    clock.set(parse_datetime("2024-05-09T14:00:00Z"))
    response = client.post("/v1/records", json=example_records(), headers=bearer(tokens["ingest"]))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 28 and body["duplicates"] == 0 and body["rejected"] == []
    case = client.get("/v1/cases/milkyway-leak", headers=bearer(tokens["read"])).json()
    assert case["version"] == 13 and len(case["records"]) == 13
    assert all(f["reason"] for f in case["violations"])
    refund = client.get("/v1/cases/refund-7731", headers=bearer(tokens["read"])).json()
    assert refund["pending"] and all(f["deadline"] for f in refund["pending"]) and refund["next_change"]


def test_json_lines_are_accepted_and_a_bad_line_is_rejected_alone(api: Any) -> None:
    client, _, tokens = api
    lines = "\n".join(
        [json.dumps(opened("c1", "r1", at())), "{not json", json.dumps(close("c1", "x", at(5)))]
    )
    response = client.post(
        "/v1/records",
        content=lines,
        headers={**bearer(tokens["ingest"]), "Content-Type": "application/x-ndjson"},
    )
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 2
    assert [(item["index"], item["pointer"]) for item in body["rejected"]] == [(1, "")]


def test_the_gate_says_no_and_why(api: Any, clock: ManualClock) -> None:
    client, _, tokens = api
    clock.set(T0 + timedelta(hours=3))
    client.post("/v1/records", json=[opened("c1", "r1", at())], headers=bearer(tokens["ingest"]))
    response = client.post(
        "/v1/cases/c1/check", json={"record": close("c1", "x", at(hours=3))}, headers=bearer(tokens["check"])
    )
    body = response.json()
    assert response.status_code == 200 and body["allowed"] is False
    [violation] = [v for v in body["violations"] if v["policy"] == "no-close-without-confirmation"]
    assert violation["message"] and violation["reason"]
    assert body["decision_id"] and body["policy_revision"]
    assert client.get("/v1/cases/c1", headers=bearer(tokens["read"])).json()["version"] == 1


def test_a_proposed_record_that_is_invalid_is_422_with_the_pointer(api: Any) -> None:
    client, _, tokens = api
    response = client.post(
        "/v1/cases/c1/check",
        json={"record": {**close("c1", "x", at()), "at": "soon"}},
        headers=bearer(tokens["check"]),
    )
    body = assert_problem(response, 422)
    assert body["pointer"] == "/record/at"


def test_idempotency_key_returns_the_first_answer(api: Any) -> None:
    client, service, tokens = api
    headers = {**bearer(tokens["ingest"]), "Idempotency-Key": "abc"}
    first = client.post("/v1/records", json=[opened("c1", "r1", at())], headers=headers)
    again = client.post("/v1/records", json=[opened("c1", "r1", at())], headers=headers)
    assert first.json() == again.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "cases": ["c1"]}
    other = client.post("/v1/records", json=[opened("c2", "r2", at())], headers=headers)
    assert_problem(other, 422)
    assert service.findings(case_id="c2").items == ()


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/v1/records", "ingest"),
        ("get", "/v1/cases/c1", "read"),
        ("post", "/v1/cases/c1/check", "check"),
        ("get", "/v1/findings", "read"),
        ("get", "/v1/obligations", "read"),
        ("get", "/v1/outbox", "read"),
        ("post", "/v1/outbox/1/retry", "admin"),
    ],
)
def test_every_v1_endpoint_needs_a_token_with_its_scope(api: Any, method: str, path: str, scope: str) -> None:
    client, _, tokens = api
    for headers in ({}, bearer("sf_unknown"), {"Authorization": "Basic abc"}):
        body = assert_problem(getattr(client, method)(path, headers=headers), 401)
        assert "c1" not in body["detail"]
    wrong = next(name for name in ("ingest", "check", "read") if name != scope)
    body = assert_problem(getattr(client, method)(path, headers=bearer(tokens[wrong])), 403)
    assert "c1" not in body["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"[{", "application/json", 400),
        (b'{"id": "x"}', "application/json", 400),
        (b"[]", "text/plain", 415),
        (b"[]", "", 415),
        (b"[" + b" " * (64 * 1024) + b"]", "application/json", 413),
    ],
)
def test_bad_record_requests_get_a_problem_and_store_nothing(
    api: Any, content: bytes, content_type: str, status: int
) -> None:
    client, service, tokens = api
    headers = {**bearer(tokens["ingest"])}
    if content_type:
        headers["Content-Type"] = content_type
    assert_problem(client.post("/v1/records", content=content, headers=headers), status)
    assert service.store.case_count() == 0


def test_an_oversize_body_without_a_length_is_refused_too(api: Any) -> None:
    client, service, tokens = api

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = client.post(
        "/v1/records",
        content=chunks(),
        headers={**bearer(tokens["ingest"]), "Content-Type": "application/json"},
    )
    assert_problem(response, 413)
    assert service.store.case_count() == 0


def test_bad_check_requests(api: Any) -> None:
    client, _, tokens = api
    headers = bearer(tokens["check"])
    assert_problem(
        client.post(
            "/v1/cases/c1/check", content=b"{", headers={**headers, "Content-Type": "application/json"}
        ),
        400,
    )
    assert_problem(client.post("/v1/cases/c1/check", json={"other": 1}, headers=headers), 400)
    assert_problem(
        client.post("/v1/cases/c1/check", content=b"{}", headers={**headers, "Content-Type": "text/csv"}), 415
    )


def test_unknown_case_and_outbox_item_are_404(api: Any) -> None:
    client, _, tokens = api
    assert_problem(client.get("/v1/cases/nope", headers=bearer(tokens["read"])), 404)
    assert_problem(client.post("/v1/outbox/42/retry", headers=bearer(tokens["admin"])), 404)
    # regression: an id past 64 bits reached SQLite and made a 500 (found by the fuzz test)
    assert_problem(client.post(f"/v1/outbox/{2**70}/retry", headers=bearer(tokens["admin"])), 400)
    assert_problem(client.get("/v1/nowhere"), 404)


def test_bad_query_parameters_are_400(api: Any) -> None:
    client, _, tokens = api
    headers = bearer(tokens["read"])
    for path in (
        "/v1/findings?limit=0",
        "/v1/findings?cursor=zzz",
        "/v1/findings?status=open",
        "/v1/obligations?due_before=tomorrow",
        "/v1/outbox?state=lost",
        "/v1/findings?limit=x",
    ):
        assert_problem(client.get(path, headers=headers), 400)


def test_listings_page_with_cursors(api: Any, clock: ManualClock) -> None:
    client, _, tokens = api
    clock.set(parse_datetime("2024-05-09T14:00:00Z"))
    client.post("/v1/records", json=example_records(), headers=bearer(tokens["ingest"]))
    seen, cursor = [], None
    while True:
        query = f"/v1/findings?limit=2{'&cursor=' + cursor if cursor else ''}"
        page = client.get(query, headers=bearer(tokens["read"])).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == client.get("/v1/findings?limit=1000", headers=bearer(tokens["read"])).json()["items"]
    obligations = client.get(
        "/v1/obligations?due_before=2024-05-10T00:00:00Z", headers=bearer(tokens["read"])
    ).json()["items"]
    assert obligations and all(item["deadline"] < "2024-05-10" for item in obligations)


def test_health_readiness_metrics_and_openapi(api: Any) -> None:
    client, _, tokens = api
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["migrations_current"] is True
    client.post(
        "/v1/cases/c1/check", json={"record": close("c1", "x", at())}, headers=bearer(tokens["check"])
    )
    metrics = client.get("/metrics").text
    for name in (
        "serviceflow_records_ingested_total",
        "serviceflow_gate_checks_total",
        "serviceflow_gate_check_seconds_bucket",
        "serviceflow_outbox_items",
        "serviceflow_sweeper_lag_seconds",
        "serviceflow_evaluations_total",
        "serviceflow_records_rejected_total",
    ):
        assert name in metrics
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    routes = {
        (route.methods and sorted(route.methods)[0].lower(), route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "include_in_schema", False)
    }
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    assert routes <= documented
    assert {
        "/v1/records",
        "/v1/cases/{case_id}",
        "/v1/cases/{case_id}/check",
        "/v1/findings",
        "/v1/obligations",
        "/v1/outbox",
        "/v1/outbox/{item_id}/retry",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]


def test_the_app_mounts_in_a_host_application(store: Store, engine: Engine, clock: ManualClock) -> None:
    service = make_service(store, engine, clock)
    token, _ = service.create_token("desk", ["admin"])
    host = FastAPI()

    @host.get("/tickets")
    def tickets() -> dict[str, str]:
        return {"host": "yes"}

    host.mount("/serviceflow", create_app(service))
    with TestClient(host) as client:
        assert client.get("/tickets").json() == {"host": "yes"}
        response = client.post(
            "/serviceflow/v1/records", json=[opened("c1", "r1", at())], headers=bearer(token)
        )
        assert response.json()["accepted"] == 1
        assert client.get("/serviceflow/v1/cases/c1", headers=bearer(token)).json()["version"] == 1


def test_readyz_is_503_when_the_store_is_behind(tmp_path: Any, engine: Engine, clock: ManualClock) -> None:
    from serviceflow.stores import open_store

    fresh = open_store(str(tmp_path / "behind.db"))
    service = Service(fresh, engine, clock=clock)
    with TestClient(create_app(service)) as client:
        assert_problem(client.get("/readyz"), 503)
