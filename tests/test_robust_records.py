"""Hostile record files (issue 13, the record path): every limit of docs/limits.md's "Records" table.

Each test feeds a file built to hurt (an endless line, a gzip bomb, a record nested hundreds deep, an
integer of thousands of digits, a directory that cannot be listed) and checks three things: the bad
part gets an error naming the file and line, the good records around it are still read, and nothing
is held in memory that the limit was meant to keep out. Limits are lowered with ``monkeypatch`` where
the real value would make the test slow; the code reads them when it runs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from serviceflow import limits
from serviceflow.cli import main
from serviceflow.errors import InputError
from serviceflow.records.raw import nesting_problem
from serviceflow.records.reader import expand_sources, read_source, read_sources

NOW = "2024-05-02T00:00:00Z"


def note(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "case_id": "c1",
        "type": "note",
        "at": "2024-05-01T09:00:00Z",
        "actor": {"role": "agent", "id": "a1"},
        "text": "called back",
    } | fields


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def nested(depth: int) -> dict[str, Any]:
    """A value whose objects nest ``depth`` levels (``{}`` is one level)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def read(data: bytes, name: str = "-") -> list[tuple[int | None, Any, str | None]]:
    return [
        (item.origin.line, item.data, item.error.message if item.error else None)
        for item in read_sources([name], stdin=io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    ]


def lint(*args: str) -> Any:
    return CliRunner().invoke(main, ["lint", "--now", NOW, "--format", "json", *args])


# --- line length ----------------------------------------------------------------------------------


class _CountingStream(io.RawIOBase):
    """A stream of one endless line, between two good ones, that records the largest read asked of it."""

    def __init__(self, before: bytes, endless: int, after: bytes) -> None:
        self.parts = [before, b'{"id": "' + b"x" * endless + b'"}\n', after]
        self.largest = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.largest = max(self.largest, len(buffer))
        while self.parts and not self.parts[0]:
            self.parts.pop(0)
        if not self.parts:
            return 0
        chunk, self.parts[0] = self.parts[0][: len(buffer)], self.parts[0][len(buffer) :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_line_over_the_limit_is_its_own_error_and_the_lines_after_it_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    items = read(line(note("n1")) + b'{"id": "' + b"x" * 50_000 + b'"}\n' + line(note("n3")))
    assert [
        (number, data and data["id"], error and error.split(",")[0]) for number, data, error in items
    ] == [
        (1, "n1", None),
        (2, None, "the line is longer than 1"),
        (3, "n3", None),
    ]
    assert "(serviceflow.limits.MAX_LINE_BYTES); it was skipped" in str(items[1][2])


def test_an_endless_line_is_skipped_in_bounded_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading it never asks for (or holds) much more than the limit at once."""
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 4096)
    raw = _CountingStream(line(note("n1")), 5_000_000, line(note("n3")))
    stream = io.BufferedReader(raw, buffer_size=8192)
    items = list(read_source("-", stdin=stream))  # type: ignore[arg-type]
    assert [item.data["id"] if item.data else item.error.location.line for item in items] == ["n1", 2, "n3"]
    assert raw.largest <= 1 << 20


@pytest.mark.parametrize("where", ["first", "after blank lines"])
def test_an_overlong_first_line_does_not_confuse_the_format_probe(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    blank = b"\n\n" if where != "first" else b""
    items = read(blank + line(note("n1", text="x" * 5000)) + line(note("n2")))
    offset = len(blank)
    assert [(number, data and data["id"]) for number, data, _ in items] == [
        (1 + offset, None),
        (2 + offset, "n2"),
    ]


def test_a_one_line_array_longer_than_a_line_is_read_as_an_array(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    array = json.dumps([note(f"n{i}") for i in range(50)]).encode()
    assert len(array) > 1000
    assert [data["id"] for _, data, _ in read(array)] == [f"n{i}" for i in range(50)]


def test_an_array_over_its_limit_is_one_input_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_ARRAY_BYTES", 2000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps([note(f"n{i}") for i in range(100)], indent=1))
    with pytest.raises(InputError, match=r"big\.json is a JSON array larger than 2,000 bytes") as caught:
        list(read_source(path))
    assert caught.value.location.file == str(path)


def test_the_cli_reports_an_overlong_line_and_evaluates_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "records.jsonl"
    path.write_bytes(line(note("n1")) + line(note("n2", text="y" * 5000)) + line(note("n3")))
    result = lint(str(path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{path}:2: /: the line is longer than 1,000 bytes" in result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["records"] == 2


# --- nesting --------------------------------------------------------------------------------------


def test_nesting_is_measured_in_levels_of_objects_and_arrays() -> None:
    assert nesting_problem(nested(limits.MAX_RECORD_DEPTH)) is None
    assert nesting_problem(nested(limits.MAX_RECORD_DEPTH + 1)) is not None
    assert nesting_problem([[[]]]) is None
    assert nesting_problem({"a": 1, "b": "text"}) is None


@pytest.mark.parametrize("layout", ["lines", "array"])
def test_a_record_nested_too_deeply_is_that_records_error(layout: str) -> None:
    deep = note("n2", meta=nested(limits.MAX_RECORD_DEPTH))  # the record adds a level
    good = [note("n1"), deep, note("n3")]
    if layout == "lines":
        data = b"".join(line(record) for record in good)
    else:
        data = b"[\n" + b",\n".join(json.dumps(record).encode() for record in good) + b"\n]\n"
    items = read(data)
    assert [data and data["id"] for _, data, _ in items] == ["n1", None, "n3"]
    assert "nested more than 64 levels deep (serviceflow.limits.MAX_RECORD_DEPTH)" in str(items[1][2])


def test_a_record_at_the_nesting_limit_is_read_and_linted(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(line(note("n1", meta=nested(limits.MAX_RECORD_DEPTH - 1))))
    result = lint(str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["records"] == 1


def test_many_brackets_in_text_are_not_nesting() -> None:
    """The bracket count is only a shortcut: brackets inside strings do not make a record deep."""
    items = read(line(note("n1", text="[" * 500 + "{" * 500)))
    assert items[0][1]["id"] == "n1"


def test_json_nested_past_the_parsers_own_limit_is_an_error_not_a_crash() -> None:
    data = b"[" * 5000 + b"]" * 5000 + b"\n" + line(note("n2"))
    items = read(b"\n" + line(note("n1")) + data)
    assert [data and data["id"] if isinstance(data, dict) else data for _, data, _ in items] == [
        "n1",
        None,
        "n2",
    ]


# --- numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["lines", "array"])
def test_an_integer_of_thousands_of_digits_is_an_error_not_a_traceback(layout: str) -> None:
    huge = b'{"id": "n2", "n": 1' + b"0" * 5000 + b"}"
    if layout == "lines":
        items = read(line(note("n1")) + huge + b"\n" + line(note("n3")))
        assert [data and data["id"] for _, data, _ in items] == ["n1", None, "n3"]
        assert "number is infinity" in str(items[1][2])
    else:
        items = read(b"[" + json.dumps(note("n1")).encode() + b",\n" + huge + b"]")
        assert items[0][1]["id"] == "n1"
        assert items[1][1] is None and "the rest of the array is skipped" in str(items[1][2])


def test_an_integer_beyond_64_bits_is_read_as_the_nearest_float() -> None:
    """As JavaScript and orjson read it: documented in docs/limits.md, the same for both evaluators."""
    items = read(b'{"id": "n1", "n": 123456789012345678901234567890}\n')
    assert items[0][1]["n"] == pytest.approx(1.2345678901234568e29)


# --- gzip -------------------------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_decompressed_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 100_000)
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.write(line(note("n1")))
        out.write(b"\n" * 5_000_000)
    assert path.stat().st_size < 20_000
    items = list(read_source(path))
    assert items[0].data["id"] == "n1"
    assert items[-1].error is not None
    assert "decompresses to more than 100,000 bytes" in items[-1].error.message
    # It stopped soon after the limit rather than reading all five million lines.
    assert items[-1].origin.line < 300_000


def test_gzip_on_standard_input_has_the_same_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 1000)
    data = gzip.compress(b"".join(line(note(f"n{i}")) for i in range(100)))
    items = read(data)
    assert items[-1][2] is not None and "decompresses to more than 1,000 bytes" in items[-1][2]


# --- directories ------------------------------------------------------------------------------------


def test_a_directory_that_cannot_be_listed_is_reported_after_the_files_that_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_bytes(line(note("n1")))
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.jsonl").write_bytes(line(note("n2")))
    locked.chmod(0)
    if os.geteuid() == 0:  # root lists any directory: the kernel's refusal is played by scandir
        scandir = os.scandir

        def refusing(path: Any = ".") -> Any:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path)

        monkeypatch.setattr(os, "scandir", refusing)
    try:
        result = lint(str(tmp_path))
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert f"cannot read {locked}: cannot list the directory: Permission denied" in result.stderr
    assert json.loads(result.stdout)["summary"]["records"] == 1


def test_a_directory_with_too_many_record_files_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_DIRECTORY_FILES", 3)
    for index in range(5):
        (tmp_path / f"{index}.jsonl").write_bytes(line(note(f"n{index}")))
    (expanded,) = expand_sources([tmp_path])
    with pytest.raises(InputError, match=r"holds more than 3 record files"):
        list(read_source(expanded))


def test_a_symlink_loop_does_not_make_the_walk_endless(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(line(note("n1")))
    (tmp_path / "loop").symlink_to(tmp_path)
    assert expand_sources([tmp_path]) == [tmp_path / "a.jsonl"]


# --- found by tests/test_fuzz_inputs.py ------------------------------------------------------------


def test_a_record_line_damaged_by_a_leading_bracket_loses_only_itself() -> None:
    """``[`` before the first record used to make the file an array, losing every line at its error."""
    items = read(b"[" + line(note("n1")) + line(note("n2")) + line(note("n3")))
    assert [data and data["id"] for _, data, _ in items] == [None, "n2", "n3"]


@pytest.mark.parametrize("layout", ["bracket alone", "element and comma", "element opening"])
def test_an_array_is_still_recognised_by_its_first_line(layout: str) -> None:
    one, two = json.dumps(note("n1")), json.dumps(note("n2"))
    if layout == "bracket alone":
        text = f"[\n{one},\n{two}\n]\n"
    elif layout == "element and comma":
        text = f"[{one},\n{two}]\n"
    else:
        text = "[{\n" + one[1:] + ",\n" + two + "]\n"
    assert [data["id"] for _, data, _ in read(text.encode())] == ["n1", "n2"]


def test_a_time_zone_name_too_long_for_a_file_name_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text(
        f'[calendars.x]\ntimezone = "Europe/{"9" * 5000}"\nhours = {{ mon = ["08:00-17:00"] }}\n'
    )
    result = lint("--config", str(config), str(tmp_path))
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr
    assert "Traceback" not in result.output


def test_a_policy_path_too_long_for_a_file_name_is_a_policy_error(tmp_path: Path) -> None:
    result = lint("--policies", "9" * 5000, str(tmp_path))
    assert result.exit_code == 2
    assert "cannot read: File name too long" in result.stderr


@pytest.mark.parametrize("engine", ["native", "durable"])
def test_a_due_at_the_end_of_time_is_no_crash_on_either_evaluator(tmp_path: Path, engine: str) -> None:
    """Mechanism 1: a date valid by the schema (9999-12-31) plus 48 hours would overflow Python."""
    from support import durable_available

    if engine == "durable" and not durable_available():
        pytest.skip("durable-rules does not import on this Python")
    opened = {
        "id": "o1", "case_id": "c1", "type": "case_opened", "at": "2024-05-01T09:00:00Z",
        "actor": {"role": "customer", "id": "cu"}, "channel": "phone",
    }  # fmt: skip
    promise = {
        "id": "p1", "case_id": "c1", "type": "commitment", "at": "2024-05-01T09:05:00Z",
        "actor": {"role": "agent", "id": "a1"}, "channel": "phone", "commitment_id": "k",
        "promise": "by the end of time", "due": "9999-12-31T23:59:59Z",
    }  # fmt: skip
    path = tmp_path / "records.jsonl"
    path.write_bytes(line(opened) + line(promise))
    early = CliRunner().invoke(
        main, ["lint", str(path), "--now", NOW, "--engine", engine, "--format", "json"]
    )
    assert early.exit_code in (0, 1), early.output
    late = CliRunner().invoke(
        main, ["lint", str(path), "--now", "9999-12-31T23:59:59Z", "--engine", engine, "--format", "json"]
    )
    assert "Traceback" not in late.output and late.exit_code in (0, 1, 2), late.output
    report = json.loads(late.stdout)
    for error in report["engine_errors"]:  # past the due, due + 48h cannot be a date: that record's error
        assert error["record_id"] == "p1" and "could not decide" in error["message"]
