"""Waivers: accepted exceptions move findings apart until they expire, in event time."""

from __future__ import annotations

import json
import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main
from serviceflow.errors import ConfigError, Location
from serviceflow.findings import Evaluation, EvaluationCollector, Finding, Severity, Status
from serviceflow.reporters import summary_line
from serviceflow.waivers import Waiver, apply_waivers, load_waivers, parse_waivers, waiver_warnings
from support import render

NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
LATER = datetime(2024, 6, 30, tzinfo=UTC)


def finding(
    case_id: str = "C-1",
    record_id: str = "r2",
    policy: str = "no-close-without-confirmation",
    status: Status = Status.VIOLATION,
) -> Finding:
    return Finding(
        policy=policy,
        severity=Severity.ERROR,
        status=status,
        case_id=case_id,
        record_id=record_id,
        message=f"{policy} about {record_id}",
        evidence=(record_id,),
        deadline=NOW + timedelta(hours=3) if status is Status.PENDING else None,
        origin=Location("records.jsonl", 2),
    )


def waiver(
    policy: str = "no-close-without-confirmation",
    case_id: str | None = "C-1",
    record_id: str | None = None,
    expires: datetime = LATER,
    line: int = 2,
) -> Waiver:
    return Waiver(
        policy=policy,
        case_id=case_id,
        record_id=record_id,
        reason="Confirmed in person",
        owner="maria",
        expires=expires,
        expires_as_written=expires.isoformat(),
        location=Location("waivers.yaml", line, "/waivers/0"),
    )


def evaluated(*findings: Finding) -> Evaluation:
    collector = EvaluationCollector(NOW)
    collector.cases, collector.records = 2, 4
    for item in findings:
        collector.add(item)
    return collector.freeze()


# --- matching ------------------------------------------------------------------------------------


def test_a_case_waiver_moves_every_finding_of_its_policy_in_that_case() -> None:
    evaluation = evaluated(
        finding("C-1", "r2"),
        finding("C-1", "r3"),
        finding("C-2", "r9"),
        finding("C-1", "r4", policy="commit-requires-capacity"),
    )
    evaluation = apply_waivers(evaluation, [waiver(case_id="C-1")])
    assert [(w.finding.case_id, w.finding.record_id) for w in evaluation.waived] == [
        ("C-1", "r2"),
        ("C-1", "r3"),
    ]
    assert [(f.case_id, f.policy) for f in evaluation.violations] == [
        ("C-1", "commit-requires-capacity"),
        ("C-2", "no-close-without-confirmation"),
    ]


def test_a_record_waiver_moves_only_the_finding_about_that_record() -> None:
    evaluation = evaluated(finding("C-1", "r2"), finding("C-1", "r3"))
    evaluation = apply_waivers(evaluation, [waiver(case_id=None, record_id="r3")])
    assert [w.finding.record_id for w in evaluation.waived] == ["r3"]
    assert [f.record_id for f in evaluation.violations] == ["r2"]


def test_a_waiver_naming_case_and_record_needs_both_to_match() -> None:
    evaluation = evaluated(finding("C-1", "r2"), finding("C-2", "r2"), finding("C-1", "r3"))
    evaluation = apply_waivers(evaluation, [waiver(case_id="C-1", record_id="r2")])
    assert [(w.finding.case_id, w.finding.record_id) for w in evaluation.waived] == [("C-1", "r2")]
    assert len(evaluation.violations) == 2


def test_pending_findings_are_waived_too() -> None:
    evaluation = evaluated(finding(status=Status.PENDING))
    evaluation = apply_waivers(evaluation, [waiver()])
    assert evaluation.pending == ()
    assert evaluation.waived[0].finding.status is Status.PENDING


def test_engine_errors_are_never_waived() -> None:
    evaluation = evaluated(finding(status=Status.ERROR))
    evaluation = apply_waivers(evaluation, [waiver()])
    assert len(evaluation.engine_errors) == 1
    assert evaluation.waived == ()
    assert len(evaluation.unused_waivers) == 1


def test_the_most_specific_matching_waiver_is_named_and_every_matching_one_is_used() -> None:
    whole_case = waiver(case_id="C-1", line=2)
    one_record = waiver(case_id=None, record_id="r2", line=8)
    evaluation = evaluated(finding("C-1", "r2"))
    evaluation = apply_waivers(evaluation, [whole_case, one_record])
    assert evaluation.waived[0].waiver is one_record
    assert evaluation.unused_waivers == ()


# --- expiry and reporting of waivers -------------------------------------------------------------


@pytest.mark.parametrize("expires", [NOW, NOW - timedelta(days=1)], ids=["exactly-at-now", "before-now"])
def test_a_waiver_expiring_at_or_before_now_does_not_apply_and_is_reported(expires: datetime) -> None:
    evaluation = evaluated(finding())
    expired = waiver(expires=expires)
    evaluation = apply_waivers(evaluation, [expired])
    assert evaluation.waived == ()
    assert len(evaluation.violations) == 1
    assert evaluation.expired_waivers == (expired,)
    assert evaluation.unused_waivers == ()


def test_a_waiver_applies_until_the_instant_it_expires() -> None:
    evaluation = evaluated(finding())
    evaluation = apply_waivers(evaluation, [waiver(expires=NOW + timedelta(seconds=1))])
    assert len(evaluation.waived) == 1


def test_a_live_waiver_that_matched_nothing_is_reported_unused() -> None:
    evaluation = evaluated(finding("C-1"))
    unused = waiver(case_id="C-9")
    evaluation = apply_waivers(evaluation, [unused])
    assert evaluation.unused_waivers == (unused,)
    assert waiver_warnings(evaluation) == [
        "waivers.yaml:2: waiver for no-close-without-confirmation on case C-9 matched no finding"
    ]


def test_warnings_say_when_a_waivers_policy_did_not_run_and_name_the_expiry() -> None:
    evaluation = evaluated()
    expired = Waiver(
        "one-human", "C-1", None, "r", "tom", NOW, "2024-05-01", Location("waivers.yaml", 3, "/waivers/0")
    )
    evaluation = apply_waivers(evaluation, [waiver(policy="one-humen", line=9), expired])
    assert waiver_warnings(evaluation, ["one-human"]) == [
        "waivers.yaml:3: waiver for one-human on case C-1 expired on 2024-05-01; it no longer applies",
        "waivers.yaml:9: waiver for one-humen on case C-1 matched no finding "
        "(policy 'one-humen' did not run)",
    ]


def test_waived_findings_do_not_fail_the_run_and_are_counted_apart() -> None:
    evaluation = evaluated(finding())
    assert evaluation.fails("error")
    evaluation = apply_waivers(evaluation, [waiver()])
    assert not evaluation.fails("info")
    summary = evaluation.summary()
    assert summary["violations"] == 0
    assert summary["waived"] == 1


def test_the_json_form_carries_each_waived_finding_with_its_waiver() -> None:
    evaluation = evaluated(finding())
    evaluation = apply_waivers(evaluation, [waiver()])
    (entry,) = evaluation.to_dict()["waived"]
    assert entry["record_id"] == "r2"
    assert entry["waiver"] == {
        "policy": "no-close-without-confirmation",
        "case_id": "C-1",
        "reason": "Confirmed in person",
        "owner": "maria",
        "expires": LATER.isoformat(),
        "expires_at": "2024-06-30T00:00:00Z",
        "location": {"file": "waivers.yaml", "line": 2},
    }


# --- the file ------------------------------------------------------------------------------------

GOOD = """\
# Accepted exceptions
waivers:
  - policy: no-close-without-confirmation
    case: C-1
    reason: >-
      Confirmed in person.
    owner: maria
    expires: 2024-06-30
  - policy: one-human
    case: C-2
    record: r7
    reason: The customer asked for a specialist.
    owner: tom
    expires: 2024-06-30T17:00:00+02:00
"""


def test_a_waivers_file_is_read_with_lines_and_expiries() -> None:
    first, second = parse_waivers(GOOD, "waivers.yaml")
    assert (first.policy, first.case_id, first.record_id) == ("no-close-without-confirmation", "C-1", None)
    assert (first.reason, first.owner) == ("Confirmed in person.", "maria")
    assert first.location == Location("waivers.yaml", 3, "/waivers/0")
    assert (second.case_id, second.record_id, second.location.line) == ("C-2", "r7", 9)
    assert second.expires == datetime(2024, 6, 30, 15, 0, tzinfo=UTC)


def test_a_bare_date_means_the_end_of_that_day_in_utc() -> None:
    (first, _) = parse_waivers(GOOD, "waivers.yaml")
    assert first.expires == datetime(2024, 7, 1, tzinfo=UTC)
    assert first.applies_at(datetime(2024, 6, 30, 23, 59, 59, tzinfo=UTC))
    assert not first.applies_at(datetime(2024, 7, 1, tzinfo=UTC))


def test_an_empty_waivers_file_has_no_waivers() -> None:
    assert parse_waivers("# nothing waived yet\n", "waivers.yaml") == []
    assert parse_waivers("waivers: []\n", "waivers.yaml") == []


def entry(**fields: Any) -> str:
    """One waiver from line 2 (``policy``), one key a line; ``None`` leaves a key out."""
    base = {"case": "C-1", "reason": "why", "owner": "tom", "expires": "2024-06-30"} | fields
    lines = [f"    {key}: {value}" for key, value in base.items() if value is not None]
    return "waivers:\n  - policy: one-human\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("fields", "line", "pointer", "message"),
    [
        ({"reason": None}, 2, "/waivers/0", "'reason' is a required property"),
        ({"case": None}, 2, "/waivers/0", "a waiver names a 'case', a 'record' or both"),
        ({"cause": "x"}, 7, "/waivers/0/cause", "unknown key 'cause'"),
        ({"case": "1042"}, 3, "/waivers/0/case", "quote ids that look like numbers"),
        ({"owner": "''"}, 5, "/waivers/0/owner", "'owner' must not be empty"),
        ({"expires": "2024-06-30T17:00:00"}, 6, "/waivers/0/expires", "RFC 3339 date-time with an offset"),
        ({"expires": "2024-02-30"}, 6, "/waivers/0/expires", "must be a date"),
    ],
    ids=[
        "no-reason",
        "neither-case-nor-record",
        "unknown-key",
        "numeric-id",
        "empty",
        "naive",
        "no-such-day",
    ],
)
def test_a_bad_waiver_is_a_config_error_naming_file_line_and_pointer(
    fields: dict[str, Any], line: int, pointer: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_waivers(entry(**fields), "waivers.yaml")
    error = raised.value
    assert error.location == Location("waivers.yaml", line, pointer)
    assert message in error.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("waivers: [\n", 2, "invalid YAML"),
        ("- policy: one-human\n", 1, "a waivers file is a mapping with a 'waivers' list"),
        ("waiver: []\n", 1, "unknown key 'waiver'"),
        ("waivers:\n  - one-human\n", 2, "each waiver is a mapping"),
    ],
)
def test_a_malformed_waivers_file_is_a_config_error_with_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_waivers(text, "waivers.yaml")
    assert raised.value.location.file == "waivers.yaml"
    assert raised.value.location.line == line
    assert message in raised.value.message


def test_a_missing_waivers_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read waivers file") as raised:
        load_waivers(tmp_path / "nope.yaml")
    assert raised.value.location.file == str(tmp_path / "nope.yaml")


# --- reporters -----------------------------------------------------------------------------------


def waived_evaluation() -> Evaluation:
    evaluation = evaluated(finding("C-1", "r2"), finding("C-2", "r9"))
    evaluation = apply_waivers(evaluation, [waiver(case_id="C-1")])
    return evaluation


def test_the_text_summary_counts_waived_findings_and_lists_them_only_on_request() -> None:
    evaluation = waived_evaluation()
    assert summary_line(evaluation) == "1 violation (1 error) and 0 pending in 1 of 2 cases; 1 waived"
    assert "case C-1" not in render(evaluation, "text")
    shown = render(evaluation, "text", show_waived=True)
    assert "case C-1  (1 waived)" in shown
    assert "  waived   no-close-without-confirmation  record r2" in shown
    assert "waived by maria until 2024-06-30T00:00:00+00:00: Confirmed in person  waivers.yaml:2" in shown


def test_sarif_keeps_waived_violations_as_suppressed_results() -> None:
    run = json.loads(render(waived_evaluation(), "sarif"))["runs"][0]
    suppressed = [result for result in run["results"] if "suppressions" in result]
    assert [result["properties"]["case_id"] for result in run["results"]] == ["C-2", "C-1"]
    (result,) = suppressed
    (suppression,) = result["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert suppression["justification"] == "Confirmed in person"
    assert suppression["location"]["physicalLocation"]["artifactLocation"]["uri"] == "waivers.yaml"


def test_sarif_reports_expired_and_unused_waivers_as_configuration_notifications() -> None:
    evaluation = evaluated(finding())
    evaluation = apply_waivers(evaluation, [waiver(expires=NOW), waiver(case_id="C-9")])
    (invocation,) = json.loads(render(evaluation, "sarif"))["runs"][0]["invocations"]
    kinds = [n["descriptor"]["id"] for n in invocation["toolConfigurationNotifications"]]
    assert kinds == ["expired-waiver", "unused-waiver"]


@pytest.mark.parametrize("format", ["junit", "github"])
def test_junit_and_github_leave_waived_findings_out(format: str) -> None:
    report = render(waived_evaluation(), format)
    assert "C-2" in report
    assert "C-1" not in report


# --- the command line ----------------------------------------------------------------------------


def record(record_id: str, case_id: str, type_: str, at: str, role: str = "agent", **fields: Any) -> str:
    data = {
        "id": record_id,
        "case_id": case_id,
        "type": type_,
        "at": at,
        "actor": {"role": role, "id": "p-1"},
    }
    return json.dumps(data | fields)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records with one violation per case, and a configuration running only the policy they break."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    others = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "policies").glob("*.yaml"))
    (work / "serviceflow.toml").write_text(
        "".join(
            f"[policies.{policy}]\nenabled = false\n\n"
            for policy in others
            if policy != "no-close-without-confirmation"
        )
    )
    (work / "records.jsonl").write_text(
        "\n".join(
            [
                record("a1", "C-1", "case_opened", "2024-05-01T09:00:00Z", role="customer"),
                record("a2", "C-1", "status_change", "2024-05-01T12:00:00Z", to="closed"),
                record("b1", "C-2", "case_opened", "2024-05-01T09:00:00Z", role="customer"),
                record("b2", "C-2", "status_change", "2024-05-01T12:00:00Z", to="closed"),
            ]
        )
        + "\n"
    )
    monkeypatch.delenv("SERVICEFLOW_DEBUG", raising=False)
    return work


def write_waivers(path: Path, *entries: str) -> Path:
    path.write_text("waivers:\n" + "".join(textwrap.indent(textwrap.dedent(e), "  ") for e in entries))
    return Path(os.path.relpath(path))


def waiver_entry(
    case: str, expires: str = "2024-06-30", policy: str = "no-close-without-confirmation"
) -> str:
    return f"""\
    - policy: {policy}
      case: {case}
      reason: Confirmed in person.
      owner: maria
      expires: {expires}
    """


def lint(*args: str) -> Result:
    result = CliRunner().invoke(main, ["lint", "records.jsonl", "--now", NOW.isoformat(), *args])
    assert "Traceback" not in result.output
    return result


def test_waiving_every_violation_makes_the_run_pass(workdir: Path) -> None:
    assert lint().exit_code == 1
    waivers = write_waivers(workdir / "waivers.yaml", waiver_entry("C-1"), waiver_entry("C-2"))
    result = lint("--waivers", str(waivers))
    assert result.exit_code == 0, result.output
    assert "0 violations and 0 pending in 0 of 2 cases; 2 waived" in result.stdout
    assert result.stderr == ""


def test_a_waived_finding_is_listed_with_show_waived(workdir: Path) -> None:
    waivers = write_waivers(workdir / "waivers.yaml", waiver_entry("C-1"))
    result = lint("--waivers", str(waivers), "--show-waived")
    assert result.exit_code == 1
    assert "case C-1  (1 waived)" in result.stdout
    assert "waived by maria until 2024-06-30: Confirmed in person.  waivers.yaml:2" in result.stdout


def test_expired_and_unused_waivers_are_warnings_that_do_not_change_the_exit_status(workdir: Path) -> None:
    waivers = write_waivers(
        workdir / "waivers.yaml",
        waiver_entry("C-1", expires="2024-05-01T13:00:00Z"),
        waiver_entry("C-2"),
        waiver_entry("C-3"),
    )
    result = lint("--waivers", str(waivers))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "serviceflow: warning: waivers.yaml:2: waiver for no-close-without-confirmation on case C-1 "
        "expired at 2024-05-01T13:00:00Z; it no longer applies",
        "serviceflow: warning: waivers.yaml:12: waiver for no-close-without-confirmation on case C-3 "
        "matched no finding",
    ]


def test_the_configuration_names_the_waivers_file_relative_to_itself(workdir: Path) -> None:
    (workdir / "exceptions").mkdir()
    write_waivers(workdir / "exceptions" / "waivers.yaml", waiver_entry("C-1"), waiver_entry("C-2"))
    config = workdir / "serviceflow.toml"
    config.write_text('waivers = "exceptions/waivers.yaml"\n' + config.read_text())
    (workdir / "sub").mkdir()
    os.chdir(workdir / "sub")
    result = CliRunner().invoke(
        main, ["lint", "../records.jsonl", "--now", NOW.isoformat(), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["waived"] == 2


def test_a_bad_waivers_file_exits_two_naming_file_line_and_pointer(workdir: Path) -> None:
    (workdir / "waivers.yaml").write_text(
        "waivers:\n  - policy: one-human\n    case: C-1\n    owner: tom\n    reason: x\n    expires: soon\n"
    )
    result = lint("--waivers", "waivers.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "serviceflow: error: waivers.yaml:6: /waivers/0/expires: 'expires' must be"
    )


def test_the_waivers_setting_must_be_a_path(workdir: Path) -> None:
    config = workdir / "serviceflow.toml"
    config.write_text("waivers = 3\n" + config.read_text())
    result = lint()
    assert result.exit_code == 2
    assert "'waivers' must be the path of a waivers file" in result.stderr
