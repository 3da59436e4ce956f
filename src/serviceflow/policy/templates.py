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

    def replace(match: re.Match[str]) -> str:
        root, path = match.group(1), match.group(2)
        if root == "params":
            value: Any = params.get(path[1:])
            path = ""
        elif root == "deadline":
            value = deadline
        else:
            value = bindings.get(root)
        for part in path.split(".")[1:]:
            value = value.get(part) if isinstance(value, Record | dict) else None
        return format_value(value)

    return PLACEHOLDER.sub(replace, template)


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
