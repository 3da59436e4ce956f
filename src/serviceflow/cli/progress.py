"""A progress line on a terminal's stderr for long runs: the phase, how far, how fast.

Drawn only when stderr is a terminal (the caller decides), at most a few times a second, and erased
before the report is written, so logs and pipes never see it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["TerminalProgress"]

#: Seconds between redraws: often enough to look alive, rarely enough to cost nothing.
REDRAW_EVERY = 0.2


class TerminalProgress:
    """Implements :class:`serviceflow.run.Progress` by redrawing one line of ``stream``."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._clock = clock or time.monotonic
        self._started = self._clock()
        self._drawn_at = 0.0
        self._shown = False

    def reading(self, done: int, total: int | None, items: int) -> None:
        elapsed = self._clock() - self._started
        rate = f"{items / elapsed:,.0f} records/s" if elapsed > 0 else ""
        if total:
            share = min(done / total, 1.0)
            text = (
                f"reading {_bar(share)} {share:4.0%} {_megabytes(done)}/{_megabytes(total)} MB, "
                f"{items:,} records, {rate}"
            )
        else:
            text = f"reading {items:,} records, {rate}"
        self._draw(text, force=total is not None and total > 0 and done >= total)

    def evaluating(self, done: int, total: int) -> None:
        self._draw(f"evaluating {done}/{total}", force=done == total)

    def dashboard(self, link: str) -> None:
        """Name the Dask dashboard of a ``--dask`` run, on a line of its own that stays."""
        self.clear()
        self.stream.write(f"serviceflow: Dask dashboard: {link}\n")
        self.stream.flush()

    def _draw(self, text: str, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        self._shown = True
        self.stream.write(f"\r\x1b[Kserviceflow: {text}")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the line, if one was drawn."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _bar(share: float, width: int = 20) -> str:
    filled = int(share * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:,.1f}"
