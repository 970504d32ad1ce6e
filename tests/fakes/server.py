"""Run an ASGI app on a real HTTP server bound to 127.0.0.1, in a thread, for one test scope."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.responses import StreamingResponse

# For clients of these servers (``httpx.Client(..., verify=LOOPBACK_TLS)``): they speak plain HTTP, so no CA bundle to
# load (httpx's default loads certifi's for every client, some 30-150 ms); an HTTPS URL would fail closed, never go
# unverified.
LOOPBACK_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _TestServer(uvicorn.Server):
    """uvicorn's server, starting and stopping at once: a test starts and stops hundreds of them, and uvicorn's 0.1 s
    tick and its fixed 0.1 s pause at shutdown made every stop take about 0.2 s (a second for a test with six
    servers). ``ready`` is set once it listens (or failed to); ``stop()`` wakes its loop rather than waiting for a
    tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    def stop(self) -> None:
        """From another thread: exit now."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        assert self._wake is not None
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            # uvicorn's tick (the Date header, once a second at 10 ticks), cut short by stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close; a request still in flight finishes first
        deadline = time.monotonic() + 2
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in self.server_state.tasks:
            task.cancel()
        for listener in self.servers:
            await listener.wait_closed()


@contextmanager
def running_server(app: Any, *, tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yield its base URL; stop it on exit. ``tls``: (certificate
    file, key file) to serve https instead."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, a response written in two parts waits ~40 ms for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = _TestServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not server.ready.wait(timeout=10) or not server.started:
        server.stop()
        thread.join(timeout=10)
        sock.close()
        raise RuntimeError("test server did not start")
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()


def dropped_midway(body: bytes, media_type: str) -> StreamingResponse:
    """A response that announces all of ``body`` but breaks off half-way, as a dropped connection does."""

    async def half_then_drop() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise ConnectionResetError("fake: connection dropped mid-download")

    return StreamingResponse(half_then_drop(), media_type=media_type, headers={"content-length": str(len(body))})


@dataclass
class _Fault:
    kind: str  # "lose" | "stall"
    method: str
    path_contains: str
    times: int  # requests left to hit
    seconds: float = 0.0  # how long a stall holds


class Unreliable:
    """Wraps a fake's ASGI app with network faults armed per request: ``lose_next`` handles a request as usual
    (the provider does the work) but breaks its answer off after the headers, so the client never learns the
    outcome; ``stall_next`` holds a request that long before handling it (a client with a shorter timeout gives
    up). Attribute reads go to the wrapped app (``.state.fake`` keeps working)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._rules: list[_Fault] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def lose_next(self, method: str, path_contains: str, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Fault("lose", method, path_contains, times))

    def stall_next(self, method: str, path_contains: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Fault("stall", method, path_contains, times, seconds))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.method == method and rule.path_contains in path:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        rule = self._take(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "stall":
            await asyncio.sleep(rule.seconds)
            await self.app(scope, receive, send)
            return
        status = [200]

        async def swallow(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        await self.app(scope, receive, swallow)  # the work is done
        await send({"type": "http.response.start", "status": status[0], "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionResetError("fake: the answer was lost after the request was handled")
