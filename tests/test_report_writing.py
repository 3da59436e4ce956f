"""Reports are written in pieces: the same bytes as the whole text, without holding it twice.

A million records under every policy make a JSON report of over a hundred megabytes; holding it whole
(and its encoded copy) on top of the evaluation was the peak of such a run. ``lint`` now writes the
JSON report a finding at a time, gathered into writes of about a megabyte; these tests hold it to the
text the reporter renders, on stdout and through ``--output``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow.cli import main
from serviceflow.cli import output as output_module
from serviceflow.cli.output import _slices

ROOT = Path(__file__).resolve().parents[1]
NOW = "2024-05-09T14:00:00Z"


def test_slices_of_a_long_text_end_at_line_ends_and_join_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_module, "_SLICE", 10)
    text = "\x1b[31mred line\x1b[0m\n" * 7 + "no newline at the end"
    pieces = list(_slices(text))
    assert "".join(pieces) == text
    assert len(pieces) > 3
    assert all(piece.endswith("\n") for piece in pieces[:-1])  # no colour sequence is cut in two


def test_small_pieces_are_gathered_into_writes_of_about_the_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_module, "_SLICE", 100)
    pieces = [f'{{"n": {i}}},\n' for i in range(200)]
    written = list(_slices(iter(pieces)))
    assert "".join(written) == "".join(pieces)
    assert len(written) < 40 and all(len(piece) >= 100 for piece in written[:-1])


def test_a_large_piece_after_small_ones_keeps_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_module, "_SLICE", 50)
    pieces = ["a\n", "b\n", "c" * 120 + "\n" + "d" * 80 + "\n", "e\n"]
    assert "".join(_slices(pieces)) == "".join(pieces)


def test_the_json_report_written_in_pieces_is_the_rendered_report(tmp_path: Path) -> None:
    records = str(ROOT / "examples" / "records")
    runner = CliRunner()
    to_stdout = runner.invoke(main, ["lint", records, "--now", NOW, "--format", "json"])
    target = tmp_path / "report.json"
    to_file = runner.invoke(main, ["lint", records, "--now", NOW, "--format", "json", "-o", str(target)])
    assert to_stdout.exit_code == to_file.exit_code == 1, to_stdout.output
    report = json.loads(to_stdout.stdout)
    assert report["violations"] and report["summary"]
    assert target.read_text(encoding="utf-8") == to_stdout.stdout
    # What the reporter renders whole, two-space indented as json.dumps would.
    assert to_stdout.stdout == json.dumps(report, indent=2, ensure_ascii=False) + "\n"
