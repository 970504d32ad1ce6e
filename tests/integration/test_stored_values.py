"""What the gateway keeps of a request is bounded: long custom_ids where the gateway reads the lines itself, large
parameters and values kept in a record are 400s (never a 503 "try again"), and the custom_id maps of a batch's
create and finalize stay small in memory however long the ids are."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from botocore.exceptions import ClientError
from openai import OpenAI

from batchbridge.aws import client as aws_client
from batchbridge.config import Settings
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from batchbridge.store.schema import ensure_bucket, ensure_table
from batchbridge.store.vault import ensure_key
from tests.integration.chat import MODELS, chat_line
from tests.integration.processes import moto_server


@pytest.fixture
def compat_endpoint(fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"local": {"base_url": fake_compat[1]}}))
    return fake_compat[1]


@pytest.fixture
def client(compat_endpoint: str, gateway_url: str, drained_http: httpx.Client) -> OpenAI:
    return OpenAI(base_url=gateway_url + "/openai", api_key="sk-values", max_retries=0, http_client=drained_http)


@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "gemini", "openai-compatible"])
def test_a_custom_id_over_512_characters_is_a_400_naming_its_line(client: OpenAI, provider: str) -> None:
    model = MODELS[provider]
    content = chat_line("ok", model) + b"\n" + chat_line("x" * 513, model)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.jsonl", content), purpose="batch", extra_body={"provider": provider})
    assert "line 2" in caught.value.message and "513 characters" in caught.value.message
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_custom_id"
    accepted = client.files.create(
        file=("a.jsonl", chat_line("x" * 512, model)), purpose="batch", extra_body={"provider": provider}
    )
    assert [f.id for f in client.files.list()] == [accepted.id]


def test_an_openai_upload_is_openais_to_judge(client: OpenAI) -> None:
    uploaded = client.files.create(file=("a.jsonl", chat_line("x" * 513, MODELS["openai"])), purpose="batch")
    assert uploaded.id.startswith("file-")


def test_inline_anthropic_custom_ids_are_bounded_too(client: OpenAI) -> None:
    request = {"model": MODELS["anthropic"], "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id="",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": "anthropic", "requests": [{"custom_id": "c" * 513, "params": request}]},
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "requests[0].custom_id"


def test_inline_anthropic_params_with_an_integer_beyond_64_bits_are_a_400(client: OpenAI) -> None:
    request = {"model": MODELS["anthropic"], "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id="",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": "anthropic", "requests": [{"custom_id": "c", "params": {**request, "x": 2**70}}]},
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "requests[0].params"
    assert "beyond 64 bits" in caught.value.body["message"]


def test_values_too_large_to_keep_are_400s(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.create(
            bytes=10,
            filename="a.jsonl",
            mime_type="text/jsonl",
            purpose="batch",
            # a 500 KB extra: more than an item of the table holds
            extra_body={"storage_config": {"s3": {"prefix": "n" * 500_000}}},
        )
    assert isinstance(caught.value.body, dict)
    assert (caught.value.body["param"], caught.value.body["code"]) == ("storage_config", "parameters_too_large")
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.create(bytes=10, filename="a.jsonl", mime_type="t/" + "x" * 300, purpose="batch")
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "mime_type"
    with pytest.raises(openai.BadRequestError, match="line 1"):
        client.files.create(
            file=("a.jsonl", chat_line("a", "m" * 3000)), purpose="batch", extra_body={"provider": "gemini"}
        )
    uploaded = client.files.create(file=("a.jsonl", chat_line("a", MODELS["openai"])), purpose="batch")
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"model": "m" * 3000},
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "model"


def test_what_the_table_refuses_to_store_is_a_400_not_a_503(
    client: OpenAI, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        error = {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}}
        raise ClientError(error, "PutItem")  # type: ignore[arg-type]

    monkeypatch.setattr(gateway.records, "put_upload", refuse)
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.create(bytes=10, filename="a.jsonl", mime_type="text/jsonl", purpose="batch")
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "request_unstorable"


@pytest.fixture
def outside_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS emulated by a moto server of its own process (what the gateway allocates is then the gateway's alone)."""
    with moto_server(tmp_path / "moto.log") as aws:
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "AWS_ENDPOINT_URL": aws,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BATCHBRIDGE_STORAGE": "aws",
            "BATCHBRIDGE_TABLE": "values-table",
            "BATCHBRIDGE_BUCKET": "values-bucket",
            "BATCHBRIDGE_KMS_KEY": "alias/values",
            "BATCHBRIDGE_OWNER_SECRET": "values-owner-secret-0123456789abcdef",
        }.items():
            monkeypatch.setenv(name, value)
        ensure_table(aws_client("dynamodb"), "values-table")
        ensure_bucket(aws_client("s3"), "values-bucket")
        ensure_key(aws_client("kms"), "alias/values")
        yield


@pytest.mark.heavy
def test_long_custom_ids_through_create_and_finalize_stay_within_memory(
    outside_aws: None, compat_endpoint: str
) -> None:
    """10,000 lines with 512-character custom_ids (5 MB of ids) through an openai-compatible batch's create and
    its finalize (cancelled at once: every request is written as an unrun line): what the gateway allocates stays
    within a small bound, whatever the number and length of the ids (they are streamed, never held as a map)."""
    queue = LocalWorkQueue()
    gateway = Gateway.from_settings(Settings.from_env(), queue=queue)  # jobs queued, not run: run here below
    lines = b"\n".join(chat_line(f"{n:05d}" + "x" * 507, MODELS["openai-compatible"]) for n in range(10_000))
    caller = gateway.caller({"authorization": "Bearer sk-values"})
    file = gateway.files.create(
        caller,
        "openai-compatible",
        stream=io.BytesIO(lines),
        size=len(lines),
        filename="long.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    params = {"input_file_id": file.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    tracemalloc.start()
    try:
        batch = gateway.batches.create(caller, "openai-compatible", params)
        _, create_peak = tracemalloc.get_traced_memory()
        gateway.batches.cancel(caller, batch.id, None)
        tracemalloc.reset_peak()
        gateway.jobs.finalize(batch.id)
        _, finalize_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        queue.stop()
    done = gateway.batches.retrieve(caller, batch.id, None)
    assert done.status == "cancelled" and done.request_counts == {"total": 10_000, "completed": 0, "failed": 10_000}
    _, chunks = gateway.files.content(caller, done.error_file_id or "", None)
    errors = b"".join(chunks).splitlines()
    assert len(errors) == 10_000 and json.loads(errors[-1])["custom_id"] == "09999" + "x" * 507
    assert create_peak < 32 * 1024 * 1024, f"create allocated {create_peak / 2**20:.1f} MiB at its peak"
    assert finalize_peak < 32 * 1024 * 1024, f"finalize allocated {finalize_peak / 2**20:.1f} MiB at its peak"
