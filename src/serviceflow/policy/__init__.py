"""The policy language: loading YAML policies, compiling them, and the compiled form evaluators read.

Names are loaded on first use: the compiler needs jsonschema, which a command that only lists plugins
or prints its version has no use for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "CompiledPolicy": "serviceflow.policy.ir",
    "PolicyDefinition": "serviceflow.policy.compiler",
    "bundled_policy_dir": "serviceflow.policy.bundled",
    "load_policies": "serviceflow.policy.loader",
    "parse_policy": "serviceflow.policy.compiler",
    "policy_files": "serviceflow.policy.loader",
    "policy_schema": "serviceflow.policy.compiler",
}

__all__ = [
    "CompiledPolicy",
    "PolicyDefinition",
    "bundled_policy_dir",
    "load_policies",
    "parse_policy",
    "policy_files",
    "policy_schema",
]

if TYPE_CHECKING:
    from serviceflow.policy.bundled import bundled_policy_dir
    from serviceflow.policy.compiler import PolicyDefinition, parse_policy, policy_schema
    from serviceflow.policy.ir import CompiledPolicy
    from serviceflow.policy.loader import load_policies, policy_files


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'serviceflow.policy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
