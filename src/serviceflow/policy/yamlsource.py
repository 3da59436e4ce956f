"""Load YAML while remembering where each value came from, so errors can name file, line and key.

PyYAML's composer keeps a start mark on every node; we walk the node tree once, building plain Python
data and a map from JSON pointer to 1-based line. Only the safe YAML subset is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serviceflow.errors import Location, PolicyError


@dataclass(slots=True)
class SourceDocument:
    """A parsed YAML document and the line of every value in it, by JSON pointer."""

    data: Any
    file: str
    lines: dict[str, int] = field(default_factory=dict)

    def location(self, pointer: str) -> Location:
        """Where ``pointer`` is, falling back to its nearest ancestor that has a recorded line."""
        probe = pointer
        while probe and probe not in self.lines:
            probe = probe.rsplit("/", 1)[0]
        return Location(self.file, self.lines.get(probe, self.lines.get("", 1)), pointer)


class _Loader(yaml.SafeLoader):
    """The safe loader without YAML 1.1's implicit timestamps: record times must stay RFC 3339 text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def load_yaml(path: Path) -> SourceDocument:
    """Read one YAML file; raise :class:`PolicyError` with file and line on any syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file: {exc}", Location(str(path))) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, file: str) -> SourceDocument:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"invalid YAML: {problem}", Location(file, line)) from None
    document = SourceDocument(data=None, file=file)
    if node is None:
        return document
    constructor = _Loader(text)
    try:
        document.data = _build(node, "", document.lines, constructor, file)
    finally:
        constructor.dispose()
    return document


def _build(node: yaml.Node, pointer: str, lines: dict[str, int], constructor: _Loader, file: str) -> Any:
    lines[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = f"{pointer}/{escape_pointer_token(key)}"
            if key in result:
                raise PolicyError(
                    f"duplicate key '{key}'", Location(file, key_node.start_mark.line + 1, child)
                )
            result[key] = _build(value_node, child, lines, constructor, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, f"{pointer}/{index}", lines, constructor, file)
            for index, item in enumerate(node.value)
        ]
    return constructor.construct_object(node, deep=True)
