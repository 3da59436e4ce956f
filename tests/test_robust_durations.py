"""Values that overflow later (issue 13, mechanism 1): durations and waiver expiries.

``"999999999999d"``, ``1e300`` and ``inf`` as durations gave "Python int too large to convert to C
int" when a deadline was computed; a waiver expiring 9999-12-31 overflowed. Durations are now refused
where they are written, past 100 years, and the last day a date can name is a valid expiry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serviceflow import limits
from serviceflow.errors import PolicyError
from serviceflow.policy import load_policies
from serviceflow.timeutil import format_datetime, parse_duration
from serviceflow.waivers import parse_expiry, parse_waivers

NOW = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("999999999999d", "longer than 100 years"),
        ("36526d", "longer than 100 years"),
        ("5300w", "longer than 100 years"),
        ("9" * 5000 + "s", "longer than 100 years"),
        (1e300, "longer than 100 years"),
        (10**5000, "longer than 100 years"),
        (float("inf"), "not a duration: inf"),
        (float("-inf"), "not a duration: -inf"),
        (float("nan"), "not a duration: nan"),
        (-1, "cannot be negative"),
    ],
    ids=[
        "12-digit days",
        "a day too many",
        "weeks",
        "5000 digits",
        "1e300",
        "huge int",
        "inf",
        "-inf",
        "nan",
        "neg",
    ],
)
def test_durations_that_would_overflow_are_refused_with_the_limit(value: str | float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_the_longest_duration_is_accepted_and_adds_to_a_date() -> None:
    longest = parse_duration(f"{limits.MAX_DURATION_DAYS}d")
    assert longest == timedelta(days=limits.MAX_DURATION_DAYS)
    assert NOW + longest > NOW
    assert parse_duration(limits.MAX_DURATION_DAYS * 86400) == longest


def test_the_duration_limit_is_read_from_serviceflow_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DURATION_DAYS", 365)
    with pytest.raises(ValueError, match="longer than 1 years"):
        parse_duration("366d")


POLICY = """id: long-wait
title: t
severity: error
rationale: r
message: m
params:
  within: {{type: duration, default: {within}}}
for_each: {{type: note}}
require:
  exists: {{type: note, where: {{le: [$it.at, {{add: [$subject.at, $params.within]}}]}}}}
"""


@pytest.mark.parametrize("within", ['"999999999999d"', "1e300", ".inf", ".nan"])
def test_a_policy_with_an_overflowing_duration_is_a_policy_error(tmp_path: Path, within: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(within=within))
    with pytest.raises(PolicyError, match="within"):
        load_policies([path])


# --- waivers that last for ever -----------------------------------------------------------------

WAIVERS = """waivers:
  - policy: one-human
    case: C-1
    reason: The customer asked for it.
    owner: maria
    expires: {expires}
"""


def test_a_waiver_expiring_on_the_last_representable_day_applies_and_reports() -> None:
    (waiver,) = parse_waivers(WAIVERS.format(expires="9999-12-31"), "waivers.yaml")
    assert waiver.applies_at(NOW)
    assert waiver.applies_at(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    assert json.loads(json.dumps(waiver.to_dict()))["expires"] == "9999-12-31"
    assert format_datetime(waiver.expires).startswith("9999-12-31T23:59:59")


@pytest.mark.parametrize("expires", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_waiver_times_at_the_ends_of_the_calendar_compare_without_overflow(expires: str) -> None:
    (waiver,) = parse_waivers(WAIVERS.format(expires=f'"{expires}"'), "waivers.yaml")
    assert waiver.applies_at(NOW) == expires.startswith("9999")
    waiver.to_dict()


def test_the_end_of_an_ordinary_day_is_still_the_next_midnight() -> None:
    assert parse_expiry("2024-06-30") == datetime(2024, 7, 1, tzinfo=UTC)
