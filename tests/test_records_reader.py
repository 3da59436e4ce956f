"""read_sources: JSON Lines and JSON arrays from files, gzip, directories and stdin, with exact lines."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pytest

from serviceflow.errors import InputError, Location
from serviceflow.records import RawItem, read_sources
from serviceflow.records.reader import expand_sources, read_source

DATA = Path(__file__).parent / "data" / "records"


def summary(items: list[RawItem]) -> list[tuple[int | None, str]]:
    """(line, record id or error message) per item."""
    return [
        (item.origin.line, item.error.message if item.error else item.data["id"])  # type: ignore[index]
        for item in items
    ]


def test_a_malformed_line_is_reported_and_the_lines_around_it_still_come_through() -> None:
    path = DATA / "malformed.jsonl"
    items = list(read_sources([path]))
    assert summary(items) == [(1, "a1"), (3, "Expecting ',' delimiter (column 42)"), (4, "a3")]
    error = items[1].error
    assert error is not None and items[1].data is None
    assert error.location == Location(str(path), 3, "")
    assert items[0].origin == Location(str(path), 1)
    assert items[0].error is None


def test_blank_lines_are_skipped_but_still_counted() -> None:
    stdin = io.BytesIO(b'\n  \n{"id": "x"}\r\n\n{"id": "y"}')
    assert summary(list(read_sources(["-"], stdin=stdin))) == [(3, "x"), (5, "y")]


def test_each_array_element_gets_the_line_where_it_starts() -> None:
    items = list(read_sources([DATA / "array.json"]))
    assert summary(items) == [(2, "b1"), (5, "b2"), (12, "b3")]
    assert items[1].data["text"].startswith("second, with a ] and a {")  # type: ignore[index]


def test_a_broken_array_element_is_reported_at_its_line_and_ends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": "x"},\n  {"id": "y",\n   "n": 1 2},\n  {"id": "z"}\n]\n', encoding="utf-8")
    items = list(read_sources([path]))
    assert summary(items) == [
        (2, "x"),
        (4, "Expecting ',' delimiter (column 11); the rest of the array is skipped"),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", ""])
def test_a_record_cut_short_is_reported_at_the_end_of_its_line(newline: str) -> None:
    """Not at "column 1" of the next line, where the decoder ran out of text."""
    cut = '{"id": "x1", "case_id": "c9", "type": "contact"'
    stdin = io.BytesIO((cut + newline + '{"id": "x2"}\n').encode())
    first = summary(list(read_sources(["-"], stdin=stdin)))[0]
    assert first == (1, f"Expecting ',' delimiter (column {len(cut) + 1})")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[]", []),
        ('  [ {"id": "x"} ] \n', [(1, "x")]),
        ('[{"id": "x"}] {"id": "y"}', [(1, "x"), (1, "Extra data after the array (column 15)")]),
        ('[{"id": "x"},\n', [(1, "x"), (2, "Expecting value (column 1); the rest of the array is skipped")]),
        ('[{"id": "x"} {"id": "y"}]', [(1, "x"), (1, "Expecting ',' delimiter (column 14)")]),
    ],
    ids=["empty", "padded", "trailing data", "unterminated", "missing comma"],
)
def test_array_edge_cases(content: str, expected: list[tuple[int, str]]) -> None:
    stdin = io.BytesIO(content.encode())
    assert summary(list(read_sources(["-"], stdin=stdin))) == expected


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_byte_order_mark_is_ignored(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bom{suffix}"
    body = '{"id": "x"}\n' if suffix == ".jsonl" else '[{"id": "x"}]'
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert summary(list(read_sources([path]))) == [(1, "x")]


def test_invalid_utf8_on_one_line_is_reported_and_reading_goes_on() -> None:
    stdin = io.BytesIO(b'{"id": "x"}\n{"id": "\xff"}\n{"id": "z"}\n')
    items = summary(list(read_sources(["-"], stdin=stdin)))
    assert items[0] == (1, "x") and items[2] == (3, "z")
    assert items[1][0] == 2 and items[1][1].startswith("not UTF-8")


def test_gzip_files_are_decompressed(tmp_path: Path) -> None:
    for name in ("a.jsonl.gz", "b.json.gz"):
        source = DATA / ("malformed.jsonl" if name.endswith("jsonl.gz") else "array.json")
        with gzip.open(tmp_path / name, "wb") as handle:
            handle.write(source.read_bytes())
    assert summary(list(read_sources([tmp_path / "a.jsonl.gz"])))[2] == (4, "a3")
    assert summary(list(read_sources([tmp_path / "b.json.gz"]))) == [(2, "b1"), (5, "b2"), (12, "b3")]


def test_a_corrupt_gzip_raises_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.jsonl.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(InputError) as raised:
        list(read_sources([path]))
    assert str(path) in str(raised.value)
    assert raised.value.location.file == str(path)


def test_a_truncated_gzip_raises_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "truncated.jsonl.gz"
    path.write_bytes(gzip.compress((DATA / "malformed.jsonl").read_bytes())[:-12])
    with pytest.raises(InputError, match=r"truncated\.jsonl\.gz"):
        list(read_sources([path]))


def test_a_missing_file_raises_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as raised:
        list(read_sources([path]))
    assert str(raised.value) == f"{path}: cannot read {path}: No such file or directory"


def test_a_caller_can_go_on_with_the_other_files_after_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "g"}\n', encoding="utf-8")
    seen, failed = [], []
    for source in expand_sources([tmp_path / "missing.jsonl", good]):
        try:
            seen += summary(list(read_source(source)))
        except InputError as exc:
            failed.append(exc.location.file)
    assert seen == [(1, "g")]
    assert failed == [str(tmp_path / "missing.jsonl")]


def test_dash_reads_the_given_stdin_and_names_it() -> None:
    items = list(read_sources(["-"], stdin=io.BytesIO(b'{"id": "s"}\n')))
    assert items[0].origin == Location("<stdin>", 1)
    assert items[0].data == {"id": "s"}


def test_a_directory_means_its_record_files_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b" / "deeper").mkdir(parents=True)
    (tmp_path / "b" / "deeper" / "c.jsonl").write_text('{"id": "c"}\n', encoding="utf-8")
    (tmp_path / "b" / "a.json").write_text('[{"id": "ba"}]', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"id": "a"}\n', encoding="utf-8")
    with gzip.open(tmp_path / "b" / "z.json.gz", "wb") as handle:
        handle.write(b'[{"id": "z"}]')
    (tmp_path / "notes.txt").write_text("not records", encoding="utf-8")
    (tmp_path / "records.csv").write_text("id\n1\n", encoding="utf-8")
    items = list(read_sources([tmp_path]))
    assert [item.data["id"] for item in items] == ["a", "ba", "c", "z"]  # type: ignore[index]
    assert items[2].origin.file == str(tmp_path / "b" / "deeper" / "c.jsonl")


def test_sources_are_read_in_the_order_given(tmp_path: Path) -> None:
    shutil.copy(DATA / "array.json", tmp_path / "array.json")
    items = list(read_sources([tmp_path / "array.json", "-"], stdin=io.BytesIO(b'{"id": "s"}')))
    assert [item.origin.file for item in items] == [str(tmp_path / "array.json")] * 3 + ["<stdin>"]


class _Lines:
    """A binary stream that counts the lines handed out, to prove JSON Lines are streamed."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.handed_out = 0

    def readline(self, size: int = -1) -> bytes:
        assert size > 0, "lines are read with a bound on their length"
        if self.handed_out == len(self.lines):
            return b""
        self.handed_out += 1
        return self.lines[self.handed_out - 1]

    def read(self, size: int = -1) -> bytes:  # pragma: no cover - reading it whole is the bug under test
        raise AssertionError("a JSON Lines source was read whole")


def test_json_lines_are_streamed_not_loaded_whole() -> None:
    stream = _Lines([b'{"id": "1"}\n', b'{"id": "2"}\n', b'{"id": "3"}\n'])
    items = read_sources(["-"], stdin=stream)  # type: ignore[arg-type]
    assert next(items).data == {"id": "1"}
    assert stream.handed_out == 1
    assert [item.data for item in items] == [{"id": "2"}, {"id": "3"}]
