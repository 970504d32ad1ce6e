"""`batchbridge serve` on its embedded default: a separate process, the real SDK, no AWS account."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

JSONL = (
    '{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 100}}\n'
    '{"custom_id": "req-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 100}}'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(fake_openai: tuple[Any, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BATCHBRIDGE_", "AWS_"))}
    env["BATCHBRIDGE_OPENAI_BASE_URL"] = fake_openai[1]
    log = (tmp_path / "serve.log").open("wb")  # a file, not a pipe: a full pipe would block the server
    process = subprocess.Popen(
        [sys.executable, "-m", "batchbridge.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = (tmp_path / "serve.log").read_text()
                raise AssertionError(f"batchbridge serve exited early:\n{output}")
            try:
                if httpx.get(base + "/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("batchbridge serve did not start in time")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_serve_runs_the_openai_workflow_on_the_embedded_store(served: str) -> None:
    client = OpenAI(base_url=served + "/openai", api_key="your-openai-api-key", max_retries=0)
    uploaded = client.files.create(
        file=("batch_e2e.jsonl", JSONL.encode(), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": "openai"},
    )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": "openai"},
    )
    for _ in range(10):
        batch = client.batches.retrieve(batch.id, extra_query={"provider": "openai"})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            break
    assert batch.status == "completed"
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    assert batch.output_file_id is not None
    output = client.files.content(batch.output_file_id).read().decode()
    assert "echo: What is the capital of France?" in output
    assert [f.id for f in client.files.list(purpose="batch")] == [uploaded.id]
    docs = httpx.get(served + "/openapi.json").json()
    assert "/openai/v1/files" in docs["paths"] and "/openai/v1/batches/{batch_id}/cancel" in docs["paths"]
