"""A Bedrock batch beyond one model invocation job, through the OpenAI SDK: split by its staged records' count and
bytes (BATCHBRIDGE_BEDROCK_JOB_MAX_REQUESTS / _JOB_MAX_BYTES, lowered here), started within Bedrock's quota of
concurrent jobs per model (BATCHBRIDGE_BEDROCK_MAX_CONCURRENT_JOBS), merged into one batch with one output file; each
part's staged objects removed once the batch is final; a small last part rebalanced, or run on demand."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.domain.parts import JobPart
from batchbridge.domain.ports import BatchRequest, Credentials
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET
from tests.fakes.bedrock_runtime_upstream import FakeBedrockRuntime
from tests.fakes.bedrock_runtime_upstream import create_app as create_runtime
from tests.fakes.server import running_server
from tests.integration.helpers import hold_jobs, move_clock, recorded_aws_calls, ungranted
from tests.integration.test_bedrock import jsonl

PROVIDER = {"provider": "bedrock"}
STAGING = "batchbridge/bedrock"


@pytest.fixture
def runtime(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrockRuntime]:
    """The fake Bedrock runtime (an on-demand part's InvokeModel), where boto3's per-service variable points."""
    app = create_runtime()
    with running_server(app) as base:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", base)
        yield app.state.fake


@pytest.fixture
def fake(fake_bedrock: tuple[Any, str]) -> Any:
    state = fake_bedrock[0].state.fake
    # The fake reads and writes S3 as Bedrock does: with a session of its own, so its calls are not the gateway's.
    state.s3_client_factory = lambda: boto3.session.Session().client("s3")
    return state


@pytest.fixture
def start(
    gateway_env: dict[str, str],
    runtime: FakeBedrockRuntime,
    work_queue: LocalWorkQueue,
    drained_http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """Starts a gateway from the environment with ``env`` set (its background jobs, chunks too, on the work queue);
    returns (an OpenAI client on it, the gateway)."""
    servers: list[Any] = []

    def started(**env: str) -> tuple[OpenAI, Gateway]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue)
        work_queue.start(gateway.jobs.run)
        server = running_server(build_app(gateway=gateway))
        servers.append(server)
        base = server.__enter__()
        client = OpenAI(base_url=base + "/openai", api_key="sk-any", max_retries=0, http_client=drained_http)
        return client, gateway

    yield started
    for server in servers:
        server.__exit__(None, None, None)


def limits(
    *, records: int = 50_000, staged_bytes: int = 1 << 30, min_records: int = 2, jobs: int = 10
) -> dict[str, str]:
    return {
        "BATCHBRIDGE_BEDROCK_JOB_MAX_REQUESTS": str(records),
        "BATCHBRIDGE_BEDROCK_JOB_MAX_BYTES": str(staged_bytes),
        "BATCHBRIDGE_BEDROCK_MIN_RECORDS": str(min_records),
        "BATCHBRIDGE_BEDROCK_MAX_CONCURRENT_JOBS": str(jobs),
    }


def upload(client: OpenAI, count: int) -> Any:
    return client.files.create(
        file=("big.jsonl", jsonl(count), "application/jsonl"), purpose="batch", extra_body=PROVIDER
    )


def create(client: OpenAI, file_id: str) -> Any:
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", extra_body=PROVIDER
    )


def finish(client: OpenAI, batch_id: str) -> Any:
    """Polled until final (each retrieve steps the fake's jobs one state; parts start as others end)."""
    deadline = time.monotonic() + 60
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} stayed {batch.status}"


def staged_keys(file_id: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"{STAGING}/{file_id}/")
    return sorted(item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", []))


def staged_record_sizes(file_id: str) -> list[int]:
    staged = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{STAGING}/{file_id}/input.jsonl")["Body"].read()
    return [len(line) for line in staged.splitlines(keepends=True)]


def read_lines(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(line) for line in client.files.content(file_id).read().splitlines()]


def job_inputs(fake: Any) -> dict[str, list[dict[str, Any]]]:
    """Each job of the fake's (by name): the records its input object holds."""
    inputs: dict[str, list[dict[str, Any]]] = {}
    for job_id in fake.job_ids():
        job = fake.job_json(job_id)
        bucket, _, key = job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        inputs[job["jobName"]] = [json.loads(line) for line in body.splitlines()]
    return inputs


def test_a_file_beyond_a_job_s_staged_bytes_splits_by_bytes_and_completes_as_one_batch(start: Any, fake: Any) -> None:
    client, _ = start()
    sizing = upload(client, 12)
    per_job = max(staged_record_sizes(sizing.id)) * 3  # three staged records a job, whatever their digits
    client, _ = start(**limits(staged_bytes=per_job))
    uploaded = upload(client, 12)
    assert len(jsonl(12)) > per_job  # (the original lines too are beyond one job: the batch is split)
    batch = create(client, uploaded.id)
    assert batch.status == "validating"
    client.batches.retrieve(batch.id)  # (its parts started meanwhile)

    # Each job reads its part's records alone, staged beside the file's, within the staged bytes of a job
    token = batch.id.removeprefix("batch_")
    inputs = job_inputs(fake)
    assert sorted(inputs) == [f"batchbridge-{token}-p{n}" for n in range(4)]
    for n in range(4):
        records = inputs[f"batchbridge-{token}-p{n}"]
        assert [record["recordId"] for record in records] == [f"r{index:010d}" for index in range(3 * n, 3 * n + 3)]
        assert sum(len(json.dumps(record, separators=(",", ":"))) + 1 for record in records) <= per_job
    parts = [f"{kind}-part-{n}.{ext}" for n in range(4) for kind, ext in (("input", "jsonl"), ("record_ids", "json"))]
    assert staged_keys(uploaded.id) == sorted(["input.jsonl", "record_ids.json", *parts])

    done = finish(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (12, 12, 0)
    output = read_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted(f"req-{n}" for n in range(12))  # each once
    for line in output:
        n = line["custom_id"].removeprefix("req-")
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"echo: Question {n}?"
    summed = sum(line["response"]["body"]["usage"]["total_tokens"] for line in output)
    assert done.usage is not None and done.usage.total_tokens == summed > 0
    jobs = (done.model_extra or {})["provider_jobs"]
    assert [(job["kind"], job["status"], job["request_counts"]["total"]) for job in jobs] == [
        ("bedrock_job", "completed", 3)
    ] * 4
    by_name = {fake.job_json(job_id)["jobName"]: fake.job_json(job_id)["jobArn"] for job_id in fake.job_ids()}
    assert [job["id"] for job in jobs] == [by_name[f"batchbridge-{token}-p{n}"] for n in range(4)]

    # the parts' staged objects went with the batch's release; the file's own stay until it is deleted
    assert staged_keys(uploaded.id) == ["input.jsonl", "record_ids.json"]
    assert client.files.delete(uploaded.id, extra_query=PROVIDER).deleted
    assert staged_keys(uploaded.id) == []


def test_with_room_for_two_jobs_five_parts_never_run_more_than_two_at_once_and_all_finish(
    start: Any, fake: Any
) -> None:
    client, _ = start(**limits(records=3, jobs=2))
    uploaded = upload(client, 15)
    batch = create(client, uploaded.id)
    retrieved = client.batches.retrieve(batch.id)
    started = [job for job in (retrieved.model_extra or {})["provider_jobs"] if job["id"] is not None]
    assert len(started) == 2 and fake.running() == 2  # the other three wait in the gateway: no error
    assert retrieved.status in ("validating", "in_progress")

    done = finish(client, batch.id)
    assert done.status == "completed"
    assert len(fake.job_ids()) == 5
    assert fake.most_running == 2  # the quota, used to the full and never beyond
    assert sorted(line["custom_id"] for line in read_lines(client, done.output_file_id)) == sorted(
        f"req-{n}" for n in range(15)
    )


def test_jobs_of_other_callers_of_the_model_take_their_share_of_the_quota(start: Any, fake: Any) -> None:
    client, gateway = start(**limits(records=3, jobs=2))
    uploaded = upload(client, 6)
    other = create(client, upload(client, 3).id)  # one job of the whole file, not split: it runs beside the parts
    batch = create(client, uploaded.id)
    jobs = (client.batches.retrieve(batch.id).model_extra or {})["provider_jobs"]
    assert [job["id"] is not None for job in jobs] == [True, False]
    assert fake.running() == 2  # the other batch's job and one part
    assert finish(client, other.id).status == "completed"
    assert finish(client, batch.id).status == "completed"
    assert fake.most_running == 2
    adapter = gateway.batches.providers.get("bedrock")
    assert adapter.job_limits.max_requests == 3


def test_a_small_last_part_takes_records_from_the_part_before(start: Any, fake: Any) -> None:
    client, _ = start(**limits(records=3, min_records=2))
    batch = create(client, upload(client, 7).id)  # 3 + 3 + 1 as cut; 3 + 2 + 2 as run
    done = finish(client, batch.id)
    assert done.status == "completed"
    jobs = (done.model_extra or {})["provider_jobs"]
    assert [(job["kind"], job["request_counts"]["total"]) for job in jobs] == [
        ("bedrock_job", 3),
        ("bedrock_job", 2),
        ("bedrock_job", 2),
    ]
    assert sorted(line["custom_id"] for line in read_lines(client, done.output_file_id)) == sorted(
        f"req-{n}" for n in range(7)
    )


def test_a_small_last_part_that_cannot_take_records_runs_on_demand(
    start: Any, fake: Any, runtime: FakeBedrockRuntime
) -> None:
    client, _ = start(**limits(records=3, min_records=3))
    uploaded = upload(client, 4)
    batch = create(client, uploaded.id)  # 3 + 1: the first part cannot spare two records
    done = finish(client, batch.id)
    assert done.status == "completed"
    jobs = (done.model_extra or {})["provider_jobs"]
    assert [(job["kind"], job["request_counts"]["total"]) for job in jobs] == [("bedrock_job", 3), ("on_demand", 1)]
    assert jobs[1]["id"] == f"{batch.id}.p1"
    assert len(fake.job_ids()) == 1 and len(runtime.invocations) == 1
    assert runtime.invocations[0].body["messages"][0]["content"] == "Question 3?"  # the part's one record
    output = read_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == ["req-0", "req-1", "req-2", "req-3"]
    assert staged_keys(uploaded.id) == ["input.jsonl", "record_ids.json"]  # the on-demand part staged nothing


def test_a_small_last_part_with_reject_fails_alone_with_error_lines(start: Any, fake: Any) -> None:
    client, _ = start(**limits(records=3, min_records=3), BATCHBRIDGE_BEDROCK_SMALL_BATCHES="reject")
    batch = create(client, upload(client, 4).id)
    done = finish(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (3, 1)
    errors = read_lines(client, done.error_file_id)
    assert [line["custom_id"] for line in errors] == ["req-3"]
    assert "at least 3" in errors[0]["error"]["message"]


def test_a_part_refused_for_bedrock_s_job_quota_waits_and_starts_later(start: Any, fake: Any) -> None:
    """Another caller may take the quota's last place between ``room`` and the create: Bedrock's refusal
    (ServiceQuotaExceededException, a 400) puts the part back to waiting, with backoff, instead of failing it."""
    client, gateway = start(**limits(records=3))
    clock = move_clock(gateway)
    fake.inject(400, "ServiceQuotaExceededException", path_contains="/model-invocation-job", method="POST")
    batch = create(client, upload(client, 6).id)
    retrieved = client.batches.retrieve(batch.id)
    jobs = (retrieved.model_extra or {})["provider_jobs"]
    assert [job["status"] for job in jobs] == ["queued", "queued"] and retrieved.status == "validating"
    assert fake.job_ids() == []
    record = gateway.records.get_batch(batch.id)
    assert record is not None and record.jobs[0].attempts == 1 and record.jobs[0].waiting_until is not None

    clock.advance(record.jobs[0].waiting_until - clock.now() + 1)
    gateway.jobs.sweep()
    done = finish(client, batch.id)
    assert done.status == "completed" and len(fake.job_ids()) == 2
    assert done.request_counts is not None and done.request_counts.completed == 6


def test_the_start_parts_job_makes_only_calls_the_work_queue_s_function_is_granted(
    start: Any, fake: Any, work_queue: LocalWorkQueue
) -> None:
    """Parts are staged and their jobs created by the start_parts job, in the function that runs the work queue's
    jobs (FinalizerFunction): every AWS call it makes is one template.yaml grants it; so are a part's release and a
    file's delete (listing its folder for parts' objects)."""
    _, gateway = start(**limits(records=3, jobs=2))
    caller = gateway.caller({"authorization": "Bearer sk-any"})
    content = jsonl(9)
    uploaded = gateway.files.create(
        caller,
        "bedrock",
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    held = hold_jobs(gateway.batches)
    batch = gateway.batches.create(
        caller, None, {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    )
    with recorded_aws_calls() as calls:
        held.release(work_queue)
        seen = {"finalizer": list(calls)}
    record = gateway.records.get_batch(batch.id)
    assert record is not None and [job.id != "" for job in record.jobs] == [True, True, False]
    assert ("bedrock:CreateModelInvocationJob", None) in seen["finalizer"]
    assert ("bedrock:ListModelInvocationJobs", None) in seen["finalizer"]
    assert any(action == "s3:PutObject" for action, _ in seen["finalizer"])

    adapter = gateway.batches.providers.get("bedrock")
    with recorded_aws_calls() as calls:
        adapter.release_part_input(Credentials("sk-any"), record.jobs[0])  # type: ignore[attr-defined]
        seen["finalizer"] += calls
    assert "input-part-0.jsonl" not in staged_keys(uploaded.id)
    with recorded_aws_calls() as calls:
        gateway.files.delete(caller, uploaded.id, None)
        seen["files_delete"] = list(calls)
    assert ("s3:ListBucket", None) in seen["files_delete"]
    assert staged_keys(uploaded.id) == []
    assert ungranted(seen) == {"finalizer": [], "files_delete": []}


def test_find_batch_of_a_part_finds_that_part_s_job_only_with_its_records(start: Any, fake: Any) -> None:
    """What a part's create left at Bedrock when its answer was lost: found by the part's job name, reported as the
    create would (its input object, the custom_ids of its records alone); a part never created: nothing."""
    client, gateway = start(**limits(records=3, jobs=2))
    uploaded = upload(client, 9)
    batch = create(client, uploaded.id)
    client.batches.retrieve(batch.id)  # (two parts started meanwhile: the quota's two)
    record = gateway.records.get_batch(batch.id)
    file = gateway.records.get_file(uploaded.id)
    assert record is not None and file is not None
    adapter = gateway.batches.providers.get("bedrock")

    def request(number: int) -> BatchRequest:
        part = JobPart.from_stored(record.jobs[number].part or {})
        return BatchRequest(batch.id, file, None, "/v1/chat/completions", "24h", None, None, {}, part=part)

    found = adapter.find_batch(Credentials("sk-any"), request(1), record.created_at)
    assert found is not None and found.id == record.jobs[1].id
    assert found.custom_id_map == {f"r{n:010d}": f"req-{n}" for n in (3, 4, 5)}
    assert found.input_location == f"s3://{BUCKET}/{STAGING}/{uploaded.id}/input-part-1.jsonl"
    assert adapter.find_batch(Credentials("sk-any"), request(2), record.created_at) is None
