"""Shared fixtures. Our own tests never auto-load installed serviceflow plugins."""

from __future__ import annotations

import os

import pytest

from support import DURABLE_SKIP_REASON, durable_available

os.environ.setdefault("SERVICEFLOW_LOAD_PLUGINS", "")

# The live-mode fixtures (store_url, pg_url, store, clock, engine, service): tests/live_support.py.
pytest_plugins = ["live_support"]

EVALUATORS = [
    pytest.param("native", id="native"),
    pytest.param(
        "durable",
        id="durable",
        marks=[pytest.mark.durable, pytest.mark.skipif(not durable_available(), reason=DURABLE_SKIP_REASON)],
    ),
]


@pytest.fixture(params=EVALUATORS)
def evaluator_name(request: pytest.FixtureRequest) -> str:
    """Every test taking this fixture runs once per evaluator that can run here."""
    return request.param
