"""What a plugin package imports: for a test that holds it to serviceflow's public plugin surface.

serviceflow's modules other than ``serviceflow`` and ``serviceflow.plugin`` are internal and may move
between releases (see :mod:`serviceflow.plugin`); a plugin that reaches into them breaks on an upgrade.
One assertion in the plugin's own suite says so before its users find out::

    from serviceflow.testing import internal_imports

    def test_the_plugin_uses_only_serviceflows_public_modules():
        assert internal_imports(Path(my_plugin.__file__).parent) == []

The first-party plugins in ``plugins/`` and serviceflow's architecture test use the same helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["PUBLIC_MODULES", "imported_modules", "internal_imports"]

#: The modules of serviceflow a plugin may import.
PUBLIC_MODULES = frozenset({"serviceflow", "serviceflow.plugin"})


def imported_modules(path: Path) -> set[str]:
    """The modules one Python file imports by absolute name (``import a.b``, ``from a.b import c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def internal_imports(package: Path) -> list[str]:
    """``"file.py imports serviceflow.x"`` for each internal serviceflow module a package's files import.

    ``package`` is the package's directory; its ``*.py`` files are read recursively, in sorted order.
    An empty list means the package uses only :data:`PUBLIC_MODULES`.
    """
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if name.split(".")[0] == "serviceflow" and name not in PUBLIC_MODULES:
                found.append(f"{path.relative_to(package)} imports {name}")
    return found
