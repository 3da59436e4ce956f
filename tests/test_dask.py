"""``lint --dask`` and ``validate --dask`` on a real Dask cluster: the output of one process, every time.

One ``LocalCluster`` of 2 worker processes on 127.0.0.1 serves the whole module (starting one costs
seconds); the CLI reaches it by its scheduler address, as a user reaches a remote cluster, and one
test starts its own with ``--dask local:2``. Needs the ``dask`` extra; skipped without it.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

REQUIRED = bool(os.environ.get("SERVICEFLOW_REQUIRE_DASK"))  # CI: fail, never skip, without Dask
if not REQUIRED:
    pytest.importorskip("distributed", reason="the Dask tests need the dask extra: pip install '.[dask]'")

import cloudpickle  # noqa: E402
from distributed import Client  # noqa: E402

import scaleout_faults  # noqa: E402
from scaleout_data import NOW, customer_cases, write_spread  # noqa: E402
from serviceflow import Engine  # noqa: E402
from serviceflow.cli import main  # noqa: E402
from serviceflow.config import Config  # noqa: E402
from serviceflow.dask import DaskTarget, lint_bag, lint_dataframe  # noqa: E402
from serviceflow.dask.cluster import local_cluster  # noqa: E402
from serviceflow.errors import ServiceflowError  # noqa: E402
from serviceflow.plugins import PluginHost  # noqa: E402
from serviceflow.run import evaluate_sources, feed  # noqa: E402
from serviceflow.timeutil import parse_datetime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "records"
REAL = ROOT.parent / "shared" / "data" / "real"
FORMATS = ["text", "json", "sarif", "junit", "github"]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with local_cluster(2) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def address(client: Client) -> str:
    return str(client.scheduler.address)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine.from_config(config=Config(), plugins=PluginHost()) as engine:
        yield engine


def as_json(evaluation: Any) -> str:
    return json.dumps(evaluation.to_dict())


def on_dask(client: Client, **options: Any) -> DaskTarget:
    return DaskTarget(client=client, **options)


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- the same report ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("report_format", FORMATS)
def test_the_bundled_examples_give_the_report_of_one_process_in_every_format(
    address: str, report_format: str
) -> None:
    args = ["lint", str(EXAMPLES), "--now", "2024-05-09T14:00:00Z", "--format", report_format]
    one = run_cli(*args)
    assert one[0] == 1 and one[1], one
    assert run_cli(*args, "--dask", address) == one


@pytest.fixture(scope="module")
def generated_10k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The benchmark generator's 10k-case set (132k records), and its ``now``."""
    out = tmp_path_factory.mktemp("generated") / "cases.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "generate.py"),
            "--cases",
            "10000",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    expected = json.loads(Path(f"{out}.expected.json").read_text())
    return out, expected["now"]


def test_the_generated_10k_case_set_gives_the_report_of_one_process(
    client: Client, engine: Engine, generated_10k: tuple[Path, str]
) -> None:
    path, now_text = generated_10k
    now = parse_datetime(now_text)
    one = evaluate_sources(engine, [path], now)
    assert one.records > 100_000 and one.violations
    # Blocks of 1 MB: the file is read as 36 byte ranges, the cases split 3 ways.
    on_cluster = evaluate_sources(engine, [path], now, dask=on_dask(client, block_size=1 << 20, partitions=3))
    assert as_json(on_cluster) == as_json(one)


def test_gzip_files_named_by_a_glob_give_the_report_of_one_process(
    address: str, generated_10k: tuple[Path, str], tmp_path: Path
) -> None:
    # The "done when": lint big/*.jsonl.gz --dask, each case's records dealt over the files.
    path, now_text = generated_10k
    lines = path.read_bytes().splitlines(keepends=True)
    big = tmp_path / "big"
    big.mkdir()
    for part in range(4):
        (big / f"part-{part}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[part::4])))
    args = ["--now", now_text, "--format", "json"]
    one = run_cli("lint", *sorted(str(p) for p in big.glob("*.jsonl.gz")), *args)
    assert one[0] == 1 and json.loads(one[1])["summary"]["records"] == len(lines)
    assert run_cli("lint", str(big / "*.jsonl.gz"), *args, "--dask", address) == one


def test_explained_findings_are_those_of_one_process(address: str) -> None:
    args = ["lint", str(EXAMPLES), "--now", "2024-05-09T14:00:00Z", "--format", "json", "--explain"]
    one = run_cli(*args)
    assert '"reason"' in one[1]
    assert run_cli(*args, "--dask", address) == one


REAL_LOGS = [
    (
        "servicenow-incidents",
        "uci-incident-management-eventlog/incident_event_log.csv.gz",
        "2017-06-01T00:00:00Z",
    ),
    (
        "bpic2013-incidents",
        "bpic2013-volvo-incidents/bpi_challenge_2013_incidents.csv.gz",
        "2012-06-01T00:00:00Z",
    ),
    (
        "bpic2014-incidents",
        "bpic2014-rabobank-incidents-sample/incident_activity.csv.gz",
        "2014-06-01T00:00:00Z",
    ),
    ("helpdesk-log", "helpdesk-italian-software-company/helpdesk.csv.gz", "2014-02-01T00:00:00Z"),
    ("twcs", "twitter-customer-support-sample/twcs_first5000.csv.gz", "2018-01-01T00:00:00Z"),
    ("abcd", "abcd-action-based-conversations/abcd_dev_conversations_flat.json.gz", "2021-01-01T00:00:00Z"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("input_format", "relative", "now_text"), REAL_LOGS, ids=[log[0] for log in REAL_LOGS]
)
def test_every_real_log_gives_the_report_of_one_process(
    client: Client, engine: Engine, input_format: str, relative: str, now_text: str
) -> None:
    path = REAL / relative
    if not path.is_file():
        pytest.skip(f"needs {path} (../shared/data/real beside the repository; not in a user's clone)")
    now = parse_datetime(now_text)
    one = evaluate_sources(engine, [path], now, input_format=input_format)
    assert one.records > 1000
    on_cluster = evaluate_sources(engine, [path], now, input_format=input_format, dask=on_dask(client))
    assert as_json(on_cluster) == as_json(one)


# --- what crosses blocks and partitions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spread(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """120 customers' cases dealt over 6 files (the last gzip), duplicate ids and bad lines throughout."""
    return write_spread(tmp_path_factory.mktemp("spread"), customer_cases(120), files=6, bad_every=23)


def test_cases_spread_over_many_files_and_blocks_give_the_report_of_one_process(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    now = parse_datetime(NOW)
    one = evaluate_sources(engine, spread, now)
    returning = [f for f in one.violations + one.pending if f.policy == "circle-back-returning-customer"]
    assert len(returning) > 50, "the customer scope must cross partitions for this to be a test"
    for block_size in (700, 5000):
        target = on_dask(client, block_size=block_size, partitions=4)
        assert as_json(evaluate_sources(engine, spread, now, dask=target)) == as_json(one)


def test_duplicate_record_ids_across_blocks_are_reported_as_one_process_reports_them(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    now = parse_datetime(NOW)
    on_cluster = evaluate_sources(engine, spread, now, dask=on_dask(client, block_size=700, partitions=4))
    duplicates = [error for error in on_cluster.input_errors if "duplicate record id" in error.message]
    assert len(duplicates) >= 10
    # Each names where the kept one is, and is reported where it is: another file, or later in one.
    assert all("(first at " in error.message and error.location.line for error in duplicates)
    assert len({error.location.file for error in duplicates}) > 1
    assert as_json(on_cluster) == as_json(evaluate_sources(engine, spread, now))


def test_bad_records_in_several_blocks_are_all_reported_with_file_and_line(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    now = parse_datetime(NOW)
    on_cluster = evaluate_sources(engine, spread, now, dask=on_dask(client, block_size=700, partitions=4))
    bad = [error for error in on_cluster.input_errors if "duplicate" not in error.message]
    assert len(bad) >= 20
    assert len({error.location.file for error in bad}) == len(spread)
    for error in bad:
        line = error.location.line
        assert line is not None
        with _open(Path(error.location.file or "")) as lines:
            assert lines[line - 1].strip(), f"{error.location} must point at the bad line"
    assert on_cluster.records > 1000, "the good records are evaluated"
    assert as_json(on_cluster) == as_json(evaluate_sources(engine, spread, now))


def _open(path: Path) -> Any:
    import contextlib
    import gzip

    content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return contextlib.nullcontext(content.split(b"\n"))


def test_fsspec_urls_are_listed_and_read_in_blocks_like_local_files(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    # A file:// URL goes through fsspec (listing, sizes, byte ranges, gzip) as s3:// would.
    now = parse_datetime(NOW)
    one = as_json(evaluate_sources(engine, spread, now))
    url = f"file://{spread[0].parent}/part-*"
    on_cluster = as_json(evaluate_sources(engine, [url], now, dask=on_dask(client, block_size=700)))
    assert on_cluster.count("file://") > 10
    assert on_cluster.replace("file://", "") == one


def test_validate_on_dask_prints_what_validate_prints(address: str, spread: list[Path]) -> None:
    args = ["validate", *map(str, spread)]
    one = run_cli(*args)
    assert one[0] == 2 and one[1].count("\n") >= 20, one
    assert run_cli(*args, "--dask", address) == one


def test_a_local_cluster_started_for_the_run_gives_the_report_of_one_process(spread: list[Path]) -> None:
    args = ["lint", *map(str, spread), "--now", NOW, "--format", "json"]
    one = run_cli(*args)
    assert one[0] == 2
    assert run_cli(*args, "--dask", "local:2") == one


# --- workers lost -----------------------------------------------------------------------------------------


class KillOnFirstBlock:
    """Progress that kills a worker process as soon as the first block is read."""

    def __init__(self, client: Client) -> None:
        self.pids = list(client.run(os.getpid).values())
        self.killed: int | None = None
        self.blocks = 0
        self.evaluated: tuple[int, int] | None = None

    def reading(self, done: int, total: int | None, items: int) -> None:
        self.blocks += 1
        if self.killed is None:
            self.killed = self.pids[-1]
            os.kill(self.killed, signal.SIGKILL)

    def evaluating(self, done: int, total: int) -> None:
        self.evaluated = (done, total)


def test_a_worker_killed_during_the_run_is_replaced_and_the_report_is_the_same(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    now = parse_datetime(NOW)
    one = evaluate_sources(engine, spread, now)
    progress = KillOnFirstBlock(client)
    on_cluster = evaluate_sources(
        engine, spread, now, dask=on_dask(client, block_size=700, partitions=4), progress=progress
    )
    assert progress.killed is not None
    assert as_json(on_cluster) == as_json(one)
    client.wait_for_workers(2, timeout=60)
    assert progress.killed not in client.run(os.getpid).values()


def test_a_worker_that_dies_every_time_fails_the_run_with_a_clear_message_and_no_report(
    client: Client, spread: list[Path]
) -> None:
    cloudpickle.register_pickle_by_value(scaleout_faults)
    engine = Engine.from_config(config=Config(), plugins=PluginHost())
    engine.wrap_evaluator(scaleout_faults.KillingEvaluator)
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 1))
    try:
        with pytest.raises(
            ServiceflowError, match=r"a Dask worker died each time it ran .*no report was written"
        ):
            evaluate_sources(engine, spread, parse_datetime(NOW), dask=on_dask(client, partitions=2))
    finally:
        client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", allowed))
        cloudpickle.unregister_pickle_by_value(scaleout_faults)
        # Both workers died: start the next test from fresh ones, whatever state the nannies are in.
        client.restart(wait_for_workers=True, timeout=120)
        client.wait_for_workers(2, timeout=120)


# --- the engine shipped once, progress ----------------------------------------------------------------------


def test_the_engine_is_shipped_once_per_worker_not_once_per_task(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    from serviceflow.dask import worker

    client.wait_for_workers(2, timeout=120)
    before = client.run(lambda: dict(worker.INSTALL_COUNTS))
    evaluate_sources(engine, spread, parse_datetime(NOW), dask=on_dask(client, block_size=500, partitions=6))
    after = client.run(lambda: dict(worker.INSTALL_COUNTS))
    assert set(after) == set(before)
    for address, counts in after.items():
        new = {token: count for token, count in counts.items() if token not in before[address]}
        assert list(new.values()) == [1], f"{address}: {new}"  # one run, installed once, for ~100 tasks
    assert client.run(lambda: sorted(worker.INSTALLED)) == {address: [] for address in after}


class Ignore:
    def add_line(self, *args: Any) -> None:
        pass

    add_raw = input_error = add_line


class Recording:
    def __init__(self) -> None:
        self.reading_calls: list[tuple[int, int | None, int]] = []
        self.evaluating_calls: list[tuple[int, int]] = []
        self.links: list[str] = []

    def reading(self, done: int, total: int | None, items: int) -> None:
        self.reading_calls.append((done, total, items))

    def evaluating(self, done: int, total: int) -> None:
        self.evaluating_calls.append((done, total))

    def dashboard(self, link: str) -> None:
        self.links.append(link)


def test_progress_counts_blocks_read_and_partitions_evaluated_and_names_the_dashboard(
    client: Client, engine: Engine, spread: list[Path]
) -> None:
    progress = Recording()
    evaluation = evaluate_sources(
        engine,
        spread,
        parse_datetime(NOW),
        dask=on_dask(client, block_size=5000, partitions=3),
        progress=progress,
    )
    total = sum(path.stat().st_size for path in spread)
    assert len(progress.reading_calls) > len(spread)  # one per block
    assert progress.reading_calls[-1][:2] == (total, total)
    assert progress.reading_calls[-1][2] == feed(Ignore(), PluginHost().reader("records"), spread)
    assert evaluation.records
    assert [call[0] for call in progress.reading_calls] == sorted(call[0] for call in progress.reading_calls)
    assert progress.evaluating_calls == [(1, 3), (2, 3), (3, 3)]
    if importlib.util.find_spec("bokeh") is not None:  # Dask serves its dashboard with bokeh only
        assert progress.links and progress.links[0].startswith("http://127.0.0.1:")
    else:
        assert progress.links == []


# --- the Python API on Dask collections ------------------------------------------------------------------


def test_a_bag_of_records_gives_what_engine_evaluate_gives(client: Client, engine: Engine) -> None:
    import dask.bag

    records = customer_cases(50)
    records += [dict(records[3], case_id="elsewhere")]  # a duplicate id in another case
    now = parse_datetime(NOW)
    one = engine.evaluate(records, now)
    with lint_bag(
        dask.bag.from_sequence(records, npartitions=7), engine, now, client=client, partitions=3
    ) as result:
        assert as_json(result.evaluation()) == as_json(one)
        findings = result.findings().compute()
    assert sorted(f.key for f in findings) == sorted(
        f.key for f in one.violations + one.pending + one.engine_errors
    )
    assert any("duplicate record id" in error.message for error in one.input_errors)


def test_a_dataframe_with_the_record_columns_gives_what_engine_evaluate_gives(
    client: Client, engine: Engine
) -> None:
    if not REQUIRED:
        pytest.importorskip("dask.dataframe", reason="needs 'dask[dataframe]' (pandas)")
    import dask
    import dask.dataframe
    import pandas

    records = customer_cases(30)
    frame = pandas.DataFrame.from_records(records)
    frame["at"] = pandas.to_datetime(frame["at"], utc=True)  # as a data frame holds times
    now = parse_datetime(NOW)
    one = engine.evaluate(records, now)
    assert one.violations or one.pending
    # Nested fields (actor) stay objects only where Dask does not turn object columns into strings.
    with dask.config.set({"dataframe.convert-string": False}):
        frames = dask.dataframe.from_pandas(frame, npartitions=4)
    with lint_dataframe(frames, engine, now, client=client) as result:
        assert as_json(result.evaluation()) == as_json(one)


# --- usage -----------------------------------------------------------------------------------------------


def test_dask_and_jobs_together_are_a_usage_error() -> None:
    code, _, err = run_cli("lint", str(EXAMPLES), "--dask", "local:2", "--jobs", "2")
    assert code == 2 and "--dask and --jobs cannot be used together" in err


@pytest.mark.parametrize("address", ["local:0", "localhost", "local:two"])
def test_a_bad_dask_address_is_a_usage_error(address: str) -> None:
    code, _, err = run_cli("lint", str(EXAMPLES), "--dask", address)
    assert code == 2 and "--dask" in err


def test_standard_input_cannot_be_read_on_dask(address: str) -> None:
    code, out, err = run_cli("lint", "-", "--dask", address)
    assert (code, out) == (2, "") and "cannot read standard input" in err


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    start = datetime.now(UTC)
    code, out, err = run_cli("lint", str(EXAMPLES), "--dask", "tcp://127.0.0.1:9")
    assert (code, out) == (2, "") and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert (datetime.now(UTC) - start).total_seconds() < 60


def test_an_endless_line_is_the_same_error_on_dask_as_in_one_process(
    client: Client, engine: Engine, tmp_path: Path
) -> None:
    """A line over MAX_LINE_BYTES (16 MiB) that spans several blocks: one error at its line, the
    lines after it read, as split_items reads it in one process."""
    examples = (EXAMPLES / "leaking-pipe.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "long.jsonl"
    with path.open("wb") as out:
        out.writelines(examples[:3])
        out.write(b'{"id": "' + b"x" * (17 << 20) + b'"}\n')
        out.writelines(examples[3:])
    now = parse_datetime(NOW)
    one = evaluate_sources(engine, [path], now)
    assert [str(error.location) for error in one.input_errors] == [f"{path}:4: /"]
    on_cluster = evaluate_sources(engine, [path], now, dask=on_dask(client, block_size=4 << 20, partitions=2))
    assert as_json(on_cluster) == as_json(one)
