"""The live commands: db, tokens, ingest, sweep, outbox (CliRunner, on both stores)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from live_support import ROOT, WEBHOOK_SECRET, Receiver, at, contact, opened
from serviceflow.cli import main
from serviceflow.stores import open_store


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_db_upgrade_then_status(store_url: str) -> None:
    code, out, _ = run("db", "status", "--db", store_url)
    assert code == 0 and "schema version 0" in out and "behind" in out
    code, out, _ = run("db", "upgrade", "--db", store_url)
    assert code == 0 and "applied 1" in out
    code, out, _ = run("db", "upgrade", "--db", store_url)
    assert code == 0 and "already current" in out


def test_tokens_create_list_revoke(store_url: str) -> None:
    code, out, err = run(
        "tokens", "create", "--name", "crm", "--scope", "ingest", "--scope", "read", "--db", store_url
    )
    token = out.strip()
    assert code == 0 and token.startswith("sf_") and "not shown again" in err
    code, out, _ = run("tokens", "list", "--json", "--db", store_url)
    [listed] = json.loads(out)
    assert listed["name"] == "crm" and listed["scopes"] == ["ingest", "read"] and token not in out
    code, _, _ = run("tokens", "create", "--name", "x", "--scope", "root", "--db", store_url)
    assert code == 2
    assert run("tokens", "revoke", "crm", "--db", store_url)[0] == 0
    assert run("tokens", "revoke", "crm", "--db", store_url)[0] == 1
    assert json.loads(run("tokens", "list", "--json", "--db", store_url)[1])[0]["revoked_at"]


def test_ingest_files_twice_changes_nothing_the_second_time(store_url: str, tmp_path: Path) -> None:
    records = ROOT / "examples" / "records"
    code, out, _ = run("ingest", str(records), "--db", store_url, "--now", "2024-05-09T14:00:00Z")
    assert code == 0 and "ingested 28 records" in out
    code, out, _ = run("ingest", str(records), "--db", store_url, "--now", "2024-05-09T14:00:00Z")
    assert code == 0 and "ingested 0 records" in out and "28 already stored" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "z", "case_id": "z", "type": "note", "at": "never"}\nnot json\n')
    code, _, err = run("ingest", str(bad), "--db", store_url)
    assert code == 2 and f"{bad}:1: /at" in err and f"{bad}:2" in err


def test_sweep_once_at_a_given_now_and_the_outbox(store_url: str, tmp_path: Path) -> None:
    receiver = Receiver(answers=[500])
    try:
        config = tmp_path / "serviceflow.toml"
        config.write_text(
            f'[live]\nactions = ["webhook"]\n\n'
            f'[actions.webhook]\nurl = "{receiver.url}"\nsecret = "{WEBHOOK_SECRET}"\n'
        )
        export = tmp_path / "case.jsonl"
        export.write_text(
            "\n".join(
                json.dumps(r)
                for r in [opened("c1", "r1", at()), contact("c1", "k1", at(10), flags=["values_in_question"])]
            )
            + "\n"
        )
        common = ["--db", store_url, "--config", str(config)]
        assert run("ingest", str(export), *common, "--now", "2024-05-06T10:00:00Z")[0] == 0
        code, out, _ = run("sweep", "--once", *common, "--now", "2024-05-06T12:00:00Z")
        assert code == 0 and "swept 0 cases" in out
        code, out, _ = run("sweep", "--once", "--deliver", *common, "--now", "2024-05-06T14:11:00Z")
        assert code == 0 and "swept 1 cases" in out and "delivered 0 of" in out  # the receiver said 500
        code, out, _ = run("outbox", "list", "--json", "--db", store_url)
        items = json.loads(out)
        assert items and {item["state"] for item in items} == {"pending"} and "500" in items[0]["last_error"]
        code, out, _ = run("outbox", "retry", str(items[0]["id"]), "--db", store_url)
        assert code == 0 and "pending again" in out
        assert run("outbox", "retry", "999999", "--db", store_url)[0] == 1
        store = open_store(store_url)
        assert store.outbox_item(items[0]["id"]).attempts == 0  # type: ignore[union-attr]
        store.close()
    finally:
        receiver.close()


def test_a_store_url_nobody_knows_is_an_error(tmp_path: Path) -> None:
    code, _, err = run("db", "status", "--db", "mysql://somewhere/db")
    assert code == 2 and "unknown store URL" in err
