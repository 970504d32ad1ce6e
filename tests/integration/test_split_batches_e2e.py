"""One batch of 120,000 requests through the OpenAI SDK: the gateway splits it into jobs within its provider's
limits (OpenAI: 50,000 + 50,000 + 20,000; Anthropic: 100,000 + 20,000), and the user gets one completed batch whose
one output file holds every custom_id exactly once, its counts the jobs' summed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from batchbridge.gateway import Gateway

KEY = "sk-split"
PART = 4 * 1024 * 1024
REQUESTS = 120_000
FINAL = ("completed", "failed", "expired", "cancelled")


def batch_file(model: str) -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": f"r{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": f"Q{n}"}]},
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for n in range(REQUESTS)
    )


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test environment, with time for the fakes to answer for a job of 100,000 requests at once (the fake
    Anthropic makes every result of a batch in the call that ends it)."""
    monkeypatch.setenv("BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS", "120")
    return {**gateway_env, "BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS": "120"}


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def run_split_batch(client: OpenAI, gateway: Gateway, provider: str, model: str) -> tuple[Any, list[dict[str, Any]]]:
    """The 120,000-request file uploaded (in parts: it is larger than one request carries), its batch created and
    polled until final: the batch, and its output file's lines."""
    sdk = client.with_options(default_query={"provider": provider})
    data = batch_file(model)
    upload = sdk.uploads.upload_file_chunked(
        file=data, filename="big.jsonl", bytes=len(data), mime_type="application/jsonl", purpose="batch", part_size=PART
    )
    assert upload.file is not None
    batch = sdk.batches.create(input_file_id=upload.file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating"
    for _ in range(200):
        if batch.status in FINAL:
            break
        batch = sdk.batches.retrieve(batch.id)
    assert batch.status == "completed", batch
    assert batch.output_file_id is not None
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    _, content = gateway.files.content(caller, batch.output_file_id, None)  # (over the inline size: read directly)
    lines = [json.loads(line) for line in b"".join(content).splitlines() if line.strip()]
    return batch, lines


def jobs_of(gateway: Gateway, batch_id: str) -> list[int]:
    record = gateway.records.get_batch(batch_id)
    assert record is not None
    return [job.part["count"] for job in record.jobs if job.part is not None]


@pytest.mark.heavy
def test_a_120000_request_openai_batch_runs_as_three_jobs(
    client: OpenAI, gateway: Gateway, fake_openai: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    batch, lines = run_split_batch(client, gateway, "openai", "gpt-4o-mini")

    assert jobs_of(gateway, batch.id) == [50_000, 50_000, 20_000]
    provider_batches = [fake.batch_json(batch_id) for batch_id in fake.batch_ids(KEY)]
    assert sorted(b["request_counts"]["total"] for b in provider_batches) == [20_000, 50_000, 50_000]
    assert sorted(line["custom_id"] for line in lines) == sorted(f"r{n}" for n in range(REQUESTS))
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        REQUESTS,
        REQUESTS,
        0,
    )
    assert batch.error_file_id is None


@pytest.mark.heavy
def test_a_120000_request_anthropic_batch_runs_as_two_jobs(
    client: OpenAI, gateway: Gateway, fake_anthropic: tuple[Any, str]
) -> None:
    fake = fake_anthropic[0].state.fake
    batch, lines = run_split_batch(client, gateway, "anthropic", "claude-3-5-haiku-20241022")

    assert jobs_of(gateway, batch.id) == [100_000, 20_000]
    assert sorted(fake.batch_json(batch_id)["request_counts"]["succeeded"] for batch_id in fake.batch_ids(KEY)) == [
        20_000,
        100_000,
    ]
    assert sorted(line["custom_id"] for line in lines) == sorted(f"r{n}" for n in range(REQUESTS))
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        REQUESTS,
        REQUESTS,
        0,
    )
