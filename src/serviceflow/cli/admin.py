"""Store administration: ``serviceflow db``, ``tokens`` and ``outbox``.

These need no policies: they open the store (``--db``), bring its schema up to date and act on it
directly, so they work with no configuration at all.
"""

from __future__ import annotations

import json
from typing import Any

import click

from serviceflow.cli.options import debug_option, plugin_options
from serviceflow.cli.store import db_option, open_upgraded
from serviceflow.live.clock import SystemClock
from serviceflow.live.tokens import SCOPES, check_scopes, hash_token, new_token
from serviceflow.stores import open_store
from serviceflow.timeutil import format_datetime


@click.group()
def db() -> None:
    """The store's schema: versioned migrations."""


@db.command("upgrade")
@db_option
@plugin_options
@debug_option
def db_upgrade(db_url: str | None) -> None:
    """Apply the migrations the store lacks ('serve' does this at start-up too)."""
    store = open_store(db_url)
    before = store.schema_status()
    after = store.upgrade()
    applied = [version for version in after.applied if version not in before.applied]
    click.echo(
        f"{store.url}: schema version {after.current}"
        + (f" (applied {', '.join(map(str, applied))})" if applied else " (already current)")
    )


@db.command("status")
@db_option
@plugin_options
@debug_option
def db_status(db_url: str | None) -> None:
    """The store's schema version against this serviceflow's."""
    store = open_store(db_url)
    status = store.schema_status()
    state = (
        "current"
        if status.up_to_date
        else (
            "behind: run 'serviceflow db upgrade'"
            if status.current < status.latest
            else "newer than this serviceflow"
        )
    )
    click.echo(f"{store.url}: schema version {status.current}, code {status.latest} ({state})")


@click.group()
def tokens() -> None:
    """Bearer tokens for the HTTP API (only their hashes are stored)."""


@tokens.command("create")
@click.option("--name", required=True, help="Who or what the token is for (unique among live tokens).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="What it may do (repeatable): ingest, check, read, or admin (everything).",
)
@db_option
@plugin_options
@debug_option
def tokens_create(name: str, scopes: tuple[str, ...], db_url: str | None) -> None:
    """Create a token and print it: it is shown this once."""
    store = open_upgraded(db_url)
    token = new_token()
    row = store.add_token(name, hash_token(token), check_scopes(scopes), SystemClock().now())
    click.echo(token)
    click.echo(
        f"serviceflow: token '{row.name}' ({' '.join(row.scopes)}) created; it is not shown again", err=True
    )


@tokens.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@plugin_options
@debug_option
def tokens_list(db_url: str | None, as_json: bool) -> None:
    """The tokens: name, scopes, when created, whether revoked (never the tokens themselves)."""
    rows = open_upgraded(db_url).list_tokens()
    items: list[dict[str, Any]] = [
        {
            "name": row.name,
            "scopes": list(row.scopes),
            "created_at": format_datetime(row.created_at),
            "revoked_at": format_datetime(row.revoked_at) if row.revoked_at else None,
        }
        for row in rows
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        state = f"revoked {item['revoked_at']}" if item["revoked_at"] else "live"
        click.echo(f"{item['name']}\t{' '.join(item['scopes'])}\tcreated {item['created_at']}\t{state}")


@tokens.command("revoke")
@click.argument("name")
@db_option
@plugin_options
@debug_option
def tokens_revoke(name: str, db_url: str | None) -> None:
    """Revoke the live token called NAME: requests with it get 401 from now on."""
    if not open_upgraded(db_url).revoke_token(name, SystemClock().now()):
        raise click.ClickException(f"no live token named '{name}'")
    click.echo(f"revoked token '{name}'")


@click.group()
def outbox() -> None:
    """The outbox: each action for each transition, and how its delivery goes."""


@outbox.command("list")
@click.option("--state", type=click.Choice(["pending", "delivering", "delivered", "dead"]))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="One JSON array of items.")
@db_option
@plugin_options
@debug_option
def outbox_list(state: str | None, limit: int, as_json: bool, db_url: str | None) -> None:
    """Outbox items, oldest first."""
    items = open_upgraded(db_url).list_outbox(state=state, after=None, limit=limit)
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in items], indent=2, ensure_ascii=False))
        return
    for item in items:
        _, policy, record_id = (
            item.transition.get("case_id"),
            item.transition.get("policy"),
            item.transition.get("record_id"),
        )
        error = f"\t{item.last_error}" if item.last_error else ""
        click.echo(
            f"{item.id}\t{item.state.value}\t{item.action}\t{item.case_id}/{policy}/{record_id}\t"
            f"{item.transition.get('kind')}\tattempts {item.attempts}{error}"
        )


@outbox.command("retry")
@click.argument("item_id", type=int)
@db_option
@plugin_options
@debug_option
def outbox_retry(item_id: int, db_url: str | None) -> None:
    """Make outbox item ITEM_ID pending again, due now, its attempts reset."""
    item = open_upgraded(db_url).retry_outbox(item_id, SystemClock().now())
    if item is None:
        raise click.ClickException(f"no outbox item {item_id}")
    click.echo(f"outbox item {item.id} ({item.action}, {item.case_id}) is pending again")
