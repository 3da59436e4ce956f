"""Where each side of ``serviceflow diff`` comes from: a configuration, a policy directory, or git.

A side is written as

* a configuration file (``serviceflow.toml``, ``pyproject.toml``, any ``*.toml``): that
  configuration, its policy paths resolved against it as ``lint --config`` does;
* a policy file or directory: the run's configuration (``--config`` or the nearest one) with its
  ``policy-paths`` replaced by this one, so that ``--before policies/ --after policies-new/`` compares
  two copies of a pack rather than loading both;
* ``git:REF``: the configuration and policies as they were at revision ``REF`` of the repository the
  command runs in. Only the files a configuration can name (``*.toml``, ``*.yaml``, ``*.yml``,
  ``*.ics``, ``*.json``) are taken out of ``git archive REF`` into a temporary directory, which is
  removed afterwards; the work tree, the index and the refs are never touched. The configuration is
  looked for there as it would be in the work tree: ``--config``'s path, else the nearest one above
  the working directory's place in the repository (none at all: the defaults).

Bundled policies and plugins' packs are those installed now, on both sides: a revision holds the
user's files, not serviceflow's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serviceflow.config import Config, find_config, load_config
from serviceflow.errors import ConfigError
from serviceflow.policy.loader import POLICY_SUFFIXES

__all__ = ["GIT_PREFIX", "Side", "open_side"]

GIT_PREFIX = "git:"
#: The files a configuration and its policies can consist of: everything else in a revision (records,
#: code, data) is left in git.
_CONFIGURATION_SUFFIXES = (".toml", ".json", ".ics", *POLICY_SUFFIXES)
_GIT_TIMEOUT = 300


@dataclass(frozen=True)
class Side:
    """One side of a diff: the configuration to build its engine from, and how to name it."""

    label: str
    config: Config


@contextlib.contextmanager
def open_side(
    spec: str, base: Config, *, config_path: Path | None = None, cwd: Path | None = None
) -> Iterator[Side]:
    """The side ``spec`` names (see the module docstring), valid inside the ``with`` block.

    ``base`` is the run's configuration (for a policy directory); ``config_path`` is ``--config``,
    looked for at a git revision under the same path.
    """
    where = cwd or Path.cwd()
    if spec.startswith(GIT_PREFIX):
        ref = spec[len(GIT_PREFIX) :]
        with _configuration_at(ref, where, config_path) as config:
            yield Side(spec, config)
        return
    path = Path(spec)
    if not path.exists():
        raise ConfigError(
            f"'{spec}' does not exist: write a configuration file, a policy file or directory, or git:REF"
        )
    if path.is_file() and path.suffix == ".toml":
        yield Side(spec, load_config(path))
    elif path.is_dir() or path.suffix in POLICY_SUFFIXES:
        yield Side(spec, dataclasses.replace(base, policy_paths=(path,)))
    else:
        raise ConfigError(
            f"'{spec}' is not a configuration file (*.toml), a policy file ({', '.join(POLICY_SUFFIXES)}) "
            "or directory, or git:REF"
        )


@contextlib.contextmanager
def _configuration_at(ref: str, cwd: Path, config_path: Path | None) -> Iterator[Config]:
    if not ref or ref.startswith("-"):
        raise ConfigError(
            f"'git:{ref}' does not name a revision (write git:REF, e.g. git:main or git:HEAD~3)"
        )
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd, "git:REF needs a git repository").strip())
    commit = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd,
        f"unknown git revision '{ref}'",
    ).strip()
    with tempfile.TemporaryDirectory(prefix="serviceflow-git-") as temporary:
        root = Path(temporary)
        _extract_configuration(top, commit, root)
        yield load_config(_find_at_revision(root, top, cwd, config_path))


def _extract_configuration(top: Path, commit: str, root: Path) -> None:
    """Copy the configuration-like files of ``commit`` to ``root``, streaming ``git archive``."""
    command = ["git", "-C", str(top), "archive", "--format=tar", commit]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
                for member in archive:
                    # Directories too: a configured policy directory may hold no policy at that revision.
                    if member.isdir() or (member.isfile() and member.name.endswith(_CONFIGURATION_SUFFIXES)):
                        # The data filter refuses absolute paths, '..' and links leaving root.
                        archive.extract(member, root, filter="data")
            process.stdout.read()  # the archive's padding, so that git can finish writing
        except BaseException as exc:
            process.kill()  # else git may wait for ever on a pipe nobody reads
            if isinstance(exc, tarfile.TarError):
                raise ConfigError(f"cannot read revision {commit[:12]} with git archive: {exc}") from None
            raise
        error = process.stderr.read().decode("utf-8", "replace")
        process.wait(timeout=_GIT_TIMEOUT)
    if process.returncode != 0:
        raise ConfigError(f"git archive {commit[:12]} failed: {error.strip()}")


def _find_at_revision(root: Path, top: Path, cwd: Path, config_path: Path | None) -> Path | None:
    """The configuration file inside the extracted revision, where the work tree would have it."""
    if config_path is not None:
        relative = _inside_repository(config_path, top, "--config")
        candidate = root / relative
        if not candidate.is_file():
            raise ConfigError(f"{relative.as_posix()} does not exist at that revision")
        return candidate
    start = root / _inside_repository(cwd, top, "the working directory")
    while not start.is_dir() and start != root:
        start = start.parent  # the directory did not exist at that revision: look from its parent
    found = find_config(start)
    # find_config walks on up past the temporary directory: what it finds there is not the revision's.
    if found is None or not found.resolve().is_relative_to(root.resolve()):
        return None
    return found


def _inside_repository(path: Path, top: Path, what: str) -> Path:
    try:
        return path.resolve().relative_to(top.resolve())
    except ValueError:
        raise ConfigError(f"{what} ({path}) is not inside the git repository at {top}") from None


def _git(arguments: list[str], cwd: Path, failure: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise ConfigError("git:REF needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {arguments[0]} did not answer within {_GIT_TIMEOUT}s") from None
    if completed.returncode != 0:
        detail = completed.stderr.strip()
        raise ConfigError(f"{failure}{': ' + detail if detail else ''}")
    return completed.stdout
