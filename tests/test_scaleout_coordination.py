"""What ``--jobs`` and Dask share, without a cluster: the coordinator's steps, and blocks read exactly.

* ``--jobs N`` gives the report of ``--jobs 1`` on input where partitions matter (the guard of the
  coordinator steps moved to :mod:`serviceflow.coordination`);
* the steps applied to slices (digests by value, facts by customer), as Dask applies them, give what
  they give applied to everything at once;
* a file cut into blocks of any size and read block by block gives every item with the ``seq``, file
  and line one process gives it (:mod:`serviceflow.dask.blocks`; it imports no Dask).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaleout_data import NOW, customer_cases, write_spread
from serviceflow import Engine
from serviceflow.batch import Partition
from serviceflow.config import Config
from serviceflow.coordination import (
    partition_of,
    previous_cases,
    shared_digests,
    slice_digests,
    slice_facts,
)
from serviceflow.dask.blocks import ERROR, LINE, block_offsets, plan_blocks, read_block
from serviceflow.errors import InputError, Location
from serviceflow.plugins import PluginHost
from serviceflow.records.raw import RawItem
from serviceflow.run import evaluate_sources, feed
from serviceflow.timeutil import parse_datetime


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_config(config=Config(), plugins=PluginHost())


@pytest.fixture(scope="module")
def spread(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_spread(tmp_path_factory.mktemp("spread"), customer_cases(60), files=4, bad_every=17)


def as_json(evaluation: Any) -> str:
    return json.dumps(evaluation.to_dict(), sort_keys=False)


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_give_the_report_of_one_process_where_partitions_matter(
    engine: Engine, spread: list[Path], jobs: int
) -> None:
    now = parse_datetime(NOW)
    one = evaluate_sources(engine, spread, now)
    assert one.input_error_count > 5, "the input must carry bad lines and duplicates to be a test"
    assert any(f.policy == "circle-back-returning-customer" for f in one.violations + one.pending)
    assert any("duplicate record id" in error.message for error in one.input_errors)
    assert as_json(evaluate_sources(engine, spread, now, jobs=jobs)) == as_json(one)


def test_validate_with_jobs_reports_every_error_of_an_invalid_record(tmp_path: Path, engine: Engine) -> None:
    # Regression: lint --jobs gave workers validate_only=False, so `validate -j 2` reported only the
    # first error of each invalid record, and counted none as valid the way validate does.
    path = tmp_path / "two-errors.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {"id": f"r{n}", "case_id": f"c{n}", "type": "contact", "at": "bad", "actor": {}, "zzz": 1}
            )
            for n in range(6)
        )
        + "\n"
    )
    now = parse_datetime(NOW)
    one = evaluate_sources(engine, [path], now, validate_only=True)
    assert one.input_error_count > 6
    assert as_json(evaluate_sources(engine, [path], now, jobs=2, validate_only=True)) == as_json(one)


def partitions_of(engine: Engine, records: list[dict[str, Any]], count: int) -> list[Partition]:
    now = parse_datetime(NOW)
    partitions = [Partition(engine.admission, now) for _ in range(count)]
    for seq, record in enumerate(records):
        owner = partition_of(record["case_id"].encode(), count)
        partitions[owner].add(record, Location("<records>", seq + 1), seq)
    return partitions


@pytest.mark.parametrize("slices", [1, 2, 5])
def test_the_customer_scope_settled_by_customer_slices_is_the_whole_answer(
    engine: Engine, slices: int
) -> None:
    partitions = partitions_of(engine, customer_cases(40), 3)
    facts = [partition.customer_facts() for partition in partitions]
    whole = previous_cases(facts)
    assert sum(len(answer) for answer in whole) > 40, "most cases have a previous case"
    assert any(
        partition_of(case_id.encode(), 3) != partition_of(previous[0].encode(), 3)
        for answer in whole
        for case_id, previous in answer.items()
    ), "some previous cases must lie in another partition"
    by_slice = [previous_cases([slice_facts(own, slices)[part] for own in facts]) for part in range(slices)]
    merged: list[dict[str, Any]] = [{} for _ in partitions]
    for answers in by_slice:
        for index, answer in enumerate(answers):
            merged[index].update(answer)
    assert merged == whole


def test_shared_digests_settled_by_slices_are_the_whole_answer(engine: Engine) -> None:
    records = customer_cases(30)
    copies = [dict(record, case_id=record["case_id"] + "-copy") for record in records[::5]]
    partitions = partitions_of(engine, records + copies, 4)
    digests = [partition.id_digests() for partition in partitions]
    whole = shared_digests(digests)
    assert len(whole) == len(copies) - sum(
        1
        for copy in copies
        if partition_of(copy["case_id"].encode(), 4)
        == partition_of(copy["case_id"].removesuffix("-copy").encode(), 4)
    )
    for slices in (1, 3, 8):
        cut = [slice_digests(own, slices) for own in digests]
        assert set().union(*(shared_digests([own[part] for own in cut]) for part in range(slices))) == whole


# --- blocks ---------------------------------------------------------------------------------------------


class Recorder:
    """An ItemSink that writes down what it is given, comparably."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []

    def add_line(self, line: bytes, origin: Location, seq: int) -> None:
        self.items.append((seq, "line", origin.file, origin.line, line))

    def add_raw(self, item: RawItem, seq: int) -> None:
        error = item.error.message if item.error is not None else None
        self.items.append((seq, "raw", item.origin.file, item.origin.line, json.dumps(item.data), error))

    def input_error(self, error: InputError, seq: int) -> None:
        self.items.append((seq, "error", str(error)))


def read_in_blocks(sources: list[str], block_size: int) -> list[tuple[Any, ...]]:
    """Every item as block reading gives it, with the offsets applied as the Dask partitions do."""
    reader = PluginHost().reader("records")
    blocks, _ = plan_blocks(sources, reader, block_size)
    read = [read_block(block) for block in blocks]
    offsets = block_offsets(blocks, [(items.lines, items.items, items.relative) for items in read])
    found: list[tuple[Any, ...]] = []
    for block, items, (first_seq, first_line) in zip(blocks, read, offsets, strict=True):
        for entry in items.entries:
            if entry[0] == LINE:
                found.append((first_seq + entry[3], "line", block.name, first_line + entry[2], entry[1]))
            elif entry[0] == ERROR:
                found.append((first_seq + entry[2], "error", str(entry[1])))
            else:
                item = entry[1]
                error = item.error.message if item.error is not None else None
                found.append(
                    (
                        first_seq + entry[2],
                        "raw",
                        item.origin.file,
                        item.origin.line,
                        json.dumps(item.data),
                        error,
                    )
                )
    return found


@pytest.fixture(scope="module")
def awkward_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Files that test every rule of split_items a block must keep."""
    directory = tmp_path_factory.mktemp("awkward")
    record = b'{"id": "r%d", "case_id": "c", "type": "note", "at": "2024-01-01T00:00:00Z"}'
    files = {
        "bom.jsonl": b"\xef\xbb\xbf" + record % 1 + b"\n" + record % 2 + b"\n",
        "blank-start.jsonl": b"\n  \n\t\r\n" + record % 3 + b"\r\n\n" + record % 4,  # no final newline
        "long-line.jsonl": record % 5 + b"\n" + b'{"id": "' + b"x" * 5000 + b'"}\n' + record % 6 + b"\n",
        "array.json": b"[\n " + record % 7 + b",\n " + record % 8 + b"\n]\n",
        "array-then-lines.jsonl": b'["first line is an array"]\n' + record % 9 + b"\n",
        "not-records.jsonl": b"id,case_id,type\n1,2,3\n4,5,6\n7,8,9\n",
        "broken-array.json": b"[\n" + record % 10 + b",\n  {oops}\n]",
        "empty.jsonl": b"",
        "only-blank.jsonl": b"\n\n  \n",
    }
    paths = []
    for name, content in files.items():
        (directory / name).write_bytes(content)
        paths.append(str(directory / name))
    gz = directory / "packed.jsonl.gz"
    gz.write_bytes(gzip.compress(record % 11 + b"\n\n" + record % 12 + b"\n"))
    paths.append(str(gz))
    truncated = directory / "truncated.jsonl.gz"
    truncated.write_bytes(gzip.compress((record % 13 + b"\n") * 50)[:-20])
    paths.append(str(truncated))
    paths.append(str(directory / "missing.jsonl"))
    paths += [paths[1], paths[1]]  # a file named twice is read twice, its lines numbered from 1 again
    return paths


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 50, 64, 333, 4096, 1 << 26])
def test_blocks_of_any_size_give_the_items_seq_and_lines_of_one_process(
    awkward_files: list[str], block_size: int
) -> None:
    recorder = Recorder()
    feed(recorder, PluginHost().reader("records"), awkward_files)
    assert len(recorder.items) > 20
    assert read_in_blocks(awkward_files, block_size) == recorder.items


def test_blocks_of_a_spread_input_give_the_items_of_one_process(spread: list[Path]) -> None:
    sources = [str(path) for path in spread]
    recorder = Recorder()
    feed(recorder, PluginHost().reader("records"), sources)
    for block_size in (97, 1000, 10_000):
        assert read_in_blocks(sources, block_size) == recorder.items


def test_the_core_and_the_jobs_path_import_no_dask() -> None:
    code = """
import sys
for module in ("serviceflow", "serviceflow.run", "serviceflow.parallel", "serviceflow.coordination",
               "serviceflow.cli.lint", "serviceflow.cli.validate"):
    __import__(module)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("dask", "distributed"))
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dask_missing_is_a_usage_error_naming_the_extra() -> None:
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('dask', 'distributed'):
            raise ImportError('no ' + name)
sys.meta_path.insert(0, Block())
from serviceflow.cli import main
main(['lint', 'examples/records', '--dask', 'local:2'])
"""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert result.returncode == 2, result.stderr
    assert "--dask needs Dask: pip install 'serviceflow[dask]'" in result.stderr


def test_block_reading_needs_no_dask() -> None:
    """Planning and reading blocks is plain Python: an interpreter without the extra imports it."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('dask', 'distributed'):
            raise ImportError('no ' + name)
sys.meta_path.insert(0, Block())
from serviceflow.dask.blocks import plan_blocks, read_block
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
