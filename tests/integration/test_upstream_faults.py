"""What the gateway does when the OpenAI upstream misbehaves: stored state stays whole, errors stay OpenAI-shaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.contract.openai_schema import assert_valid

KEY = "sk-user-one"
JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def start_batch(client: OpenAI, fake: Any) -> tuple[Any, str]:
    uploaded = client.files.create(file=("in.jsonl", JSONL), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    (provider_batch_id,) = fake.batch_ids(KEY)
    return batch, provider_batch_id


def test_output_file_gone_upstream_still_ends_the_batch(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    ended = fake.run_to_end(provider_batch_id)
    fake.delete_file(KEY, ended["output_file_id"])
    assert client.batches.retrieve(batch.id).status == "finalizing"
    batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id is None
    assert batch.request_counts is not None and batch.request_counts.completed == 1


def test_transient_failure_registering_results_reports_finalizing(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    ended = fake.run_to_end(provider_batch_id)
    fake.inject(503, path_contains=f"/files/{ended['output_file_id']}", method="GET")
    held = client.batches.retrieve(batch.id)
    assert held.status == "finalizing" and held.completed_at is None and held.output_file_id is None
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.completed_at == ended["completed_at"]
    assert done.output_file_id is not None
    assert client.files.content(done.output_file_id).read().count(b'"custom_id"') == 1


def test_failed_batch_errors_pass_through_valid(client: OpenAI, fake_openai: tuple[Any, str], gateway_url: str) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    failed = fake.batch_json(provider_batch_id) | {
        "status": "failed",
        "failed_at": 1_764_000_000,
        "errors": {"object": "list", "data": [{"code": "model_mismatch", "message": "bad", "param": None, "line": 1}]},
    }
    fake.inject(200, failed, path_contains=f"/batches/{provider_batch_id}", method="GET")
    raw = httpx.get(f"{gateway_url}/openai/v1/batches/{batch.id}", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert raw["status"] == "failed" and raw["failed_at"] == 1_764_000_000
    assert raw["errors"] == {"object": "list", "data": [{"code": "model_mismatch", "message": "bad", "line": 1}]}
    assert_valid("Batch", raw)


@pytest.mark.parametrize("body", [{"unexpected": True}, {"id": "batch_x", "status": "exploded"}])
def test_malformed_upstream_answer_is_502(client: OpenAI, fake_openai: tuple[Any, str], body: dict[str, Any]) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    fake.inject(200, body, path_contains=f"/batches/{provider_batch_id}", method="GET")
    with pytest.raises(openai.InternalServerError) as caught:
        client.batches.retrieve(batch.id)
    assert caught.value.status_code == 502 and "openai" in caught.value.message
    assert client.batches.retrieve(batch.id).status == "in_progress"  # nothing stored from the bad answer


def test_final_conflicts_tell_the_sdk_not_to_retry(
    gateway_url: str, fake_openai: tuple[Any, str], drained_http: httpx.Client
) -> None:
    fake = fake_openai[0].state.fake
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=3, http_client=drained_http) as client:
        batch, provider_batch_id = start_batch(client, fake)
        fake.run_to_end(provider_batch_id)
        client.batches.retrieve(batch.id)
        assert client.batches.retrieve(batch.id).status == "completed"
        response = httpx.post(
            f"{gateway_url}/openai/batches/{batch.id}/cancel", headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 409 and response.headers["x-should-retry"] == "false"
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/files", {"params": {"limit": "\u00b2"}}, 400),
        ("GET", "/batches", {"params": {"limit": "9" * 5000}}, 400),
        ("GET", "/batches", {"params": {"limit": "--5"}}, 400),
        ("GET", "/files", {"params": {"x[10000000]": "1"}}, 400),
        ("POST", "/batches", {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, 400),
        (
            "POST",
            "/files",
            {
                "files": {"file": ("a.jsonl", b'{"custom_id": ' + b"9" * 5000 + b"}\n")},
                "data": {"purpose": "batch", "provider": "anthropic"},  # lines the gateway checks
            },
            400,
        ),
        (
            "POST",
            "/files",
            {
                "files": {"file": ("a.jsonl", JSONL)},
                "data": {"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "\u00b2"},
            },
            400,
        ),
        ("GET", "/files", {"headers": {"Authorization": "Bearer sk-\u00e9t\u00e9"}}, 401),
    ],
)
def test_hostile_input_is_a_4xx(gateway_url: str, method: str, path: str, kwargs: dict[str, Any], status: int) -> None:
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    encoded = {key: value.encode() if isinstance(value, str) else value for key, value in headers.items()}
    response = httpx.request(method, gateway_url + "/openai/v1" + path, headers=encoded, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_file_field_without_filename_is_accepted(gateway_url: str) -> None:
    # Some clients send the file part without a filename; starlette then sees a plain field.
    boundary = "xyz"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'.encode()
        + JSONL
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'.encode()
        + f"batch\r\n--{boundary}--\r\n".encode()
    )
    response = httpx.post(
        gateway_url + "/openai/v1/files",
        content=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == len(JSONL)


def upstream_calls(fake: Any, method: str, contains: str) -> int:
    return sum(1 for r in fake.requests if r.method == method and contains in r.path)


def test_safe_calls_are_retried_with_backoff(
    client: OpenAI, fake_openai: tuple[Any, str], no_retry_waits: list[float]
) -> None:
    fake = fake_openai[0].state.fake
    fake.step_batches_on_retrieve = False
    batch, provider_batch_id = start_batch(client, fake)
    fake.inject(503, path_contains=f"/batches/{provider_batch_id}", method="GET", times=2)
    assert client.batches.retrieve(batch.id).status in ("validating", "in_progress")
    assert upstream_calls(fake, "GET", f"/batches/{provider_batch_id}") == 3
    assert len(no_retry_waits) == 2 and all(0 <= wait <= 2 for wait in no_retry_waits)


def test_retry_after_is_honoured(client: OpenAI, fake_openai: tuple[Any, str], no_retry_waits: list[float]) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    fake.inject(429, path_contains=f"/batches/{provider_batch_id}", method="GET", headers={"retry-after": "3"})
    client.batches.retrieve(batch.id)
    assert no_retry_waits == [3.0]


def test_a_lasting_failure_is_an_openai_shaped_error_naming_the_provider(
    client: OpenAI, fake_openai: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    batch, provider_batch_id = start_batch(client, fake)
    fake.inject(500, path_contains=f"/batches/{provider_batch_id}", method="GET", times=5)
    with pytest.raises(openai.APIStatusError) as caught:
        client.batches.retrieve(batch.id)
    assert caught.value.status_code == 502  # the provider failed, not the gateway
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] and body["message"]  # OpenAI's error, kept
    assert upstream_calls(fake, "GET", f"/batches/{provider_batch_id}") == 3
    fake.injections.clear()
    assert client.batches.retrieve(batch.id).id == batch.id  # nothing stored was harmed


def test_creates_are_never_repeated(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    uploaded = client.files.create(file=("in.jsonl", JSONL), purpose="batch")
    fake.inject(503, path_contains="/batches", method="POST")
    with pytest.raises(openai.APIStatusError) as caught:
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert caught.value.status_code == 503
    assert upstream_calls(fake, "POST", "/batches") == 1  # a create that may have happened is not sent again
    assert client.batches.list().data == []
