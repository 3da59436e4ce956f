"""The plugin host: registers plugins, isolates their failures, and merges what they contribute.

One :class:`PluginHost` per engine (and per CLI run). It owns a pluggy ``PluginManager`` with the
hooks of :mod:`serviceflow.hookspecs`; serviceflow's own contributions are registered first as the
``serviceflow`` plugin (:mod:`.builtin`, every hook ``trylast``), then installed plugins and
``--plugins-dir`` files (:mod:`.discovery`).

Isolation is the host's main job: a plugin that cannot be imported or registered, or whose hook
raises or returns the wrong thing, becomes a :class:`~.contributions.PluginFailure` naming it, and
everything else still loads. With ``strict`` the first failure raises
:class:`~serviceflow.errors.PluginError` instead. Failures *during evaluation* (a named condition or
an enricher raising on a record) are not the host's: the evaluators turn those into engine-error
findings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from serviceflow import hookspecs
from serviceflow.conditions import NamedCondition
from serviceflow.contributions import (
    ActionFunction,
    ActionSpec,
    CommandSpec,
    EnricherSpec,
    EvaluatorSpec,
    PluginFailure,
    PluginInfo,
    PolicyPackSpec,
    ReaderSpec,
    RecordTypeSpec,
    ReporterSpec,
    RouteSpec,
    SourceSpec,
)
from serviceflow.errors import (
    PLUGIN_FAILURES,
    ConfigError,
    EvaluatorError,
    InputError,
    PluginError,
    ServiceflowError,
)

BUILTIN_NAME = "serviceflow"

T = TypeVar("T")

#: Each hook, the type its list holds, and whether same-named declarations replace one another.
_HOOKS: dict[str, tuple[type, bool]] = {
    "serviceflow_policy_packs": (PolicyPackSpec, False),
    "serviceflow_named_conditions": (NamedCondition, True),
    "serviceflow_record_types": (RecordTypeSpec, True),
    "serviceflow_enrichers": (EnricherSpec, True),
    "serviceflow_readers": (ReaderSpec, True),
    "serviceflow_reporters": (ReporterSpec, True),
    "serviceflow_actions": (ActionSpec, True),
    "serviceflow_evaluators": (EvaluatorSpec, True),
    "serviceflow_sources": (SourceSpec, True),
    "serviceflow_routes": (RouteSpec, True),
    "serviceflow_commands": (CommandSpec, True),
}


@dataclass
class _Registration:
    version: str | None
    source: str


@dataclass
class _Contributions:
    """Everything collected from the hooks, merged; ``by_plugin`` says who declared what."""

    lists: dict[str, list[Any]] = field(default_factory=dict)
    by_plugin: dict[str, dict[str, list[str]]] = field(default_factory=dict)


class PluginHost:
    """Registered plugins and the merged registries of what they contribute."""

    def __init__(self, *, strict: bool = False, builtins: bool = True) -> None:
        self.strict = strict
        self.failures: list[PluginFailure] = []
        self._manager = pluggy.PluginManager(hookspecs.PROJECT)
        self._manager.add_hookspecs(hookspecs)
        self._registrations: dict[str, _Registration] = {}
        self._contributions: _Contributions | None = None
        if builtins:
            from serviceflow import __version__
            from serviceflow.plugins import builtin

            self.register(builtin, BUILTIN_NAME, version=__version__, source="built-in")

    # --- registering ---------------------------------------------------------------------------

    def register(
        self, plugin: object, name: str, *, version: str | None = None, source: str = "registered"
    ) -> bool:
        """Register ``plugin`` (a module or object with ``serviceflow_*`` hook functions).

        A plugin with a hook this version of serviceflow does not know (a misspelt name, or a hook
        from a newer serviceflow), or with a name already taken, is a failure: named, not registered.
        """
        if name in self._registrations:
            return self.fail(name, "a plugin with this name is already registered")
        try:
            self._manager.register(plugin, name=name)
        except PLUGIN_FAILURES as exc:
            return self.fail(name, f"{type(exc).__name__}: {exc}")
        unknown = [
            attribute
            for attribute in dir(plugin)
            # pluggy makes a caller for any hookimpl's name, so "known" means "has a specification".
            if attribute.startswith("serviceflow_") and not _has_spec(self._manager.hook, attribute)
        ]
        if unknown:
            self._manager.unregister(name=name)
            known = ", ".join(_HOOKS)
            return self.fail(name, f"unknown hook(s) {', '.join(unknown)} (hooks: {known})")
        self._registrations[name] = _Registration(version, source)
        self._contributions = None
        return True

    def unregister(self, name: str) -> None:
        """Remove a registered plugin (``serviceflow.testing`` uses this to undo a test's plugin)."""
        self._manager.unregister(name=name)
        self._registrations.pop(name, None)
        self._contributions = None

    def fail(self, name: str, error: str) -> bool:
        """Record that plugin ``name`` failed; raise instead when the host is strict."""
        failure = PluginFailure(name, error)
        if self.strict:
            raise PluginError(f"plugin '{name}' failed to load: {error}")
        self.failures.append(failure)
        return False

    # --- what the plugins contribute -----------------------------------------------------------

    @property
    def policy_packs(self) -> list[PolicyPackSpec]:
        return self._list("serviceflow_policy_packs")

    @property
    def named_conditions(self) -> dict[str, NamedCondition]:
        return self._by_name("serviceflow_named_conditions")

    @property
    def record_types(self) -> dict[str, RecordTypeSpec]:
        return self._by_name("serviceflow_record_types")

    @property
    def enrichers(self) -> dict[str, EnricherSpec]:
        return self._by_name("serviceflow_enrichers")

    @property
    def readers(self) -> dict[str, ReaderSpec]:
        return self._by_name("serviceflow_readers")

    @property
    def reporters(self) -> dict[str, ReporterSpec]:
        return self._by_name("serviceflow_reporters")

    @property
    def actions(self) -> dict[str, ActionSpec]:
        return self._by_name("serviceflow_actions")

    @property
    def evaluators(self) -> dict[str, EvaluatorSpec]:
        return self._by_name("serviceflow_evaluators")

    @property
    def sources(self) -> dict[str, SourceSpec]:
        return self._by_name("serviceflow_sources")

    @property
    def routes(self) -> dict[str, RouteSpec]:
        return self._by_name("serviceflow_routes")

    @property
    def commands(self) -> dict[str, CommandSpec]:
        return self._by_name("serviceflow_commands")

    def source(self, name: str) -> SourceSpec:
        """The source kind called ``name``; an unknown name is a ConfigError listing the known."""
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none: install a connector plugin"
            raise ConfigError(f"unknown source '{name}' (sources: {known})") from None

    def evaluator(self, name: str) -> EvaluatorSpec:
        """The evaluator called ``name``; an unknown name is an EvaluatorError listing the known."""
        try:
            return self.evaluators[name]
        except KeyError:
            raise EvaluatorError(
                f"unknown evaluator '{name}' (evaluators: {', '.join(sorted(self.evaluators))})"
            ) from None

    def reader(self, name: str) -> ReaderSpec:
        """The reader for ``--input-format name``; an unknown name is an InputError listing the known."""
        try:
            return self.readers[name]
        except KeyError:
            raise InputError(
                f"unknown input format {name!r} (formats: {', '.join(sorted(self.readers))})"
            ) from None

    def action_functions(
        self, names: list[str], options: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ActionFunction]:
        """The actions called ``names``, created with their ``[actions.NAME]`` options."""
        functions = {}
        for name in names:
            spec = self.actions.get(name)
            if spec is None:
                raise ConfigError(f"unknown action '{name}' (actions: {', '.join(sorted(self.actions))})")
            functions[name] = spec.create(dict(options.get(name, {})))
        return functions

    def registered(self) -> list[PluginInfo]:
        """Every registered plugin's name, version and origin, without calling any hook.

        ``serviceflow --version`` needs only this: collecting the contributions would import what every
        built-in declaration points at (the importers, the record reader) for a line of text.
        """
        return [
            PluginInfo(name=name, version=registration.version, source=registration.source)
            for name, registration in self._registrations.items()
        ]

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin: version, where it came from, its hooks and what it declared."""
        contributions = self._collect()
        infos = []
        for name, registration in self._registrations.items():
            plugin = self._manager.get_plugin(name)
            hooks = tuple(sorted(h for h in _HOOKS if callable(getattr(plugin, h, None))))
            infos.append(
                PluginInfo(
                    name=name,
                    version=registration.version,
                    source=registration.source,
                    hooks=hooks,
                    contributes=contributions.by_plugin.get(name, {}),
                )
            )
        return infos

    def _list(self, hook: str) -> list[Any]:
        return self._collect().lists[hook]

    def _by_name(self, hook: str) -> dict[str, Any]:
        return {item.name: item for item in self._list(hook)}

    def _collect(self) -> _Contributions:
        if self._contributions is None:
            # Built aside and kept only when complete: in strict mode a failing hook raises midway,
            # and a half-filled cache would turn the next question into a KeyError.
            contributions = _Contributions()
            for hook, (item_type, replaces) in _HOOKS.items():
                contributions.lists[hook] = self._call(hook, item_type, replaces, contributions)
            self._contributions = contributions
        return self._contributions

    def _call(self, hook: str, item_type: type, replaces: bool, into: _Contributions) -> list[Any]:
        """Call each plugin's implementation on its own, so that one failing hook names its plugin.

        pluggy calls the last registered first (``trylast`` ones at the very end); the first
        declaration of a name in that order wins, and the list is returned in registration order.
        """
        caller = getattr(self._manager.hook, hook)
        seen: set[str] = set()
        collected: list[tuple[str, Any]] = []
        for implementation in reversed(caller.get_hookimpls()):
            plugin = implementation.plugin_name
            try:
                items = implementation.function()
                _check_items(items, item_type)
                items = [dataclasses.replace(item, plugin=plugin) for item in items]
                if item_type is RecordTypeSpec:
                    _check_schemas(items)
            except PLUGIN_FAILURES as exc:
                self.fail(plugin, f"hook {hook} failed: {type(exc).__name__}: {exc}")
                continue
            names = into.by_plugin.setdefault(plugin, {}).setdefault(hook.removeprefix("serviceflow_"), [])
            for item in items:
                names.append(item.name)
                if replaces and item.name in seen:
                    continue
                seen.add(item.name)
                collected.append((plugin, item))
        order = list(self._registrations)
        collected.sort(key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))
        return [item for _plugin, item in collected]


def _has_spec(hooks: Any, name: str) -> bool:
    caller = getattr(hooks, name, None)
    return caller is not None and caller.has_spec()


def _check_items(items: Any, item_type: type) -> None:
    if not isinstance(items, list | tuple) or not all(isinstance(item, item_type) for item in items):
        raise TypeError(f"must return a list of {item_type.__name__}, got {items!r:.200}")


def _check_schemas(items: list[RecordTypeSpec]) -> None:
    from serviceflow.records.schemas import load_schemas

    for item in items:
        try:
            load_schemas({item.name: dict(item.schema)})
        except ServiceflowError as exc:
            raise ValueError(f"record type '{item.name}': {exc}") from None


@contextmanager
def registered(host: PluginHost, plugin: object, name: str) -> Iterator[PluginHost]:
    """Register ``plugin`` on ``host`` for the duration of a ``with`` block (tests, notebooks)."""
    if not host.register(plugin, name):
        failure = host.failures.pop()
        raise PluginError(f"plugin '{name}' failed to load: {failure.error}")
    try:
        yield host
    finally:
        host.unregister(name)
