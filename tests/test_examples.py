"""The bundled examples lint with exactly the findings written beside them in examples/expected/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.run import evaluate_sources
from serviceflow.timeutil import parse_datetime

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED = sorted((EXAMPLES / "expected").glob("*.json"))


def test_every_example_record_file_has_expectations() -> None:
    records = {p.stem for p in (EXAMPLES / "records").glob("*.jsonl")}
    assert records == {p.stem for p in EXPECTED}


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.stem)
def test_example_lints_with_its_expected_findings(expected_file: Path, evaluator_name: str) -> None:
    expected = json.loads(expected_file.read_text())
    engine = Engine.from_config(config=Config(), evaluator=evaluator_name)
    try:
        evaluation = evaluate_sources(
            engine, [expected_file.parent / expected["records"]], now=parse_datetime(expected["now"])
        )
    finally:
        engine.close()
    assert evaluation.input_errors == ()
    actual = sorted(
        (f.policy, f.record_id, f.status.value, f.to_dict().get("deadline"))
        for f in evaluation.violations + evaluation.pending
    )
    assert actual == sorted(
        (item["policy"], item["record_id"], item["status"], item.get("deadline"))
        for item in expected["findings"]
    )
