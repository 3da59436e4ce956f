"""``serviceflow plugins``: which plugins are loaded, their versions, hooks and contributions.

The first thing to run when a custom policy or input format does not show up: it names every plugin
that failed to load, with its error, and says where each loaded one came from.
"""

from __future__ import annotations

import json

import click

from serviceflow.cli.options import debug_option, plugin_host, plugin_options
from serviceflow.plugins import PluginHost


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@plugin_options
@debug_option
def plugins(as_json: bool) -> None:
    """List loaded plugins (and those that failed), their versions, hooks and what they add.

    Installed plugins are found through the 'serviceflow' entry-point group; SERVICEFLOW_LOAD_PLUGINS
    chooses among them (unset: all; empty: none; a,b: those). Exit status 2 when a plugin failed.
    """
    host = plugin_host()
    if as_json:
        click.echo(json.dumps(describe(host), indent=2))
    else:
        click.echo(render_text(host), nl=False)
    if host.failures:
        click.get_current_context().exit(2)


def describe(host: PluginHost) -> dict[str, object]:
    """The loaded plugins and failures as plain data (the ``--json`` output)."""
    return {
        "plugins": [
            {
                "name": info.name,
                "version": info.version,
                "source": info.source,
                "hooks": list(info.hooks),
                "contributes": info.contributes,
            }
            for info in host.plugins()
        ],
        "failed": [{"name": failure.name, "error": failure.error} for failure in host.failures],
    }


def render_text(host: PluginHost) -> str:
    lines = []
    for info in host.plugins():
        lines.append(f"{info.name} {info.version or '(no version)'}  [{info.source}]")
        for kind, names in info.contributes.items():
            lines.append(f"    {kind.replace('_', ' ')}: {', '.join(names)}")
        lines.append(f"    hooks: {', '.join(info.hooks) or 'none'}")
    for failure in host.failures:
        lines.append(f"{failure.name}  FAILED: {failure.error}")
    return "\n".join(lines) + "\n"


def version_text(host: PluginHost) -> str:
    """``serviceflow --version``: serviceflow's version, then each other plugin's."""
    from serviceflow import __version__

    lines = [f"serviceflow {__version__}"]
    lines.extend(
        f"  plugin {info.name} {info.version or '(no version)'}"
        for info in host.registered()
        if info.source != "built-in"
    )
    return "\n".join(lines)
