"""A file past its expires_at is absent everywhere, before DynamoDB TTL and the bucket's lifecycle rules remove it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.gateway import Gateway
from batchbridge.store.blobs import EXPIRY_TAG
from tests.conftest import BUCKET, TABLE

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


def stored(gateway: Gateway, file_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's DynamoDB item and its bytes' S3 tags."""
    record = gateway.records.get_file(file_id)
    assert record is not None and record.blob_key is not None
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": f"FILE#{file_id}"}})["Item"]
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=record.blob_key)["TagSet"]
    return item, {tag["Key"]: tag["Value"] for tag in tags}


def test_expiring_files_are_removed_by_dynamodb_ttl_and_the_buckets_lifecycle(client: OpenAI, gateway: Gateway) -> None:
    kept = client.files.create(file=("kept.jsonl", JSONL), purpose="batch")
    item, tags = stored(gateway, kept.id)
    # no expires_after: record and bytes live as long as the provider keeps its copy (OpenAI's batch files
    # expire by default: the fake gives them 30 days, as OpenAI does)
    assert kept.expires_at == kept.created_at + 30 * 86400
    assert item["expiration"] == {"N": str(kept.expires_at)} and tags == {EXPIRY_TAG: "30"}

    expiring = client.files.create(
        file=("expiring.jsonl", JSONL),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3 * 86400 + 1},
    )
    item, tags = stored(gateway, expiring.id)
    assert item["expiration"] == {"N": str(expiring.expires_at)}  # the table's TTL attribute
    assert tags == {EXPIRY_TAG: "4"}  # whole days, rounded up: never removed before it expires
    assert boto3.client("dynamodb").describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expiration",
    }
    rules = boto3.client("s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    (four_days,) = [rule for rule in rules if rule.get("Filter", {}).get("Tag") == {"Key": EXPIRY_TAG, "Value": "4"}]
    assert four_days["Expiration"] == {"Days": 4} and four_days["Status"] == "Enabled"


def test_an_uploads_file_and_a_batchs_outputs_carry_their_expiry_too(
    client: OpenAI, gateway: Gateway, fake_openai: Any
) -> None:
    upload = client.uploads.create(
        bytes=len(JSONL),
        filename="up.jsonl",
        mime_type="application/jsonl",
        purpose="batch",
        extra_body={"expires_after": {"anchor": "created_at", "seconds": 3600}},
    )
    part = client.uploads.parts.create(upload.id, data=JSONL)
    done = client.uploads.complete(upload.id, part_ids=[part.id])
    assert done.file is not None
    assert stored(gateway, done.file.id)[1] == {EXPIRY_TAG: "1"}

    batch = client.batches.create(
        input_file_id=done.file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        output_expires_after={"anchor": "created_at", "seconds": 7 * 86400},
    )
    fake = fake_openai[0].state.fake
    (provider_batch_id,) = fake.batch_ids("sk-user-one")
    fake.run_to_end(provider_batch_id)
    client.batches.retrieve(batch.id)
    finished = client.batches.retrieve(batch.id)
    assert finished.status == "completed" and finished.output_file_id
    assert stored(gateway, finished.output_file_id)[1] == {EXPIRY_TAG: "7"}
