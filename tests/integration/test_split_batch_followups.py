"""Follow-ups of split batches (issue 20): the gateway's request limit kept by large uploads' completion and by
batches.create of an OpenAI file; an OpenAI batch file kept by the gateway alone expiring as OpenAI's own would;
no part input left at OpenAI by a part put back to waiting (queue full) or by a create that made no batch; the
start_parts job run by every path that runs background jobs; and OpenAI's queue full end to end through the SDK."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from openai import OpenAI

from batchbridge import gateway as gateway_module
from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.ports import BatchRequest, Caller, Credentials, Job
from batchbridge.domain.records import BatchRecord, FileRecord
from batchbridge.domain.services import uploads as uploads_module
from batchbridge.domain.services.batch_writes import RECONCILE_AFTER_SECONDS
from batchbridge.gateway import Gateway
from batchbridge.providers.openai import OpenAIAdapter
from batchbridge.store.blobs import EXPIRY_TAG
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET
from tests.fakes.openai_upstream import token_limit_error
from tests.fakes.server import running_server
from tests.integration.apigw import LambdaContext, drain_sqs_event
from tests.integration.helpers import Clock, hold_jobs, move_clock
from tests.integration.processes import clean_env, serving

KEY = "sk-followups"
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
THIRTY_DAYS = 30 * 86_400
FINAL = ("completed", "failed", "expired", "cancelled")


def line(custom_id: str, model: str, pad: str = "") -> bytes:
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": f"Q {custom_id}{pad}"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode()


def lines(count: int, model: str = OPENAI_MODEL, pad: str = "") -> bytes:
    return b"".join(line(f"r{n}", model, pad) + b"\n" for n in range(count))


@pytest.fixture
def make_gateway(
    gateway_env: dict[str, str], work_queue: LocalWorkQueue, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Gateway]:
    """A gateway built from the test environment with ``settings`` (name -> value) added, its jobs run as `serve`
    runs them."""

    def make(**settings: str) -> Gateway:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        built = Gateway.from_settings(Settings.from_env(), queue=work_queue)
        work_queue.start(built.jobs.run)
        return built

    return make


@pytest.fixture
def fake(fake_openai: tuple[Any, str]) -> Any:
    return fake_openai[0].state.fake


def caller_of(gateway: Gateway) -> Caller:
    return gateway.caller({"authorization": f"Bearer {KEY}"})


def upload(gateway: Gateway, provider: str, content: bytes, **params: Any) -> FileRecord:
    return gateway.files.create(
        caller_of(gateway),
        provider,
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch", **params},
    )


def upload_in_parts(gateway: Gateway, work_queue: LocalWorkQueue, provider: str, content: bytes) -> FileRecord:
    """``content`` through the Uploads API, completed by the complete_upload job (the file as it made it)."""
    caller = caller_of(gateway)
    created = gateway.uploads.create(
        caller,
        provider,
        {"filename": "in.jsonl", "purpose": "batch", "bytes": len(content), "mime_type": "application/jsonl"},
    )
    part = gateway.uploads.add_part(caller, created.id, None, stream=io.BytesIO(content), size=len(content))
    _, accepted = gateway.uploads.complete(caller, created.id, None, {"part_ids": [part.id]})
    assert accepted.status == "uploaded"  # left to the job
    work_queue.drain()
    made = gateway.records.get_file(accepted.id)
    assert made is not None
    return made


def create_batch(gateway: Gateway, file_id: str) -> BatchRecord:
    return gateway.batches.create(
        caller_of(gateway),
        None,
        {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )


def stored(gateway: Gateway, batch_id: str) -> BatchRecord:
    record = gateway.records.get_batch(batch_id)
    assert record is not None
    return record


def blob_tags(key: str) -> dict[str, str]:
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tags}


# -- the gateway's request limit ---------------------------------------------------------------------------------------


def test_a_large_upload_completed_by_its_job_keeps_the_gateway_s_request_limit(
    make_gateway: Callable[..., Gateway], work_queue: LocalWorkQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_module, "SYNC_COMPLETE_MAX_BYTES", 0)  # every upload completed by its job
    gateway = make_gateway(BATCHBRIDGE_MAX_REQUESTS_PER_BATCH="5")
    made = upload_in_parts(gateway, work_queue, "anthropic", lines(5, ANTHROPIC_MODEL))
    assert made.status == "processed" and made.request_count == 5

    refused = upload_in_parts(gateway, work_queue, "anthropic", lines(6, ANTHROPIC_MODEL))
    assert refused.status == "error" and refused.status_details is not None
    assert "line 6:" in refused.status_details and "at most 5 requests" in refused.status_details
    assert "BATCHBRIDGE_MAX_REQUESTS_PER_BATCH" in refused.status_details


def test_a_batch_of_an_openai_file_beyond_the_gateway_s_request_limit_is_a_400_naming_it(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(BATCHBRIDGE_MAX_REQUESTS_PER_BATCH="5")
    within, beyond = upload(gateway, "openai", lines(5)), upload(gateway, "openai", lines(6))
    assert beyond.status == "processed" and beyond.request_count == 6  # counted, never refused, at upload

    with pytest.raises(GatewayError) as caught:
        create_batch(gateway, beyond.id)
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "too_many_requests", "input_file_id")
    assert beyond.id in error.message and "6 requests" in error.message and "at most 5 requests" in error.message
    assert "BATCHBRIDGE_MAX_REQUESTS_PER_BATCH" in error.message
    assert (
        gateway.records.list_batches(caller_of(gateway).owner, order="desc", after=None, limit=10, keep=bool).items
        == []
    )

    assert create_batch(gateway, within.id).status == "validating"


# -- an OpenAI batch file the gateway keeps alone ----------------------------------------------------------------------


def test_an_openai_batch_file_kept_by_the_gateway_only_expires_as_openai_s_would(
    make_gateway: Callable[..., Gateway], work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = make_gateway(BATCHBRIDGE_OPENAI_JOB_MAX_BYTES="4000")
    sent = upload(gateway, "openai", lines(3))
    assert sent.provider_file_id is not None  # OpenAI's own: 30 days by default, as OpenAI says
    opened = fake.get_file(KEY, sent.provider_file_id)
    assert sent.expires_at == sent.created_at + (opened.expires_at - opened.created_at) == sent.created_at + THIRTY_DAYS

    kept = upload(gateway, "openai", lines(60))
    assert kept.provider_file_id is None  # larger than one OpenAI job: the gateway's copy is the only one
    assert kept.expires_at == kept.created_at + THIRTY_DAYS
    assert kept.blob_key is not None and blob_tags(kept.blob_key) == {EXPIRY_TAG: "30"}
    assert gateway.files.retrieve(caller_of(gateway), kept.id, None).to_openai()["expires_at"] == kept.expires_at

    asked = upload(gateway, "openai", lines(60), expires_after={"anchor": "created_at", "seconds": 3600})
    assert asked.provider_file_id is None and asked.expires_at == asked.created_at + 3600
    assert asked.blob_key is not None and blob_tags(asked.blob_key) == {EXPIRY_TAG: "1"}

    monkeypatch.setattr(uploads_module, "SYNC_COMPLETE_MAX_BYTES", 0)
    monkeypatch.setattr(uploads_module, "HELD_UPLOAD_BYTES", 0)  # assembled in the bucket: its tag set after
    assembled = upload_in_parts(gateway, work_queue, "openai", lines(60))
    assert assembled.status == "processed" and assembled.provider_file_id is None
    assert assembled.expires_at == assembled.created_at + THIRTY_DAYS
    assert assembled.blob_key is not None and blob_tags(assembled.blob_key) == {EXPIRY_TAG: "30"}


# -- part inputs left at OpenAI --------------------------------------------------------------------------------------


@pytest.fixture
def split_openai(make_gateway: Callable[..., Gateway]) -> Gateway:
    """A gateway whose OpenAI jobs hold at most 3 requests."""
    return make_gateway(BATCHBRIDGE_OPENAI_JOB_MAX_REQUESTS="3")


def part_files(fake: Any, batch_id: str) -> set[str]:
    """The files at OpenAI the parts of ``batch_id`` run on (named after the batch)."""
    return {file_id for file_id in fake.file_ids(KEY) if fake.get_file(KEY, file_id).filename.startswith(batch_id)}


def test_a_part_put_back_for_a_full_queue_leaves_no_file_at_openai_when_cancelled(
    split_openai: Gateway, work_queue: LocalWorkQueue, fake: Any
) -> None:
    gateway = split_openai
    uploaded = upload(gateway, "openai", lines(7))
    fake.step_batches_on_retrieve = False
    batch = create_batch(gateway, uploaded.id)
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert all(job.started for job in record.jobs) and len(part_files(fake, batch.id)) == 3
    forgotten = record.jobs[1]
    fake.fail_validation(token_limit_error(OPENAI_MODEL))
    fake.advance(forgotten.id)  # OpenAI fails part 1's batch: its queue is full

    refreshed = gateway.batches.retrieve(caller_of(gateway), batch.id, None)
    waiting = refreshed.jobs[1]
    assert waiting.waiting and waiting.attempts == 1 and refreshed.parts_pending
    assert waiting.input_location == forgotten.input_location  # its file at OpenAI, still named on the record

    gateway.batches.cancel(caller_of(gateway), batch.id, None)
    fake.step_batches_on_retrieve = True
    for _ in range(5):
        work_queue.drain()
        if gateway.batches.retrieve(caller_of(gateway), batch.id, None).is_terminal:
            break
    work_queue.drain()
    done = stored(gateway, batch.id)
    assert done.status == "cancelled" and not done.release_pending
    assert part_files(fake, batch.id) == set()  # every part's file removed, the forgotten job's too
    assert uploaded.provider_file_id in fake.file_ids(KEY)  # the user's own stays


def test_a_part_create_that_timed_out_and_made_no_batch_leaves_no_file_at_openai(
    split_openai: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = split_openai
    clock = move_clock(gateway)
    original = OpenAIAdapter._create
    timed_out: list[str] = []

    def create(self: OpenAIAdapter, credentials: Credentials, request: BatchRequest, input_file_id: str) -> Any:
        if request.part is not None and request.part.number == 1 and not timed_out:
            timed_out.append(input_file_id)  # the part's file was sent; its batch's create never reached OpenAI
            raise GatewayError(504, "OpenAI did not answer in time.", code="provider_timeout")
        return original(self, credentials, request, input_file_id)

    monkeypatch.setattr(OpenAIAdapter, "_create", create)
    held = hold_jobs(gateway.batches, gateway.jobs)
    uploaded = upload(gateway, "openai", lines(7))
    batch = create_batch(gateway, uploaded.id)
    with pytest.raises(GatewayError):
        gateway.jobs.run(Job.START_PARTS, batch.id)
    (left,) = timed_out
    assert left in fake.file_ids(KEY) and stored(gateway, batch.id).jobs[1].sent_at is not None

    clock.advance(RECONCILE_AFTER_SECONDS + 1)
    gateway.jobs.run(Job.START_PARTS, batch.id)  # OpenAI shows no batch of part 1: its file goes, the part starts
    record = stored(gateway, batch.id)
    assert all(job.started for job in record.jobs)
    assert left not in fake.file_ids(KEY)
    assert part_files(fake, batch.id) == {job.input_location for job in record.jobs}
    assert len(fake.batch_ids(KEY)) == 3
    held.sent.clear()


# -- every path that runs background jobs runs start_parts ------------------------------------------------------------


def test_the_work_queue_s_lambda_function_runs_start_parts(
    gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, fake: Any
) -> None:
    from batchbridge.handlers import executor_dead_letters, finalizer

    monkeypatch.setenv("BATCHBRIDGE_OPENAI_JOB_MAX_REQUESTS", "3")
    gateway_module.default_gateway.cache_clear()
    try:
        gateway = gateway_module.default_gateway()  # the functions' own gateway: its jobs on the SQS work queue
        batch = create_batch(gateway, upload(gateway, "openai", lines(7)).id)
        queue_url = os.environ["BATCHBRIDGE_WORK_QUEUE_URL"]
        event = drain_sqs_event(queue_url)
        assert [json.loads(record["body"]) for record in event["Records"]] == [
            {"kind": Job.START_PARTS, "batch_id": batch.id}
        ]

        # the executor's dead-letter function leaves it alone (only chunks die into error lines there): the
        # sweeper sends a lost start_parts again
        assert executor_dead_letters.handler(event, LambdaContext()) == {"batchItemFailures": []}
        assert stored(gateway, batch.id).jobs == []

        assert finalizer.handler(event, LambdaContext()) == {"batchItemFailures": []}
        record = stored(gateway, batch.id)
        assert [(job.part or {})["count"] for job in record.jobs] == [3, 3, 1]
        assert all(job.started for job in record.jobs) and len(fake.batch_ids(KEY)) == 3
    finally:
        gateway_module.default_gateway.cache_clear()


def test_serve_runs_start_parts_in_its_own_job_loop(fake_openai: tuple[Any, str], tmp_path: Path) -> None:
    env = clean_env(
        BATCHBRIDGE_OPENAI_BASE_URL=fake_openai[1],
        BATCHBRIDGE_REFRESH_SECONDS="0",
        BATCHBRIDGE_OPENAI_JOB_MAX_REQUESTS="2",
    )
    with serving(env, tmp_path / "serve.log") as (base, _):
        client = OpenAI(base_url=base + "/openai", api_key=KEY, max_retries=0)
        uploaded = client.files.create(file=("in.jsonl", lines(5)), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(100):
            if batch.status in FINAL:
                break
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed", batch
        assert batch.request_counts is not None and (batch.request_counts.total, batch.request_counts.completed) == (
            5,
            5,
        )
        assert len(fake_openai[0].state.fake.batch_ids(KEY)) == 3  # one OpenAI batch per part
        assert batch.output_file_id is not None
        output = client.files.content(batch.output_file_id).content.decode().splitlines()
        assert sorted(json.loads(text)["custom_id"] for text in output) == [f"r{n}" for n in range(5)]


# -- OpenAI's queue full, end to end ---------------------------------------------------------------------------------


@pytest.fixture
def sdk(split_openai: Gateway, drained_http: Any) -> Iterator[OpenAI]:
    with (
        running_server(build_app(gateway=split_openai)) as base,
        OpenAI(base_url=base + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as client,
    ):
        yield client


def test_a_part_openai_fails_for_its_full_queue_runs_again_after_backoff_and_the_batch_completes(
    sdk: OpenAI, split_openai: Gateway, work_queue: LocalWorkQueue, fake: Any
) -> None:
    gateway = split_openai
    clock: Clock = move_clock(gateway)
    uploaded = sdk.files.create(file=("in.jsonl", lines(7)), purpose="batch")
    fake.fail_validation(token_limit_error(OPENAI_MODEL))  # the first part batch to leave validation fails
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating"

    forgotten: set[str] = set()
    for _ in range(10):
        batch = sdk.batches.retrieve(batch.id)
        record = stored(gateway, batch.id)
        waiting = [job for job in record.jobs if job.waiting and job.attempts == 1]
        if waiting:
            forgotten = {location for job in waiting if (location := job.input_location) is not None}
            break
    else:
        raise AssertionError(f"no part was put back: {stored(gateway, batch.id)}")
    assert batch.status == "in_progress"  # not failed: its part waits for OpenAI's queue
    (part,) = waiting
    assert part.waiting_until is not None and part.waiting_until > clock.now() and len(forgotten) == 1
    assert forgotten <= set(fake.file_ids(KEY))
    failed_at_openai = [b for b in fake.batch_ids(KEY) if fake.batch_json(b)["status"] == "failed"]
    assert len(failed_at_openai) == 1

    gateway.jobs.sweep()  # its backoff has not passed: it waits
    work_queue.drain()
    assert stored(gateway, batch.id).jobs[record.jobs.index(part)].waiting

    clock.advance(part.waiting_until - clock.now() + 1)
    gateway.jobs.sweep()
    work_queue.drain()
    restarted = stored(gateway, batch.id).jobs[record.jobs.index(part)]
    assert restarted.started and restarted.attempts == 1
    assert not forgotten & set(fake.file_ids(KEY))  # the forgotten job's file removed before the part ran again

    for _ in range(20):
        if batch.status in FINAL:
            break
        batch = sdk.batches.retrieve(batch.id)
    assert batch.status == "completed", batch
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (7, 7, 0)
    assert batch.error_file_id is None and batch.output_file_id is not None
    output = sdk.files.content(batch.output_file_id).content.decode().splitlines()
    assert sorted(json.loads(text)["custom_id"] for text in output) == sorted(f"r{n}" for n in range(7))
    assert len(fake.batch_ids(KEY)) == 4  # three parts, one of them twice (its first failed at OpenAI)
    work_queue.drain()
    assert part_files(fake, batch.id) == set()  # every part's file released
