"""The plugin serviceflow loads (entry point ``acme``): Acme's policy pack and its named conditions.

A plugin is only a module with hook functions marked ``@hookimpl``; each returns declarations and
serviceflow does the rest (loads the YAML, checks each policy's calls against the conditions declared
here, lists both in ``serviceflow plugins``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from acme_serviceflow_policies.conditions import CONDITIONS
from serviceflow.plugin import NamedCondition, PolicyPackSpec, hookimpl

#: The YAML policies, shipped as package data; their policy tests are in its ``tests/`` folder.
POLICIES = Path(str(resources.files("acme_serviceflow_policies").joinpath("policies")))


@hookimpl
def serviceflow_policy_packs() -> list[PolicyPackSpec]:
    return [PolicyPackSpec("acme", POLICIES, POLICIES / "tests")]


@hookimpl
def serviceflow_named_conditions() -> list[NamedCondition]:
    return list(CONDITIONS)
