"""Anthropic through the OpenAI SDK: the product docs' inline snippets and workflow, and file-based batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.contract.openai_schema import assert_valid

KEY = "sk-ant-user-one"
PROVIDER = "anthropic"


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


@pytest.fixture
def fake(fake_anthropic: tuple[Any, str]) -> Any:
    return fake_anthropic[0].state.fake


def docs_requests() -> list[dict[str, Any]]:
    return [
        {
            "custom_id": "math-question",
            "params": {
                "model": "claude-3-sonnet-20240229",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "What is 15 * 7?"}],
            },
        },
        {
            "custom_id": "geography-question",
            "params": {
                "model": "claude-3-sonnet-20240229",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "What is the largest ocean?"}],
            },
        },
    ]


def finish(client: OpenAI, batch_id: str) -> Any:
    for _ in range(10):
        batch = client.batches.retrieve(batch_id, extra_query={"provider": PROVIDER})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            return batch
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def lines_of(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    content = client.files.content(file_id).read().decode()
    lines = [json.loads(line) for line in content.splitlines()]
    for line in lines:
        assert_valid("BatchRequestOutput", line)
    return {line["custom_id"]: line for line in lines}


def test_docs_inline_batch_end_to_end(client: OpenAI, fake: Any) -> None:
    batch = client.batches.create(
        input_file_id="",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "requests": docs_requests()},
    )
    assert batch.id.startswith("batch_") and batch.status in ("validating", "in_progress")
    assert batch.request_counts is not None and batch.request_counts.total == 2
    sent = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches")
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json()["requests"] == docs_requests()  # inline params go as they are

    done = finish(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (2, 2, 0)
    assert done.error_file_id is None
    output = lines_of(client, done.output_file_id)
    for custom_id, prompt in (
        ("math-question", "What is 15 * 7?"),
        ("geography-question", "What is the largest ocean?"),
    ):
        body = output[custom_id]["response"]["body"]
        assert output[custom_id]["response"]["status_code"] == 200
        assert body["object"] == "chat.completion" and body["model"] == "claude-3-sonnet-20240229"
        assert body["choices"][0]["message"]["content"] == f"echo: {prompt}"  # its own answer, not a neighbour's
        assert body["choices"][0]["finish_reason"] == "stop"
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    listed = client.batches.list(limit=10, extra_query={"provider": PROVIDER})
    assert [b.id for b in listed.data] == [batch.id]


def test_file_based_batch_translates_and_restores_custom_ids(client: OpenAI, fake: Any) -> None:
    lines = [
        {
            "custom_id": "request 1/with spaces",  # outside Anthropic's pattern: remapped and restored
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "claude-3-5-haiku-latest",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hello!"},
                ],
                "stop": "END",
                "user": "user-7",
            },
        },
        {
            "custom_id": "req-2",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "invalid-model", "messages": [{"role": "user", "content": "Fail"}], "max_tokens": 10},
        },
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    uploaded = client.files.create(
        file=("anthropic.jsonl", content, "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    assert [f.id for f in client.files.list(extra_query={"provider": PROVIDER})] == [uploaded.id]
    assert client.files.content(uploaded.id).read() == content  # the original bytes, as uploaded
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )
    assert batch.input_file_id == uploaded.id
    sent = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches").json()
    first, second = sent["requests"]
    assert first["custom_id"] != "request 1/with spaces" and first["custom_id"].startswith("cid-")
    assert first["params"]["system"] == "Be brief." and first["params"]["max_tokens"] == 4096
    assert first["params"]["messages"] == [{"role": "user", "content": "Hello!"}]
    assert first["params"]["stop_sequences"] == ["END"] and first["params"]["metadata"] == {"user_id": "user-7"}
    assert second["custom_id"] == "req-2" and second["params"]["max_tokens"] == 10

    done = finish(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (2, 1, 1)
    output = lines_of(client, done.output_file_id)
    assert list(output) == ["request 1/with spaces"]
    assert output["request 1/with spaces"]["response"]["body"]["choices"][0]["message"]["content"] == "echo: Hello!"
    errors = lines_of(client, done.error_file_id)
    assert list(errors) == ["req-2"]
    assert errors["req-2"]["response"]["status_code"] == 400 and errors["req-2"]["error"] is None
    assert errors["req-2"]["response"]["body"]["error"]["type"] == "invalid_request_error"
    for file_id in (done.output_file_id, done.error_file_id):
        assert file_id is not None
        assert client.files.retrieve(file_id).purpose == "batch_output"


def test_cancel_writes_batch_cancelled_lines(client: OpenAI) -> None:
    batch = client.batches.create(
        input_file_id="",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "requests": docs_requests()},
    )
    cancelled = client.batches.cancel(batch.id, extra_body={"provider": PROVIDER})
    assert cancelled.status == "cancelling"
    done = finish(client, batch.id)
    assert done.status == "cancelled" and done.output_file_id is None
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (0, 2)
    errors = lines_of(client, done.error_file_id)
    assert {line["error"]["code"] for line in errors.values()} == {"batch_cancelled"}
    assert all(line["response"] is None for line in errors.values())


def test_bad_inline_batches(client: OpenAI) -> None:
    def create(**extra: Any) -> Any:
        return client.batches.create(
            input_file_id="",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": PROVIDER, **extra},
        )

    with pytest.raises(openai.BadRequestError) as caught:
        create()
    assert caught.value.body["param"] == "input_file_id"  # type: ignore[index]
    requests = docs_requests()
    del requests[1]["params"]["max_tokens"]
    with pytest.raises(openai.BadRequestError, match="geography-question") as caught:
        create(requests=requests)
    assert caught.value.body["param"] == "requests[1].params.max_tokens"  # type: ignore[index]
    many = [
        {
            "custom_id": f"r{i}",
            "params": {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]},
        }
        for i in range(100_001)
    ]
    # 100,001 inline requests are megabytes of JSON: over what a batches.create body may carry (1 MiB), refused
    # before they are read (Anthropic's own limit of 100,000 is for file-based batches to reach)
    with pytest.raises(openai.APIStatusError, match="1048576 bytes") as too_big:
        create(requests=many)
    assert too_big.value.status_code == 413
    assert client.batches.list().data == []  # nothing was created


def test_a_line_anthropic_cannot_take_fails_the_upload(client: OpenAI) -> None:
    line = {
        "custom_id": "two-choices",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "Hi"}], "n": 2},
    }
    with pytest.raises(openai.BadRequestError, match="two-choices") as caught:
        client.files.create(
            file=("a.jsonl", json.dumps(line).encode(), "application/jsonl"),
            purpose="batch",
            extra_body={"provider": PROVIDER},
        )
    assert "n" in caught.value.message
    assert client.files.list().data == []


def test_an_expired_batch_ends_expired_with_batch_expired_lines(client: OpenAI, fake: Any) -> None:
    batch = client.batches.create(
        input_file_id="",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "requests": docs_requests()},
    )
    (provider_batch_id,) = fake.batch_ids(KEY)
    fake.expire(provider_batch_id)
    done = finish(client, batch.id)
    assert done.status == "expired" and done.expired_at is not None and done.output_file_id is None
    errors = lines_of(client, done.error_file_id)
    assert set(errors) == {"math-question", "geography-question"}
    assert {line["error"]["code"] for line in errors.values()} == {"batch_expired"}


def test_deleting_an_anthropic_file_removes_our_copy(client: OpenAI) -> None:
    line = {
        "custom_id": "x",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "Hi"}]},
    }
    uploaded = client.files.create(
        file=("a.jsonl", json.dumps(line).encode(), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": PROVIDER},
    )
    assert client.files.delete(uploaded.id, extra_query={"provider": PROVIDER}).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)


def test_a_download_dropped_half_way_loses_and_duplicates_nothing(client: OpenAI, fake: Any, work_queue: Any) -> None:
    fake.cut_results = 2  # the first two results downloads break off mid-body
    batch = client.batches.create(
        input_file_id="",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "requests": docs_requests()},
    )
    for _ in range(10):
        polled = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
        if polled.status == "completed":
            break
        assert polled.output_file_id is None  # never a short file in between
    assert polled.status == "completed" and fake.cut_results == 0
    output = lines_of(client, polled.output_file_id)
    assert sorted(output) == ["geography-question", "math-question"]  # each once
    assert polled.request_counts is not None and polled.request_counts.completed == 2
