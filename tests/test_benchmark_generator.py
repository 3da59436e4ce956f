"""The benchmark data generator and the hand-written baseline: determinism, realism, and agreement.

The generator decides each case's story, so it knows every policy's outcome at any ``now``; the baseline
reads the records back and applies the rules by hand; the engine evaluates the bundled policies. All
three must agree, which makes these tests a cross-check of the engine as much as of the generator.
"""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from serviceflow.findings import Evaluation

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CASES = 300
SEED = 11


# The benchmark scripts import each other as top-level modules, as they do when run as scripts.
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
generate = importlib.import_module("generate")
baseline = importlib.import_module("baseline")
stories = importlib.import_module("stories")

#: Evaluation times across the data set's life: early, mid-stream, the default, and after everything.
NOWS = {
    "first-day": generate.EPOCH + timedelta(hours=20, minutes=17),
    "mid-stream": generate.EPOCH + timedelta(hours=17, days=1),
    "default": generate.default_now(CASES),
    "all-settled": datetime(2030, 1, 1, tzinfo=UTC),
}


def _write(tmp_path: Path, name: str = "cases.jsonl", **options: object) -> tuple[Path, dict]:
    path = tmp_path / name
    options = {"cases": CASES, "seed": SEED, **options}
    summary = generate.write_dataset(path, **options)
    return path, summary


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def _expected_counts(summary: dict) -> dict[str, dict[str, int]]:
    return {
        policy: {"violations": counts["violations"], "pending": counts["pending"]}
        for policy, counts in summary["expected"].items()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return _write(tmp_path_factory.mktemp("generated"))


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first, first_summary = _write(tmp_path, "first.jsonl")
    second, second_summary = _write(tmp_path, "second.jsonl")
    other, _ = _write(tmp_path, "other.jsonl", seed=SEED + 1)

    assert first.read_bytes() == second.read_bytes()
    assert first_summary == second_summary
    assert first.read_bytes() != other.read_bytes()


def test_records_do_not_depend_on_now(tmp_path: Path) -> None:
    early, early_summary = _write(tmp_path, "early.jsonl", now=NOWS["first-day"])
    late, late_summary = _write(tmp_path, "late.jsonl", now=NOWS["all-settled"])

    assert early.read_bytes() == late.read_bytes()
    assert early_summary["expected"] != late_summary["expected"]


def test_sidecar_sits_next_to_the_output_and_matches_the_summary(dataset: tuple[Path, dict]) -> None:
    path, summary = dataset
    sidecar = json.loads(Path(f"{path}.expected.json").read_text(encoding="utf-8"))

    assert sidecar == summary
    assert sidecar["records"] == len(_lines(path))
    assert set(sidecar["expected"]) == set(stories.POLICIES)


def test_gzip_output_holds_the_same_records(tmp_path: Path, dataset: tuple[Path, dict]) -> None:
    path, summary = dataset
    compressed, compressed_summary = _write(tmp_path, "cases.jsonl.gz")

    assert _lines(compressed) == _lines(path)
    assert compressed_summary == summary


def test_records_are_sorted_by_time_across_cases_and_interleaved(dataset: tuple[Path, dict]) -> None:
    records = [json.loads(line) for line in _lines(dataset[0])]
    instants = [datetime.fromisoformat(record["at"]) for record in records]

    assert instants == sorted(instants)
    positions: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        positions.setdefault(record["case_id"], []).append(index)
    overlapping = [ids for ids in positions.values() if ids[-1] - ids[0] + 1 > len(ids)]
    assert len(positions) == CASES
    assert len(overlapping) > CASES * 0.9, "cases should overlap in time, as real exports do"


def test_records_are_varied_and_about_twelve_a_case(dataset: tuple[Path, dict]) -> None:
    records = [json.loads(line) for line in _lines(dataset[0])]
    offsets = Counter(record["at"][19:] for record in records)
    types = Counter(record["type"] for record in records)

    assert 10 <= len(records) / CASES <= 16
    assert len(offsets) >= 5 and "Z" in offsets
    assert len({record["id"] for record in records}) == len(records)
    assert set(types) == {
        "case_opened",
        "contact",
        "note",
        "escalation",
        "capacity_check",
        "commitment",
        "reschedule",
        "fulfillment",
        "concession",
        "resolution",
        "confirmation",
        "status_change",
    }
    reopened = {record["case_id"] for record in records if record.get("to") == "reopened"}
    assert reopened, "some cases should be reopened"


def test_every_generated_record_is_valid(dataset: tuple[Path, dict]) -> None:
    records_module = pytest.importorskip(
        "serviceflow.records", reason="serviceflow.records (RecordValidator) is not available yet"
    )
    from serviceflow.errors import Location, RecordError

    validator = records_module.RecordValidator()
    errors = []
    for line, text in enumerate(_lines(dataset[0]), start=1):
        try:
            validator.to_record(json.loads(text), Location("cases.jsonl", line))
        except RecordError as error:
            errors.append(str(error))
    assert errors == []


@pytest.mark.parametrize("moment", sorted(NOWS))
def test_baseline_counts_equal_the_generators_expectations(tmp_path: Path, moment: str) -> None:
    path, summary = _write(tmp_path, now=NOWS[moment], rates=dict.fromkeys(stories.POLICIES, 0.3))

    counts = baseline.evaluate(baseline.read_cases(path), NOWS[moment])

    assert counts == _expected_counts(summary)


def test_violations_and_pending_obligations_are_both_generated(
    tmp_path: Path, dataset: tuple[Path, dict]
) -> None:
    in_progress = dataset[1]["expected"]
    _, settled = _write(tmp_path, now=NOWS["all-settled"])

    assert in_progress[stories.CONCESSION]["pending"] > 0
    assert in_progress[stories.ESCALATION]["pending"] > 0
    for policy in stories.POLICIES:
        assert settled["expected"][policy]["violations"] > 0, policy


@pytest.mark.parametrize(("rate", "all_violate"), [(0.0, False), (1.0, True)])
def test_the_violation_rate_decides_each_subjects_outcome(
    tmp_path: Path, rate: float, all_violate: bool
) -> None:
    path, summary = _write(tmp_path, now=NOWS["all-settled"], rates=dict.fromkeys(stories.POLICIES, rate))

    for policy, counts in summary["expected"].items():
        assert counts["pending"] == 0, policy
        assert counts["violations"] == (counts["subjects"] if all_violate else 0), policy
    assert baseline.evaluate(baseline.read_cases(path), NOWS["all-settled"]) == _expected_counts(summary)


def test_per_policy_rates_override_the_default(tmp_path: Path) -> None:
    rates = generate.parse_rates(0.0, [f"{stories.CLOSE}=1"])
    _, summary = _write(tmp_path, now=NOWS["all-settled"], rates=rates)

    assert summary["expected"][stories.CLOSE]["violations"] == summary["expected"][stories.CLOSE]["subjects"]
    assert summary["expected"][stories.CAPACITY]["violations"] == 0


def test_command_line_writes_records_and_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"

    assert (
        generate.main(
            ["--cases", "20", "--seed", "3", "--out", str(out), "--now", "2024-01-09T00:00:00+01:00"]
        )
        == 0
    )
    summary = json.loads(Path(f"{out}.expected.json").read_text(encoding="utf-8"))
    assert summary["now"] == "2024-01-08T23:00:00Z"
    assert summary["records"] == len(_lines(out))


EVALUATORS = ["native", pytest.param("durable", marks=pytest.mark.durable)]


def _lint(evaluator: str, path: Path, now: datetime) -> Evaluation:
    """Lint ``path`` with the four policies the generator knows, at their default parameters."""
    pytest.importorskip("serviceflow.records", reason="serviceflow.records is not available yet")
    from serviceflow.config import Config, PolicySettings
    from serviceflow.engine import Engine
    from serviceflow.errors import EvaluatorError
    from serviceflow.policy import bundled_policy_dir, load_policies
    from serviceflow.run import evaluate_sources

    # Only the four policies the generator writes stories for; the others would flag its records too.
    others = {definition.id for definition in load_policies([bundled_policy_dir()])} - set(stories.POLICIES)
    config = Config(policies={policy: PolicySettings(enabled=False) for policy in others})
    try:
        engine = Engine.from_config(config=config, evaluator=evaluator, bundled=True)
    except EvaluatorError as exc:
        pytest.skip(f"the {evaluator} evaluator is not available: {exc}")
    with engine:
        return evaluate_sources(engine, [path], now)


@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize("moment", sorted(NOWS))
def test_engine_counts_equal_the_generators_expectations(tmp_path: Path, moment: str, evaluator: str) -> None:
    path, summary = _write(tmp_path, now=NOWS[moment], rates=dict.fromkeys(stories.POLICIES, 0.3))

    evaluation = _lint(evaluator, path, NOWS[moment])

    violations = Counter(finding.policy for finding in evaluation.violations)
    pending = Counter(finding.policy for finding in evaluation.pending)
    counts = {
        policy: {"violations": violations[policy], "pending": pending[policy]} for policy in stories.POLICIES
    }
    assert evaluation.input_errors == ()
    assert evaluation.records == summary["records"]
    assert counts == _expected_counts(summary)


@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize("moment", ["mid-stream", "all-settled"])
def test_engine_flags_exactly_the_records_the_stories_decided(
    tmp_path: Path, moment: str, evaluator: str
) -> None:
    now = NOWS[moment]
    rates = dict.fromkeys(stories.POLICIES, 0.3)
    path, _ = _write(tmp_path, now=now, rates=rates)
    decided = {
        (obligation.policy, obligation.record_id, status)
        for story in generate.generate(CASES, SEED, rates)
        for obligation in story.obligations
        if (status := obligation.status(now)) is not None
    }

    evaluation = _lint(evaluator, path, now)

    found = {
        (finding.policy, finding.record_id, finding.status.value)
        for finding in [*evaluation.violations, *evaluation.pending]
    }
    assert found == decided
