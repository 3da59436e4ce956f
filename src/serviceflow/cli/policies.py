"""``serviceflow policies``: list, show and check policies without evaluating any record."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from serviceflow.cli.options import (
    build_engine,
    debug_option,
    load_user_config,
    plugin_host,
    plugin_options,
    policy_source_options,
)
from serviceflow.config import Config
from serviceflow.engine import Engine, validator_for
from serviceflow.errors import PolicyError
from serviceflow.policy import PolicyDefinition, load_policies, policy_files
from serviceflow.policy.fieldrefs import check_field_references
from serviceflow.timeutil import format_duration


@click.group()
def policies() -> None:
    """List, show and check policies."""


@policies.command("list")
@policy_source_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@debug_option
def list_policies(
    policy_paths: tuple[Path, ...], config_path: Path | None, no_bundled: bool, as_json: bool
) -> None:
    """List the policies: id, effective severity, whether enabled, title."""
    config = load_user_config(config_path)
    with _engine(config, policy_paths, no_bundled) as engine:
        rows = [_summary(definition, config, engine) for definition in engine.definitions]
    if as_json:
        click.echo(json.dumps({"policies": rows}, indent=2, ensure_ascii=False))
        return
    id_width = max([len("ID"), *(len(row["id"]) for row in rows)])
    click.echo(f"{'ID'.ljust(id_width)}  SEVERITY  ENABLED  TITLE")
    for row in rows:
        enabled = "yes" if row["enabled"] else "no"
        click.echo(f"{row['id'].ljust(id_width)}  {row['severity']:<8}  {enabled:<7}  {row['title']}")


@policies.command("show")
@click.argument("policy_id", metavar="ID")
@policy_source_options
@debug_option
def show_policy(
    policy_id: str, policy_paths: tuple[Path, ...], config_path: Path | None, no_bundled: bool
) -> None:
    """Show one policy: why it exists, what it checks, its parameters and their effective values."""
    config = load_user_config(config_path)
    with _engine(config, policy_paths, no_bundled) as engine:
        definitions = {definition.id: definition for definition in engine.definitions}
        if policy_id not in definitions:
            known = ", ".join(sorted(definitions)) or "none loaded"
            raise click.BadParameter(f"unknown policy '{policy_id}' (policies: {known})", param_hint="'ID'")
        definition = definitions[policy_id]
        row = _summary(definition, config, engine)
        effective = _effective_params(definition, config, engine)
    severity = row["severity"]
    if severity != definition.severity.value:
        severity += f" (policy default {definition.severity.value})"
    enabled = "yes" if row["enabled"] else f"no (disabled in {config.source})"
    lines = [
        definition.id,
        f"  {definition.title}",
        "",
        f"severity:  {severity}",
        f"enabled:   {enabled}",
        f"source:    {definition.document.file}",
        "",
        "Rationale:",
        *_indented(definition.rationale),
    ]
    if definition.description.strip():
        lines += ["", "Description:", *_indented(definition.description)]
    lines += ["", "Parameters:" if definition.params else "Parameters: none"]
    for name, param in definition.params.items():
        value = effective.get(name, param.default)
        set_by_user = value != param.default
        lines.append(
            f"  {name} ({param.type}): {format_param(value)}"
            + (f"  (default {format_param(param.default)})" if set_by_user else "  (default)")
        )
        if param.description:
            lines.append(f"      {param.description}")
    click.echo("\n".join(lines))


@policies.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@plugin_options
@debug_option
def check_policies(paths: tuple[Path, ...]) -> None:
    """Load and compile policy files (or directories of them), reporting every error.

    Each error is printed as FILE:LINE: /POINTER: MESSAGE. A policy that reads a field the record
    schemas do not define (a misspelt $subject.comitment_id) is an error too. Exit status 0 when all
    compile, 2 otherwise. Named conditions and record types come from the loaded plugins.
    """
    host = plugin_host()
    conditions = host.named_conditions
    errors: list[PolicyError] = []
    files: list[Path] = []
    for path in paths:
        try:
            files.extend(policy_files([path]))
        except PolicyError as error:
            errors.append(error)
    definitions: list[PolicyDefinition] = []
    for file in files:
        try:
            definitions.extend(load_policies([file], conditions))
        except PolicyError as error:
            errors.append(error)
    loaded = len(definitions)
    if not errors and len(files) > 1:
        # Each file compiled alone; loading them together also checks that no id is defined twice.
        try:
            load_policies(files, conditions)
        except PolicyError as error:
            errors.append(error)
    schemas = validator_for(host).schemas  # the built-in record types and the plugins'
    errors.extend(check_field_references(definitions, schemas))
    for problem in errors:
        click.echo(str(problem))
    if errors:
        error_count = f"{len(errors)} {'error' if len(errors) == 1 else 'errors'}"
        file_count = f"{len(files)} policy {'file' if len(files) == 1 else 'files'}"
        click.echo(f"{error_count} in {file_count}", err=True)
        click.get_current_context().exit(2)
    click.echo(f"{loaded} {'policy' if loaded == 1 else 'policies'} OK", err=True)


def format_param(value: Any) -> str:
    """A parameter value as a policy author writes it: ``4h``, ``[a, b]``, ``true``."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_param(item) for item in value) + "]"
    return str(value)


def _engine(config: Config, policy_paths: tuple[Path, ...], no_bundled: bool) -> Engine:
    # Listing evaluates nothing, so it must not depend on the configured evaluator being installed.
    return build_engine(config, policy_paths, no_bundled, evaluator="native")


def _summary(definition: PolicyDefinition, config: Config, engine: Engine) -> dict[str, Any]:
    settings = config.settings_for(definition.id)
    compiled = {policy.id: policy for policy in engine.policies}.get(definition.id)
    severity = compiled.severity if compiled is not None else (settings.severity or definition.severity)
    return {
        "id": definition.id,
        "title": definition.title,
        "severity": str(severity),
        "default_severity": definition.severity.value,
        "enabled": compiled is not None,
        "source": definition.document.file,
    }


def _effective_params(definition: PolicyDefinition, config: Config, engine: Engine) -> dict[str, Any]:
    """The values the policy runs (or, if disabled, would run) with after the user's settings."""
    for policy in engine.policies:
        if policy.id == definition.id:
            return dict(policy.params)
    return dict(definition.bind(config.settings_for(definition.id).params).params)


def _indented(text: str) -> list[str]:
    return [f"  {line}" if line else "" for line in text.strip().splitlines()]
