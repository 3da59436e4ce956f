"""The plugin serviceflow loads (entry point ``rt``): declares the ``rt-comment`` action.

The source (:class:`serviceflow_rt.source.RtSource`) and the commands (:mod:`serviceflow_rt.cli`)
are declared here once serviceflow has the ``sources`` and ``commands`` hooks.
"""

from __future__ import annotations

from serviceflow.plugin import ActionSpec, hookimpl
from serviceflow_rt import actions


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            actions.NAME,
            actions.create,
            "comment on the finding's RT ticket once (optionally set a custom field, move it to a queue)",
        )
    ]
