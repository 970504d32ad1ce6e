"""Bedrock through the OpenAI SDK: S3 staging, model invocation jobs, OpenAI-format results."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import httpx
import openai
import pytest
from botocore.exceptions import ResponseStreamingError
from botocore.response import StreamingBody
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from batchbridge.providers.registry import Registry
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET
from tests.fakes.server import running_server

PROVIDER = "bedrock"
MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
DOCS_BUCKET = "your-s3-bucket"


def jsonl(count: int, model: str = MODEL, **body: Any) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "custom_id": f"req-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": f"Question {i}?"}], "max_tokens": 100}
                | body,
            }
        )
        for i in range(count)
    ).encode()


@pytest.fixture
def serve(gateway: Gateway, work_queue: LocalWorkQueue, drained_http: httpx.Client) -> Any:
    """An OpenAI client on a gateway whose settings a test may change."""
    started: list[Any] = []

    def client(**settings: Any) -> OpenAI:
        changed = dataclasses.replace(gateway.settings, **settings)
        configured = dataclasses.replace(gateway, settings=changed, providers=Registry(changed))
        work_queue._run = configured.jobs.run  # the worker runs this gateway's jobs
        server = running_server(build_app(gateway=configured))
        base = server.__enter__()
        started.append(server)
        return OpenAI(base_url=base + "/openai", api_key="sk-any", max_retries=0, http_client=drained_http)

    yield client
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def docs_bucket(aws: None) -> str:
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket=DOCS_BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    return DOCS_BUCKET


def finish(client: OpenAI, batch_id: str) -> Any:
    for _ in range(15):
        batch = client.batches.retrieve(batch_id, extra_query={"provider": PROVIDER})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            return batch
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def lines_of(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    return {line["custom_id"]: line for line in map(json.loads, client.files.content(file_id).read().splitlines())}


def created(client: OpenAI, count: int) -> Any:
    """A Bedrock batch of ``count`` chat lines, just created (its file uploaded first)."""
    uploaded = client.files.create(
        file=("a.jsonl", jsonl(count), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    return client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )


def test_docs_workflow_with_storage_config(serve: Any, docs_bucket: str) -> None:
    client = serve(bedrock_min_records=2)
    storage = {"s3": {"bucket": docs_bucket, "region": "us-west-2", "prefix": "batch-input"}}
    uploaded = client.files.create(
        file=("batch_e2e.jsonl", jsonl(2), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": PROVIDER, "storage_config": storage},
    )
    staged = (
        boto3.client("s3", region_name="us-west-2")
        .get_object(Bucket=docs_bucket, Key=f"batch-input/{uploaded.id}/input.jsonl")["Body"]
        .read()
    )
    records = [json.loads(line) for line in staged.splitlines()]
    assert [r["modelInput"]["anthropic_version"] for r in records] == ["bedrock-2023-05-31"] * 2
    assert "model" not in records[0]["modelInput"] and records[0]["modelInput"]["max_tokens"] == 100
    listed = client.files.list(extra_query={"provider": PROVIDER, "storage_config": storage})
    assert [f.id for f in listed.data] == [uploaded.id]
    assert client.files.content(uploaded.id).read() == jsonl(2)  # the original bytes, not the staged records

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "model": MODEL, "output_s3_uri": f"s3://{docs_bucket}/batch-output"},
    )
    assert batch.status == "validating"
    listed_batches = client.batches.list(limit=10, extra_query={"provider": PROVIDER, "model": MODEL})
    assert [b.id for b in listed_batches.data] == [batch.id]
    assert client.batches.list(extra_query={"provider": PROVIDER, "model": "other"}).data == []
    done = finish(client, batch.id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (2, 2, 0)
    output = lines_of(client, done.output_file_id)
    for i in range(2):  # shuffled by Bedrock, keyed back by custom_id
        body = output[f"req-{i}"]["response"]["body"]
        assert body["choices"][0]["message"]["content"] == f"echo: Question {i}?"
    deleted = client.files.delete(uploaded.id, extra_query={"provider": PROVIDER})
    assert deleted.deleted
    keys = boto3.client("s3", region_name="us-west-2").list_objects_v2(Bucket=docs_bucket, Prefix="batch-input/")
    assert keys.get("KeyCount", 0) == 0  # the staged objects went with it


def test_default_minimum_and_errors_into_the_error_file(serve: Any) -> None:
    client = serve()
    few = client.files.create(
        file=("few.jsonl", jsonl(2), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    with pytest.raises(openai.BadRequestError, match=r"2 records.*at least 100"):
        client.batches.create(
            input_file_id=few.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": PROVIDER},
        )
    uploaded = client.files.create(
        file=("many.jsonl", jsonl(120), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    # One record Bedrock will reject (its model input is not checked until the job runs it).
    s3 = boto3.client("s3")
    key = f"batchbridge/bedrock/{uploaded.id}/input.jsonl"
    records = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]
    records[-1]["modelInput"]["force_error"] = True
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(json.dumps(r) for r in records).encode())
    with pytest.raises(openai.BadRequestError, match="does not match"):
        client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": PROVIDER, "model": "amazon.nova-pro-v1:0"},
        )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )
    done = finish(client, batch.id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (120, 119, 1)
    output = lines_of(client, done.output_file_id)
    assert len(output) == 119 and output["req-7"]["response"]["body"]["choices"][0]["message"]["content"] == (
        "echo: Question 7?"
    )
    errors = lines_of(client, done.error_file_id)
    assert list(errors) == ["req-119"] and errors["req-119"]["response"]["status_code"] == 400


def test_no_bucket_anywhere_and_unusable_buckets(serve: Any) -> None:
    client = serve(bedrock_bucket=None)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("a.jsonl", jsonl(1), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
        )
    assert caught.value.body["param"] == "storage_config"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="no-such-bucket") as caught:
        client.files.create(
            file=("a.jsonl", jsonl(1), "application/jsonl"),
            purpose="batch",
            extra_body={"provider": PROVIDER, "storage_config": {"s3": {"bucket": "no-such-bucket"}}},
        )
    assert client.files.list().data == []


def test_cancel_stops_the_job(serve: Any, fake_bedrock: tuple[Any, str]) -> None:
    client = serve(bedrock_min_records=1)
    batch = created(client, 3)
    cancelled = client.batches.cancel(batch.id, extra_body={"provider": PROVIDER})
    assert cancelled.status == "cancelling"
    done = finish(client, batch.id)
    assert done.status == "cancelled" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 3)
    assert {line["error"]["code"] for line in lines_of(client, done.error_file_id).values()} == {"batch_cancelled"}
    sent = [r for r in fake_bedrock[0].state.fake.requests if r.method == "POST" and r.path.endswith("/stop")]
    assert len(sent) == 1


def test_a_results_download_dropped_half_way_loses_and_duplicates_nothing(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bedrock's results are S3 objects: the first two reads of them break off half-way (as a reset connection
    does); the finalizer's retry still writes every record exactly once, and no short file shows meanwhile."""
    client = serve(bedrock_min_records=1)
    drops = [2]
    whole = StreamingBody.iter_chunks

    def half_then_reset(body: StreamingBody, chunk_size: int = 1024) -> Any:
        if drops[0] > 0:
            drops[0] -= 1
            data = body.read()
            yield data[: len(data) // 2]
            raise ResponseStreamingError(error=ConnectionResetError("connection reset mid-download"))
        yield from whole(body, chunk_size)

    batch = created(client, 4)
    monkeypatch.setattr(StreamingBody, "iter_chunks", half_then_reset)  # from here on: results reads
    for _ in range(15):
        polled = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
        if polled.status == "completed":
            break
        assert polled.output_file_id is None and polled.error_file_id is None  # never a short file in between
    assert polled.status == "completed" and drops == [0]
    assert polled.request_counts is not None and polled.request_counts.completed == 4
    assert sorted(lines_of(client, polled.output_file_id)) == [f"req-{i}" for i in range(4)]  # each exactly once


def test_partially_completed_counts_its_unprocessed_records_as_failed(serve: Any) -> None:
    client = serve(bedrock_min_records=1)
    uploaded = client.files.create(
        file=("a.jsonl", jsonl(4), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    s3 = boto3.client("s3")
    key = f"batchbridge/bedrock/{uploaded.id}/input.jsonl"
    records = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]
    records[1]["modelInput"]["partial_marker"] = True  # Bedrock runs out of time for this one
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(json.dumps(r) for r in records).encode())
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )
    done = finish(client, batch.id)
    assert done.status == "completed"  # PartiallyCompleted is completed, its failures counted
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (4, 3, 1)
    errors = lines_of(client, done.error_file_id)
    assert list(errors) == ["req-1"] and errors["req-1"]["error"]["code"] == "batch_expired"


@pytest.mark.parametrize(
    "storage",
    [
        {"s3": {"bucket": "ok-bucket", "prefix": {"a": "b"}}},
        {"s3": {"bucket": ["x"]}},
        {"s3": {"bucket": "ok-bucket", "region": "not a region"}},
        {"s3": {"bucket": "Bad_Bucket!"}},
        {"s3": {"bucket": "ok-bucket", "colour": "blue"}},
        "s3://somewhere",
    ],
)
def test_malformed_storage_config_is_a_400(serve: Any, storage: Any) -> None:
    client = serve()
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("a.jsonl", jsonl(1), "application/jsonl"),
            purpose="batch",
            extra_body={"provider": PROVIDER, "storage_config": storage},
        )
    assert str(caught.value.body["param"]).startswith("storage_config")  # type: ignore[index]


def test_a_create_never_leaves_an_unseen_job(serve: Any, fake_bedrock: tuple[Any, str]) -> None:
    client = serve(bedrock_min_records=1)
    uploaded = client.files.create(
        file=("a.jsonl", jsonl(2), "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER}
    )
    fake = fake_bedrock[0].state.fake
    fake.inject(403, "AccessDeniedException", path_contains="/model-invocation-job/", method="GET")
    batch = client.batches.create(  # the job exists: the batch must too, whatever a later read does
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )
    assert batch.status == "validating" and len(fake.job_ids()) == 1
    assert [b.id for b in client.batches.list()] == [batch.id]


def test_cancelling_a_job_that_already_ended(serve: Any, fake_bedrock: tuple[Any, str]) -> None:
    client = serve(bedrock_min_records=1)
    batch = created(client, 2)
    fake = fake_bedrock[0].state.fake
    (job_id,) = fake.job_ids()
    fake.run_to_end(job_id)  # Bedrock finished before the gateway noticed
    answered = client.batches.cancel(batch.id)
    assert answered.status in ("finalizing", "completed")
    assert finish(client, batch.id).status == "completed"


def test_a_failed_job_fails_the_batch_with_its_message(serve: Any, fake_bedrock: tuple[Any, str]) -> None:
    client = serve(bedrock_min_records=1)
    batch = created(client, 2)
    fake = fake_bedrock[0].state.fake
    (job_id,) = fake.job_ids()
    fake.fail(job_id, "The role cannot read the input")
    done = finish(client, batch.id)
    assert done.status == "failed" and done.failed_at is not None and done.finalizing_at is None
    assert done.errors is not None and done.errors.data is not None
    assert "cannot read the input" in (done.errors.data[0].message or "")
    assert done.request_counts is not None and done.request_counts.total == 2
