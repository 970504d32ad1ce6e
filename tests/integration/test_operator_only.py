"""Gateway-key mode: what a tenant may point the gateway's AWS identity at is the operator's choice (the IAM role, the
staging bucket, the output location), and a provider refusing the gateway's own credentials says nothing of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BEDROCK_ROLE
from tests.fakes.server import running_server
from tests.integration.chat import MODELS, chat_jsonl

MODEL = MODELS["bedrock"]
OPERATOR_BUCKET = "operator-staging"
OTHER_BUCKET = "someone-elses-bucket"
OPERATOR_ROLE = "arn:aws:iam::123456789012:role/operator-bedrock"
OTHER_ROLE = "arn:aws:iam::999999999999:role/not-ours"
KEY = "gw-key-tenant"


def jsonl(count: int) -> bytes:
    return chat_jsonl(count, MODEL, id_prefix="r")


@pytest.fixture
def client(
    gateway_env: dict[str, str],
    work_queue: LocalWorkQueue,
    monkeypatch: pytest.MonkeyPatch,
    drained_http: httpx.Client,
) -> Iterator[OpenAI]:
    for bucket in (OPERATOR_BUCKET, OTHER_BUCKET):
        boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS", KEY)
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_ALLOWED_BUCKETS", f" {OPERATOR_BUCKET} ,")
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_ALLOWED_ROLE_ARNS", OPERATOR_ROLE)
    gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue)
    work_queue.start(gateway.jobs.run)
    with running_server(build_app(gateway=gateway)) as base:
        yield OpenAI(base_url=base + "/openai", api_key=KEY, max_retries=0, http_client=drained_http)


def upload(client: OpenAI, **storage: str) -> Any:
    extra: dict[str, Any] = {"provider": "bedrock"}
    if storage:
        extra["storage_config"] = {"s3": storage}
    return client.files.create(file=("in.jsonl", jsonl(2)), purpose="batch", extra_body=extra)


def create(client: OpenAI, file_id: str, **extra: str) -> Any:
    return client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": "bedrock", **extra},
    )


def refused(call: Any, param: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert isinstance(caught.value.body, dict)
    assert (caught.value.body["param"], caught.value.body["code"]) == (param, code)


def test_buckets_outside_the_allowlist_are_refused_inside_it_they_work(client: OpenAI) -> None:
    refused(lambda: upload(client, bucket=OTHER_BUCKET), "storage_config.s3.bucket", "bucket_not_allowed")
    refused(lambda: upload(client, region="us-west-2"), "storage_config.s3.region", "region_not_allowed")
    assert client.files.list().data == []
    assert boto3.client("s3").list_objects_v2(Bucket=OTHER_BUCKET).get("KeyCount", 0) == 0

    allowed = upload(client, bucket=OPERATOR_BUCKET, prefix="team-a")
    staged = boto3.client("s3").get_object(Bucket=OPERATOR_BUCKET, Key=f"team-a/{allowed.id}/input.jsonl")
    assert len(staged["Body"].read().splitlines()) == 2
    own = upload(client)  # the gateway's own bucket needs no allowlist
    assert own.id != allowed.id


def test_roles_and_output_locations_outside_the_allowlist_are_refused(
    client: OpenAI, fake_bedrock: tuple[Any, str]
) -> None:
    uploaded = upload(client)
    refused(lambda: create(client, uploaded.id, role_arn=OTHER_ROLE), "role_arn", "role_not_allowed")
    refused(
        lambda: create(client, uploaded.id, output_s3_uri=f"s3://{OTHER_BUCKET}/out"),
        "output_s3_uri",
        "bucket_not_allowed",
    )
    refused(
        lambda: create(client, uploaded.id, output_s3_uri="s3://operator-staging/x?y"),
        "output_s3_uri",
        "invalid_prefix",
    )
    assert client.batches.list().data == []
    assert fake_bedrock[0].state.fake.job_ids() == []

    batch = create(client, uploaded.id, role_arn=OPERATOR_ROLE, output_s3_uri=f"s3://{OPERATOR_BUCKET}/results")
    fake = fake_bedrock[0].state.fake
    (job_id,) = fake.job_ids()
    job = fake.job_json(job_id)
    assert job["roleArn"] == OPERATOR_ROLE
    assert job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] == f"s3://{OPERATOR_BUCKET}/results/"
    for _ in range(10):
        batch = client.batches.retrieve(batch.id)
        if batch.status == "completed":
            break
    assert batch.status == "completed" and batch.request_counts is not None and batch.request_counts.completed == 2
    written = boto3.client("s3").list_objects_v2(Bucket=OPERATOR_BUCKET, Prefix="results/")
    assert written.get("KeyCount", 0) > 0  # a location the operator allowed: what Bedrock wrote there stays
    assert create(client, uploaded.id, role_arn=BEDROCK_ROLE).id != batch.id  # the gateway's own role


def test_bedrock_access_denied_names_no_account_or_role(client: OpenAI, fake_bedrock: tuple[Any, str]) -> None:
    uploaded = upload(client)
    fake_bedrock[0].state.fake.inject(
        403,
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/batchbridge-BatchesCreate/fn is not authorized to perform: "
        "iam:PassRole on resource: arn:aws:iam::123456789012:role/batchbridge-bedrock",
        path_contains="/model-invocation-job",
        method="POST",
    )
    with pytest.raises(openai.APIStatusError) as caught:
        create(client, uploaded.id)
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "provider_auth_failed"
    text = json.dumps(caught.value.body)
    assert "123456789012" not in text and "batchbridge-bedrock" not in text and "assumed-role" not in text


def test_a_failed_jobs_message_names_no_account_or_role(client: OpenAI, fake_bedrock: tuple[Any, str]) -> None:
    fake = fake_bedrock[0].state.fake
    batch = create(client, upload(client).id)
    (job_id,) = fake.job_ids()
    fake.fail(job_id, "Access denied: role arn:aws:iam::123456789012:role/batchbridge-bedrock cannot read s3://x")
    for _ in range(5):
        batch = client.batches.retrieve(batch.id)
        if batch.status == "failed":
            break
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    message = batch.errors.data[0].message or ""
    assert "access denied" in message and "123456789012" not in message and "batchbridge-bedrock" not in message


def test_a_file_staged_outside_the_allowlist_is_not_used(client: OpenAI, gateway_env: dict[str, str]) -> None:
    """A file staged (before the allowlist, or before it changed) in a bucket the operator does not allow: a
    batch over it is refused."""
    uploaded = upload(client, bucket=OPERATOR_BUCKET)
    gateway = Gateway.from_settings(Settings.from_env(), queue=LocalWorkQueue())  # its records, as the app's
    record = gateway.records.get_file(uploaded.id)
    assert record is not None and record.staged_bucket == OPERATOR_BUCKET
    record.staged_bucket = OTHER_BUCKET
    gateway.records.put_file(record)
    refused(lambda: create(client, uploaded.id), "input_file_id", "bucket_not_allowed")
