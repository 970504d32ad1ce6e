"""Processes a test runs beside itself (`batchbridge serve`, a moto server), on loopback, stopped when it ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fakes.server import LOOPBACK_TLS

Process = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the gateway's and AWS's settings (what a newcomer's shell has), plus
    ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BATCHBRIDGE_", "AWS_"))}
    return env | extra


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    """``command`` as a process logging to ``log`` (a file, not a pipe: a full pipe would block it); stopped on
    exit, killed if it does not stop."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop(process)


def stop(process: Process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: Process, log: Path, timeout: float = 60) -> None:
    """Until ``url`` answers at all; a process that exits first fails the test with its log."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{process.args} exited early:\n{log.read_text()}"
        try:
            httpx.get(url, timeout=1, verify=LOOPBACK_TLS)
            return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up in {timeout:g} s"
        time.sleep(0.2)


@contextmanager
def serving(env: dict[str, str], log: Path, *args: str) -> Iterator[tuple[str, Process]]:
    """`batchbridge serve` with ``env`` and ``args`` on a free loopback port: (its base URL, its process)."""
    port = free_port()
    command = [sys.executable, "-m", "batchbridge.cli", "serve", "--port", str(port), *args]
    with running(command, env, log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/docs", process, log)
        yield base, process


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto server (AWS emulated) in a process of its own: its endpoint URL."""
    port = free_port()
    with running([sys.executable, "-m", "moto.server", "-p", str(port)], clean_env(), log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log)
        yield url
