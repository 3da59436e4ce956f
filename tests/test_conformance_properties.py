"""Properties over random case histories: the two evaluators agree, and evaluation is well-behaved."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from serviceflow import Engine
from serviceflow.calendars import calendars_from_config
from serviceflow.config import Config, PolicySettings
from strategies import EMEA, case_histories, nows
from support import DURABLE_SKIP_REASON, durable_available

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _config() -> Config:
    """Every bundled policy, those that take a calendar counting in the case's (emea or none)."""
    calendars = calendars_from_config({"calendars": EMEA}, Path("."))
    settings = {
        policy: PolicySettings(calendar="case")
        for policy in ("escalate-values-in-question", "respond-promptly")
    }
    return Config(calendars=calendars, policies=settings)


@pytest.fixture(scope="module")
def native() -> Engine:
    return Engine.from_config(config=_config())


@pytest.fixture(scope="module")
def durable() -> Iterator[Engine]:
    if not durable_available():
        pytest.skip(DURABLE_SKIP_REASON)
    engine = Engine.from_config(config=_config(), evaluator="durable")
    yield engine
    engine.close()


@pytest.mark.durable
@pytest.mark.skipif(not durable_available(), reason=DURABLE_SKIP_REASON)
@SETTINGS
@given(records=case_histories(), now=nows)
def test_durable_gives_the_native_findings_finding_for_finding(
    native: Engine, durable: Engine, records: list[dict[str, Any]], now: datetime
) -> None:
    expected = native.evaluate(records, now)
    actual = durable.evaluate(records, now)
    assert actual.input_errors == expected.input_errors == ()
    assert actual.violations == expected.violations
    assert actual.pending == expected.pending


@SETTINGS
@given(records=case_histories(), now=nows)
def test_pending_findings_have_future_deadlines_and_violations_none(
    native: Engine, records: list[dict[str, Any]], now: datetime
) -> None:
    evaluation = native.evaluate(records, now)
    assert evaluation.input_errors == ()
    assert all(f.deadline is not None and f.deadline > now for f in evaluation.pending)
    assert all(f.deadline is None for f in evaluation.violations)
    assert all(f.evidence[0] == f.record_id for f in evaluation.violations + evaluation.pending)


@SETTINGS
@given(records=case_histories(), now=nows)
def test_findings_do_not_depend_on_input_order_when_times_differ(
    native: Engine, records: list[dict[str, Any]], now: datetime
) -> None:
    times = [datetime.fromisoformat(r["at"]) for r in records]
    if len(set(times)) != len(times):
        return  # equal times are ordered by input position, so order may legitimately matter
    shuffled = list(records)
    random.Random(len(records)).shuffle(shuffled)
    first, second = native.evaluate(records, now), native.evaluate(shuffled, now)
    assert first.violations == second.violations
    assert first.pending == second.pending


@SETTINGS
@given(records=case_histories(), now=nows)
def test_records_after_now_change_nothing(
    native: Engine, records: list[dict[str, Any]], now: datetime
) -> None:
    known = [r for r in records if datetime.fromisoformat(r["at"]) <= now]
    assert native.evaluate(records, now).violations == native.evaluate(known, now).violations
