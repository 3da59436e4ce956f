"""Which files are policy tests: named ones always; in a directory, the ones the policy loader skips.

The two rules must agree, or a directory of policies and their tests would either load a test file as
a policy or leave a test unrun. So the one predicate lives with the policy loader
(:func:`serviceflow.policy.loader.is_policy_test_file`) and this module only walks directories.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from serviceflow.errors import Location
from serviceflow.policy.loader import POLICY_SUFFIXES, is_policy_test_file
from serviceflow.policytest.format import PolicyTestError


def find_test_files(paths: Iterable[Path]) -> list[Path]:
    """Test files named, and those under directories named (recursively, sorted), each once.

    In a directory a test file is a YAML file named ``*.test.yaml``/``*.test.yml`` or any YAML file
    under a ``tests/`` directory: the one named, or one below it. A path that does not exist is an
    error naming it.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if (
                    candidate.suffix in POLICY_SUFFIXES
                    and candidate.is_file()
                    and is_policy_test_file(Path(path.resolve().name) / candidate.relative_to(path))
                ):
                    found.setdefault(candidate, None)
        elif path.is_file():
            found.setdefault(path, None)
        else:
            raise PolicyTestError("no such test file or directory", Location(str(path)))
    return list(found)
