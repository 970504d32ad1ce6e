"""Idempotency-Key on creates: a retried create replays the first result instead of creating twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)


@pytest.fixture
def client_for(gateway_url: str, drained_http: httpx.Client) -> Iterator[Callable[[str], OpenAI]]:
    def make(key: str) -> OpenAI:
        return OpenAI(base_url=gateway_url + "/openai", api_key=key, max_retries=0, http_client=drained_http)

    yield make


def with_key(key: str) -> dict[str, Any]:
    return {"extra_headers": {"Idempotency-Key": key}}


def test_creates_replay_their_first_result(client_for: Callable[[str], OpenAI], fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    client = client_for("sk-user-one")
    first = client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("file-1"))
    again = client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("file-1"))
    assert again.id == first.id and len(fake._files) == 1
    other = client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("file-2"))
    assert other.id != first.id

    def create_batch(key: str) -> Any:
        return client.batches.create(
            input_file_id=first.id, endpoint="/v1/chat/completions", completion_window="24h", **with_key(key)
        )

    batch = create_batch("batch-1")
    assert create_batch("batch-1").id == batch.id and len(fake.batch_ids("sk-user-one")) == 1
    assert [b.id for b in client.batches.list()] == [batch.id]

    upload = client.uploads.create(bytes=3, filename="x", mime_type="text/plain", purpose="user_data", **with_key("u"))
    assert (
        client.uploads.create(bytes=3, filename="x", mime_type="text/plain", purpose="user_data", **with_key("u")).id
        == upload.id
    )

    # Keys are per tenant: another key's "file-1" is its own.
    someone = client_for("sk-user-two").files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("file-1"))
    assert someone.id != first.id


def test_a_failed_create_is_not_replayed(client_for: Callable[[str], OpenAI], fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    client = client_for("sk-user-one")
    fake.inject(503, path_contains="/files", method="POST")
    with pytest.raises(openai.APIStatusError):
        client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("k"))
    created = client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("k"))
    assert client.files.retrieve(created.id).id == created.id


def test_a_malformed_key_is_a_400(client_for: Callable[[str], OpenAI]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for("sk-user-one").files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("x" * 300))
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_idempotency_key"


def test_a_key_reused_for_another_request_is_a_422(
    client_for: Callable[[str], OpenAI], fake_openai: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    client = client_for("sk-user-one")
    first = client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("f"))

    def reused(call: Callable[[], Any]) -> None:
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            call()
        assert isinstance(caught.value.body, dict)
        assert (caught.value.body["code"], caught.value.body["param"]) == ("idempotency_key_reused", "Idempotency-Key")

    other_bytes = JSONL.replace(b'"Hi"', b'"Hello"')
    reused(lambda: client.files.create(file=("in.jsonl", other_bytes), purpose="batch", **with_key("f")))
    reused(lambda: client.files.create(file=("other.jsonl", JSONL), purpose="batch", **with_key("f")))
    reused(lambda: client.files.create(file=("in.jsonl", JSONL), purpose="user_data", **with_key("f")))
    assert client.files.create(file=("in.jsonl", JSONL), purpose="batch", **with_key("f")).id == first.id
    assert len(fake._files) == 1

    def create_batch(window_metadata: dict[str, str] | None) -> Any:
        return client.batches.create(
            input_file_id=first.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata=window_metadata,
            **with_key("b"),
        )

    batch = create_batch({"run": "1"})
    reused(lambda: create_batch({"run": "2"}))
    assert create_batch({"run": "1"}).id == batch.id and len(fake.batch_ids("sk-user-one")) == 1

    upload = client.uploads.create(bytes=3, filename="x", mime_type="text/plain", purpose="user_data", **with_key("u"))
    reused(
        lambda: client.uploads.create(
            bytes=4, filename="x", mime_type="text/plain", purpose="user_data", **with_key("u")
        )
    )
    assert upload.id
