"""Fixtures for serviceflow-phone's tests (helpers are in phone_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def engine(serviceflow_engine: Any) -> Any:
    """An engine with no policies: records are validated and nothing else."""
    return serviceflow_engine(bundled=False)
