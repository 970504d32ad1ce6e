"""Nothing outlives its file: once a batch is final and its files are deleted, the gateway's table and bucket hold
no copy of its prompts or answers (staged inputs, custom_id maps, stored answers, raw provider output, working
copies), on every provider."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from openai import OpenAI

from tests.conftest import BUCKET, TABLE
from tests.integration.chat import MODELS, chat_line


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"local": {"base_url": fake_compat[1]}}))
    return gateway_env


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> OpenAI:
    return OpenAI(base_url=gateway_url + "/openai", api_key="sk-lifetime", max_retries=0, http_client=drained_http)


def stored_copies(marker: str) -> list[str]:
    """Where the table and the bucket still hold ``marker``: item keys and object keys."""
    found: list[str] = []
    dynamodb = boto3.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE):
        found += [item["pk"]["S"] for item in page["Items"] if marker in json.dumps(item)]
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            if marker.encode() in s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read():
                found.append(item["Key"])
    return found


def lines(marker: str, model: str, count: int = 3) -> bytes:
    return b"\n".join(chat_line(f"{marker}-id-{n}", model, f"{marker} prompt {n}") for n in range(count))


def upload_in_parts(client: OpenAI, content: bytes, provider: str) -> Any:
    upload = client.uploads.create(
        bytes=len(content),
        filename="in.jsonl",
        mime_type="text/jsonl",
        purpose="batch",
        extra_body={"provider": provider},
    )
    half = len(content) // 2
    parts = [client.uploads.parts.create(upload.id, data=piece) for piece in (content[:half], content[half:])]
    return client.uploads.complete(upload.id, part_ids=[part.id for part in parts]).file


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("how", ["files.create", "uploads"])
def test_after_the_batch_and_its_files_nothing_of_it_is_kept(client: OpenAI, provider: str, how: str) -> None:
    marker = f"secret-{uuid.uuid4().hex}"
    content = lines(marker, MODELS[provider])
    if how == "uploads":
        uploaded = upload_in_parts(client, content, provider)
    else:
        uploaded = client.files.create(file=("in.jsonl", content), purpose="batch", extra_body={"provider": provider})
    assert uploaded is not None and stored_copies(marker)  # the check can fail: the prompts are stored now
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": provider},
    )
    for _ in range(20):
        batch = client.batches.retrieve(batch.id)
        if batch.status == "completed":
            break
    assert batch.status == "completed" and batch.output_file_id is not None
    output = client.files.content(batch.output_file_id).read().decode()
    assert f"echo: {marker} prompt 0" in output  # the answers carry the marker too
    deletions: list[Callable[[], Any]] = [lambda: client.files.delete(uploaded.id)]
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id is not None:
            deletions.append(lambda file_id=file_id: client.files.delete(file_id))
    for delete in deletions:
        assert delete().deleted
    assert stored_copies(marker) == []
    # what is kept without the content goes too: a deleted file's record (a cursor for a while), the upload's
    dynamodb = boto3.client("dynamodb")
    tombstone = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"FILE#{uploaded.id}"}})["Item"]
    assert int(tombstone["expiration"]["N"]) <= int(tombstone["deleted_at"]["N"]) + 30 * 86_400  # a week, or its own
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            if item["kind"]["S"] in ("upload", "upload_part"):
                assert "expiration" in item, item["pk"]
