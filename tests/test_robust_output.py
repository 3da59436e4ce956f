"""Output that destroys what it should not (issue 13, mechanism 7).

``--output`` naming an input or the waivers file used to replace it with the report; a FIFO or a
device became a regular file; a read-only file was replaced. The report is written only to a regular
file (or a new one) that is none of the run's own files, compared by inode rather than by name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from serviceflow.cli.output import check_output_path, emit_report, write_atomically
from serviceflow.errors import ServiceflowError

RECORDS = '{"id": "r1"}\n'


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text(RECORDS)
    return path


def test_a_new_output_file_is_written(tmp_path: Path, records: Path) -> None:
    report = tmp_path / "report.json"
    write_atomically(report, "{}\n", [records])
    assert report.read_text() == "{}\n"


def test_an_existing_report_is_replaced(tmp_path: Path, records: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("old")
    write_atomically(report, "new", [records])
    assert report.read_text() == "new"


@pytest.mark.parametrize("spelling", ["same", "absolute", "dotted", "hard link", "symlink"])
def test_the_output_may_not_be_an_input_by_any_name(
    tmp_path: Path, records: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if spelling == "same":
        output = Path("records.jsonl")
    elif spelling == "absolute":
        output = records.resolve()
    elif spelling == "dotted":
        (tmp_path / "sub").mkdir()
        output = Path("sub/../records.jsonl")
    elif spelling == "hard link":
        output = tmp_path / "link.jsonl"
        os.link(records, output)
    else:
        output = tmp_path / "alias.jsonl"
        output.symlink_to(records)
    with pytest.raises(ServiceflowError, match=r"same file as .*records\.jsonl"):
        check_output_path(output, [Path("records.jsonl")])
    with pytest.raises(ServiceflowError):
        write_atomically(output, "the report", [Path("records.jsonl")])
    assert records.read_text() == RECORDS


def test_the_output_may_not_be_the_waivers_file(tmp_path: Path, records: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers: []\n")
    with pytest.raises(ServiceflowError, match=r"waivers\.yaml"):
        emit_report("report", waivers, protected=[records, waivers])
    assert waivers.read_text() == "waivers: []\n"


def test_an_existing_record_file_inside_an_input_directory_is_protected(tmp_path: Path) -> None:
    inputs = tmp_path / "exports"
    (inputs / "2024").mkdir(parents=True)
    record_file = inputs / "2024" / "a.jsonl"
    record_file.write_text(RECORDS)
    with pytest.raises(ServiceflowError, match=r"record file inside .*exports"):
        write_atomically(record_file, "report", [inputs])
    assert record_file.read_text() == RECORDS


def test_a_report_beside_the_records_may_be_written_and_replaced(tmp_path: Path) -> None:
    inputs = tmp_path / "exports"
    inputs.mkdir()
    (inputs / "a.jsonl").write_text(RECORDS)
    write_atomically(inputs / "report.sarif", "first", [inputs])
    write_atomically(inputs / "report.sarif", "second", [inputs])  # the next run's
    assert (inputs / "report.sarif").read_text() == "second"


def test_standard_input_among_the_inputs_is_no_file_to_protect(tmp_path: Path) -> None:
    write_atomically(tmp_path / "report.txt", "ok", [Path("-")])
    assert (tmp_path / "report.txt").read_text() == "ok"


def test_a_fifo_is_refused_and_left_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ServiceflowError, match="FIFO"):
        write_atomically(fifo, "report")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_device_is_refused() -> None:
    with pytest.raises(ServiceflowError, match="a device, not a regular file"):
        check_output_path(Path("/dev/null"), [])


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServiceflowError, match="a directory"):
        write_atomically(tmp_path, "report")


def test_a_read_only_file_is_an_error_and_not_replaced(tmp_path: Path) -> None:
    kept = tmp_path / "signed-off.sarif"
    kept.write_text("keep me")
    kept.chmod(0o444)
    # Root may write anything; the mode still says the file is not to be replaced.
    with pytest.raises(ServiceflowError, match="read-only"):
        write_atomically(kept, "report")
    assert kept.read_text() == "keep me"


def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "latest.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    write_atomically(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceflowError, match="cannot write"):
        write_atomically(tmp_path / "no" / "such" / "report.json", "report")
