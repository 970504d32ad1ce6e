"""Bounded requests on `batchbridge serve`: a body over its route's cap is a 413 on the bytes actually read (a
chunked body declares no length), the process never holds the excess, and slow clients are dropped."""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.processes import clean_env, serving

AUTH = {"Authorization": "Bearer sk-limits"}
MB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`batchbridge serve` (embedded store) with short head and body timeouts: (its base URL, its pid)."""
    args = ("--head-timeout", "2", "--body-timeout", "3", "--max-connections", "64")
    with serving(clean_env(), tmp_path / "serve.log", *args) as (base, process):
        yield base, process.pid


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def post(
    base: str, path: str, headers: dict[str, str], chunks: Iterable[bytes], *, chunked: bool
) -> tuple[int, dict[str, Any]]:
    """POST a body sent chunk by chunk over a raw socket, stopping as soon as the server answers (as a client
    streaming a large body does); the status and JSON body of the answer."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (AUTH | headers).items())]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered already
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def spaces(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, total, chunk):
        yield b" " * min(chunk, total - start)


def multipart(field_count: int, field_bytes: int, file_bytes: int, field: str = "file") -> Iterator[bytes]:
    """A multipart body streamed: ``field_count`` text fields, then a file of ``file_bytes`` JSONL-ish bytes."""
    for number in range(field_count):
        yield (
            f'--bnd\r\nContent-Disposition: form-data; name="f{number}"\r\n\r\n'.encode() + b"v" * field_bytes + b"\r\n"
        )
    yield b'--bnd\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
    yield f'--bnd\r\nContent-Disposition: form-data; name="{field}"; filename="a.jsonl"\r\n\r\n'.encode()
    yield from spaces(file_bytes)
    yield b"\r\n--bnd--\r\n"


MULTIPART = {"Content-Type": "multipart/form-data; boundary=bnd"}


def test_oversized_bodies_are_refused_without_being_held(server: tuple[str, int]) -> None:
    base, pid = server
    upload = httpx.post(
        base + "/openai/v1/uploads",
        headers=AUTH,
        json={"filename": "a.jsonl", "purpose": "batch", "bytes": 30 * MB, "mime_type": "text/jsonl"},
    )
    assert upload.status_code == 200, upload.text
    parts = f"/openai/v1/uploads/{upload.json()['id']}/parts"
    baseline = memory_kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) counts from here

    cases: list[tuple[str, dict[str, str], Iterable[bytes], bool, int]] = [
        (
            "/openai/v1/batches",
            {"Content-Type": "application/json", "Content-Length": str(300 * MB)},
            spaces(300 * MB),
            False,
            413,
        ),
        ("/openai/v1/batches", {"Content-Type": "application/json"}, spaces(300 * MB), True, 413),
        ("/openai/v1/files", MULTIPART, multipart(0, 0, 20 * MB), True, 413),
        (parts, MULTIPART | {"Content-Length": str(20 * MB + 200)}, multipart(0, 0, 20 * MB, "data"), False, 413),
        (parts, MULTIPART, multipart(0, 0, 20 * MB, "data"), True, 413),
        ("/openai/v1/files", MULTIPART, multipart(900, 4000, 10), True, 400),
        ("/openai/v1/files", MULTIPART, multipart(2, 2 * MB, 10), True, 400),  # a field over 1 MiB
    ]
    for path, headers, chunks, chunked, expected in cases:
        status, body = post(base, path, headers, chunks, chunked=chunked)
        assert status == expected, (path, headers, body)
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        if expected == 413:
            assert body["error"]["code"] == "request_too_large"
    grown_mb = (memory_kb(pid, "VmHWM") - baseline) / 1024
    assert grown_mb <= 32, f"the gateway's RSS grew by {grown_mb:.1f} MB"
    assert httpx.get(base + "/openai/v1/files", headers=AUTH).status_code == 200  # and it serves on


def test_slow_clients_are_dropped_and_others_served(server: tuple[str, int]) -> None:
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    trickling_heads = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    trickling_bodies = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for sock in trickling_heads:
            sock.sendall(b"POST /openai/v1/files HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the head
        for sock in trickling_bodies:
            sock.sendall(
                b"POST /openai/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
        assert httpx.get(base + "/openai/v1/files", headers=AUTH, timeout=10).status_code == 200
        for sock in trickling_heads:
            sock.settimeout(30)
            assert sock.recv(1024) == b""  # closed by the server, with nothing said
        for sock in trickling_bodies:
            sock.settimeout(30)
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert response.status == 408
            assert json.loads(response.read())["error"]["code"] == "request_timeout"
    finally:
        for sock in trickling_heads + trickling_bodies:
            sock.close()


def test_a_connection_answered_before_its_body_is_read_is_closed(server: tuple[str, int]) -> None:
    """No key: answered 401 before the body is read. A client that goes on trickling that body (each byte would
    stop a keep-alive timer) must not hold the connection: it is closed once answered."""
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
    try:
        for sock in socks:
            sock.sendall(
                b"POST /openai/v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 900000\r\n\r\n{"
            )
        for sock in socks:
            sock.settimeout(30)
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert response.status == 401
            response.read()
        held = set(socks)
        deadline = time.monotonic() + 8  # beyond both timeouts: what is held now would be held for good
        while held and time.monotonic() < deadline:
            for sock in list(held):  # the rest of its body, a byte every half second
                if select.select([sock], [], [], 0)[0] and sock.recv(1024) == b"":
                    held.discard(sock)
                    continue
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")
            time.sleep(0.5)
        assert not held, f"{len(held)} of {len(socks)} connections answered early are still held open"
        assert httpx.get(base + "/openai/v1/files", headers=AUTH, timeout=10).status_code == 200
    finally:
        for sock in socks:
            sock.close()
