"""Concurrent cancels of one batch all get the same answer: the batch, cancelling (never a provider's refusal to
cancel a batch another cancel has just cancelled)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from batchbridge.store.queue import LocalWorkQueue
from tests.fakes.compat_upstream import create_app as create_fake_compat
from tests.fakes.server import running_server

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini-2.5-flash",
    "openai-compatible": "llama3",
}
AUTH = {"Authorization": "Bearer sk-cancels"}


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")
    app = create_fake_compat()
    app.state.fake.delay_seconds = 5.0  # the batch is still running when the cancels come
    with running_server(app) as base:
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"local": {"base_url": base + "/v1"}}))
        yield gateway_env


FAKES = {"openai": "fake_openai", "anthropic": "fake_anthropic", "bedrock": "fake_bedrock", "gemini": "fake_gemini"}


@pytest.mark.parametrize("provider", list(MODELS))
def test_concurrent_cancels_answer_alike(
    gateway_url: str, work_queue: LocalWorkQueue, provider: str, request: pytest.FixtureRequest
) -> None:
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODELS[provider], "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5},
    }
    base = gateway_url + "/openai/v1"
    with httpx.Client(headers=AUTH, timeout=30) as http:
        uploaded = http.post(
            base + "/files",
            files={"file": ("a.jsonl", json.dumps(line).encode())},
            data={"purpose": "batch", "provider": provider},
        ).json()
        work_queue.drain()
        work_queue._run = lambda kind, batch_id: None  # no background work: the cancels all meet the batch running
        batch = http.post(
            base + "/batches",
            json={
                "input_file_id": uploaded["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": provider,
            },
        ).json()
        assert batch["status"] in ("validating", "in_progress"), batch

        if provider in FAKES:  # every cancel reads the batch running, then meets the provider after the first one
            fake = request.getfixturevalue(FAKES[provider])[0].state.fake
            if hasattr(fake, "delay_seconds"):
                fake.delay_seconds = 0.3

        def cancel(_: int) -> tuple[int, Any]:
            with httpx.Client(headers=AUTH, timeout=30) as own:
                response = own.post(f"{base}/batches/{batch['id']}/cancel")
                return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(cancel, range(8)))
    assert [status for status, _ in answers] == [200] * 8, answers
    assert {body["status"] for _, body in answers} == {"cancelling"}
    assert {body["id"] for _, body in answers} == {batch["id"]}
