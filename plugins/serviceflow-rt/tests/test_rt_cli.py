"""``serviceflow rt`` / ``python -m serviceflow_rt``: export and the gate's installer, from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from serviceflow_rt.cli import rt
from serviceflow_rt.client import RtClient
from serviceflow_rt.gate import SITE_CONFIG_NAME
from serviceflow_rt.testing import RtInstance, free_port


def write_config(path: Path, url: str, token: str | None = None) -> Path:
    token_line = f'token = "{token}"\n' if token else ""
    path.write_text(f'[sources.rt]\nurl = "{url}"\n{token_line}queues = ["General"]\n')
    return path


@pytest.mark.rt
def test_export_from_now_reads_only_what_happens_next(
    rt_instance: RtInstance, rt_client: RtClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt_client.create_ticket("General", "Before", "Old.", Requestor="old@example.com")
    monkeypatch.setenv("SERVICEFLOW_RT_TOKEN", rt_instance.token)
    config = write_config(tmp_path / "serviceflow.toml", rt_instance.url)
    state, output = tmp_path / "rt.cursor", tmp_path / "rt.jsonl"
    arguments = [
        "export",
        "--from-now",
        "--config",
        str(config),
        "--state",
        str(state),
        "--output",
        str(output),
    ]

    empty = CliRunner().invoke(rt, arguments)
    ticket = rt_client.create_ticket("General", "After", "New.", Requestor="new@example.com")
    filled = CliRunner().invoke(rt, arguments)

    assert (empty.exit_code, filled.exit_code) == (0, 0), empty.output + filled.output
    assert empty.stderr.startswith("0 records") and filled.stderr.startswith("2 records")
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["case_id"], r["type"]) for r in records] == [
        (f"rt-{ticket}", "case_opened"),
        (f"rt-{ticket}", "contact"),
    ]


def test_export_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    unreachable = write_config(tmp_path / "a.toml", f"http://127.0.0.1:{free_port()}", "t")
    no_table = tmp_path / "b.toml"
    no_table.write_text("[actions.log]\n")
    for config, message in ((unreachable, "did not answer"), (no_table, "no [sources.rt] table")):
        result = CliRunner().invoke(
            rt,
            [
                "export",
                "--config",
                str(config),
                "--state",
                str(tmp_path / "s"),
                "--output",
                str(tmp_path / "o"),
            ],
        )
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_install_and_uninstall_gate(tmp_path: Path) -> None:
    lib, site = tmp_path / "lib", tmp_path / "site"
    site.mkdir()
    where = ["--lib-dir", str(lib), "--site-config-dir", str(site)]
    installed = CliRunner().invoke(
        rt,
        [
            "install-gate",
            "--url",
            "http://127.0.0.1:8080",
            "--status",
            "resolved",
            "--status",
            "rejected",
            *where,
        ],
        env={"SERVICEFLOW_GATE_TOKEN": "sf-token"},
    )
    assert installed.exit_code == 0, installed.output
    text = (site / SITE_CONFIG_NAME).read_text()
    assert "'sf-token'" in text and "Set(@ServiceflowGateStatuses, 'resolved', 'rejected');" in text
    assert (lib / "RT" / "Ticket_Local.pm").exists()
    removed = CliRunner().invoke(rt, ["uninstall-gate", *where])
    assert removed.exit_code == 0 and not (site / SITE_CONFIG_NAME).exists()
    nowhere = ["--lib-dir", str(lib), "--site-config-dir", str(tmp_path / "nope")]
    missing = CliRunner().invoke(rt, ["install-gate", "--url", "http://x", "--token", "t", *nowhere])
    assert missing.exit_code == 2 and "is not a directory" in missing.stderr


def test_the_commands_are_serviceflow_rt_through_the_commands_hook(tmp_path: Path) -> None:
    """Installed, the plugin gives serviceflow an 'rt' command (loaded only when it runs)."""
    from serviceflow.cli import main

    lib, site = tmp_path / "lib", tmp_path / "site"
    site.mkdir()
    env = {"SERVICEFLOW_LOAD_PLUGINS": "rt", "SERVICEFLOW_GATE_TOKEN": "sf-token"}
    listed = CliRunner().invoke(main, ["--help"], env=env)
    installed = CliRunner().invoke(
        main,
        [
            "rt",
            "install-gate",
            "--url",
            "http://127.0.0.1:8080",
            "--lib-dir",
            str(lib),
            "--site-config-dir",
            str(site),
        ],
        env=env,
    )
    assert "  rt  " in listed.stdout and "Request Tracker 5" in listed.stdout
    assert installed.exit_code == 0, installed.output
    assert (lib / "RT" / "Ticket_Local.pm").exists() and (site / SITE_CONFIG_NAME).exists()
