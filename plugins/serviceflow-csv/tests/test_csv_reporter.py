"""The csv report: its columns, one row per finding and per invalid record, and safe cells."""

from __future__ import annotations

import csv
import io
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from serviceflow_csv import plugin
from serviceflow_csv.reporter import COLUMNS, render_csv

from serviceflow.cli import main
from serviceflow.plugin import (
    Evaluation,
    Finding,
    Location,
    RecordError,
    ReportOptions,
    Severity,
    Status,
    parse_datetime,
)
from serviceflow.run import evaluate_sources

NOW = parse_datetime("2024-05-09T14:00:00Z")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "records"


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def finding(record_id: str, status: Status = Status.VIOLATION, **fields: object) -> Finding:
    values: dict[str, object] = {
        "policy": "respond-promptly",
        "severity": Severity.ERROR,
        "status": status,
        "case_id": "c1",
        "record_id": record_id,
        "message": "no reply",
        "evidence": (record_id,),
        **fields,
    }
    return Finding(**values)  # type: ignore[arg-type]


def test_one_row_per_finding_with_the_columns_auditors_asked_for() -> None:
    evaluation = Evaluation(
        now=NOW,
        violations=(finding("b", evidence=("b", "a"), origin=Location("cases.jsonl", 7)),),
        pending=(finding("a", Status.PENDING, deadline=parse_datetime("2024-05-10T09:00:00+02:00")),),
    )
    text = render_csv(evaluation, ReportOptions())
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert text.endswith("\r\n") and "\r\n" in text
    assert read(text) == [
        {
            "policy": "respond-promptly",
            "severity": "error",
            "status": "pending",
            "case": "c1",
            "record": "a",
            "deadline": "2024-05-10T09:00:00+02:00",
            "message": "no reply",
            "evidence": "a",
            "file": "",
            "line": "",
        },
        {
            "policy": "respond-promptly",
            "severity": "error",
            "status": "violation",
            "case": "c1",
            "record": "b",
            "deadline": "",
            "message": "no reply",
            "evidence": "b; a",
            "file": "cases.jsonl",
            "line": "7",
        },
    ]


def test_an_invalid_record_is_a_row_so_the_audit_shows_what_was_not_evaluated() -> None:
    error = RecordError("'due' is required", Location("in.jsonl", 3, "/due"), "k9")
    evaluation = Evaluation(now=NOW, input_errors=(error,))
    (row,) = read(render_csv(evaluation, ReportOptions()))
    assert (row["status"], row["record"], row["message"], row["file"], row["line"]) == (
        "invalid_record",
        "k9",
        "/due: 'due' is required",
        "in.jsonl",
        "3",
    )


def test_commas_quotes_and_line_breaks_survive_and_formulas_are_not_run() -> None:
    evaluation = Evaluation(
        now=NOW,
        violations=(
            finding("r2", message="-1 star review", case_id="@c2"),
            finding('=HYPERLINK("http://x")', message='She said "no, not Jake"\nagain'),
        ),
    )
    second, first = read(render_csv(evaluation, ReportOptions()))  # sorted by case: "@c2" < "c1"
    assert first["record"] == '\'=HYPERLINK("http://x")'
    assert first["message"] == 'She said "no, not Jake"\nagain'
    assert (second["case"], second["message"]) == ("'@c2", "'-1 star review")


def test_an_empty_evaluation_is_the_header_only() -> None:
    assert render_csv(Evaluation(now=NOW), ReportOptions()) == ",".join(COLUMNS) + "\r\n"


def test_the_plugin_declares_the_csv_format(serviceflow_plugin, serviceflow_engine) -> None:
    with serviceflow_plugin(plugin, "csv") as host:
        spec = host.reporters["csv"]
        assert (spec.plugin, spec.render) == ("csv", render_csv)
        engine = serviceflow_engine(bundled=True)
        evaluation = evaluate_sources(engine, [EXAMPLES / "leaking-pipe.jsonl"], now=NOW)
    rows = read(spec.render(evaluation, ReportOptions()))
    assert rows and {row["case"] for row in rows} == {"milkyway-leak"}
    assert all(row["file"].endswith("leaking-pipe.jsonl") and row["line"] for row in rows)


def installed() -> bool:
    try:
        metadata.distribution("serviceflow-csv")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not installed(), reason="serviceflow-csv is not installed")
def test_lint_format_csv_once_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "csv")
    output = tmp_path / "findings.csv"
    result = CliRunner().invoke(
        main,
        [
            "lint",
            str(EXAMPLES / "leaking-pipe.jsonl"),
            "--now",
            "2024-05-09T14:00:00Z",
            "--format",
            "csv",
            "--fail-on",
            "never",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(",".join(COLUMNS).encode() + b"\r\n")
    assert len(read(output.read_text(encoding="utf-8"))) >= 1
