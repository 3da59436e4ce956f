"""Message templates: the one parser of ``{subject.promise}``-style placeholders, and the one renderer.

A policy's ``message`` and ``pending_message`` name values: ``{subject.due}``, ``{params.within}``,
``{deadline}``, a let (``{due}``) and fields under it. The compiler checks the names
(:func:`placeholders`), the field-reference check reads the paths, and both evaluators render findings
with :func:`render` and :func:`format_value`, so a message reads the same whichever evaluator ran.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from serviceflow.records.model import Record
from serviceflow.timeutil import format_datetime, format_duration

__all__ = ["PLACEHOLDER", "format_value", "placeholders", "render"]

#: ``{root}`` or ``{root.path.to.field}``.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\}")


def placeholders(template: str) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """``(root, path, text)`` for each placeholder: ``{subject.window.start}`` gives
    ``("subject", ("window", "start"), "subject.window.start")``."""
    for match in PLACEHOLDER.finditer(template):
        path = tuple(match.group(2).split(".")[1:])
        yield match.group(1), path, match.group(0)[1:-1]


def render(
    template: str, bindings: Mapping[str, Any], params: Mapping[str, Any], deadline: datetime | None
) -> str:
    """Fill ``{subject.promise}``, ``{params.within}``, ``{deadline}`` and let names into a message."""
    pieces: list[str] = []
    for text, root, path in _parsed(template):
        pieces.append(text)
        if root is None:
            continue
        if root == "params":
            value: Any = params.get(path[0]) if path else None
            path = ()
        elif root == "deadline":
            value = deadline
        else:
            value = bindings.get(root)
        for part in path:
            value = value.get(part) if isinstance(value, Record | dict) else None
        pieces.append(format_value(value))
    return "".join(pieces)


@lru_cache(maxsize=1024)
def _parsed(template: str) -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    """The template as (literal text, placeholder root or None, path) pieces, parsed once."""
    pieces: list[tuple[str, str | None, tuple[str, ...]]] = []
    position = 0
    for match in PLACEHOLDER.finditer(template):
        pieces.append(
            (template[position : match.start()], match.group(1), tuple(match.group(2).split(".")[1:]))
        )
        position = match.end()
    pieces.append((template[position:], None, ()))
    return tuple(pieces)


def format_value(value: Any) -> str:
    """How a value reads in a message, a trace or a report."""
    if value is None:
        return "(none)"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Record):
        return value.id
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
