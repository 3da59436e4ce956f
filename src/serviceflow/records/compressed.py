"""Input bytes that may be gzip-compressed: told apart by their first bytes, decompressed within a bound.

Why one place: every reader of exported files (the CSV log importers, the ABCD importer, plugins'
readers such as the Asterisk call records) must take a ``.gz`` export piped on standard input as well as
one named on the command line, so compression is recognised by the gzip magic bytes, not by a name.
And none may let a small file decompress without end (a gzip bomb of a few kilobytes can expand to
terabytes): past :data:`~serviceflow.limits.MAX_DECOMPRESSED_BYTES`, reading stops with an
:class:`~serviceflow.errors.InputError` naming the file, which ends that source only.

The records reader checks the same bound itself, every so many lines, because it sits on the hot path
of every lint; everything else reads through here.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from serviceflow import limits
from serviceflow.errors import InputError, Location

__all__ = ["GZIP_MAGIC", "decompressed_stream"]

GZIP_MAGIC = b"\x1f\x8b"


def decompressed_stream(raw: BinaryIO, name: str) -> BinaryIO:
    """The bytes of ``raw``, decompressed when they start like gzip; ``name`` is the source's name.

    The sniffed bytes are read again either way, so ``raw`` may be a pipe. Reading past
    :data:`~serviceflow.limits.MAX_DECOMPRESSED_BYTES` decompressed bytes raises InputError; a corrupt
    or truncated gzip stream raises ``OSError``/``EOFError`` while it is read, as :mod:`gzip` does.
    """
    head = b""
    while len(head) < len(GZIP_MAGIC):
        chunk = raw.read(len(GZIP_MAGIC) - len(head))
        if not chunk:
            break
        head += chunk
    stream = io.BufferedReader(_Prefixed(head, raw))
    if head != GZIP_MAGIC:
        return stream
    inflated = gzip.GzipFile(fileobj=stream, mode="rb")
    return io.BufferedReader(_Capped(inflated, name, limits.MAX_DECOMPRESSED_BYTES))


class _Prefixed(io.RawIOBase):
    """A stream that yields ``head`` again before the rest of ``tail`` (the bytes sniffed for gzip)."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        self._head = head
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Capped(io.RawIOBase):
    """A decompressing stream that refuses to yield more than ``limit`` bytes in all."""

    def __init__(self, inner: gzip.GzipFile, name: str, limit: int) -> None:
        self._inner = inner
        self._name = name
        self._left = limit
        self._limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        # Ask for one byte more than is allowed, so that a stream of exactly the limit still ends.
        view = memoryview(buffer)[: self._left + 1]
        count = self._inner.readinto(view)
        if count > self._left:
            raise InputError(
                f"{self._name} decompresses to more than {self._limit:,} bytes "
                "(serviceflow.limits.MAX_DECOMPRESSED_BYTES); the rest of it is not read",
                Location(file=self._name),
            )
        self._left -= count
        return count

    def close(self) -> None:
        self._inner.close()
        super().close()
