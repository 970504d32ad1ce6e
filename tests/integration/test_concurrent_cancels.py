"""Concurrent cancels of one batch all get the same answer: the batch, cancelling (never a provider's refusal to
cancel a batch another cancel has just cancelled)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from batchbridge.store.queue import LocalWorkQueue
from tests.integration.chat import MODELS, chat_line

AUTH = {"Authorization": "Bearer sk-cancels"}


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")
    fake_compat[0].delay_seconds = 5.0  # the batch is still running when the cancels come
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"local": {"base_url": fake_compat[1]}}))
    return gateway_env


FAKES = {"openai": "fake_openai", "anthropic": "fake_anthropic", "bedrock": "fake_bedrock", "gemini": "fake_gemini"}


@pytest.mark.parametrize("provider", list(MODELS))
def test_concurrent_cancels_answer_alike(
    gateway_url: str, work_queue: LocalWorkQueue, provider: str, request: pytest.FixtureRequest
) -> None:
    base = gateway_url + "/openai/v1"
    with httpx.Client(headers=AUTH, timeout=30) as http:
        uploaded = http.post(
            base + "/files",
            files={"file": ("a.jsonl", chat_line("a", MODELS[provider]))},
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
