"""Find and load policy files: the bundled ones and any the user names (files or directories)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from serviceflow.conditions import NamedCondition
from serviceflow.errors import Location, PolicyError
from serviceflow.policy.compiler import PolicyDefinition, parse_policy
from serviceflow.policy.yamlsource import load_yaml

POLICY_SUFFIXES = (".yaml", ".yml")


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories (recursively, sorted) into policy files; name a missing path as an error."""
    files: list[Path] = []
    for path in paths:
        try:
            if path.is_dir():
                files.extend(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.suffix in POLICY_SUFFIXES and not is_policy_test_file(p.relative_to(path))
                    )
                )
            elif path.is_file():
                files.append(path)
            else:
                raise PolicyError("no such policy file or directory", Location(str(path)))
        except OSError as exc:  # a name too long, a directory that cannot be listed
            raise PolicyError(f"cannot read: {exc.strerror or exc}", Location(str(path))) from None
    return files


def is_policy_test_file(relative: Path) -> bool:
    """Policy test files (``*.test.yaml``, anything under a ``tests/`` folder) sit beside policies.

    ``relative`` is the path below the directory searched, so that a ``tests`` folder above it (a
    project kept under ``tests/``) does not hide every policy. ``serviceflow test`` finds its files by
    the same rule (:mod:`serviceflow.policytest.discovery`).
    """
    return relative.name.endswith((".test.yaml", ".test.yml")) or "tests" in relative.parts[:-1]


def load_policies(
    paths: Iterable[Path], conditions: Mapping[str, NamedCondition] | None = None
) -> list[PolicyDefinition]:
    """Load every policy under ``paths``; two policies with one id are an error naming both files.

    ``conditions`` are the named conditions (from plugins) the policies may call.
    """
    definitions: list[PolicyDefinition] = []
    seen: dict[str, PolicyDefinition] = {}
    for file in policy_files(paths):
        definition = parse_policy(load_yaml(file), conditions)
        if definition.id in seen:
            first = seen[definition.id].document.file
            raise PolicyError(
                f"policy id '{definition.id}' is defined twice (first in {first})",
                definition.document.location("/id"),
                policy_id=definition.id,
            )
        seen[definition.id] = definition
        definitions.append(definition)
    return definitions
