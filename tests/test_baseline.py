"""Baselines (serviceflow.baseline, lint --baseline/--write-baseline): only new violations are reported."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow.baseline import (
    Baseline,
    BaselineEntry,
    apply_baseline,
    baseline_text,
    load_baseline,
    parse_baseline,
)
from serviceflow.cli import main
from serviceflow.errors import ConfigError
from serviceflow.findings import Evaluation, Finding, Severity, Status

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "records"
NOW = "2024-05-09T14:00:00Z"
WHEN = datetime(2024, 5, 9, 14, tzinfo=UTC)


def violation(case: str, record: str, policy: str = "p", message: str = "broken", **more: object) -> Finding:
    fields: dict[str, object] = {"severity": Severity.ERROR, "status": Status.VIOLATION} | more
    return Finding(policy=policy, case_id=case, record_id=record, message=message, **fields)  # type: ignore[arg-type]


def evaluation(*findings: Finding) -> Evaluation:
    return Evaluation(
        now=WHEN,
        violations=tuple(f for f in findings if f.status is Status.VIOLATION),
        pending=tuple(f for f in findings if f.status is Status.PENDING),
        engine_errors=tuple(f for f in findings if f.status is Status.ERROR),
    )


def roundtrip(*findings: Finding) -> Baseline:
    return parse_baseline(baseline_text(findings, WHEN), "b.json")


# --- the library ---------------------------------------------------------------------------------------


def test_a_baseline_of_a_run_hides_every_violation_of_that_run() -> None:
    found = [violation("c1", "r1"), violation("c2", "r2", policy="q", severity=Severity.WARNING)]
    filtered, compared = apply_baseline(evaluation(*found), roundtrip(*found))
    assert filtered.violations == ()
    assert compared.matched == tuple(found)
    assert compared.gone == ()
    assert not filtered.fails("info")


def test_matching_ignores_the_message_severity_and_deadline() -> None:
    recorded = roundtrip(violation("c1", "r1", message="No update within 8h"))
    reworded = violation(
        "c1",
        "r1",
        message="The customer heard nothing for 8 business hours",
        severity=Severity.WARNING,
        deadline=WHEN - timedelta(hours=1),
    )
    filtered, compared = apply_baseline(evaluation(reworded), recorded)
    assert filtered.violations == ()
    assert compared.matched == (reworded,)


def test_a_new_violation_is_reported_and_a_fixed_one_is_gone() -> None:
    recorded = roundtrip(violation("c1", "r1"), violation("c1", "r2"))
    new = violation("c1", "r3")
    filtered, compared = apply_baseline(evaluation(violation("c1", "r1"), new), recorded)
    assert filtered.violations == (new,)
    assert [entry.record_id for entry in compared.gone] == ["r2"]
    assert "1 baseline entry gone" in compared.summary()


@pytest.mark.parametrize(
    "other",
    [violation("c2", "r1"), violation("c1", "r9"), violation("c1", "r1", policy="q")],
    ids=["other-case", "other-record", "other-policy"],
)
def test_each_of_policy_case_and_record_must_match(other: Finding) -> None:
    filtered, compared = apply_baseline(evaluation(other), roundtrip(violation("c1", "r1")))
    assert filtered.violations == (other,)
    assert len(compared.gone) == 1


def test_pending_obligations_and_engine_errors_are_never_baselined() -> None:
    pending = Finding("p", Severity.ERROR, Status.PENDING, "c1", "r1", "open", deadline=WHEN)
    error = Finding("p", Severity.ERROR, Status.ERROR, "c1", "r2", "could not decide")
    text = baseline_text([violation("c1", "r1"), violation("c1", "r2")], WHEN)
    filtered, compared = apply_baseline(evaluation(pending, error), parse_baseline(text))
    assert filtered.pending == (pending,)
    assert filtered.engine_errors == (error,)
    assert compared.matched == ()


def test_entries_of_policies_that_did_not_run_are_not_counted_as_gone() -> None:
    recorded = roundtrip(violation("c1", "r1", policy="ran"), violation("c1", "r2", policy="skipped"))
    _, compared = apply_baseline(evaluation(), recorded, policies_run={"ran"})
    assert [entry.policy for entry in compared.gone] == ["ran"]
    assert compared.not_checked == 1


def test_an_entry_matches_one_violation_only() -> None:
    twice = [violation("c1", "r1", message="first"), violation("c1", "r1", message="second")]
    filtered, compared = apply_baseline(evaluation(*twice), roundtrip(twice[0]))
    assert len(filtered.violations) == 1
    assert len(compared.matched) == 1


def test_the_file_is_sorted_one_entry_per_line_and_stable() -> None:
    found = [violation("c2", "r1"), violation("c1", "r2"), violation("c1", "r1")]
    text = baseline_text(found, WHEN)
    assert text == baseline_text(list(reversed(found)), WHEN)
    lines = text.splitlines()
    assert lines[0].startswith('{"serviceflow-baseline": 1, "now": "2024-05-09T14:00:00Z"')
    assert [json.loads(line.rstrip(","))["record_id"] for line in lines[1:-1]] == ["r1", "r2", "r1"]
    assert json.loads(text)["violations"][0]["case_id"] == "c1"


def test_an_empty_run_writes_an_empty_baseline_that_reads_back() -> None:
    assert parse_baseline(baseline_text([], WHEN)).entries == ()


def test_hostile_ids_survive_the_file_exactly() -> None:
    hostile = "</script><script>alert(1)</script>\x1b[2J\u202e\ud800\n\"'"
    found = violation(hostile, hostile + "r", policy=hostile + "p", message="x" * 100_000)
    text = baseline_text([found], WHEN)
    text.encode("utf-8")  # a lone surrogate is written as its escape: the file is valid UTF-8
    (entry,) = parse_baseline(text).entries
    assert (entry.case_id, entry.record_id, entry.policy) == (hostile, hostile + "r", hostile + "p")
    filtered, _ = apply_baseline(evaluation(found), parse_baseline(text))
    assert filtered.violations == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "a baseline file is JSON"),
        ("[]", "not a serviceflow baseline"),
        ('{"violations": []}', "not a serviceflow baseline"),
        ('{"serviceflow-baseline": 2, "violations": []}', "version 2 is not supported"),
        ('{"serviceflow-baseline": 1, "violations": {}}', "'violations' must be a list"),
        ('{"serviceflow-baseline": 1, "violations": [3]}', "each entry is an object"),
        (
            '{"serviceflow-baseline": 1, "violations": [{"policy": "p", "case_id": 7, "record_id": "r"}]}',
            "'case_id' must be text",
        ),
        ("[" * 100_000, "a baseline file is JSON"),
    ],
)
def test_a_broken_baseline_file_is_a_configuration_error_naming_it(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_baseline(text, "b.json")
    assert expected in str(raised.value)
    assert "b.json" in str(raised.value)


def test_a_missing_baseline_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read baseline file"):
        load_baseline(tmp_path / "none.json")


def test_entry_key_is_the_findings_obligation() -> None:
    found = violation("c1", "r1", policy="p")
    assert BaselineEntry("p", "c1", "r1").obligation == found.obligation


# --- lint --baseline / --write-baseline -----------------------------------------------------------------


def lint(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["lint", *arguments], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_lint_writes_a_baseline_then_reports_nothing_against_it(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    status, _, errors = lint(
        str(EXAMPLES), "--now", NOW, "--write-baseline", str(baseline), "--fail-on", "never"
    )
    assert status == 0
    assert "wrote baseline" in errors and "9 violations" in errors
    assert len(json.loads(baseline.read_text("utf-8"))["violations"]) == 9

    status, output, errors = lint(
        str(EXAMPLES), "--now", NOW, "--baseline", str(baseline), "--format", "json"
    )
    assert status == 0
    report = json.loads(output)
    assert report["violations"] == []
    assert len(report["pending"]) == 3  # pending obligations are always reported
    assert "9 violations in the baseline not reported; 0 baseline entries gone" in errors


def test_lint_reports_only_what_is_not_in_the_baseline(tmp_path: Path) -> None:
    full = json.loads(lint(str(EXAMPLES), "--now", NOW, "--format", "json")[1])["violations"]
    kept, dropped = full[1:], full[0]
    baseline = tmp_path / "baseline.json"
    entries = [f | {"message": "an older wording"} for f in kept]
    entries.append({"policy": "commit-requires-capacity", "case_id": "gone-case", "record_id": "r"})
    baseline.write_text(json.dumps({"serviceflow-baseline": 1, "violations": entries}), "utf-8")
    status, output, errors = lint(
        str(EXAMPLES), "--now", NOW, "--baseline", str(baseline), "--format", "json"
    )
    report = json.loads(output)
    assert [(f["policy"], f["case_id"], f["record_id"]) for f in report["violations"]] == [
        (dropped["policy"], dropped["case_id"], dropped["record_id"])
    ]
    assert status == (1 if dropped["severity"] == "error" else 0)
    assert "8 violations in the baseline not reported; 1 baseline entry gone" in errors


def test_select_leaves_other_policies_entries_unchecked(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    lint(str(EXAMPLES), "--now", NOW, "--write-baseline", str(baseline), "--fail-on", "never")
    status, _, errors = lint(
        str(EXAMPLES), "--now", NOW, "--baseline", str(baseline), "--select", "tone-*", "--fail-on", "warning"
    )
    assert status == 0
    assert "1 violation in the baseline not reported; 0 baseline entries gone (8 of policies" in errors


def test_baseline_and_write_baseline_may_name_the_same_file(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"serviceflow-baseline": 1, "violations": []}', "utf-8")
    status, _, _ = lint(
        str(EXAMPLES),
        "--now",
        NOW,
        "--baseline",
        str(baseline),
        "--write-baseline",
        str(baseline),
        "--fail-on",
        "never",
    )
    assert status == 0
    assert len(parse_baseline(baseline.read_text("utf-8")).entries) == 9


def test_write_baseline_never_overwrites_an_input(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    original = (EXAMPLES / "leaking-pipe.jsonl").read_bytes()
    records.write_bytes(original)
    status, _, errors = lint(str(records), "--now", NOW, "--write-baseline", str(records))
    assert status == 2
    assert "same file as" in errors
    assert records.read_bytes() == original


def test_a_broken_baseline_stops_lint_before_it_runs(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{", "utf-8")
    status, output, errors = lint(str(EXAMPLES), "--now", NOW, "--baseline", str(baseline))
    assert status == 2
    assert output == ""
    assert "baseline.json" in errors and "a baseline file is JSON" in errors


def test_baseline_applies_after_waivers_and_before_actions(tmp_path: Path) -> None:
    from serviceflow import Engine
    from serviceflow.config import Config
    from serviceflow.run import lint as run_lint

    acted: list[object] = []

    def record_action(transition: object, context: object) -> None:
        acted.append(transition)

    with Engine.from_config(config=Config()) as engine:
        first = run_lint(engine, [EXAMPLES], WHEN)
        recorded = parse_baseline(baseline_text(first.evaluation.violations[1:], WHEN))
        second = run_lint(engine, [EXAMPLES], WHEN, baseline=recorded, actions={"spy": record_action})  # type: ignore[dict-item]
    assert second.baseline is not None
    assert len(second.baseline.matched) == len(first.evaluation.violations) - 1
    assert second.evaluation.violations == first.evaluation.violations[:1]
    assert [action.finding_key for action in second.actions] == [first.evaluation.violations[0].key]
    assert dataclasses.replace(second.evaluation, violations=first.evaluation.violations) == first.evaluation
