"""Nobody reaches what is not theirs, and no key material reaches the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)
KEY_A = "sk-tenant-a-0123456789-secret"
KEY_B = "sk-tenant-b-9876543210-secret"


@pytest.fixture
def client_for(gateway_url: str, drained_http: httpx.Client) -> Callable[[str], OpenAI]:
    def make(key: str) -> OpenAI:
        return OpenAI(base_url=gateway_url + "/openai", api_key=key, max_retries=0, http_client=drained_http)

    return make


def test_another_key_gets_404_or_nothing_everywhere(
    client_for: Callable[[str], OpenAI], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a, b = client_for(KEY_A), client_for(KEY_B)
    uploaded = a.files.create(file=("../../secret/in.jsonl", JSONL), purpose="batch")
    assert uploaded.filename == "in.jsonl"  # path components are not kept
    batch = a.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    upload = a.uploads.create(bytes=3, filename="x.jsonl", mime_type="text/plain", purpose="user_data")

    attempts: list[Callable[[], Any]] = [
        lambda: b.files.retrieve(uploaded.id),
        lambda: b.files.content(uploaded.id),
        lambda: b.files.delete(uploaded.id),
        lambda: b.batches.retrieve(batch.id),
        lambda: b.batches.cancel(batch.id),
        lambda: b.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"),
        lambda: b.uploads.parts.create(upload.id, data=b"abc"),
        lambda: b.uploads.cancel(upload.id),
    ]
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert b.files.list().data == [] and b.batches.list().data == []
    with pytest.raises(openai.BadRequestError):  # another key's ID is no cursor either
        b.files.list(after=uploaded.id)
    # A's objects are untouched by all of that.
    assert a.files.retrieve(uploaded.id).id == uploaded.id
    assert a.batches.retrieve(batch.id).status != "cancelled"
    assert [f.id for f in a.files.list()] == [uploaded.id]

    logged = caplog.text
    assert logged  # the scan reads real logs
    for key in (KEY_A, KEY_B):
        assert key not in logged and key[-12:] not in logged
