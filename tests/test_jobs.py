"""``--jobs N``: the same report, byte for byte, as one process; a dead worker is an error, not a report."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "records"
REAL = ROOT.parent / "shared" / "data" / "real"
NOW = "2024-05-09T14:00:00Z"
FORMATS = ["text", "json", "sarif", "junit", "github"]

sys.path.insert(0, str(ROOT / "benchmarks"))
generate = importlib.import_module("generate")


def lint(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["lint", *args])
    return result.exit_code, result.stdout, result.stderr


def same_as_one_process(*args: str, jobs: int = 2) -> None:
    one = lint(*args, "--jobs", "1")
    many = lint(*args, "--jobs", str(jobs))
    assert many == one


@pytest.mark.parametrize("report", FORMATS)
def test_the_examples_give_the_same_report_in_every_format(report: str) -> None:
    same_as_one_process(str(EXAMPLES), "--now", NOW, "--format", report)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("generated") / "cases.jsonl"
    summary = generate.write_dataset(path, 800, 7)
    return path, summary["now"]


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_generated_export_gives_the_same_report(generated: tuple[Path, str], jobs: int) -> None:
    path, now = generated
    same_as_one_process(str(path), "--now", now, "--format", "json", jobs=jobs)
    same_as_one_process(str(path), "--now", now, jobs=jobs)


def test_what_crosses_partitions_is_settled_as_one_process_would(tmp_path: Path) -> None:
    # Case ids chosen so the cases land in different workers; a record id repeated across cases and
    # files; bad records in several places; a customer whose earlier case closed in another partition.
    def record(record_id: str, case_id: str, kind: str, at: str, **fields: object) -> str:
        data = {
            "id": record_id,
            "case_id": case_id,
            "type": kind,
            "at": at,
            "actor": {"role": "agent", "id": "a"},
        }
        return json.dumps({**data, **fields})

    first = [
        record("o1", "case-a", "case_opened", "2024-05-01T09:00:00Z", customer_id="k"),
        record("x1", "case-a", "status_change", "2024-05-02T09:00:00Z", to="closed"),
        "{not json",
        record("dup", "case-b", "note", "2024-05-03T09:00:00Z", text="first"),
        record("o2", "case-c", "case_opened", "2024-05-04T09:00:00Z", customer_id="k"),
    ]
    second = [
        record("dup", "case-d", "note", "2024-05-03T10:00:00Z", text="second, refused"),
        record("bad", "case-c", "status_change", "2024-05-05T09:00:00Z", to="shut"),
        record("dup", "case-b", "note", "2024-05-03T11:00:00Z", text="third, refused"),
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(first) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(second) + "\n")
    code, out, err = lint(str(tmp_path), "--now", "2024-05-20T00:00:00Z", "--format", "json", "--jobs", "1")
    assert code == 2
    assert err.count("duplicate record id 'dup'") == 2
    returning = [v for v in json.loads(out)["violations"] if v["policy"] == "circle-back-returning-customer"]
    assert [(v["case_id"], v["record_id"]) for v in returning] == [("case-c", "o2")]  # case-a closed first
    for jobs in (2, 3, 4):
        assert lint(
            str(tmp_path), "--now", "2024-05-20T00:00:00Z", "--format", "json", "--jobs", str(jobs)
        ) == (
            code,
            out,
            err,
        )


def test_validate_gives_the_same_errors_with_jobs(tmp_path: Path) -> None:
    lines = ['{"id": "a", "type": "note"}', "nope", *[f'{{"id": "x{i}", "type": "nope"}}' for i in range(30)]]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    one = CliRunner().invoke(main, ["validate", str(tmp_path / "bad.jsonl"), "--jobs", "1"])
    two = CliRunner().invoke(main, ["validate", str(tmp_path / "bad.jsonl"), "--jobs", "2"])
    assert (one.exit_code, one.stdout, one.stderr) == (two.exit_code, two.stdout, two.stderr)
    assert one.exit_code == 2


KILLER = """
import os
import signal

from serviceflow.plugin import EnricherSpec, hookimpl

MAIN = int(os.environ["SERVICEFLOW_TEST_MAIN_PID"])


def create(options):
    def enrich(record_type, data):
        if data.get("id") == "boom" and os.getpid() != MAIN:
            os.kill(os.getpid(), signal.SIGKILL)
        return None
    return enrich


@hookimpl
def serviceflow_enrichers():
    return [EnricherSpec("killer", create, enabled_by_default=True)]
"""


def test_a_worker_killed_mid_run_is_an_error_and_no_report_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "killer.py").write_text(textwrap.dedent(KILLER))
    monkeypatch.setenv("SERVICEFLOW_TEST_MAIN_PID", str(os.getpid()))
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "killer")
    records = tmp_path / "records.jsonl"
    records.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": rid,
                    "case_id": rid,
                    "type": "note",
                    "at": "2024-05-01T09:00:00Z",
                    "actor": {"role": "agent", "id": "a"},
                    "text": "t",
                }
            )
            for rid in ["a", "boom", "c"]
        )
        + "\n"
    )
    result = CliRunner().invoke(
        main, ["lint", str(records), "--plugins-dir", str(plugins), "--now", NOW, "--jobs", "2"]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "was killed by signal SIGKILL; no report was written" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("log", "input_format", "now"),
    [
        (
            "uci-incident-management-eventlog/incident_event_log.csv.gz",
            "servicenow-incidents",
            "2026-11-30T00:00:00Z",
        ),
        ("helpdesk-italian-software-company/helpdesk.csv.gz", "helpdesk-log", "2026-11-30T00:00:00Z"),
        (
            "bpic2013-volvo-incidents/bpi_challenge_2013_incidents.csv.gz",
            "bpic2013-incidents",
            "2026-11-30T00:00:00Z",
        ),
    ],
)
def test_the_real_logs_give_the_same_report(log: str, input_format: str, now: str) -> None:
    path = REAL / log
    if not path.exists():
        pytest.skip(f"the real logs are in ../shared/data/real, absent here ({path})")
    same_as_one_process(str(path), "--input-format", input_format, "--now", now, "--format", "json")


@pytest.mark.parametrize("report", ["text", "json", "junit"])
def test_policy_tests_give_the_same_report_with_jobs(report: str) -> None:
    args = ["test", str(ROOT / "policies" / "tests"), "--coverage", "--threshold", "100", "--format", report]
    one = CliRunner().invoke(main, [*args, "--jobs", "1"])
    two = CliRunner().invoke(main, [*args, "--jobs", "2"])
    assert one.exit_code == 0
    assert (two.exit_code, two.stdout, two.stderr) == (one.exit_code, one.stdout, one.stderr)
