"""The policy language: loading YAML policies, compiling them, and the compiled form evaluators read."""

from serviceflow.policy.compiler import PolicyDefinition, parse_policy, policy_schema
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.loader import bundled_policy_dir, load_policies, policy_files

__all__ = [
    "CompiledPolicy",
    "PolicyDefinition",
    "bundled_policy_dir",
    "load_policies",
    "parse_policy",
    "policy_files",
    "policy_schema",
]
