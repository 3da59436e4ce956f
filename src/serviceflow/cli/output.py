"""Where the CLI writes: terminals, colour, atomic report files and error lines on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import click

from serviceflow.errors import ServiceflowError


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def use_color(output: Path | None) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything (no-color.org)."""
    return output is None and stdout_is_terminal() and not os.environ.get("NO_COLOR")


def echo_errors(errors: Iterable[ServiceflowError]) -> None:
    """One ``file:line: /pointer: message`` line per error, on stderr."""
    for error in errors:
        click.echo(str(error), err=True)


def emit_report(text: str, output: Path | None, color: bool = False) -> None:
    """Write a report to ``output`` atomically, or to stdout."""
    if output is None:
        click.echo(text, nl=False, color=color)
    else:
        write_atomically(output, text)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new, never a part.

    The text goes to a temporary file in the same directory (so that ``os.replace`` is a rename on one
    file system), is flushed to disk, and then replaces the target.
    """
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ServiceflowError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except OSError as exc:
        _remove_quietly(temporary)
        raise ServiceflowError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(temporary)
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; give a new one what ``open()`` would (0o666 less umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
