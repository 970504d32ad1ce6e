"""A Bedrock batch below Bedrock's minimum of records, through the OpenAI SDK: run request by request on the gateway's
executor with Bedrock's runtime InvokeModel (the runtime fake), its answers OpenAI batch lines; the Batch object's
``provider_jobs`` shows the one on-demand job."""

from __future__ import annotations

import json
import threading
import time
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
from batchbridge.store.executor_state import DynamoChunkStore
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET, TABLE
from tests.fakes.bedrock_runtime_upstream import FakeBedrockRuntime, create_app
from tests.fakes.server import running_server
from tests.integration.test_bedrock import MODEL, jsonl
from tests.integration.test_compat_worker import LossyQueue

PROVIDER = {"provider": "bedrock"}
RECORDS = 7


@pytest.fixture
def runtime(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrockRuntime]:
    """The fake Bedrock runtime, where boto3's own per-service variable points the gateway's runtime client."""
    app = create_app()
    with running_server(app) as base:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", base)
        yield app.state.fake


@pytest.fixture
def make(
    gateway_env: dict[str, str],
    runtime: FakeBedrockRuntime,
    monkeypatch: pytest.MonkeyPatch,
    work_queue: LocalWorkQueue,
) -> Iterator[Any]:
    """Starts a gateway from the environment (with ``env`` set), its chunks on ``chunks``; yields (client, gateway),
    the client waiting for the background work before each request."""
    servers: list[Any] = []
    queues: list[LocalWorkQueue] = []

    def start(*, chunks: LocalWorkQueue | None = None, **env: str) -> tuple[OpenAI, Gateway, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        chunk_queue = chunks or LocalWorkQueue(retry_delay_seconds=0.05)
        queues.append(chunk_queue)
        gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue, chunk_queue=chunk_queue)
        work_queue.start(gateway.jobs.run)
        chunk_queue.start(gateway.jobs.run)
        server = running_server(build_app(gateway=gateway))
        servers.append(server)
        base = server.__enter__()

        def drain(_: Any) -> None:
            work_queue.drain()
            chunk_queue.drain()

        http_client = httpx.Client(event_hooks={"request": [drain]}, timeout=30)
        return (
            OpenAI(base_url=base + "/openai", api_key="sk-any", max_retries=0, http_client=http_client),
            gateway,
            base,
        )

    yield start
    for server in servers:
        server.__exit__(None, None, None)
    for queue in queues:
        queue.stop()


def upload(client: OpenAI, content: bytes) -> Any:
    return client.files.create(file=("small.jsonl", content, "application/jsonl"), purpose="batch", extra_body=PROVIDER)


def create(client: OpenAI, file_id: str) -> Any:
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", extra_body=PROVIDER
    )


def wait_for(client: OpenAI, batch_id: str, gateway: Gateway | None = None) -> Any:
    """Poll until the batch is final (sweeping between polls when given a gateway)."""
    deadline = time.monotonic() + 60
    while True:
        if gateway is not None:
            gateway.jobs.sweep()
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} stayed {batch.status}"
        time.sleep(0.1)


def lines_of(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    return {line["custom_id"]: line for line in map(json.loads, client.files.content(file_id).read().splitlines())}


def staged_inputs(file_id: str) -> list[Any]:
    key = f"batchbridge/bedrock/{file_id}/input.jsonl"
    staged = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return [json.loads(line)["modelInput"] for line in staged.splitlines()]


def canonical(bodies: list[Any]) -> list[str]:
    return sorted(json.dumps(body, sort_keys=True) for body in bodies)


def test_a_small_file_runs_on_demand_with_the_batch_conversion_s_bodies(
    make: Any, runtime: FakeBedrockRuntime, fake_bedrock: tuple[Any, str]
) -> None:
    client, _, _ = make()
    uploaded = upload(client, jsonl(RECORDS))
    batch = create(client, uploaded.id)  # 7 records, below Bedrock's minimum of 100: no 400
    assert batch.status == "in_progress"
    assert batch.to_dict()["provider_jobs"] == [
        {
            "id": batch.id,
            "kind": "on_demand",
            "status": "in_progress",
            "request_counts": {"total": RECORDS, "completed": 0, "failed": 0},
        }
    ]
    done = wait_for(client, batch.id)
    assert done.status == "completed" and done.error_file_id is None
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (RECORDS, 7, 0)
    # InvokeModel got exactly the batch conversion's per-family bodies (Claude's), each once, in the file's region
    assert canonical(runtime.bodies()) == canonical(staged_inputs(uploaded.id))
    assert {(call.model_id, call.region) for call in runtime.invocations} == {(MODEL, "us-east-1")}
    output = lines_of(client, done.output_file_id)
    assert sorted(output) == [f"req-{n}" for n in range(RECORDS)]
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    for n in range(RECORDS):
        line = output[f"req-{n}"]
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert (
            body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == f"echo: Question {n}?"
        )
        usage = {name: usage[name] + body["usage"][name] for name in usage}
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert done.to_dict()["provider_jobs"] == [
        {
            "id": batch.id,
            "kind": "on_demand",
            "status": "completed",
            "request_counts": {"total": RECORDS, "completed": RECORDS, "failed": 0},
        }
    ]
    listed = client.batches.list(extra_query=PROVIDER)
    assert [item.to_dict()["provider_jobs"][0]["kind"] for item in listed.data] == ["on_demand"]
    assert fake_bedrock[0].state.fake.job_ids() == []  # no model invocation job
    # the run's stored answers went with the batch's release (its results are our files now)
    assert DynamoChunkStore(boto3.client("dynamodb"), TABLE).answered(batch.id, list(range(RECORDS))) == {}


def test_with_reject_a_small_file_is_the_400_of_old(make: Any, runtime: FakeBedrockRuntime) -> None:
    client, _, _ = make(BATCHBRIDGE_BEDROCK_SMALL_BATCHES="reject")
    uploaded = upload(client, jsonl(2))
    with pytest.raises(openai.BadRequestError, match=r"2 records.*at least 100") as caught:
        create(client, uploaded.id)
    assert caught.value.body["code"] == "too_few_records"  # type: ignore[index]
    assert runtime.invocations == []


def test_throttling_is_waited_out_and_refusals_are_error_lines(
    make: Any, runtime: FakeBedrockRuntime, no_retry_waits: list[float]
) -> None:
    client, _, _ = make()
    uploaded = upload(client, jsonl(RECORDS))

    def asks(n: int) -> Any:
        return lambda body: body["messages"][-1]["content"] == f"Question {n}?"

    runtime.inject("ThrottlingException", times=2, when=asks(0))  # throttled twice, then answered
    runtime.inject("ThrottlingException", times=6, when=asks(1))  # throttled past the sender's retries
    runtime.inject("ModelErrorException", "The model failed", when=asks(2))
    runtime.inject("ValidationException", "Malformed input request", when=asks(3))
    done = wait_for(client, create(client, uploaded.id).id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (4, 3)
    assert len(no_retry_waits) == 2 + 5  # the retries waited (in tests, without sleeping)
    output, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert sorted(output) == ["req-0", "req-4", "req-5", "req-6"] and sorted(errors) == ["req-1", "req-2", "req-3"]
    statuses = {custom_id: line["response"]["status_code"] for custom_id, line in errors.items()}
    assert statuses == {"req-1": 429, "req-2": 424, "req-3": 400}  # as Bedrock's record errors are mapped
    assert errors["req-2"]["response"]["body"]["error"]["message"] == "The model failed"
    assert errors["req-3"]["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert errors["req-2"]["response"]["body"]["error"]["type"] == "invalid_request_error"
    sent = [json.dumps(body, sort_keys=True) for body in runtime.bodies()]
    assert len(sent) == RECORDS + 2 + 5  # each throttled send sent again, nothing else


def test_cancel_mid_run_ends_it_with_cancelled_lines_for_the_unrun(make: Any, runtime: FakeBedrockRuntime) -> None:
    client, _, base = make()
    uploaded = upload(client, jsonl(30))
    release = threading.Event()
    answered = [0]

    def hold_after_two(body: Any) -> None:
        answered[0] += 1
        if answered[0] > 2:
            release.wait(30)

    runtime.before = hold_after_two
    batch = create(client, uploaded.id)
    deadline = time.monotonic() + 30
    while len(runtime.invocations) < 6 and time.monotonic() < deadline:  # two answered, four held in flight
        time.sleep(0.01)
    # a client that does not first wait for the background work: the run is still going
    with OpenAI(base_url=base + "/openai", api_key="sk-any", max_retries=0) as impatient:
        assert impatient.batches.cancel(batch.id, extra_body=PROVIDER).status == "cancelling"
    time.sleep(1.2)  # the run looks for a cancel once a second, before its next send
    release.set()
    done = wait_for(client, batch.id)
    assert done.status == "cancelled"
    output, errors = lines_of(client, done.output_file_id), lines_of(client, done.error_file_id)
    assert len(output) == len(runtime.invocations) == 6  # those in flight were answered; nothing sent after
    assert sorted([*output, *errors]) == sorted(f"req-{n}" for n in range(30))  # every request once
    assert {line["error"]["code"] for line in errors.values()} == {"batch_cancelled"}
    assert done.to_dict()["provider_jobs"][0]["status"] == "cancelled"


def test_a_lost_chunk_message_is_mended_by_the_sweeper(make: Any, runtime: FakeBedrockRuntime) -> None:
    lossy = LossyQueue(lambda kind, ref: kind == "chunk" and not lossy.lost)  # the run's first message never arrives
    client, gateway, _ = make(chunks=lossy, BATCHBRIDGE_COMPAT_STALL_SECONDS="0.5")
    batch = create(client, upload(client, jsonl(RECORDS)).id)
    done = wait_for(client, batch.id, gateway)  # its refresh by the sweeper mends the run
    assert lossy.lost == [("chunk", f"{batch.id}#0")]
    assert done.status == "completed" and done.request_counts is not None and done.request_counts.completed == RECORDS
    assert sorted(lines_of(client, done.output_file_id)) == [f"req-{n}" for n in range(RECORDS)]
    assert len(runtime.invocations) == RECORDS  # each request sent once


def test_a_chunk_of_an_on_demand_run_makes_only_calls_its_worker_function_is_granted(
    make: Any, runtime: FakeBedrockRuntime
) -> None:
    """The worker function's calls while it runs a chunk of an on-demand run (InvokeModel among them), checked
    against CompatWorkerFunction's grants in template.yaml, as tests/integration/test_handlers.py checks the
    others'."""
    from tests.integration.test_handlers import Call, _allowed, granted, iam_calls

    held = LossyQueue(lambda kind, ref: kind == "chunk")  # the run's chunk held back: run below, its calls recorded
    client, gateway, _ = make(chunks=held)
    batch = create(client, upload(client, jsonl(3)).id)
    ((_, ref),) = held.lost
    calls: list[Call] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".")
        # bedrock-runtime's actions are IAM's "bedrock:" ones (its signing name)
        calls.extend(iam_calls("bedrock" if service == "bedrock-runtime" else service, operation, params))

    events = boto3._get_default_session().events  # type: ignore[attr-defined]
    events.register("before-parameter-build", record)
    try:
        gateway.jobs.run("chunk", ref)
    finally:
        events.unregister("before-parameter-build", record)
    assert len(runtime.invocations) == 3 and ("bedrock:InvokeModel", None) in calls
    grants = granted("compat_worker")
    assert {call for call in calls if not _allowed(grants, call)} == set()
    assert wait_for(client, batch.id).status == "completed"
