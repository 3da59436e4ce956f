"""Bad requests, generated: schemathesis reads the service's own OpenAPI document and sends what it
allows and what it does not (wrong types, missing fields, odd strings) to every operation. Whatever it
sends, the service must answer with a documented status and never a 500; errors are problem documents.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the HTTP API needs the serve extra: pip install 'serviceflow[serve]'")
pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from live_support import T0
from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.http import create_app
from serviceflow.live import ManualClock, Service
from serviceflow.stores import open_store


def _app() -> tuple[Any, str]:
    """A service on its own SQLite file (made at import: schemathesis builds its tests from the app)."""
    store = open_store(str(Path(tempfile.mkdtemp(prefix="serviceflow-fuzz-")) / "fuzz.db"))
    store.upgrade()
    service = Service(store, Engine.from_config(config=Config()), clock=ManualClock(T0))
    return create_app(service), service.create_token("fuzz", ["admin"])[0]


_APP, _TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_service_fail(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
        assert response.json()["status"] == response.status_code


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_token_every_v1_operation_is_401(case: Any) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if case.path.startswith("/v1/"):
        assert response.status_code in (400, 401, 405), response.text  # 405: a method it does not take
