"""Provider openai-compatible: durable batches the gateway runs itself against an endpoint without a batch API,
through the OpenAI SDK, with the worker in-process (as `batchbridge serve` runs it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.config import Settings
from batchbridge.domain.executor import CHUNK_REQUESTS
from batchbridge.gateway import Gateway
from batchbridge.store.executor_state import DynamoChunkStore
from tests.contract.openai_schema import assert_valid
from tests.fakes.compat_upstream import embedding_of

PROVIDER = "openai-compatible"
CAP = 3


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    endpoints = {
        "local": {"base_url": fake_compat[1], "max_concurrency": CAP},
        "keyed": {"base_url": fake_compat[1], "api_key_env": "LOCAL_LLM_KEY", "max_concurrency": 1},
    }
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps(endpoints))
    monkeypatch.setenv("LOCAL_LLM_KEY", "sk-endpoint-key")
    return gateway_env | {"BATCHBRIDGE_COMPAT_ENDPOINTS": json.dumps(endpoints)}


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key="sk-user", max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def chat_lines(count: int, start: int = 0) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "custom_id": f"req-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "llama3", "messages": [{"role": "user", "content": f"Question {n}"}]},
            }
        )
        for n in range(start, start + count)
    ).encode()


def start(client: OpenAI, content: bytes, endpoint: str = "local", url: str = "/v1/chat/completions") -> Any:
    uploaded = client.files.create(
        file=("batch.jsonl", content, "application/jsonl"),
        purpose="batch",
        extra_body={"provider": PROVIDER, "endpoint_name": endpoint},
    )
    return client.batches.create(
        input_file_id=uploaded.id,
        endpoint=url,  # type: ignore[arg-type]
        completion_window="24h",
        extra_body={"provider": PROVIDER, "endpoint_name": endpoint},
    )


def finish(client: OpenAI, batch_id: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def lines_of(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).read().splitlines()]


@pytest.mark.heavy
def test_a_thousand_requests_each_answered_exactly_once_under_the_cap(
    client: OpenAI, fake_compat: tuple[Any, str]
) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 0.002  # answers overlap: the cap is what holds them back
    batch = start(client, chat_lines(1000))
    assert batch.status == "in_progress" and batch.request_counts is not None and batch.request_counts.total == 1000
    done = finish(client, batch.id, seconds=300)
    assert done.status == "completed" and done.error_file_id is None
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (1000, 0)
    lines = lines_of(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"req-{n}" for n in range(1000))
    for line in lines:
        n = line["custom_id"].removeprefix("req-")
        assert line["response"]["status_code"] == 200 and line["error"] is None
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"echo: Question {n}"
        assert line["id"].startswith("batch_req_")
    assert 1 < fake.peak <= CAP
    assert_valid(
        "Batch", httpx.get(f"{client.base_url}batches/{batch.id}", headers={"Authorization": "Bearer sk-user"}).json()
    )


def test_embeddings_and_the_endpoints_own_key(client: OpenAI, fake_compat: tuple[Any, str]) -> None:
    fake = fake_compat[0]
    fake.api_key = "sk-endpoint-key"  # only the configured key works; the client's never reaches the endpoint
    content = "\n".join(
        json.dumps(
            {
                "custom_id": f"e{n}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "nomic", "input": f"text {n}"},
            }
        )
        for n in range(3)
    ).encode()
    done = finish(client, start(client, content, endpoint="keyed", url="/v1/embeddings").id)
    assert done.status == "completed"
    vectors = {
        line["custom_id"]: line["response"]["body"]["data"][0]["embedding"]
        for line in lines_of(client, done.output_file_id)
    }
    assert vectors == {f"e{n}": embedding_of(f"text {n}") for n in range(3)}
    assert fake.peak == 1  # that endpoint's cap


def test_rate_limits_are_waited_out_and_lasting_errors_land_in_the_error_file(
    client: OpenAI, fake_compat: tuple[Any, str], no_retry_waits: list[float]
) -> None:
    fake = fake_compat[0]
    fake.inject(429, headers={"retry-after": "7"})
    fake.inject(500, times=6)  # the first request's six attempts: 429, then 500s; the second one retried once
    done = finish(client, start(client, chat_lines(5), endpoint="keyed").id)  # one at a time: deterministic
    assert done.status == "completed"
    assert 7.0 in no_retry_waits  # the endpoint's Retry-After
    output, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert len(output) == 4 and len(errors) == 1 and errors[0]["response"]["status_code"] == 500
    assert sorted(line["custom_id"] for line in output + errors) == [f"req-{n}" for n in range(5)]
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (4, 1)


def test_a_worker_killed_mid_chunk_loses_and_duplicates_nothing(
    client: OpenAI, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored: list[int] = []
    real = DynamoChunkStore.put_result

    def dies_after_40(self: DynamoChunkStore, batch_id: str, index: int, line: str, ok: bool, expires_at: int) -> bool:
        if len(stored) == 40 and not getattr(dies_after_40, "died", False):
            dies_after_40.died = True  # type: ignore[attr-defined]
            # the chunk's run dies half-way (to the queue, as a killed worker's message: it comes back)
            raise RuntimeError("worker killed")
        stored.append(index)
        return real(self, batch_id, index, line, ok, expires_at)

    monkeypatch.setattr(DynamoChunkStore, "put_result", dies_after_40)
    batch = start(client, chat_lines(CHUNK_REQUESTS + 20))
    done = finish(client, batch.id)
    assert getattr(dies_after_40, "died", False)
    assert done.status == "completed"
    ids = [line["custom_id"] for line in lines_of(client, done.output_file_id)]
    assert sorted(ids) == sorted(f"req-{n}" for n in range(CHUNK_REQUESTS + 20))  # each exactly once


def running(fake: Any, calls: int) -> None:
    """Wait (up to 30 s) until the endpoint has answered ``calls`` requests: the batch is under way."""
    deadline = time.monotonic() + 30
    while fake.calls < calls and time.monotonic() < deadline:
        time.sleep(0.01)


def test_cancel_in_the_middle_stops_the_rest(client: OpenAI, fake_compat: tuple[Any, str], gateway_url: str) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 0.02
    batch = start(client, chat_lines(3 * CHUNK_REQUESTS))
    running(fake, calls=20)
    # a client that does not first wait for the background work (as the fixture's does): the run is still going
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key="sk-user", max_retries=0) as impatient:
        cancelled = impatient.batches.cancel(batch.id)
    assert cancelled.status == "cancelling"
    done = finish(client, batch.id)
    assert done.status == "cancelled"
    output, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert 0 < len(output) < 3 * CHUNK_REQUESTS
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert sorted(line["custom_id"] for line in output + errors) == sorted(
        f"req-{n}" for n in range(3 * CHUNK_REQUESTS)
    )
    assert done.request_counts is not None and done.request_counts.completed == len(output)


def test_a_chunk_that_keeps_failing_is_dead_lettered_and_the_batch_goes_on(
    client: OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchbridge.domain.executor import BatchExecutor

    real = BatchExecutor.run_chunk

    def first_chunk_poisoned(self: BatchExecutor, batch_id: str, number: int, deadline: float | None = None) -> None:
        if number == 0:
            raise RuntimeError("poison")
        real(self, batch_id, number, deadline)

    monkeypatch.setattr(BatchExecutor, "run_chunk", first_chunk_poisoned)
    done = finish(client, start(client, chat_lines(CHUNK_REQUESTS + 5)).id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (5, CHUNK_REQUESTS)
    errors = lines_of(client, done.error_file_id)
    assert len(errors) == CHUNK_REQUESTS and {line["error"]["code"] for line in errors} == {"request_failed"}


def test_configuration_and_request_errors_are_clear(client: OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(openai.BadRequestError) as unknown:
        start(client, chat_lines(1), endpoint="nope")
    assert "local" in unknown.value.message and "keyed" in unknown.value.message
    uploaded = client.files.create(file=("b.jsonl", chat_lines(1)), purpose="batch", extra_body={"provider": PROVIDER})
    with pytest.raises(openai.BadRequestError) as unnamed:  # two endpoints configured: which one?
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": PROVIDER},
        )
    assert unnamed.value.body is not None and unnamed.value.body["code"] == "missing_endpoint_name"  # type: ignore[index]
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", '{"x": {"base_url": "ftp://nowhere"}}')
    with pytest.raises(ValueError, match=r"BATCHBRIDGE_COMPAT_ENDPOINTS\['x'\].base_url"):
        Settings.from_env()
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", "{not json")
    with pytest.raises(ValueError, match="BATCHBRIDGE_COMPAT_ENDPOINTS is not JSON"):
        Settings.from_env()


def test_the_24h_window_expires_what_is_left(
    client: OpenAI, gateway: Gateway, fake_compat: tuple[Any, str], gateway_url: str
) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 0.02
    batch = start(client, chat_lines(2 * CHUNK_REQUESTS))
    running(fake, calls=10)
    # its window is over (as 24 hours on): the item's expiry is moved into the past
    import boto3

    from tests.conftest import TABLE

    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"COMPAT#{batch.id}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    done = finish(client, batch.id)
    assert done.status == "expired"
    output, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert output and {line["error"]["code"] for line in errors} == {"batch_expired"}
    assert sorted(line["custom_id"] for line in output + errors) == sorted(
        f"req-{n}" for n in range(2 * CHUNK_REQUESTS)
    )


def test_an_endpoint_refusing_its_key_says_nothing_of_it(client: OpenAI, fake_compat: tuple[Any, str]) -> None:
    fake = fake_compat[0]
    fake.api_key = "sk-something-else"  # the configured key was revoked: every request is a 401
    done = finish(client, start(client, chat_lines(2), endpoint="keyed").id)
    assert done.status == "completed" and done.request_counts is not None and done.request_counts.failed == 2
    errors = lines_of(client, done.error_file_id)
    assert [line["response"]["status_code"] for line in errors] == [401, 401]
    assert {line["response"]["body"]["error"]["code"] for line in errors} == {"provider_auth_failed"}
    assert "Incorrect API key" not in json.dumps(errors) and "sk-endpoint-key" not in json.dumps(errors)


def test_a_batch_runs_on_the_endpoint_its_file_was_uploaded_for(client: OpenAI) -> None:
    uploaded = client.files.create(
        file=("b.jsonl", chat_lines(1)), purpose="batch", extra_body={"provider": PROVIDER, "endpoint_name": "local"}
    )
    # neither provider nor endpoint named: both come from the file
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    ended = finish(client, batch.id)
    assert ended.status == "completed" and ended.request_counts is not None and ended.request_counts.completed == 1
    with pytest.raises(openai.BadRequestError) as other:
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"endpoint_name": "keyed"},
        )
    assert other.value.code == "endpoint_mismatch"


def test_an_endpoint_given_a_key_must_be_https_unless_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = '{"x": {"base_url": "http://10.0.0.5:8000/v1", "api_key_env": "COMPAT_API_KEY"}}'
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", keyed)
    with pytest.raises(ValueError, match=r"BATCHBRIDGE_COMPAT_ENDPOINTS\['x'\].base_url must be https"):
        Settings.from_env()
    for allowed in (
        '{"x": {"base_url": "https://10.0.0.5:8000/v1", "api_key_env": "COMPAT_API_KEY"}}',
        '{"x": {"base_url": "http://127.0.0.1:8000/v1", "api_key_env": "COMPAT_API_KEY"}}',
        '{"x": {"base_url": "http://10.0.0.5:8000/v1"}}',  # no key to leak
    ):
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", allowed)
        assert set(Settings.from_env().compat_endpoints) == {"x"}
