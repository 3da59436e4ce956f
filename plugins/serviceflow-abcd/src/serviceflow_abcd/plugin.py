"""The plugin serviceflow loads (entry point ``abcd``): the ``verification`` record type, the
guidelines' policies and the named condition one of them calls."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from serviceflow.plugin import NamedCondition, PolicyPackSpec, RecordTypeSpec, hookimpl
from serviceflow_abcd.conditions import CONDITIONS

_PACKAGE = resources.files("serviceflow_abcd")
#: The YAML policies, shipped as package data; their policy tests are in its ``tests/`` folder.
POLICIES = Path(str(_PACKAGE.joinpath("policies")))
VERIFICATION_SCHEMA = json.loads(_PACKAGE.joinpath("verification.schema.json").read_text(encoding="utf-8"))


@hookimpl
def serviceflow_record_types() -> list[RecordTypeSpec]:
    return [RecordTypeSpec("verification", VERIFICATION_SCHEMA)]


@hookimpl
def serviceflow_policy_packs() -> list[PolicyPackSpec]:
    return [PolicyPackSpec("abcd", POLICIES, POLICIES / "tests")]


@hookimpl
def serviceflow_named_conditions() -> list[NamedCondition]:
    return list(CONDITIONS)
