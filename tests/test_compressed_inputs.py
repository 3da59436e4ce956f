"""Every reader of exported files shares one gzip opener: recognised by its bytes, bounded when inflated.

A gzip bomb (a few kilobytes that inflate without end) must stop at
:data:`~serviceflow.limits.MAX_DECOMPRESSED_BYTES` in the CSV log importers and the ABCD importer as it
does in the records reader (tests/test_robust_records.py), with an InputError naming the file, and the
rows read before it kept.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from serviceflow import limits
from serviceflow.errors import InputError
from serviceflow.importers.abcd import AbcdConversations
from serviceflow.importers.csvlog import Row, read_rows
from serviceflow.records.compressed import decompressed_stream


def inflate(data: bytes, name: str = "x.gz") -> bytes:
    return decompressed_stream(io.BufferedReader(io.BytesIO(data)), name).read()  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"", b"\x1f", b"plain text\n", b"\x1f\x8c not gzip"])
def test_bytes_that_are_not_gzip_come_back_unchanged_even_shorter_than_the_magic(data: bytes) -> None:
    assert inflate(data) == data


def test_gzip_is_recognised_by_its_bytes_whatever_the_name() -> None:
    assert inflate(gzip.compress(b"a,b\n1,2\n"), "export.csv") == b"a,b\n1,2\n"


def test_a_stream_of_exactly_the_limit_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 1000)
    assert inflate(gzip.compress(b"x" * 1000)) == b"x" * 1000


def test_one_byte_over_the_limit_is_an_input_error_naming_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 1000)
    with pytest.raises(InputError, match=r"bomb\.gz decompresses to more than 1,000 bytes") as caught:
        inflate(gzip.compress(b"x" * 1001), "bomb.gz")
    assert caught.value.location is not None and caught.value.location.file == "bomb.gz"


def test_a_csv_gzip_bomb_keeps_the_rows_before_it_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 100_000)
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wb") as out:
        out.write(b"case,state\nC1,New\n")
        out.write(b"C2,Open\n" * 2_000_000)  # 16 MB inflated from a few kilobytes
    assert path.stat().st_size < 100_000
    rows: list[Row] = []
    with pytest.raises(InputError, match="decompresses to more than 100,000 bytes"):
        for item in read_rows(path, required=("case",)):
            assert isinstance(item, Row)
            rows.append(item)
    assert rows[0].values == {"case": "C1", "state": "New"}
    assert 10_000 < len(rows) < 13_000  # about 100,000 bytes of 8-byte rows, not two million


def test_a_csv_gzip_bomb_on_standard_input_has_the_same_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 1000)
    data = gzip.compress(b"case\n" + b"C1\n" * 1000)
    with pytest.raises(InputError, match=r"<stdin> decompresses to more than 1,000 bytes"):
        list(read_rows("-", io.BytesIO(data), required=("case",)))


def test_an_abcd_gzip_bomb_is_refused_without_inflating_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_DECOMPRESSED_BYTES", 10_000)
    path = tmp_path / "abcd_dev_conversations_flat.json.gz"
    conversation = json.dumps([["USR:hi", "timing_1"]] * 10_000).encode()
    path.write_bytes(gzip.compress(conversation))
    with pytest.raises(InputError, match="decompresses to more than 10,000 bytes"):
        list(AbcdConversations()([path]))


def test_an_abcd_file_over_the_array_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_ARRAY_BYTES", 1000)
    path = tmp_path / "abcd_dev_conversations_flat.json"
    path.write_bytes(json.dumps([["USR:hi", "timing_1"]] * 100).encode())
    with pytest.raises(InputError, match=r"larger than 1,000 bytes \(serviceflow.limits.MAX_ARRAY_BYTES\)"):
        list(AbcdConversations()([path]))
