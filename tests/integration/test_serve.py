"""`batchbridge serve` on its embedded default: a separate process, the real SDK, no AWS account."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI, Request, Response
from openai import OpenAI

from tests.fakes.compat_upstream import create_app as create_fake_compat
from tests.fakes.server import running_server
from tests.integration.processes import clean_env, serving

JSONL = (
    '{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 100}}\n'
    '{"custom_id": "req-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 100}}'
)


@pytest.fixture
def served(fake_openai: tuple[Any, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _serve(fake_openai, tmp_path, getattr(request, "param", {}))


def _serve(fake_openai: tuple[Any, str], tmp_path: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """Run `batchbridge serve` as its own process on a free loopback port; stop it afterwards."""
    env = clean_env(BATCHBRIDGE_OPENAI_BASE_URL=fake_openai[1], **extra_env)
    with serving(env, tmp_path / "serve.log") as (base, _):
        yield base


@pytest.mark.parametrize("served", [{"BATCHBRIDGE_REFRESH_SECONDS": "0"}], indirect=True)
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
    for _ in range(50):
        batch = client.batches.retrieve(batch.id, extra_query={"provider": "openai"})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            break
        time.sleep(0.1)  # the finalizer runs in the background
    assert batch.status == "completed"
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    assert batch.output_file_id is not None
    output = client.files.content(batch.output_file_id).read().decode()
    assert "echo: What is the capital of France?" in output
    assert [f.id for f in client.files.list(purpose="batch")] == [uploaded.id]
    docs = httpx.get(served + "/openapi.json").json()
    assert "/openai/v1/files" in docs["paths"] and "/openai/v1/batches/{batch_id}/cancel" in docs["paths"]


@pytest.fixture
def served_gemini(fake_openai: tuple[Any, str], fake_gemini: tuple[Any, str], tmp_path: Path) -> Iterator[str]:
    env = {"BATCHBRIDGE_REFRESH_SECONDS": "0", "BATCHBRIDGE_GEMINI_BASE_URL": fake_gemini[1]}
    yield from _serve(fake_openai, tmp_path, env)


def test_serve_runs_the_docs_gemini_workflow_on_the_embedded_store(served_gemini: str) -> None:
    client = OpenAI(base_url=served_gemini + "/openai", api_key="your-api-key", max_retries=0)
    provider, model = "gemini", "gemini-1.5-flash"
    uploaded = client.files.create(
        file=("batch_e2e.jsonl", JSONL.replace("gpt-4o-mini", model).encode(), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": provider},
    )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": provider, "model": model},
    )
    for _ in range(50):
        batch = client.batches.retrieve(batch.id, extra_query={"provider": provider})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            break
        time.sleep(0.1)
    assert batch.status == "completed"
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    assert batch.output_file_id is not None
    output = client.files.content(batch.output_file_id, extra_query={"provider": provider}).read().decode()
    assert "echo: What is the capital of France?" in output


@pytest.fixture
def served_compat(fake_openai: tuple[Any, str], tmp_path: Path) -> Iterator[tuple[str, Any]]:
    app = create_fake_compat()
    with running_server(app) as base:
        endpoints = {"local-vllm": {"base_url": base + "/v1", "max_concurrency": 2}}
        env = {"BATCHBRIDGE_REFRESH_SECONDS": "0", "BATCHBRIDGE_COMPAT_ENDPOINTS": json.dumps(endpoints)}
        for url in _serve(fake_openai, tmp_path, env):
            yield url, app.state.fake


def test_serve_runs_openai_compatible_batches_with_its_worker_in_process(served_compat: tuple[str, Any]) -> None:
    """`batchbridge serve` runs the worker itself: a batch for a local vLLM or Ollama needs nothing else."""
    served, fake = served_compat
    client = OpenAI(base_url=served + "/openai", api_key="local", max_retries=0)
    provider = {"provider": "openai-compatible", "endpoint_name": "local-vllm"}
    lines = "\n".join(
        json.dumps(
            {
                "custom_id": f"q{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "llama3", "messages": [{"role": "user", "content": f"n={n}"}]},
            }
        )
        for n in range(150)  # two chunks
    )
    uploaded = client.files.create(file=("b.jsonl", lines.encode()), purpose="batch", extra_body=provider)
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", extra_body=provider
    )
    for _ in range(300):
        batch = client.batches.retrieve(batch.id)
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            break
        time.sleep(0.1)
    assert batch.status == "completed" and batch.output_file_id is not None
    answers = {
        line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"]
        for line in map(json.loads, client.files.content(batch.output_file_id).read().splitlines())
    }
    assert answers == {f"q{n}": f"echo: n={n}" for n in range(150)}
    assert fake.peak <= 2


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"batchbridge-test-webhook-secret!").decode()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    """A webhook receiver on loopback that records what it gets; it fails the first delivery."""
    received: list[tuple[bytes, dict[str, str]]] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hook(request: Request) -> Response:
        received.append((await request.body(), dict(request.headers)))
        return Response(status_code=503 if len(received) == 1 else 200)

    with running_server(app) as base:
        yield base + "/hooks", received


@pytest.fixture
def swept(fake_openai: tuple[Any, str], tmp_path: Path, receiver: tuple[str, list[Any]]) -> Iterator[str]:
    env = {
        "BATCHBRIDGE_REFRESH_SECONDS": "3600",  # retrieve never asks the provider: only the sweeper does
        "BATCHBRIDGE_SWEEP_SECONDS": "0.2",
        "BATCHBRIDGE_WEBHOOK_URL": receiver[0],
        "BATCHBRIDGE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BATCHBRIDGE_WEBHOOK_RETRY_SECONDS": "0.1",
    }
    yield from _serve(fake_openai, tmp_path, env)


def test_batches_finish_through_the_sweeper_alone_and_fire_a_signed_webhook(
    swept: str, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]]
) -> None:
    client = OpenAI(base_url=swept + "/openai", api_key="sk-nobody-polls", max_retries=0)
    with_failure = (
        JSONL + "\n" + JSONL.splitlines()[0].replace("req-1", "req-3").replace("gpt-4o-mini", "invalid-model")
    )
    uploaded = client.files.create(file=("in.jsonl", with_failure.encode(), "application/jsonl"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.monotonic() + 30
    while not receiver[1] or len(receiver[1]) < 2:
        assert time.monotonic() < deadline, "no webhook delivered"
        time.sleep(0.1)
    done = client.batches.retrieve(batch.id)  # served from the record: the sweeper and finalizer did it all
    assert done.status == "completed" and done.output_file_id is not None
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 2, 1)
    lines = client.files.content(done.output_file_id).read().decode().splitlines()
    assert sorted(json.loads(line)["custom_id"] for line in lines) == ["req-1", "req-2"]
    assert done.error_file_id is not None
    errors = client.files.content(done.error_file_id).read().decode().splitlines()
    assert [json.loads(line)["custom_id"] for line in errors] == ["req-3"]

    first, second = receiver[1][0], receiver[1][1]
    assert first[0] == second[0] and first[1]["webhook-id"] == second[1]["webhook-id"]  # a retry, same event
    event = client.webhooks.unwrap(second[0].decode(), second[1], secret=WEBHOOK_SECRET)
    assert event.type == "batch.completed" and event.data.id == batch.id
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(second[0].decode(), second[1], secret="whsec_" + base64.b64encode(b"x" * 32).decode())
