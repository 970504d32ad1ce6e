"""File-like views of chunk streams, so line readers and uploaders can consume blobs without holding them."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, cast

READ_BUFFER_BYTES = 256 * 1024


class ChunkReader(io.RawIOBase):
    """A raw, read-only, forward-only stream over an iterator of byte chunks (memory: one chunk)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        closer = getattr(self._chunks, "close", None)
        if closer is not None:
            closer()  # a generator over an HTTP body releases its connection
        super().close()


def reader(chunks: Iterable[bytes]) -> BinaryIO:
    """A buffered file object (read, readline) over chunks."""
    return cast(BinaryIO, io.BufferedReader(ChunkReader(chunks), buffer_size=READ_BUFFER_BYTES))
