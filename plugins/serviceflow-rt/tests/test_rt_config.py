"""Configuration, the gate's installer and the plugin's declaration: no RT needed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from serviceflow_rt import plugin
from serviceflow_rt.config import CustomFieldRule, RtConfig
from serviceflow_rt.gate import SITE_CONFIG_NAME, install_gate, overlay_source, site_config, uninstall_gate
from serviceflow_rt.testing import RT_LIB

from serviceflow.plugin import ConfigError

HERE = Path(__file__).resolve().parent


def test_a_toml_table_becomes_a_config() -> None:
    config = RtConfig.from_mapping(
        {
            "url": "https://rt.example.com/rt/",
            "token": "1-2-abc",
            "queues": "Support",
            "escalation-queues": ["Tier 2"],
            "case-prefix": "acme-rt-",
            "statuses": {"new": "open", "open": "open", "resolved": "solved", "closed": "closed"},
            "custom-fields": {
                "Confirmed": "confirmation",
                "Goodwill": {"record": "concession"},
                "Cap": {"record": "capacity_check", "yes": ["OK"]},
            },
        }
    )
    assert config.rest_url == "https://rt.example.com/rt/REST/2.0/"
    assert config.polled_queues == ("Support", "Tier 2")
    assert (
        config.case_id(42),
        config.ticket_id("acme-rt-42"),
        config.ticket_id("rt-42"),
        config.ticket_id("acme-rt-x"),
    ) == ("acme-rt-42", 42, None, None)
    assert config.rule_for("cap") == CustomFieldRule("Cap", "capacity_check", yes=("ok",))
    assert dict(config.statuses)["resolved"] == "solved"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "http://x", "token": "t", "colour": "red"}, "unknown option 'colour'"),
        ({"url": "http://x"}, "'token' is required"),
        ({"url": "ftp://x", "token": "t"}, "http:// or https://"),
        ({"url": "http://x", "token": " "}, "token is empty"),
        ({"url": "http://x", "token": "t", "queues": []}, "at least one queue"),
        ({"url": "http://x", "token": "t", "statuses": {"resolved": "done"}}, "serviceflow does not know"),
        ({"url": "http://x", "token": "t", "custom-fields": {"X": "invoice"}}, "record must be one of"),
        ({"url": "http://x", "token": "t", "page-size": 0}, "positive integer"),
    ],
)
def test_bad_options_are_config_errors_that_say_what_is_wrong(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        RtConfig.from_mapping(options)


def test_the_gates_site_config_sets_every_option() -> None:
    text = site_config(
        "http://127.0.0.1:8080/", "to'ken", statuses=("Resolved", "rejected"), fail_open=True, timeout=2.5
    )
    assert "Set($ServiceflowGateURL, 'http://127.0.0.1:8080');" in text
    assert "Set($ServiceflowGateToken, 'to\\'ken');" in text
    assert "Set(@ServiceflowGateStatuses, 'resolved', 'rejected');" in text
    assert "'resolved' => 'closed'" in text
    assert "Set($ServiceflowGateFailOpen, 1);" in text and "Set($ServiceflowGateTimeout, 2.5);" in text
    with pytest.raises(ConfigError, match="not in the status map"):
        site_config("http://x", "t", statuses=("archived",))


def test_install_gate_writes_the_overlay_and_a_private_config_and_uninstall_removes_them(
    tmp_path: Path,
) -> None:
    lib, config_dir = tmp_path / "lib", tmp_path / "RT_SiteConfig.d"
    config_dir.mkdir()
    installed = install_gate("http://127.0.0.1:9", "secret", lib_dir=lib, site_config_dir=config_dir)
    assert installed.overlay.read_text() == overlay_source()
    assert installed.site_config == config_dir / SITE_CONFIG_NAME
    assert stat.S_IMODE(installed.site_config.stat().st_mode) == 0o640
    install_gate("http://127.0.0.1:9", "secret", lib_dir=lib, site_config_dir=config_dir)  # again: fine
    assert sorted(uninstall_gate(lib, config_dir)) == sorted([installed.overlay, installed.site_config])


def test_install_gate_leaves_someone_elses_overlay_alone(tmp_path: Path) -> None:
    overlay = tmp_path / "lib" / "RT" / "Ticket_Local.pm"
    overlay.parent.mkdir(parents=True)
    overlay.write_text("package RT::Ticket; sub Mine {} 1;\n")
    with pytest.raises(ConfigError, match="not serviceflow's gate"):
        install_gate("http://x", "t", lib_dir=tmp_path / "lib", site_config_dir=tmp_path)
    assert "Mine" in overlay.read_text()
    assert uninstall_gate(tmp_path / "lib", tmp_path) == []


@pytest.mark.skipif(
    not (RT_LIB / "RT.pm").exists() or shutil.which("perl") is None, reason="needs RT's Perl libraries"
)
def test_the_overlay_compiles_against_rts_libraries(tmp_path: Path) -> None:
    overlay = tmp_path / "Ticket_Local.pm"
    overlay.write_text(overlay_source())
    checked = subprocess.run(
        ["perl", f"-I{RT_LIB}", "-MRT", "-c", str(overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0 and "syntax OK" in checked.stderr, checked.stderr


def test_the_plugin_declares_the_rt_comment_action(serviceflow_plugin) -> None:  # type: ignore[no-untyped-def]
    with serviceflow_plugin(plugin, "rt") as host:
        spec = host.actions["rt-comment"]
    assert spec.plugin == "rt" and spec.description.startswith("comment on")
    with pytest.raises(ConfigError, match="'url' is required"):
        spec.create({"token": "t"})


@pytest.mark.parametrize(("require", "outcome"), [("", "1 skipped"), ("1", "1 error")])
def test_without_rt_the_integration_tests_skip_naming_the_script_or_fail_when_required(
    require: str, outcome: str
) -> None:
    env = {**os.environ, "SERVICEFLOW_RT_HOME": "/nonexistent/rt", "SERVICEFLOW_REQUIRE_RT": require}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", "second_poll"]
    result = subprocess.run(
        [*command, str(HERE / "test_rt_source.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE.parent,
        env=env,
        check=False,
    )
    assert outcome in result.stdout, result.stdout
    assert ".ci/install-rt.sh" in result.stdout
