"""Bedrock staging paths no tenant can steer: a hostile prefix is a 400, a stored location is a bucket and a key
(never re-read from a URI), and every delete or read of a staged object is of the caller's own file's objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.domain.records import FileRecord
from batchbridge.gateway import Gateway
from tests.conftest import BUCKET
from tests.integration.chat import MODELS, chat_jsonl

MODEL = MODELS["bedrock"]
KEY_A = "sk-tenant-a-staging"
KEY_B = "sk-tenant-b-staging"


def jsonl(count: int, model: str = MODEL) -> bytes:
    return chat_jsonl(count, model)


@pytest.fixture
def client_for(
    gateway_url: str, drained_http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], OpenAI]:
    def make(key: str) -> OpenAI:
        return OpenAI(base_url=gateway_url + "/openai", api_key=key, max_retries=0, http_client=drained_http)

    return make


@pytest.fixture
def s3_keys(fake_bedrock: tuple[Any, str]) -> Iterator[list[tuple[str, str]]]:
    """(operation, key) of every S3 call the gateway makes on its bucket from here on (the fake Bedrock's own
    reads and writes, as Bedrock's, go through a session of their own)."""
    fake_bedrock[0].state.fake.s3_client_factory = lambda: boto3.session.Session().client("s3")
    seen: list[tuple[str, str]] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        if event_name.startswith("before-parameter-build.s3.") and params.get("Bucket") == BUCKET:
            seen.append((event_name.rsplit(".", 1)[1], str(params.get("Key", params.get("Prefix", "")))))

    events = boto3._get_default_session().events
    events.register("before-parameter-build", record)
    yield seen
    events.unregister("before-parameter-build", record)


def stored(key: str) -> bytes:
    body: bytes = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


@pytest.mark.parametrize("template", ["files/{victim}?", "files/{victim}#", "../x", "%2e%2e/x", "/abs", "a b", "x\ty"])
def test_a_hostile_prefix_is_a_400_and_the_victims_bytes_are_intact(
    client_for: Callable[[str], OpenAI], template: str
) -> None:
    a, b = client_for(KEY_A), client_for(KEY_B)
    victim = a.files.create(file=("v.jsonl", jsonl(1, "gpt-4o-mini")), purpose="batch")
    prefix = template.format(victim=victim.id)
    with pytest.raises(openai.BadRequestError) as caught:
        b.files.create(
            file=("b.jsonl", jsonl(2)),
            purpose="batch",
            extra_body={"provider": "bedrock", "storage_config": {"s3": {"prefix": prefix}}},
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "storage_config.s3.prefix"
    assert b.files.list().data == []
    assert stored(f"files/{victim.id}") == jsonl(1, "gpt-4o-mini")
    assert a.files.content(victim.id).read() == jsonl(1, "gpt-4o-mini")


def test_a_long_prefix_is_a_400(client_for: Callable[[str], OpenAI]) -> None:
    with pytest.raises(openai.BadRequestError, match="256 bytes"):
        client_for(KEY_B).files.create(
            file=("b.jsonl", jsonl(2)),
            purpose="batch",
            extra_body={"provider": "bedrock", "storage_config": {"s3": {"prefix": "p" * 257}}},
        )


def test_a_tenants_prefix_stays_inside_the_staging_area_of_the_gateways_bucket(
    client_for: Callable[[str], OpenAI],
) -> None:
    b = client_for(KEY_B)
    uploaded = b.files.create(
        file=("b.jsonl", jsonl(2)),
        purpose="batch",
        extra_body={"provider": "bedrock", "storage_config": {"s3": {"prefix": "files/team-b/"}}},
    )
    staged = stored(f"batchbridge/bedrock/files/team-b/{uploaded.id}/input.jsonl")
    assert [json.loads(line)["recordId"] for line in staged.splitlines()] == ["r0000000000", "r0000000001"]
    b.files.delete(uploaded.id)
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="batchbridge/bedrock/files/team-b/")
    assert listed.get("KeyCount", 0) == 0


def test_another_tenants_batch_never_reads_under_a_tenants_staging_keys(
    client_for: Callable[[str], OpenAI], s3_keys: list[tuple[str, str]], gateway: Gateway
) -> None:
    a, b = client_for(KEY_A), client_for(KEY_B)
    gateway.providers.get("bedrock")._min_records = 1  # type: ignore[attr-defined]
    own = a.files.create(file=("a.jsonl", jsonl(2)), purpose="batch", extra_body={"provider": "bedrock"})
    a_folder = f"batchbridge/bedrock/{own.id}/"
    s3_keys.clear()
    # B aims its prefix at A's staged objects: refused, nothing of A's read
    with pytest.raises(openai.BadRequestError):
        b.files.create(
            file=("b.jsonl", jsonl(2)),
            purpose="batch",
            extra_body={"provider": "bedrock", "storage_config": {"s3": {"prefix": a_folder + "input.jsonl#"}}},
        )
    theirs = b.files.create(file=("b.jsonl", jsonl(2)), purpose="batch", extra_body={"provider": "bedrock"})
    batch = b.batches.create(
        input_file_id=theirs.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": "bedrock"},
    )
    for _ in range(10):
        batch = b.batches.retrieve(batch.id)
        if batch.status == "completed":
            break
    assert batch.status == "completed" and batch.output_file_id is not None
    assert [key for _, key in s3_keys if key.startswith(a_folder)] == []
    assert any(key.startswith(f"batchbridge/bedrock/{theirs.id}/") for _, key in s3_keys)  # the check can fail
    b.files.delete(theirs.id)
    assert stored(a_folder + "input.jsonl")  # A's staged input is still there
    assert stored(a_folder + "record_ids.json")


def test_a_record_from_before_the_checks_cannot_reach_another_files_objects(
    client_for: Callable[[str], OpenAI], gateway: Gateway, s3_keys: list[tuple[str, str]]
) -> None:
    """A record written before locations were kept apart, whose URI holds a '#' (as an attack could have left it):
    delete and batch create leave A's objects alone (urlparse would have read A's key out of it)."""
    a, b = client_for(KEY_A), client_for(KEY_B)
    gateway.providers.get("bedrock")._min_records = 1  # type: ignore[attr-defined]
    own = a.files.create(file=("a.jsonl", jsonl(2)), purpose="batch", extra_body={"provider": "bedrock"})
    a_input = f"batchbridge/bedrock/{own.id}/input.jsonl"
    theirs = b.files.create(file=("b.jsonl", jsonl(2)), purpose="batch", extra_body={"provider": "bedrock"})
    record = gateway.records.get_file(theirs.id)
    assert record is not None and record.staged_key == f"batchbridge/bedrock/{theirs.id}/input.jsonl"
    legacy = FileRecord(**{**record.__dict__, "staged_bucket": None, "staged_key": None})
    legacy.provider_file_id = f"s3://{BUCKET}/{a_input}#/{theirs.id}/input.jsonl"
    gateway.records.put_file(legacy)
    s3_keys.clear()
    with pytest.raises(openai.BadRequestError) as caught:
        b.batches.create(
            input_file_id=theirs.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": "bedrock"},
        )
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "input_file_id"
    b.files.delete(theirs.id)
    assert [key for _, key in s3_keys if key.startswith(f"batchbridge/bedrock/{own.id}")] == []
    assert stored(a_input)
    assert a.files.retrieve(own.id).id == own.id
