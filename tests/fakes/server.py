"""Run an ASGI app on a real HTTP server bound to 127.0.0.1, in a thread, for one test scope."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.responses import StreamingResponse


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yield its base URL; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, a response written in two parts waits ~40 ms for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def dropped_midway(body: bytes, media_type: str) -> StreamingResponse:
    """A response that announces all of ``body`` but breaks off half-way, as a dropped connection does."""

    async def half_then_drop() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise ConnectionResetError("fake: connection dropped mid-download")

    return StreamingResponse(half_then_drop(), media_type=media_type, headers={"content-length": str(len(body))})
