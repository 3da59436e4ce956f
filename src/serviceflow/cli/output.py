"""Where the CLI writes: terminals, colour, atomic report files and error lines on stderr.

A report file never destroys what it should not: :func:`check_output_path` refuses an output that is
one of the run's own files (an input, the waivers file; compared by inode, so another name, a hard
link or a symlink for the same file is caught too) and anything but a regular file (a FIFO, a device,
a directory), and an existing read-only file is an error rather than replaced. :func:`write_atomically`
applies the same check at the moment it writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from serviceflow.errors import ServiceflowError
from serviceflow.records.reader import RECORD_FILE_SUFFIXES
from serviceflow.reporters.escaping import printable


def stdout_is_terminal() -> bool:
    stream = _report_stream()
    return bool(getattr(stream, "isatty", lambda: False)())


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def use_color(output: Path | None) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything (no-color.org)."""
    return output is None and stdout_is_terminal() and not os.environ.get("NO_COLOR")


def echo_errors(errors: Iterable[ServiceflowError]) -> None:
    """One ``file:line: /pointer: message`` line per error, on stderr, record data made printable."""
    for error in errors:
        click.echo(printable(str(error)), err=True)


def emit_report(
    text: str | Iterable[str], output: Path | None, color: bool = False, protected: Iterable[Path] = ()
) -> None:
    """Write a report (its text, or its pieces in order) to ``output`` atomically (never over a
    ``protected`` file), or to stdout.

    Standard output is the one the command started with, even inside :func:`stray_output_to_stderr`.
    """
    if output is None:
        stream = require_stdout()
        try:
            for piece in _slices(text):
                click.echo(piece, nl=False, color=color, file=stream)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away (``| head``): serviceflow.cli.app ends quietly
            raise ServiceflowError(
                f"cannot write the report to standard output: {exc.strerror or exc}"
            ) from exc
    else:
        write_atomically(output, text, protected)


#: How much of a report is encoded and written at a time.
_SLICE = 1 << 20


def _slices(text: str | Iterable[str]) -> Iterator[str]:
    """The report in pieces of at most about :data:`_SLICE` characters, each ending at a line's end.

    Writing a report whole makes the stream encode it whole: a second copy of a report that, for a
    million records under every policy, is over a hundred megabytes. A long text is cut at line ends,
    so that no escape sequence (a colour) is split between two writes; small pieces are gathered into
    writes of about that size.
    """
    gathered: list[str] = []
    size = 0
    for piece in (text,) if isinstance(text, str) else text:
        if len(piece) < _SLICE:  # small pieces (a finding each) are gathered into one write
            gathered.append(piece)
            size += len(piece)
            if size >= _SLICE:
                yield "".join(gathered)
                gathered, size = [], 0
            continue
        if gathered:
            yield "".join(gathered)
            gathered, size = [], 0
        start = 0
        while start < len(piece):
            end = piece.find("\n", start + _SLICE)
            end = len(piece) if end < 0 else end + 1
            yield piece[start:end]
            start = end
    if gathered:
        yield "".join(gathered)


def require_stdout() -> Any:
    """The stream a report goes to; an error when standard output is closed (``>&-``).

    Called before a run too, so that a long evaluation is not wasted on a report nobody can receive.
    """
    stream = _report_stream()
    if stream is None:
        raise ServiceflowError(
            "standard output is closed, so the report has nowhere to go; use --output FILE"
        )
    return stream


_REPORT_STREAM = "serviceflow.report_stream"


@contextlib.contextmanager
def stray_output_to_stderr() -> Iterator[None]:
    """While a command runs, send whatever else writes to stdout (a plugin's ``print()``) to stderr.

    A JSON or SARIF report on stdout is read by a program: one line printed by a plugin's import, a
    condition or an action would make it unreadable. :func:`emit_report` still writes to stdout.
    """
    context = click.get_current_context()
    context.meta.setdefault(_REPORT_STREAM, sys.stdout)
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _report_stream() -> Any:
    """Standard output as the command found it (``None`` when it is closed)."""
    context = click.get_current_context(silent=True)
    if context is not None and _REPORT_STREAM in context.meta:
        return context.meta[_REPORT_STREAM]
    return sys.stdout


def check_output_path(output: Path, protected: Iterable[Path] = ()) -> None:
    """Refuse to write a report where it would destroy something; raise :class:`ServiceflowError`.

    ``protected`` are the run's own files: its inputs (files or directories; ``-`` is skipped), the
    waivers file, the configuration. The output may not be one of them, whatever name it is given,
    nor an existing record file (:data:`RECORD_FILE_SUFFIXES`) inside a protected directory, which the
    run reads as input; a report of another kind there (``report.sarif``) may be replaced. It must be a
    regular file or not exist yet: a FIFO, a device or a directory would be replaced by a regular
    file, or fail half-way. An existing file that nobody may write is read-only on purpose and is not
    replaced. Call this before the run, so a long evaluation is not wasted.
    """
    shown = printable(str(output))
    try:
        target = os.stat(output)
    except FileNotFoundError:
        target = None
    except OSError as exc:
        raise ServiceflowError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if target is not None and not stat.S_ISREG(target.st_mode):
        raise ServiceflowError(
            f"will not write the report to {shown}: it is {_file_kind(target.st_mode)}, not a regular file"
        )
    for path in protected:
        if str(path) == "-":
            continue
        try:
            guarded = os.stat(path)
        except OSError:
            continue  # a protected path that does not exist cannot be overwritten
        if target is not None and os.path.samestat(target, guarded):
            raise ServiceflowError(
                f"will not write the report to {shown}: it is the same file as {printable(str(path))}, "
                "which this run reads; choose another --output"
            )
        if (
            target is not None
            and stat.S_ISDIR(guarded.st_mode)
            and output.name.endswith(RECORD_FILE_SUFFIXES)
            and _inside(output, path)
        ):
            raise ServiceflowError(
                f"will not write the report to {shown}: it is a record file inside "
                f"{printable(str(path))}, which this run reads; choose another --output"
            )
    if target is not None and (not target.st_mode & 0o222 or not os.access(output, os.W_OK)):
        # The mode bits, not only os.access: root may write anything, yet a 0444 file says "keep".
        raise ServiceflowError(f"will not replace {shown}: it is read-only")


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _inside(path: Path, directory: Path) -> bool:
    """Whether ``path`` lies somewhere under ``directory`` (by inode, whatever the spelling)."""
    try:
        guarded = os.stat(directory)
        parents = Path(os.path.realpath(path)).parents
    except OSError:
        return False
    for parent in parents:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(parent), guarded):
                return True
    return False


def write_atomically(path: Path, text: str | Iterable[str], protected: Iterable[Path] = ()) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new, never a part.

    :func:`check_output_path` decides first whether ``path`` may be written at all. A symlink is
    followed, so the file it names is replaced and the link kept. The text goes to a temporary file in
    the same directory (so that ``os.replace`` is a rename on one file system), is flushed to disk, and
    then replaces the target.
    """
    check_output_path(path, protected)
    path = Path(os.path.realpath(path))
    shown = printable(str(path))
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ServiceflowError(f"cannot write {shown}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for piece in _slices(text):
                stream.write(piece)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except OSError as exc:
        _remove_quietly(temporary)
        raise ServiceflowError(f"cannot write {shown}: {exc.strerror or exc}") from None
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
