"""Messages of the seed policies name what a reader needs: the phrase and where it is, who and how many."""

from __future__ import annotations

import pytest

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.timeutil import parse_datetime
from support import with_defaults

NOW = parse_datetime("2024-05-08T00:00:00Z")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_config(config=Config())


def messages(engine: Engine, records: list[dict], policy: str) -> list[str]:
    evaluation = engine.evaluate(with_defaults(records), now=NOW)
    return [f.message for f in evaluation.violations if f.policy == policy]


def test_tone_names_the_phrase_and_its_position(engine: Engine) -> None:
    text = "Well, You Should have called us."
    records = [
        {"id": "t", "type": "contact", "at": "2024-05-07T09:00:00Z", "direction": "outbound", "text": text}
    ]
    assert messages(engine, records, "tone-judgmental") == [
        't uses the judgmental phrase "You Should" at character 7'
    ]


def test_one_human_names_the_extra_person_and_the_count(engine: Engine) -> None:
    records = [
        {
            "id": f"c{index}",
            "type": "contact",
            "at": f"2024-05-07T0{index}:00:00Z",
            "direction": "outbound",
            "actor": {"role": "agent", "id": name},
        }
        for index, name in enumerate(["ann", "bob", "cat"], start=1)
    ]
    assert messages(engine, records, "one-human") == [
        "cat makes 3 different people contacting the customer in this case (at most 2)"
    ]
