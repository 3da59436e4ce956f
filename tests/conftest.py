"""Shared fixtures. Our own tests never auto-load installed serviceflow plugins."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from support import DURABLE_SKIP_REASON, durable_available

os.environ.setdefault("SERVICEFLOW_LOAD_PLUGINS", "")

# Property tests draw their examples from a fixed seed by default: the suite is a gate, and a gate that
# fails on a fresh random draw blocks a change that broke nothing. HYPOTHESIS_PROFILE=long explores
# (random draws, and ten times the fuzz budget in test_fuzz_inputs.py); keep what it finds as @example.
settings.register_profile("gate", derandomize=True)
settings.register_profile("long", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))

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
