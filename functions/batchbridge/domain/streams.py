"""File-like views of chunk streams, so line readers and uploaders can consume blobs without holding them."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO, cast

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


def without_fileno(stream: IO[bytes]) -> BinaryIO:
    """A buffered view of ``stream`` that reads and seeks it but has no ``fileno``. Asking a SpooledTemporaryFile
    (how Starlette holds an uploaded file) for a file descriptor writes it to disk; httpx asks, to size a
    multipart part, and Starlette then closes the rolled-over file on a worker thread. Without one, httpx sizes
    it by seek and tell. Closing the view leaves ``stream`` open."""
    return cast(BinaryIO, io.BufferedReader(ReadSeekView(stream), buffer_size=READ_BUFFER_BYTES))


class ReadSeekView(io.RawIOBase):
    """Reads and seeks of a stream, and nothing else (``fileno`` raises io.UnsupportedOperation)."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()
