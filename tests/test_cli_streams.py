"""The command line's exits when its streams or its user stop it (issue 13): real processes, real signals.

* Ctrl-C (SIGINT) exits 130 with one line saying so, writes no report and leaves no worker behind;
* a report that cannot be written (a full disk, standard output closed) is an error, exit 2;
* a reader of standard output that went away (``| head``) ends the run quietly with 141.

The interrupted run reads its records from a pipe the test holds open, through a one-file reader
plugin that says on stderr when it starts reading: the test waits for that line (no sleeping), so
the signal always arrives in the middle of the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NOW = "2024-06-01T00:00:00Z"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "records"

WAITING_READER = """
import sys
from serviceflow.plugin import RawItem, ReaderSpec, hookimpl
from serviceflow.records.reader import read_records

def read(sources, stdin):
    sys.stderr.write("reading\\n")
    sys.stderr.flush()
    yield from read_records(sources, stdin)

@hookimpl
def serviceflow_readers():
    return [ReaderSpec("waiting", read)]
"""


def serviceflow(*args: str, **popen: object) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "serviceflow", *args], env=environment, **popen
    )


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_exits_130_without_a_report_or_a_worker_left(tmp_path: Path, jobs: str) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "waiting.py").write_text(textwrap.dedent(WAITING_READER))
    report = tmp_path / "report.json"
    process = serviceflow(
        "--plugins-dir", str(plugins), "lint", "-", "--now", NOW, "--input-format", "waiting",
        "--format", "json", "--output", str(report), "--jobs", jobs,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write((EXAMPLES / "leaking-pipe.jsonl").read_bytes())
    process.stdin.flush()
    assert process.stderr.readline() == b"reading\n"  # the run is under way, blocked on our pipe
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    process.stdin.close()
    assert process.returncode == 130, stderr
    assert stderr.decode().strip().endswith("serviceflow: interrupted")
    assert b"Traceback" not in stderr
    assert not report.exists()
    assert list(tmp_path.glob(".*report*")) == []  # no temporary file of the atomic write either
    assert processes_mentioning(str(report)) == []


def test_a_full_disk_is_an_error_not_a_bug() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("this system has no /dev/full to stand for a full disk")
    with open("/dev/full", "wb") as full:
        process = serviceflow("lint", str(EXAMPLES), "--now", NOW, stdout=full, stderr=subprocess.PIPE)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    message = b"serviceflow: error: cannot write the report to standard output: No space left on device"
    assert message in stderr
    assert b"internal error" not in stderr


def test_a_closed_stdout_is_an_error_before_the_run(tmp_path: Path) -> None:
    process = serviceflow(
        "lint", str(EXAMPLES), "--now", NOW, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    process.communicate(timeout=120)  # a baseline: the same run with stdout open is fine
    assert process.returncode == 1
    closed = subprocess.run(
        [sys.executable, "-m", "serviceflow", "lint", str(EXAMPLES), "--now", NOW],
        env={**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""},
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
        timeout=120,
        check=False,
    )
    assert closed.returncode == 2
    assert b"standard output is closed, so the report has nowhere to go; use --output FILE" in closed.stderr
    assert b"case milkyway-leak" not in closed.stderr  # the report was not sent to stderr instead


def test_a_reader_that_went_away_ends_the_run_quietly_with_141() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = serviceflow(
            "lint", str(EXAMPLES), "--now", NOW, "--format", "json", stdout=write_end, stderr=subprocess.PIPE
        )
        _, stderr = process.communicate(timeout=120)
    finally:
        os.close(write_end)
    assert process.returncode == 141
    assert stderr == b""


def test_the_report_itself_is_unchanged_by_the_stream_handling() -> None:
    process = serviceflow(
        "lint", str(EXAMPLES), "--now", NOW, "--format", "json",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert json.loads(stdout)["summary"]["violations"] == 12


def _closing(fd: int) -> subprocess.CompletedProcess[bytes]:
    """``serviceflow lint`` of the examples and of stdin with file descriptor ``fd`` closed at start."""
    return subprocess.run(
        [sys.executable, "-m", "serviceflow", "lint", str(EXAMPLES), "-", "--now", NOW],
        env={**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""},
        capture_output=True,
        preexec_fn=lambda: os.close(fd),
        timeout=120,
        check=False,
    )


def test_a_closed_stdin_is_an_input_error_naming_it_and_the_files_are_still_linted() -> None:
    result = _closing(0)
    assert result.returncode == 2
    assert b"cannot read <stdin>: standard input is closed" in result.stderr
    assert b"12 violations" in result.stdout  # the examples, read before stdin, are reported


def test_a_closed_stderr_keeps_the_exit_status() -> None:
    """With nowhere to print messages, the exit status still says what happened."""
    result = subprocess.run(
        [sys.executable, "-m", "serviceflow", "lint", str(EXAMPLES), "--now", NOW],
        env={**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""},
        stdout=subprocess.PIPE,
        preexec_fn=lambda: os.close(2),
        timeout=120,
        check=False,
    )
    assert result.returncode == 1  # the examples' violations, not an internal error (3)
    assert b"12 violations" in result.stdout
