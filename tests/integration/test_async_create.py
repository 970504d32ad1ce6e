"""batches.create never outruns API Gateway's 29 s: a batch whose create reads its whole input file (Anthropic,
Gemini, openai-compatible) over SYNC_CREATE_MAX_BYTES is accepted at once, ``validating`` with no provider batch,
and submitted by the submit_batch job. The submission is a lease: a run killed mid-way is taken over, and the
provider batch is created once, whatever dies where."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services import batches as batches_module
from batchbridge.domain.services.batch_writes import (
    RECONCILE_AFTER_SECONDS,
    SUBMIT_JOB,
    SUBMIT_LEASE_SECONDS,
    SUBMIT_RESEND_SECONDS,
)
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.contract.openai_schema import assert_valid
from tests.fakes.anthropic_upstream import create_app as create_fake_anthropic
from tests.fakes.gemini_upstream import create_app as create_fake_gemini
from tests.fakes.server import LOOPBACK_TLS
from tests.integration.helpers import (
    Clock,
    HeldQueue,
    Killed,
    create_batch,
    handlers_gateway_afresh,
    hold_jobs,
    kill_once,
    move_clock,
    recorded_aws_calls,
    sweep_sends,
    ungranted,
    unreliable_fake,
)

KEY = "sk-user-one"
AUTH = {"Authorization": f"Bearer {KEY}"}
AUTH_HEADERS = {"authorization": AUTH["Authorization"]}
THRESHOLD = 20_000  # SYNC_CREATE_MAX_BYTES in most tests: a few KB make an asynchronous create
MODELS = {"anthropic": "claude-3-5-haiku-latest", "gemini": "gemini-2.5-flash", "openai-compatible": "llama3"}
CREATE_PATHS = {"anthropic": "/v1/messages/batches", "gemini": ":batchGenerateContent"}
FINAL = ("completed", "failed", "expired", "cancelled")


# -- fixtures ----------------------------------------------------------------------------------------------------------


fake_anthropic = unreliable_fake(create_fake_anthropic)  # answers the tests lose (``lose_next``)
fake_gemini = unreliable_fake(create_fake_gemini)


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    endpoints = json.dumps({"local": {"base_url": fake_compat[1]}})
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", endpoints)
    return gateway_env | {"BATCHBRIDGE_COMPAT_ENDPOINTS": endpoints}


@pytest.fixture
def clock(gateway: Gateway) -> Clock:
    return move_clock(gateway)


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches_module, "SYNC_CREATE_MAX_BYTES", THRESHOLD)


@pytest.fixture
def held(gateway: Gateway) -> HeldQueue:
    """Every job the services send held back (batches.create's submit job, the jobs' own), for the test to run."""
    return hold_jobs(gateway.batches, gateway.jobs)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


@pytest.fixture
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url + "/openai/v1", headers=AUTH, timeout=30, verify=LOOPBACK_TLS) as raw:
        yield raw


# -- helpers -----------------------------------------------------------------------------------------------------------


def lines(provider: str, total_bytes: int, pad: int = 400) -> bytes:
    """Chat requests for ``provider`` adding up to at least ``total_bytes``."""
    out: list[bytes] = []
    size = n = 0
    while size < total_bytes:
        body = {"model": MODELS[provider], "messages": [{"role": "user", "content": f"question {n} " + "x" * pad}]}
        line = json.dumps({"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions", "body": body})
        out.append(line.encode() + b"\n")
        size += len(out[-1])
        n += 1
    return b"".join(out)


def upload(gateway: Gateway, provider: str, data: bytes) -> str:
    """The file, made through the service (a large file reaches a deployment through the Uploads API)."""
    caller = gateway.caller(AUTH_HEADERS)
    extra = {"endpoint_name": "local"} if provider == "openai-compatible" else {}
    made = gateway.files.create(
        caller,
        provider,
        stream=io.BytesIO(data),
        size=len(data),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch", **extra},
    )
    return made.id


def create_raw(http: httpx.Client, provider: str, file_id: str) -> dict[str, Any]:
    response = http.post(
        "/batches",
        json={
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "provider": provider,
            "metadata": {"team": "a"},
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_valid("Batch", body)
    return body


def provider_batches(request: pytest.FixtureRequest, provider: str) -> list[str]:
    """The provider batches the fake upstream holds for the test's key."""
    if provider == "anthropic":
        ids: list[str] = request.getfixturevalue("fake_anthropic")[0].state.fake.batch_ids(KEY)
    elif provider == "gemini":
        ids = request.getfixturevalue("fake_gemini")[0].state.fake.batch_names(KEY)
    else:
        raise AssertionError(provider)
    return ids


def stored(gateway: Gateway, batch_id: str) -> BatchRecord:
    record = gateway.records.get_batch(batch_id)
    assert record is not None
    return record


def finish(client: OpenAI, batch_id: str) -> Any:
    for _ in range(20):
        batch = client.batches.retrieve(batch_id)
        assert_valid("Batch", batch.model_dump(mode="json"))
        if batch.status in FINAL:
            return batch
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def output_ids(gateway: Gateway, file_id: str | None) -> list[str]:
    """The custom_ids of a result file, read through the service (a large one's content is a redirect to S3)."""
    assert file_id is not None
    _, chunks = gateway.files.content(gateway.caller(AUTH_HEADERS), file_id, None)
    return sorted(json.loads(line)["custom_id"] for line in b"".join(chunks).splitlines())


# -- accepted at once, submitted by the job ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai-compatible"])
def test_a_large_batch_is_accepted_at_once_and_submitted_by_its_job(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_bound: None,
    provider: str,
    request: pytest.FixtureRequest,
) -> None:
    data = lines(provider, THRESHOLD * 3)
    file_id = upload(gateway, provider, data)
    body = create_raw(http, provider, file_id)
    assert body["status"] == "validating" and body["input_file_id"] == file_id and body["metadata"] == {"team": "a"}
    assert body["errors"] is None and body["expires_at"] is None and body["in_progress_at"] is None
    assert held.sent == [(SUBMIT_JOB, body["id"], 0)]
    if provider != "openai-compatible":
        assert provider_batches(request, provider) == []  # nothing at the provider yet

    # seen as stored (no provider to ask), by retrieve and list alike, parsed by the SDK
    pending = client.batches.retrieve(body["id"])
    assert pending.status == "validating" and pending.request_counts is not None
    assert_valid("Batch", pending.model_dump(mode="json"))
    assert [(b.id, b.status) for b in client.batches.list()] == [(body["id"], "validating")]

    held.release(work_queue)
    submitted = stored(gateway, body["id"])
    assert not submitted.submit_pending and submitted.provider_batch_id is not None
    assert submitted.submit_params is None and submitted.submit_until is None and submitted.submit_sent_at is None
    assert submitted.status == ("validating" if provider == "gemini" else "in_progress")  # as the provider says
    count = data.count(b"\n")
    assert submitted.request_counts["total"] == count
    if provider != "openai-compatible":
        assert provider_batches(request, provider) == [submitted.provider_batch_id]

    gateway.jobs.queue = gateway.batches.queue = work_queue  # from here on the jobs run as sent
    done = finish(client, body["id"])
    assert done.status == "completed" and done.metadata == {"team": "a"}
    assert done.request_counts is not None and (done.request_counts.total, done.request_counts.completed) == (
        count,
        count,
    )
    assert output_ids(gateway, done.output_file_id) == sorted(f"r{n}" for n in range(count))
    if provider != "openai-compatible":
        assert len(provider_batches(request, provider)) == 1  # created once


def test_the_sdk_s_create_of_an_anthropic_batch_over_the_real_bound_returns_at_once(
    client: OpenAI, gateway: Gateway, fake_anthropic: tuple[Any, str], work_queue: LocalWorkQueue
) -> None:
    """At the real bound (8 MiB): the SDK's create answers ``validating`` before Anthropic hears of the batch; the
    in-process worker (as `batchbridge serve` runs it) submits it, and it completes with the usual output."""
    data = lines("anthropic", batches_module.SYNC_CREATE_MAX_BYTES + 64 * 1024, pad=4000)
    file_id = upload(gateway, "anthropic", data)
    fake = fake_anthropic[0].state.fake
    queue = hold_jobs(gateway.batches)
    batch = create_batch(client, file_id)
    assert batch.status == "validating" and queue.kinds() == [SUBMIT_JOB] and fake.batch_ids(KEY) == []
    assert_valid("Batch", batch.model_dump(mode="json"))
    gateway.batches.queue = work_queue
    queue.release(work_queue)
    (provider_batch,) = fake.batch_ids(KEY)
    count = data.count(b"\n")
    sent = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches")
    assert len(sent.json()["requests"]) == count
    done = finish(client, batch.id)
    assert done.status == "completed" and done.request_counts is not None and done.request_counts.completed == count
    assert len(output_ids(gateway, done.output_file_id)) == count and fake.batch_ids(KEY) == [provider_batch]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_small_file_or_a_provider_whose_create_does_not_read_it_keeps_the_synchronous_create(
    client: OpenAI, gateway: Gateway, held: HeldQueue, small_bound: None, provider: str
) -> None:
    content = lines(provider, THRESHOLD // 2) if provider == "anthropic" else lines("anthropic", THRESHOLD * 3)
    if provider == "openai":
        content = content.replace(MODELS["anthropic"].encode(), b"gpt-4o-mini")
    file_id = upload(gateway, provider, content)
    batch = create_batch(client, file_id)
    record = stored(gateway, batch.id)
    assert record.provider_batch_id is not None and not record.submit_pending
    assert SUBMIT_JOB not in held.kinds()


# -- leases: a run killed mid-way ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
@pytest.mark.parametrize("where", ["killed after the provider call", "answer lost"])
def test_a_submission_whose_create_got_no_recorded_answer_never_makes_a_second_provider_batch(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_bound: None,
    provider: str,
    where: str,
    request: pytest.FixtureRequest,
) -> None:
    """Gemini's batch carries our ID: the next run adopts it. Anthropic's carries nothing of ours, and one of the
    batch's size was created since: the batch ends ``failed`` saying so (never a second provider batch)."""
    batch_id = create_raw(http, provider, upload(gateway, provider, lines(provider, THRESHOLD * 2)))["id"]
    if where == "killed after the provider call":
        kill_once(gateway.records, "update_batch", lambda record: record.provider_batch_id is not None)
        with pytest.raises(Killed):
            gateway.jobs.run(SUBMIT_JOB, batch_id)
        # its lease holds: a redelivery meanwhile does nothing, and the sweeper leaves it be
        gateway.jobs.run(SUBMIT_JOB, batch_id)
        assert sweep_sends(gateway.jobs) == []
        clock.advance(SUBMIT_LEASE_SECONDS)
    else:
        request.getfixturevalue(f"fake_{provider}")[0].lose_next("POST", CREATE_PATHS[provider])
        with pytest.raises(GatewayError) as raised:  # raised, for the queue to deliver the job again
            gateway.jobs.run(SUBMIT_JOB, batch_id)
        assert raised.value.status == 502
        released = stored(gateway, batch_id).submit_until
        assert released is not None and released <= clock() // 1_000_000_000  # the next delivery carries on
        gateway.jobs.run(SUBMIT_JOB, batch_id)  # redelivered at once: too soon to tell, so sent again later
        assert [(kind, delay > 0) for kind, _, delay in held.sent[1:]] == [(SUBMIT_JOB, True)]
        clock.advance(RECONCILE_AFTER_SECONDS)
    assert len(provider_batches(request, provider)) == 1
    left = stored(gateway, batch_id)
    assert left.submit_pending and left.submit_sent_at is not None and left.provider_batch_id is None
    assert client.batches.retrieve(batch_id).status == "validating"

    clock.advance(SUBMIT_RESEND_SECONDS)
    assert sweep_sends(gateway.jobs) == [(SUBMIT_JOB, batch_id)]  # nobody holds it: the sweeper sends it again
    gateway.jobs.run(SUBMIT_JOB, batch_id)
    assert len(provider_batches(request, provider)) == 1
    gateway.jobs.queue = gateway.batches.queue = work_queue
    if provider == "gemini":
        (provider_batch,) = provider_batches(request, provider)
        assert stored(gateway, batch_id).provider_batch_id == provider_batch
        assert finish(client, batch_id).status == "completed"
    else:
        failed = finish(client, batch_id)
        assert failed.status == "failed" and failed.failed_at is not None and failed.errors is not None
        assert failed.errors.data is not None
        (error,) = failed.errors.data
        assert error.code == "submission_outcome_unknown" and "Anthropic" in (error.message or "")
        raw = http.get(f"/batches/{batch_id}").json()
        assert_valid("Batch", raw)
        assert raw["errors"]["object"] == "list"
    assert len(provider_batches(request, provider)) == 1


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_a_run_killed_before_its_create_reached_the_provider_is_taken_over_and_creates_it_once(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    small_bound: None,
    provider: str,
    request: pytest.FixtureRequest,
) -> None:
    """The run noted its create, then died before sending it: the provider holds no batch of it (Anthropic: none of
    its size since), so the next run sends the create — once."""
    batch_id = create_raw(http, provider, upload(gateway, provider, lines(provider, THRESHOLD * 2)))["id"]
    kill_once(gateway.providers.get(provider), "create_batch")
    with pytest.raises(Killed):
        gateway.jobs.run(SUBMIT_JOB, batch_id)
    assert stored(gateway, batch_id).submit_sent_at is not None and provider_batches(request, provider) == []
    clock.advance(SUBMIT_LEASE_SECONDS + SUBMIT_RESEND_SECONDS)
    assert sweep_sends(gateway.jobs) == [(SUBMIT_JOB, batch_id)]
    gateway.jobs.run(SUBMIT_JOB, batch_id)
    (provider_batch,) = provider_batches(request, provider)
    submitted = stored(gateway, batch_id)
    assert submitted.provider_batch_id == provider_batch and not submitted.submit_pending
    gateway.jobs.run(SUBMIT_JOB, batch_id)  # a late redelivery: nothing more
    assert provider_batches(request, provider) == [provider_batch]


def test_a_lost_submit_job_is_sent_again_by_the_sweeper_and_the_batch_completes(
    client: OpenAI, gateway: Gateway, clock: Clock, held: HeldQueue, work_queue: LocalWorkQueue, small_bound: None
) -> None:
    batch = create_batch(client, upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))
    held.sent.clear()  # the job is lost (its message never delivered)
    assert sweep_sends(gateway.jobs) == []  # a fresh one's job may just be waiting in the queue
    clock.advance(SUBMIT_RESEND_SECONDS)
    assert sweep_sends(gateway.jobs) == [(SUBMIT_JOB, batch.id)]
    work_queue.send(SUBMIT_JOB, batch.id)
    work_queue.drain()
    gateway.jobs.queue = gateway.batches.queue = work_queue
    assert finish(client, batch.id).status == "completed"


# -- refusals, cancels, expiry ----------------------------------------------------------------------------------------


def test_a_refused_submission_ends_the_batch_failed_with_openai_s_errors(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
) -> None:
    fake = fake_anthropic[0].state.fake
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "requests.3.params: bad"}}
    fake.inject(400, body, path_contains="/v1/messages/batches", method="POST")
    batch_id = create_raw(http, "anthropic", upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))["id"]
    held.release(work_queue)
    assert held.kinds() == [] and fake.batch_ids(KEY) == []
    failed = client.batches.retrieve(batch_id)
    assert failed.status == "failed" and failed.failed_at is not None and failed.errors is not None
    assert failed.errors.data is not None
    (error,) = failed.errors.data
    assert error.message == "requests.3.params: bad" and error.code == "invalid_request_error"
    raw = http.get(f"/batches/{batch_id}").json()
    assert_valid("Batch", raw)
    assert set(raw["errors"]["data"][0]) == {"code", "message", "param", "line"}
    record = stored(gateway, batch_id)
    assert not record.submit_pending and record.submit_params is None and record.provider_batch_id is None
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch_id)


@pytest.mark.parametrize("status", [529, 429])
def test_a_passing_failure_raises_for_the_queue_and_the_next_run_submits_once(
    client: OpenAI,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
    status: int,
) -> None:
    """Anthropic overloaded (529) or rate limited (429): the job raises (SQS delivers it again); the provider
    answered, so it took nothing, and the next run sends the create at once, without looking for a first one."""
    fake = fake_anthropic[0].state.fake
    fake.inject(status, path_contains="/v1/messages/batches", method="POST")
    batch = create_batch(client, upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))
    with pytest.raises(GatewayError, match="Overloaded" if status == 529 else "rate limit") as raised:
        gateway.jobs.run(SUBMIT_JOB, batch.id)
    assert raised.value.status == status if status == 429 else raised.value.status >= 500
    assert client.batches.retrieve(batch.id).status == "validating" and fake.batch_ids(KEY) == []
    left = stored(gateway, batch.id)
    assert left.submit_sent_at is None  # the provider answered (429, 529): it made nothing, no need to look first
    gateway.jobs.run(SUBMIT_JOB, batch.id)
    assert len(fake.batch_ids(KEY)) == 1 and stored(gateway, batch.id).status == "in_progress"
    listed = [r for r in fake.requests if r.method == "GET" and r.path == "/v1/messages/batches"]
    assert listed == []  # nothing to look for: no second batch of the same size can fail it


def test_cancelling_a_batch_not_yet_submitted_ends_it_with_no_provider_batch(
    client: OpenAI,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
) -> None:
    batch = create_batch(client, upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    assert_valid("Batch", cancelling.model_dump(mode="json"))
    assert client.batches.cancel(batch.id).status == "cancelling"  # again: as it is
    held.release(work_queue)  # the create's job and the cancel's: neither creates it
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert cancelled.output_file_id is None and cancelled.error_file_id is None
    assert_valid("Batch", cancelled.model_dump(mode="json"))
    assert fake_anthropic[0].state.fake.batch_ids(KEY) == []
    assert [(b.id, b.status) for b in client.batches.list()] == [(batch.id, "cancelled")]
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


def test_a_cancel_while_the_job_creates_the_batch_cancels_what_it_made(
    client: OpenAI,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
) -> None:
    batch = create_batch(client, upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))
    adapter = gateway.providers.get("anthropic")
    original = adapter.create_batch
    caller = gateway.caller(AUTH_HEADERS)

    def cancelled_meanwhile(*args: Any) -> Any:
        assert gateway.batches.cancel(caller, batch.id, None).status == "cancelling"
        return original(*args)

    adapter.create_batch = cancelled_meanwhile  # type: ignore[method-assign, assignment]
    gateway.jobs.run(SUBMIT_JOB, batch.id)
    adapter.create_batch = original  # type: ignore[method-assign]
    fake = fake_anthropic[0].state.fake
    (provider_batch,) = fake.batch_ids(KEY)
    assert fake.batch_json(provider_batch)["processing_status"] == "canceling"
    record = stored(gateway, batch.id)
    assert record.provider_batch_id == provider_batch and record.status == "cancelling"
    gateway.jobs.queue = gateway.batches.queue = work_queue
    held.release(work_queue)  # the cancel's own submit job: nothing left to do
    assert finish(client, batch.id).status == "cancelled" and fake.batch_ids(KEY) == [provider_batch]


def test_a_batch_left_unsubmitted_past_its_completion_window_expires(
    client: OpenAI, gateway: Gateway, clock: Clock, held: HeldQueue, small_bound: None
) -> None:
    batch = create_batch(client, upload(gateway, "gemini", lines("gemini", THRESHOLD * 2)))
    clock.advance(24 * 3600)
    assert sweep_sends(gateway.jobs) == [(SUBMIT_JOB, batch.id)]
    gateway.jobs.run(SUBMIT_JOB, batch.id)
    expired = client.batches.retrieve(batch.id)
    assert expired.status == "expired" and expired.expired_at is not None
    assert_valid("Batch", expired.model_dump(mode="json"))
    assert ("notify", batch.id, 0) in held.sent


def test_an_input_file_deleted_before_submission_does_not_fail_the_batch(
    client: OpenAI, gateway: Gateway, held: HeldQueue, work_queue: LocalWorkQueue, small_bound: None
) -> None:
    """As with OpenAI (and the synchronous path), deleting the input file after batches.create changes nothing: the
    batch was accepted with its own copy of the input, which is removed once it is submitted."""
    data = lines("anthropic", THRESHOLD * 2)
    file_id = upload(gateway, "anthropic", data)
    batch = create_batch(client, file_id)
    client.files.delete(file_id)
    held.release(work_queue)
    submitted = stored(gateway, batch.id)
    assert submitted.provider_batch_id is not None and not submitted.submit_pending
    assert submitted.submit_input_key is None
    with pytest.raises(GatewayError):  # the batch's copy of its input is gone once read
        b"".join(gateway.blobs.open(f"batches/{batch.id}/input.jsonl"))
    assert client.batches.retrieve(batch.id).status in ("in_progress", "finalizing")


# -- the deployed functions ------------------------------------------------------------------------------------------


@pytest.fixture
def handlers(gateway: Gateway, small_bound: None) -> Iterator[None]:
    with handlers_gateway_afresh():
        yield


def test_the_create_function_answers_at_once_and_the_work_queue_s_function_submits(
    handlers: None, gateway: Gateway, fake_anthropic: tuple[Any, str]
) -> None:
    """Through the Lambda handlers: batches_create answers ``validating`` and queues the job on SQS; the finalizer
    function submits it. Every AWS call of both is one the template grants."""
    from batchbridge.handlers import finalizer
    from tests.integration.apigw import LambdaContext, drain_sqs_event, json_event, rest_event
    from tests.integration.test_handlers import invoke

    file_id = upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2))
    with recorded_aws_calls() as calls:
        payload = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        status, raw = invoke("batches_create", json_event("POST", "/openai/v1/batches", None, payload))
        assert status == 200, raw
        created = json.loads(raw)
        assert created["status"] == "validating"
        seen = {"batches_create": list(calls)}
        jobs = drain_sqs_event(os.environ["BATCHBRIDGE_WORK_QUEUE_URL"])
        calls.clear()  # the finalizer's own calls from here (the SQS delivery is Lambda's)
        assert [json.loads(r["body"])["kind"] for r in jobs["Records"]] == [SUBMIT_JOB]
        assert finalizer.handler(jobs, LambdaContext(remaining_millis=900_000)) == {"batchItemFailures": []}
        seen["finalizer"] = list(calls)
    retrieve = rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": created["id"]})
    status, raw = invoke("batches_retrieve", retrieve)
    assert status == 200 and json.loads(raw)["status"] in ("in_progress", "finalizing"), raw
    assert fake_anthropic[0].state.fake.batch_ids(KEY) != []
    assert ungranted(seen) == {"batches_create": [], "finalizer": []}


@pytest.mark.parametrize("ending", ["cancelled", "expired"])
def test_a_submission_whose_provider_cannot_be_asked_still_ends_when_cancelled_or_past_its_window(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
    ending: str,
) -> None:
    """A create whose answer was lost leaves a note: the next run must ask the provider first. While the provider
    keeps failing that question, a cancel or the end of the window still ends the batch (never stuck)."""
    batch_id = create_raw(http, "anthropic", upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))["id"]
    fake_anthropic[0].lose_next("POST", CREATE_PATHS["anthropic"])
    with pytest.raises(GatewayError):
        gateway.jobs.run(SUBMIT_JOB, batch_id)
    assert stored(gateway, batch_id).submit_sent_at is not None
    fake_anthropic[0].state.fake.inject(503, path_contains="/v1/messages/batches", method="GET", times=1000)
    clock.advance(RECONCILE_AFTER_SECONDS)
    with pytest.raises(GatewayError):  # the provider cannot be asked: tried again later
        gateway.jobs.run(SUBMIT_JOB, batch_id)
    assert stored(gateway, batch_id).status == "validating"
    if ending == "cancelled":
        assert client.batches.cancel(batch_id).status == "cancelling"
    else:
        clock.advance(24 * 3600)
    gateway.jobs.run(SUBMIT_JOB, batch_id)
    ended = client.batches.retrieve(batch_id)
    assert ended.status == ending and not stored(gateway, batch_id).submit_pending


def test_the_sweeper_waits_longer_for_a_submission_that_keeps_failing(
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    small_bound: None,
    fake_anthropic: tuple[Any, str],
) -> None:
    batch_id = create_raw(http, "anthropic", upload(gateway, "anthropic", lines("anthropic", THRESHOLD * 2)))["id"]
    fake_anthropic[0].state.fake.inject(503, path_contains="/v1/messages/batches", method="POST", times=1000)
    waits = []
    for _ in range(4):
        with pytest.raises(GatewayError):
            gateway.jobs.run(SUBMIT_JOB, batch_id)
        waited = 0
        while not sweep_sends(gateway.jobs):
            clock.advance(SUBMIT_RESEND_SECONDS)
            waited += SUBMIT_RESEND_SECONDS
        waits.append(waited)
    assert waits == [SUBMIT_RESEND_SECONDS, SUBMIT_RESEND_SECONDS, 2 * SUBMIT_RESEND_SECONDS, 4 * SUBMIT_RESEND_SECONDS]
