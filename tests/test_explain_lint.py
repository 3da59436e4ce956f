"""``lint --explain``: each finding carries the short reason the traced native evaluator gives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from serviceflow import Engine
from serviceflow.cli import main
from serviceflow.config import Config
from serviceflow.explain.reasons import ExplainingEvaluator, explain_findings
from serviceflow.explain.trace import CaseTrace, TracingEvaluator
from serviceflow.findings import Finding
from serviceflow.records.model import Record
from serviceflow.run import evaluate_sources
from serviceflow.timeutil import parse_datetime
from support import render

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "records"
NOW_TEXT = "2024-05-09T14:00:00Z"
NOW = parse_datetime(NOW_TEXT)
CAPACITY_REASON = (
    "no capacity_check matched: mw-03 failed /require/exists/where/3 "
    "(ge $check.window.end 2024-05-06T16:00:00-04:00 ≥ $subject.due 2024-05-07T17:00:00-04:00: false)"
)


def explained_lint() -> Any:
    engine = Engine.from_config(config=Config())
    explain_findings(engine)
    with engine:
        return evaluate_sources(engine, [EXAMPLES], NOW)


def by_key(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(finding.policy, finding.record_id): finding for finding in findings}


def test_every_finding_gets_its_reason_and_stays_the_same_finding() -> None:
    plain = evaluate_sources(Engine.from_config(config=Config()), [EXAMPLES], NOW)
    explained = explained_lint()
    assert explained.violations == plain.violations and explained.pending == plain.pending
    assert all(finding.reason for finding in [*explained.violations, *explained.pending])
    assert all(finding.reason is None for finding in [*plain.violations, *plain.pending])
    assert by_key(explained.violations)[("commit-requires-capacity", "mw-10")].reason == CAPACITY_REASON
    pending = by_key(explained.pending)[("concession-after-missed-commitment", "rf-05")]
    assert pending.reason == "no concession record in the case"


def test_the_text_and_json_reports_carry_the_reason() -> None:
    evaluation = explained_lint()
    text = render(evaluation, "text")
    assert f"      because: {CAPACITY_REASON}\n" in text
    data = json.loads(render(evaluation, "json"))
    reasons = {(item["policy"], item["record_id"]): item.get("reason") for item in data["violations"]}
    assert reasons[("commit-requires-capacity", "mw-10")] == CAPACITY_REASON


class CountingTracer(TracingEvaluator):
    """Notes which cases it was asked to trace."""

    traced: list[str]

    def trace_case(self, case_id: str, records: Sequence[Record], now: datetime) -> CaseTrace:
        self.traced.append(case_id)
        return super().trace_case(case_id, records, now)


def test_only_cases_with_findings_are_traced() -> None:
    engine = Engine.from_config(config=Config())
    tracing = CountingTracer(engine.policies, engine.calendars)
    tracing.traced = []
    engine.wrap_evaluator(lambda inner: ExplainingEvaluator(inner, tracing))
    with engine:
        evaluation = evaluate_sources(engine, [EXAMPLES], NOW)
    assert evaluation.cases == 3
    assert tracing.traced == ["refund-7731", "milkyway-leak"]  # acme-boiler has no finding


def lint(*args: str) -> Any:
    return CliRunner().invoke(main, ["lint", str(EXAMPLES), "--now", NOW_TEXT, "--fail-on", "never", *args])


def test_lint_explain_adds_a_because_line_to_each_finding() -> None:
    result = lint("--explain")
    assert result.exit_code == 0, result.output
    assert f"      because: {CAPACITY_REASON}\n" in result.output
    assert result.output.count("      because: ") == 12  # 9 violations and 3 pending


def test_lint_without_explain_says_no_because() -> None:
    result = lint()
    assert result.exit_code == 0, result.output
    assert "because:" not in result.output


def test_lint_explain_puts_the_reason_in_the_json_report() -> None:
    result = lint("--explain", "--format", "json")
    data = json.loads(result.output)
    assert all("reason" in item for item in [*data["violations"], *data["pending"]])
    assert "reason" not in json.loads(lint("--format", "json").output)["violations"][0]
