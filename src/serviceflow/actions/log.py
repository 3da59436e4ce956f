"""``log``: the built-in action, writing each finding it is handed to a log.

It is the simplest useful action and the reference for the action contract: idempotent per
idempotency key when it writes to a file (a transition already logged there is not written again),
one whole line per finding, nothing written half. Options (``[actions.log]``):

* ``path``: a JSON Lines file to append to; without it, findings go to the ``serviceflow.actions``
  Python logger at WARNING level, where the embedding application's logging decides what happens.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serviceflow.contributions import ActionContext, ActionFunction
from serviceflow.errors import ConfigError
from serviceflow.findings import Finding
from serviceflow.timeutil import format_datetime

NAME = "log"
LOGGER = logging.getLogger("serviceflow.actions")


def create(options: Mapping[str, Any]) -> ActionFunction:
    """The log action for the ``[actions.log]`` options."""
    unknown = set(options) - {"path"}
    if unknown:
        raise ConfigError(
            f"action '{NAME}' has no option {', '.join(sorted(map(repr, unknown)))} (options: path)"
        )
    path = options.get("path")
    if path is None:
        return _to_logger
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"action '{NAME}': 'path' must be a file path")
    return _JsonLinesLog(Path(path))


def _entry(finding: Finding, context: ActionContext) -> dict[str, Any]:
    return {
        "key": context.idempotency_key or "/".join(finding.key),
        "transition": context.transition,
        "now": format_datetime(context.now),
        **finding.to_dict(),
    }


def _to_logger(finding: Finding, context: ActionContext) -> str:
    LOGGER.warning("%s", json.dumps(_entry(finding, context), ensure_ascii=False, sort_keys=True))
    return "logged"


class _JsonLinesLog:
    """Appends one JSON line per transition not yet in the file (keyed by its idempotency key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._logged: set[str] | None = None

    def _keys(self) -> set[str]:
        if self._logged is None:
            self._logged = set()
            if self.path.exists():
                with self.path.open(encoding="utf-8") as lines:
                    for line in lines:
                        try:
                            self._logged.add(json.loads(line)["key"])
                        except (ValueError, KeyError, TypeError):
                            continue  # a line someone else wrote; not ours to judge
        return self._logged

    def __call__(self, finding: Finding, context: ActionContext) -> str:
        entry = _entry(finding, context)
        keys = self._keys()
        if entry["key"] in keys:
            return f"already in {self.path}"
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as log:
            log.write(line)  # one write per line: a reader never sees half an entry
        keys.add(entry["key"])
        return f"appended to {self.path}"
