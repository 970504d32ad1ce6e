"""Stream views: an uploaded file handed on without its file descriptor stays in memory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from batchbridge.domain.streams import without_fileno


@contextmanager
def spooled(data: bytes) -> Iterator[tempfile.SpooledTemporaryFile[bytes]]:
    """How Starlette holds an uploaded file: in memory up to 1 MiB."""
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as file:
        file.write(data)
        file.seek(0)
        yield file


def test_a_multipart_body_from_the_view_leaves_the_upload_in_memory() -> None:
    data = b'{"custom_id": "a"}\n' * 100
    with spooled(data) as raw:
        request = httpx.Request("POST", "http://127.0.0.1/files", files={"file": ("in.jsonl", raw)})
        assert raw._rolled  # type: ignore[attr-defined]  # the trap: httpx asked the file itself for its fileno
    with spooled(data) as raw:
        view = without_fileno(raw)
        request = httpx.Request("POST", "http://127.0.0.1/files", files={"file": ("in.jsonl", view)})
        body = request.read()
        assert not raw._rolled  # type: ignore[attr-defined]
        assert int(request.headers["Content-Length"]) == len(body) and data in body  # sized by seek and tell


def test_the_view_reads_lines_seeks_and_leaves_the_stream_open() -> None:
    with spooled(b"one\ntwo\nthree") as raw:
        view = without_fileno(raw)
        assert view.readline() == b"one\n"
        assert view.read() == b"two\nthree"
        view.seek(4)
        assert view.tell() == 4 and view.read(3) == b"two"
        view.close()
        raw.seek(0)
        assert raw.read() == b"one\ntwo\nthree"
