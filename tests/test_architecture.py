"""The core (records, policies, engine, evaluators) imports no CLI, HTTP or database code."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from serviceflow.testing import internal_imports

FORBIDDEN = [
    "click",
    "flask",
    "fastapi",
    "starlette",
    "aiohttp",
    "requests",
    "httpx",
    "psycopg",
    "psycopg2",
    "redis",
    "pika",
    "sqlalchemy",
    "nats",
    "paho",
]

CORE_MODULES = [
    "serviceflow",
    "serviceflow.engine",
    "serviceflow.config",
    "serviceflow.policy",
    "serviceflow.records",
    "serviceflow.evaluators.native",
    "serviceflow.findings",
    "serviceflow.importers",
    "serviceflow.calendars",
]


def test_core_imports_no_cli_http_or_database_driver() -> None:
    blocker = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {FORBIDDEN!r}:
            raise ImportError('core must not import ' + name)
sys.meta_path.insert(0, Block())
for module in {CORE_MODULES!r}:
    __import__(module)
from serviceflow import Engine
from serviceflow.config import Config
from datetime import datetime, timezone
Engine.from_config(config=Config()).evaluate([], now=datetime(2024, 1, 1, tzinfo=timezone.utc))
"""
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


LIVE_FORBIDDEN = [*FORBIDDEN, "sqlite3", "psycopg_pool", "uvicorn", "prometheus_client", "pydantic"]


def test_live_mode_imports_no_http_framework_or_database_driver() -> None:
    """serviceflow.live is a library over a Store protocol: the stores and the HTTP app are adapters."""
    blocker = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {LIVE_FORBIDDEN!r}:
            raise ImportError('serviceflow.live must not import ' + name)
sys.meta_path.insert(0, Block())
import serviceflow.live
from serviceflow.live import Service, ManualClock
from serviceflow.live import clock, codec, customers, evaluation, ingest, outbox, pagination, reasons
from serviceflow.live import revision, runner, service, settings, store, tokens
"""
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_live_check_can_fail() -> None:
    """The blocker above really blocks: importing a store adapter through it fails."""
    blocker = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {LIVE_FORBIDDEN!r}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import serviceflow.stores.sqlite
"""
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode != 0 and "blocked sqlite3" in result.stderr


# --- layers: no package imports a higher one, and no two import each other ---------------------------

SRC = Path(__file__).resolve().parents[1] / "src" / "serviceflow"
REPOSITORY = SRC.parents[1]

#: serviceflow's modules and packages ("units"), bottom first. A unit may import units of its own layer
#: or below, never above; within a layer, imports must not form a cycle. Built-ins are registered from
#: above: ``plugins`` (the host and the built-in plugin) imports the readers, reporters and evaluators it
#: registers, and nothing below it knows the host. A new unit must be placed here.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"errors", "limits", "hookspecs", "timeutil"}),
    ("values", {"findings", "calendars", "transitions", "diff"}),
    ("records", {"records", "conditions", "coordination", "batch"}),
    ("language and formats", {"policy", "reporters", "baseline"}),
    ("declarations", {"contributions", "plugin", "actions", "waivers", "importers", "config"}),
    ("evaluation", {"evaluators", "enrichers", "subjects", "revisions"}),
    ("plugin host", {"plugins"}),
    ("engine", {"engine"}),
    ("runs", {"feeding", "run", "parallel", "dask"}),
    ("tools", {"explain", "replay", "policytest", "testing"}),
    ("live mode", {"live"}),
    ("adapters", {"stores", "http"}),
    ("command line", {"cli", "__main__"}),
]


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "serviceflow" or len(parts) == 1:
        return None
    return parts[1]


def _imports(path: Path, module: str) -> Iterator[str]:
    """The serviceflow modules ``path`` imports, at any depth (lazy ones too), except TYPE_CHECKING's."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            if base == "serviceflow":
                yield from (f"serviceflow.{alias.name}" for alias in node.names)
            else:
                yield base


def unit_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Unit -> the units it imports (see LAYERS)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = _unit(module)
        if source is None:
            continue
        targets = graph.setdefault(source, set())
        for imported in _imports(path, module):
            target = _unit(imported)
            if target is not None and target != source and target != "__version__":
                targets.add(target)
    return graph


def layering_problems(graph: dict[str, set[str]]) -> list[str]:
    rank = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}
    problems = [f"{unit} is in no layer of LAYERS" for unit in sorted(graph) if unit not in rank]
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if source in rank and target in rank and rank[target] > rank[source]:
                problems.append(
                    f"{source} ({LAYERS[rank[source]][0]}) imports {target}, a higher layer "
                    f"({LAYERS[rank[target]][0]})"
                )
    return problems + [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of units (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append([*sorted(group), sorted(group)[0]])
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_unit_imports_a_higher_layer_or_is_in_a_cycle() -> None:
    assert layering_problems(unit_graph()) == []


def test_the_layering_check_can_fail() -> None:
    graph = {
        "errors": {"engine"},
        "engine": {"errors"},
        "run": {"parallel"},
        "parallel": {"run"},
        "newcomer": set(),
    }
    problems = layering_problems(graph)
    assert "errors (foundations) imports engine, a higher layer (engine)" in problems
    assert "newcomer is in no layer of LAYERS" in problems
    assert "import cycle: parallel -> run -> parallel" in problems


def test_first_party_plugins_use_only_the_public_plugin_module() -> None:
    """They show businesses how to write a plugin: only ``serviceflow.plugin`` and ``serviceflow``."""
    roots = [*REPOSITORY.glob("plugins/*/src"), *REPOSITORY.glob("examples/*/src")]
    assert roots, "no plugin sources found"
    assert [
        f"{root.relative_to(REPOSITORY)}/{line}" for root in roots for line in internal_imports(root)
    ] == []


def test_the_plugin_import_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").write_text(
        "from serviceflow.plugin import hookimpl\nimport serviceflow.engine\nfrom serviceflow import run\n",
        encoding="utf-8",
    )
    assert internal_imports(tmp_path) == ["plugin.py imports serviceflow.engine"]


def test_the_public_names_are_listed_and_all_resolve() -> None:
    """``__all__`` of the lazily loading packages names exactly what their ``__getattr__`` provides."""
    for name in ("serviceflow", "serviceflow.policy", "serviceflow.records"):
        module = importlib.import_module(name)
        public = set(module._PUBLIC)  # type: ignore[attr-defined]
        assert set(module.__all__) - {"__version__"} == public, name
        for attribute in public:
            assert getattr(module, attribute) is not None
