"""Finding plugins: installed packages' entry points, and single files in a plugins directory.

* Installed plugins declare an entry point in the ``serviceflow`` group
  (``[project.entry-points.serviceflow] acme = "acme_policies.plugin"``).
* ``SERVICEFLOW_LOAD_PLUGINS`` chooses among them, as pytest's ``PYTEST_PLUGINS`` does: unset loads
  every installed plugin; empty loads none (serviceflow's own tests run this way, so a developer's
  installed plugins never change their results); ``acme,crm`` loads only those entry-point names.
* ``--plugins-dir DIR`` (or ``SERVICEFLOW_PLUGINS_DIR``, paths separated by ``os.pathsep``) loads
  every ``*.py`` file in DIR not starting with ``_`` as a plugin named after the file, for a
  business's one-file conditions that are not worth a package.

Every failure is named and skipped (see :class:`~serviceflow.plugins.host.PluginHost`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from serviceflow.errors import PLUGIN_FAILURES
from serviceflow.plugins.host import PluginHost

ENTRY_POINT_GROUP = "serviceflow"
LOAD_ENV = "SERVICEFLOW_LOAD_PLUGINS"
DIR_ENV = "SERVICEFLOW_PLUGINS_DIR"


def discover(
    plugins_dirs: Iterable[Path] = (),
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> PluginHost:
    """A host with the built-ins, the installed plugins ``SERVICEFLOW_LOAD_PLUGINS`` allows, and the
    plugin files of ``plugins_dirs`` and ``SERVICEFLOW_PLUGINS_DIR``."""
    environ = os.environ if environ is None else environ
    host = PluginHost(strict=strict)
    load_entry_points(host, environ.get(LOAD_ENV))
    dirs = list(plugins_dirs)
    dirs.extend(Path(p) for p in environ.get(DIR_ENV, "").split(os.pathsep) if p)
    for directory in dirs:
        load_directory(host, directory)
    return host


def load_entry_points(host: PluginHost, selection: str | None) -> None:
    """Register installed plugins: all when ``selection`` is ``None``, else the comma-listed names."""
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if selection is None:
        wanted = sorted(available)
    else:
        wanted = [name.strip() for name in selection.split(",") if name.strip()]
    for name in wanted:
        entry_point = available.get(name)
        if entry_point is None:
            installed = ", ".join(sorted(available)) or "none"
            host.fail(name, f"no installed plugin has this entry-point name (installed: {installed})")
            continue
        _load_entry_point(host, entry_point)


def _load_entry_point(host: PluginHost, entry_point: EntryPoint) -> None:
    dist = entry_point.dist
    try:
        plugin = entry_point.load()
    except PLUGIN_FAILURES as exc:
        host.fail(entry_point.name, f"cannot import {entry_point.value}: {type(exc).__name__}: {exc}")
        return
    source = f"entry point of {dist.name}" if dist is not None else "entry point"
    host.register(plugin, entry_point.name, version=dist.version if dist is not None else None, source=source)


def load_directory(host: PluginHost, directory: Path) -> None:
    """Register each ``*.py`` file of ``directory`` (not ``_*.py``) as a plugin named after the file."""
    if not directory.is_dir():
        host.fail(str(directory), "plugins directory does not exist")
        return
    for file in sorted(directory.glob("*.py")):
        if file.name.startswith("_"):
            continue
        module_name = f"serviceflow_plugins_dir.{file.stem}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except PLUGIN_FAILURES as exc:
            sys.modules.pop(module_name, None)
            host.fail(file.stem, f"cannot import {file}: {type(exc).__name__}: {exc}")
            continue
        host.register(module, file.stem, source=f"file {file}")
