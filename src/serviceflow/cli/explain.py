"""``serviceflow explain``: why each policy fired, or did not, for each candidate record of one case."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from serviceflow.cli.options import (
    build_engine,
    debug_option,
    input_format_option,
    load_user_config,
    now_option,
    plugin_options,
    policy_source_options,
)
from serviceflow.cli.output import echo_errors
from serviceflow.explain.explain import explain_case, read_case, select_policies
from serviceflow.explain.report import explanation_to_dict, render_explanation
from serviceflow.timeutil import utc_now


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--case", "case_id", required=True, metavar="ID", help="The case to explain.")
@click.option("--policy", "policy_id", metavar="ID", help="Explain only this policy. Default: every policy.")
@policy_source_options
@now_option
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@input_format_option
@plugin_options
@debug_option
def explain(
    paths: tuple[str, ...],
    case_id: str,
    policy_id: str | None,
    policy_paths: tuple[Path, ...],
    config_path: Path | None,
    no_bundled: bool,
    now: datetime | None,
    report_format: str,
    input_format: str,
) -> None:
    """Explain, for one case, why each policy fired or did not.

    For each policy (or the one named) and each record it could be about: whether it fired and why or
    why not (the conditions checked in order with the values compared, the records each query
    considered and why each was turned down, the first condition that failed, the deadline), with
    the line of the policy's YAML beside each clause. Records are read as lint reads them; the native
    evaluator is traced, whatever the configured evaluator.

    Exit status 0, or 2 for an unknown case or policy, or usage, configuration or input errors.
    """
    config = load_user_config(config_path)
    evaluated_at = now if now is not None else utc_now()
    with build_engine(config, policy_paths, no_bundled, evaluator="native") as engine:
        policies = select_policies(engine.policies, policy_id)  # an unknown id fails before any reading
        case = read_case(engine, list(paths), case_id, evaluated_at, input_format=input_format)
    echo_errors(case.input_errors)
    explanation = explain_case(policies, case.case_id, case.records, evaluated_at, engine.calendars)
    if report_format == "json":
        click.echo(json.dumps(explanation_to_dict(explanation), indent=2, ensure_ascii=False))
    else:
        click.echo(render_explanation(explanation), nl=False)
