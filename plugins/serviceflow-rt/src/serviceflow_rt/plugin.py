"""The plugin serviceflow loads (entry point ``rt``): the ``rt`` source, the ``rt-comment`` action and
the ``serviceflow rt`` commands.

* source ``rt`` (``[sources.rt]``): ticket history polled from REST2 into the service's store
  (:class:`serviceflow_rt.source.RtPoller`);
* action ``rt-comment`` (``[actions.rt-comment]``): a finding written on its ticket, once per
  idempotency key (:mod:`serviceflow_rt.actions`);
* command ``rt`` (``serviceflow rt install-gate``, ``uninstall-gate``, ``export``):
  :mod:`serviceflow_rt.cli`, imported only when the command runs, so the service that loads this
  plugin for its source and action never imports click or the commands.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from serviceflow.plugin import ActionSpec, CommandSpec, SourceSpec, hookimpl
from serviceflow_rt import actions, source


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            actions.NAME,
            actions.create,
            "comment on the finding's RT ticket once (optionally set a custom field, move it to a queue)",
        )
    ]


@hookimpl
def serviceflow_sources() -> list[SourceSpec]:
    return [
        SourceSpec(
            "rt",
            source.create,
            "Request Tracker 5 ticket history (REST2 transactions after a cursor) as records",
            interval=timedelta(minutes=1),
        )
    ]


@hookimpl
def serviceflow_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            "rt", load=_commands, description="Request Tracker: install the status gate, export history"
        )
    ]


def _commands() -> Any:
    return importlib.import_module("serviceflow_rt.cli").rt
