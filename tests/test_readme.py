"""The README's commands and snippets run as written (issue 8): a reader copies them, so they must work.

Every ``serviceflow ...`` line of a ``sh`` block runs in a fresh working directory that sees the
repository's ``examples/`` and ``policies/`` (so files a command writes stay out of the repository),
with the venv's ``bin`` on PATH as ``source .venv/bin/activate`` puts it. A command may find
violations (exit 1); it may not fail otherwise or print a traceback. The ``python`` block runs, the
``toml`` block is a configuration serviceflow loads and lints with, and the first screen has exactly
the two set-up commands the brief promises.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

#: What a command needs that a user's machine may lack; the line is skipped, saying so, without it.
NEEDS = {
    "--engine durable": ("durable", "durable-rules (extra 'durable', CPython 3.11/3.12)"),
    "--dask": ("distributed", "Dask (extra 'dask')"),
    "acme-policies": (
        "acme_serviceflow_policies",
        "the example plugin (pip install -e examples/acme-policies)",
    ),
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    """Every serviceflow command line of the tour (not the set-up block), comments removed."""
    found = []
    for block in blocks("sh")[1:]:
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("serviceflow "):
                found.append(line)
    return found


def run_in_workdir(
    tmp_path: Path, argv: list[str], plugins: bool = False
) -> subprocess.CompletedProcess[str]:
    for name in ("examples", "policies"):
        link = tmp_path / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if plugins:
        environment.pop("SERVICEFLOW_LOAD_PLUGINS", None)  # as a user's shell: every installed plugin
    else:
        environment["SERVICEFLOW_LOAD_PLUGINS"] = ""
    return subprocess.run(argv, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)


def test_the_first_screen_has_exactly_two_set_up_commands() -> None:
    setup = [line for line in blocks("sh")[0].splitlines() if line.strip() and not line.startswith("#")]
    assert len(setup) == 2, setup
    assert "serviceflow lint examples/records" in setup[0]
    assert "pytest" in setup[1]
    assert README.index("```sh") < 1500, "the set-up commands are not on the first screen"


def test_the_tour_has_commands_to_run() -> None:
    assert len(commands()) >= 12


@pytest.mark.parametrize("command", commands())
def test_each_command_of_the_tour_runs_as_written(tmp_path: Path, command: str) -> None:
    for marker, (module, what) in NEEDS.items():
        if marker in command and importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {what}")
    result = run_in_workdir(tmp_path, shlex.split(command), plugins="acme-policies" in command)
    assert result.returncode in (0, 1), f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_the_first_set_up_command_lints_the_examples(tmp_path: Path) -> None:
    line = next(line for line in blocks("sh")[0].splitlines() if "serviceflow lint" in line)
    lint = line[line.index("serviceflow lint") :].replace(".venv/bin/", "")
    result = run_in_workdir(tmp_path, shlex.split(lint))
    assert result.returncode == 0, result.stderr  # --fail-on never
    assert "violations" in result.stdout


def test_the_embedding_snippet_runs(tmp_path: Path) -> None:
    (snippet,) = blocks("python")
    script = tmp_path / "embed.py"
    script.write_text(snippet, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "SERVICEFLOW_LOAD_PLUGINS": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "may I close? False" in result.stdout
    assert "evaluate again at 2024-05-09 17:00:00+00:00" in result.stdout


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//serviceflow//readme test//EN
BEGIN:VEVENT
UID:unity@example.org
DTSTART;VALUE=DATE:20241003
SUMMARY:Tag der Deutschen Einheit
END:VEVENT
END:VCALENDAR
"""


def test_the_configuration_example_loads_and_lints(tmp_path: Path) -> None:
    (configuration,) = blocks("toml")
    (tmp_path / "serviceflow.toml").write_text(configuration, encoding="utf-8")
    (tmp_path / "our-policies").mkdir()
    (tmp_path / "holidays").mkdir()
    (tmp_path / "holidays" / "de.ics").write_text(ICS, encoding="utf-8")
    (tmp_path / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
    result = run_in_workdir(
        tmp_path,
        ["serviceflow", "lint", "examples/records", "--now", "2024-05-09T14:00:00Z", "--format", "json"],
    )
    assert result.returncode in (0, 1), result.stderr
    assert "warning:" not in result.stderr.replace("unused waiver", "")
