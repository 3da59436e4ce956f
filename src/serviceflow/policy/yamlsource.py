"""Load YAML while remembering where each value came from, so errors can name file, line and key.

PyYAML's composer keeps a start mark on every node; we walk the node tree once, building plain Python
data and a map from JSON pointer to 1-based line. Only the safe YAML subset is accepted.

Policies, waivers and policy tests are data from outside, so loading is bounded (see
:mod:`serviceflow.limits` and docs/limits.md): nesting deeper than ``MAX_YAML_DEPTH`` (flow
``[[[...]]]`` or block, aliases expanded) and aliases adding more than ``MAX_YAML_ALIAS_NODES`` values
(a "billion laughs" file) are errors naming the file and line, found before Python's recursion limit
or memory runs out; so is an alias inside the block it names (``&a [*a]``), which would expand for
ever. A mapping key must be a plain value (text, a number), and a value YAML cannot build (an unknown
``!!tag``, an integer of thousands of digits) is an error at its line, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from serviceflow import limits
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


class _LimitExceeded(yaml.MarkedYAMLError):
    """A document is nested too deeply; raised by the composer before Python's recursion limit."""


try:  # libyaml's scanner and parser, in C, when PyYAML was built with it (its wheels are)
    from yaml._yaml import CParser as _Parser

    def _start(loader: Any, stream: str) -> None:
        _Parser.__init__(loader, stream)
        Composer.__init__(loader)
        SafeConstructor.__init__(loader)
        Resolver.__init__(loader)

    _BASES: tuple[type, ...] = (Composer, _Parser, SafeConstructor, Resolver)
except ImportError:  # pragma: no cover - a PyYAML without libyaml: the same, all in Python
    _BASES = (yaml.SafeLoader,)

    def _start(loader: Any, stream: str) -> None:
        yaml.SafeLoader.__init__(loader, stream)


class _Loader(*_BASES):  # type: ignore[misc]
    """The safe loader without YAML 1.1's implicit timestamps: record times must stay RFC 3339 text.

    Scanning and parsing run in C (libyaml) when PyYAML has it, ten times faster than in Python: the
    bundled policies are parsed on every run. Composing stays in Python, where this composer counts
    nesting (it recurses once per level) and remembers the line of each alias, which the node it
    resolves to does not carry (that node's mark is its anchor's).
    """

    def __init__(self, stream: str) -> None:
        _start(self, stream)
        self.depth = 0
        self.alias_lines: dict[tuple[int, int, bool], int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1
            node = super().compose_node(parent, index)
            if parent is not None:
                self.alias_lines[_child_key(parent, len(parent.value), index is None)] = line
            return node
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > limits.MAX_YAML_DEPTH:
                raise _LimitExceeded(
                    problem=f"nested more than {limits.MAX_YAML_DEPTH} levels deep",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _child_key(parent: yaml.Node, position: int, is_key: bool) -> tuple[int, int, bool]:
    """Names one child of a collection node: its position, and for a mapping whether it is the key."""
    return (id(parent), position, is_key)


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
    """Parse one YAML document; any problem, limits included, is a :class:`PolicyError` at its line."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except _LimitExceeded as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
            raise PolicyError(f"{exc.problem}; {_RAISE_DEPTH}", Location(file, line)) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            if "maximum nesting depth" in problem:  # libyaml's own bound, met before ours while scanning
                raise PolicyError(
                    f"nested more than {limits.MAX_YAML_DEPTH} levels deep; {_RAISE_DEPTH}",
                    Location(file, line),
                ) from None
            raise PolicyError(f"invalid YAML: {problem}", Location(file, line)) from None
        document = SourceDocument(data=None, file=file)
        if node is not None:
            document.data = _Builder(loader, file, document.lines).build(node)
        return document
    finally:
        loader.dispose()


_RAISE_DEPTH = "serviceflow.limits.MAX_YAML_DEPTH is the limit (see docs/limits.md)"
_RAISE_ALIASES = "serviceflow.limits.MAX_YAML_ALIAS_NODES is the limit (see docs/limits.md)"
_Place = tuple[int, str]
"""A line and a JSON pointer."""


class _Builder:
    """Turns a composed node tree into plain data and lines, within the limits of :mod:`limits`.

    Aliases resolve to the very node they name, so the composed tree is small even when its expansion
    is not: the builder counts what aliases add, and knows the path it is on to catch an alias inside
    its own anchor.
    """

    def __init__(self, loader: _Loader, file: str, lines: dict[str, int]) -> None:
        self.loader, self.file, self.lines = loader, file, lines
        self.max_depth = limits.MAX_YAML_DEPTH
        self.alias_budget = limits.MAX_YAML_ALIAS_NODES
        self.on_path: set[int] = set()

    def build(self, node: yaml.Node) -> Any:
        return self._build(node, "", node.start_mark.line + 1, 0, None)

    def _error(self, message: str, line: int, pointer: str) -> PolicyError:
        return PolicyError(message, Location(self.file, line, pointer))

    def _build(self, node: yaml.Node, pointer: str, line: int, depth: int, expansion: _Place | None) -> Any:
        """Build ``node``; ``expansion`` is where the outermost alias being expanded is written."""
        self.lines[pointer] = line
        if expansion is not None:
            self.alias_budget -= 1
            if self.alias_budget < 0:
                raise self._error(
                    f"aliases expand to more than {limits.MAX_YAML_ALIAS_NODES} values "
                    f"(an alias bomb?); write the repeated part out, or raise it: {_RAISE_ALIASES}",
                    *expansion,
                )
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node, pointer, line)
        if depth >= self.max_depth:
            raise self._error(
                f"nested more than {limits.MAX_YAML_DEPTH} levels deep (aliases expanded); {_RAISE_DEPTH}",
                *(expansion or (line, pointer)),
            )
        if id(node) in self.on_path:
            raise self._error("an alias refers to a block that contains it, which never ends", line, pointer)
        self.on_path.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, pointer, depth, expansion)
            return [
                self._child(node, index, item, f"{pointer}/{index}", depth, expansion)
                for index, item in enumerate(node.value)
            ]
        finally:
            self.on_path.discard(id(node))

    def _mapping(
        self, node: yaml.MappingNode, pointer: str, depth: int, expansion: _Place | None
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            written_at = key_node.start_mark.line + 1
            key_line = self.loader.alias_lines.get(_child_key(node, position, True), written_at)
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._error("a mapping key must be a plain value (text or a number)", key_line, pointer)
            key = self._scalar(key_node, pointer, key_line)
            if not isinstance(key, str):
                key = str(key)
            child = f"{pointer}/{escape_pointer_token(key)}"
            if key in result:
                raise self._error(f"duplicate key '{key}'", key_line, child)
            result[key] = self._child(node, position, value_node, child, depth, expansion)
        return result

    def _child(
        self,
        parent: yaml.Node,
        position: int,
        node: yaml.Node,
        pointer: str,
        depth: int,
        expansion: _Place | None,
    ) -> Any:
        """Build the item or mapping value at ``position`` of ``parent``, which may be an alias."""
        alias_line = self.loader.alias_lines.get(_child_key(parent, position, False))
        if alias_line is None:
            return self._build(node, pointer, node.start_mark.line + 1, depth + 1, expansion)
        return self._build(node, pointer, alias_line, depth + 1, expansion or (alias_line, pointer))

    def _scalar(self, node: yaml.Node, pointer: str, line: int) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self._error(f"invalid YAML value: {problem}", line, pointer) from None
        except (ValueError, TypeError, OverflowError) as exc:
            # Such as an integer of more digits than Python converts (sys.get_int_max_str_digits).
            raise self._error(f"invalid YAML value: {exc}", line, pointer) from None
