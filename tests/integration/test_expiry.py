"""A file past its expires_at is absent everywhere, before anything gets round to removing it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.gateway import Gateway

JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(
        base_url=gateway_url + "/openai", api_key="sk-user-one", max_retries=0, http_client=drained_http
    ) as sdk:
        yield sdk


def test_an_expired_file_is_absent(client: OpenAI, gateway: Gateway) -> None:
    kept = client.files.create(file=("kept.jsonl", JSONL), purpose="batch")
    expiring = client.files.create(
        file=("expiring.jsonl", JSONL), purpose="batch", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert expiring.expires_at == expiring.created_at + 3600
    record = gateway.records.get_file(expiring.id)
    assert record is not None
    gateway.records.put_file(dataclasses.replace(record, expires_at=record.created_at - 1))  # its hour has passed

    for call in (
        lambda: client.files.retrieve(expiring.id),
        lambda: client.files.content(expiring.id),
        lambda: client.files.delete(expiring.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id=expiring.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert [f.id for f in client.files.list()] == [kept.id]
    assert client.files.retrieve(kept.id).id == kept.id
