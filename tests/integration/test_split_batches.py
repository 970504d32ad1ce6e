"""One batch beyond one provider job: split into parts (each a provider job within the provider's limits), started as
the provider has room, merged back into one batch with one output and one error file covering every request once.

Through the gateway's services with the Anthropic fake (its creates read the part's lines), the job limit lowered so
a small file splits (BATCHBRIDGE_ANTHROPIC_JOB_MAX_REQUESTS)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.ports import BatchRequest, Credentials, Job, ProviderBatch
from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.domain.services.batch_writes import SUBMIT_LEASE_SECONDS
from batchbridge.domain.services.files import Caller
from batchbridge.gateway import Gateway
from batchbridge.providers.anthropic import AnthropicAdapter
from batchbridge.store.queue import LocalWorkQueue
from tests.integration.helpers import Clock, Killed, hold_jobs, move_clock

KEY = "sk-split"
JOB_MAX = 3  # requests per Anthropic job in these tests
MODEL = "claude-3-5-haiku-latest"


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("BATCHBRIDGE_ANTHROPIC_JOB_MAX_REQUESTS", str(JOB_MAX))
    return gateway_env | {"BATCHBRIDGE_ANTHROPIC_JOB_MAX_REQUESTS": str(JOB_MAX)}


@pytest.fixture
def fake(fake_anthropic: tuple[Any, str]) -> Any:
    return fake_anthropic[0].state.fake


@pytest.fixture
def clock(gateway: Gateway) -> Clock:
    return move_clock(gateway)


def lines(count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": f"r{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": MODEL, "messages": [{"role": "user", "content": f"question number {n}"}]},
            }
        ).encode()
        + b"\n"
        for n in range(count)
    )


def create(gateway: Gateway, count: int) -> tuple[Caller, BatchRecord]:
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    content = lines(count)
    uploaded = gateway.files.create(
        caller,
        "anthropic",
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    batch = gateway.batches.create(
        caller, None, {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    )
    return caller, batch


def stored(gateway: Gateway, batch_id: str) -> BatchRecord:
    record = gateway.records.get_batch(batch_id)
    assert record is not None
    return record


def until_final(gateway: Gateway, work_queue: LocalWorkQueue, caller: Caller, batch_id: str) -> BatchRecord:
    """Polled (each retrieve steps the fake's batches) until final, the background jobs run between polls."""
    for _ in range(30):
        work_queue.drain()
        record = gateway.batches.retrieve(caller, batch_id, None)
        if record.is_terminal:
            work_queue.drain()
            return stored(gateway, batch_id)
    raise AssertionError(f"batch {batch_id} never ended: {stored(gateway, batch_id)}")


def result_lines(gateway: Gateway, caller: Caller, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    _, content = gateway.files.content(caller, file_id, None)
    return [json.loads(line) for line in b"".join(content).splitlines() if line.strip()]


def every_request_once(gateway: Gateway, caller: Caller, record: BatchRecord, count: int) -> list[dict[str, Any]]:
    """The batch's output and error lines, checked to hold each of its ``count`` requests exactly once."""
    output = result_lines(gateway, caller, record.output_file_id)
    errors = result_lines(gateway, caller, record.error_file_id)
    custom_ids = [line["custom_id"] for line in output + errors]
    assert sorted(custom_ids) == sorted(f"r{n}" for n in range(count))
    return errors


def wrap_create(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[BatchRequest], None], after: Callable[[BatchRequest], None] = id
) -> None:
    """AnthropicAdapter.create_batch with ``before`` called ahead of each create (it may raise) and ``after`` once
    the provider made it."""
    original = AnthropicAdapter.create_batch

    def create_batch(self: AnthropicAdapter, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        before(request)
        report = original(self, credentials, request)
        after(request)
        return report

    monkeypatch.setattr(AnthropicAdapter, "create_batch", create_batch)


def running_at(fake: Any) -> int:
    return sum(1 for batch_id in fake.batch_ids(KEY) if fake.batch_json(batch_id)["processing_status"] != "ended")


def with_room(monkeypatch: pytest.MonkeyPatch, fake: Any, limit: int) -> None:
    """Anthropic given a concurrent-job quota of ``limit`` (as Bedrock's adapter has one): its ``room``."""

    def room(self: AnthropicAdapter, credentials: Credentials, request: BatchRequest) -> int:
        return limit - running_at(fake)

    monkeypatch.setattr(AnthropicAdapter, "room", room, raising=False)


# -- splitting and merging ---------------------------------------------------------------------------------------------


def test_a_file_beyond_one_job_splits_into_parts_and_completes_as_one_batch(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    released: list[tuple[str, int]] = []

    def release_part_input(self: AnthropicAdapter, credentials: Credentials, job: ProviderJob) -> None:
        released.append((job.id, (job.part or {})["number"]))

    monkeypatch.setattr(AnthropicAdapter, "release_part_input", release_part_input, raising=False)
    caller, batch = create(gateway, 10)
    assert batch.status == "validating" and batch.jobs == []  # accepted at once: its parts are the job's work
    assert batch.to_openai()["input_file_id"] == batch.input_file_id

    work_queue.drain()
    record = stored(gateway, batch.id)
    parts = [job.part for job in record.jobs]
    assert [(part or {})["count"] for part in parts] == [3, 3, 3, 1]
    assert [(part or {})["first_index"] for part in parts] == [0, 3, 6, 9]
    assert all(job.started for job in record.jobs)
    assert len(fake.batch_ids(KEY)) == 4  # one provider job per part
    assert [len(fake.batch_json(job.id)["request_counts"]) for job in record.jobs]
    assert record.request_counts["total"] == 10

    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    assert done.request_counts == {"total": 10, "completed": 10, "failed": 0}
    errors = every_request_once(gateway, caller, done, 10)
    assert errors == []
    output = result_lines(gateway, caller, done.output_file_id)
    summed = sum(line["response"]["body"]["usage"]["total_tokens"] for line in output)
    assert done.usage is not None and done.usage["total_tokens"] == summed > 0
    assert done.input_copy_key is not None
    with pytest.raises(Exception):  # noqa: B017 (released: the batch's input copy is gone)
        b"".join(gateway.blobs.open(done.input_copy_key))
    assert not done.release_pending
    assert released == [(job.id, number) for number, job in enumerate(done.jobs)]  # each part's provider copy


def test_a_part_the_provider_refuses_makes_error_lines_for_exactly_its_requests(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse_part_one(request: BatchRequest) -> None:
        if request.part is not None and request.part.number == 1:
            raise bad_request("This part is refused.", param="requests", code="invalid_request")

    wrap_create(monkeypatch, refuse_part_one)
    caller, batch = create(gateway, 10)
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert [job.phase for job in record.jobs][1] == "failed" and not record.jobs[1].started
    assert record.status == "in_progress"  # the other parts run

    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    assert done.request_counts == {"total": 10, "completed": 7, "failed": 3}
    errors = every_request_once(gateway, caller, done, 10)
    assert sorted(line["custom_id"] for line in errors) == ["r3", "r4", "r5"]
    assert {line["error"]["code"] for line in errors} == {"part_failed"}
    assert all("This part is refused." in line["error"]["message"] for line in errors)
    assert done.errors is not None and done.errors["data"][0]["code"] == "invalid_request"


def test_a_batch_whose_every_part_is_refused_fails(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: BatchRequest) -> None:
        raise bad_request("Refused.", param="requests", code="invalid_request")

    wrap_create(monkeypatch, refuse)
    _, batch = create(gateway, 7)
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert record.status == "failed" and record.errors is not None
    assert fake.batch_ids(KEY) == []
    assert record.input_copy_key is not None and not record.release_pending  # released: its copy gone


def test_inline_requests_beyond_one_job_are_a_400(gateway: Gateway) -> None:
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    requests = [
        {
            "custom_id": f"r{n}",
            "params": {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        }
        for n in range(JOB_MAX + 1)
    ]
    with pytest.raises(GatewayError) as raised:
        gateway.batches.create(
            caller, "anthropic", {"requests": requests, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        )
    assert raised.value.status == 400 and raised.value.param == "requests"


# -- queueing ----------------------------------------------------------------------------------------------------------


def test_a_part_refused_for_its_rate_limit_waits_with_backoff_then_starts(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    refused: list[int] = []

    def rate_limit_part_one_once(request: BatchRequest) -> None:
        if request.part is not None and request.part.number == 1 and not refused:
            refused.append(1)
            raise GatewayError(429, "Rate limited.", type="rate_limit_error", code="rate_limit_exceeded")

    wrap_create(monkeypatch, rate_limit_part_one_once)
    caller, batch = create(gateway, 10)
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert [job.started for job in record.jobs] == [True, False, False, False]  # in order: the rest wait behind it
    waiting = record.jobs[1]
    assert waiting.attempts == 1 and waiting.waiting_until is not None and waiting.waiting_until > clock.now()
    assert record.status != "failed" and record.parts_pending

    gateway.jobs.sweep()  # its backoff has not passed: nothing starts
    work_queue.drain()
    assert [job.started for job in stored(gateway, batch.id).jobs] == [True, False, False, False]

    clock.advance(waiting.waiting_until - clock.now() + 1)
    gateway.jobs.sweep()
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert all(job.started for job in record.jobs) and not record.parts_pending
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed" and done.request_counts["completed"] == 10
    every_request_once(gateway, caller, done, 10)


def test_room_for_two_jobs_keeps_at_most_two_parts_running(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHBRIDGE_ANTHROPIC_JOB_MAX_REQUESTS", "2")
    gateway.batches.providers.get("anthropic").job_limits = type(gateway.batches.providers.get("anthropic").job_limits)(
        2, None
    )
    with_room(monkeypatch, fake, 2)
    most: list[int] = []
    wrap_create(monkeypatch, lambda request: None, lambda request: most.append(running_at(fake)))
    caller, batch = create(gateway, 10)
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert len(record.jobs) == 5
    assert [job.started for job in record.jobs] == [True, True, False, False, False]
    assert record.status == "validating" or record.status == "in_progress"

    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    assert len(most) == 5 and max(most) <= 2  # each start found room; none ran beside two others
    assert len(fake.batch_ids(KEY)) == 5
    every_request_once(gateway, caller, done, 10)


def test_a_cancel_mid_run_cancels_the_started_parts_and_never_starts_the_waiting_ones(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_room(monkeypatch, fake, 2)
    caller, batch = create(gateway, 10)
    work_queue.drain()
    started = [job.id for job in stored(gateway, batch.id).jobs if job.started]
    assert len(started) == 2

    cancelling = gateway.batches.cancel(caller, batch.id, None)
    assert cancelling.status == "cancelling"
    assert {fake.batch_json(job_id)["processing_status"] for job_id in started} == {"canceling"}
    assert [job.outcome for job in cancelling.jobs[2:]] == ["cancelled", "cancelled"]

    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "cancelled"
    assert sorted(fake.batch_ids(KEY)) == sorted(started)  # the waiting parts never started
    errors = every_request_once(gateway, caller, done, 10)
    assert {line["error"]["code"] for line in errors if line["custom_id"] in {"r6", "r7", "r8", "r9"}} == {
        "batch_cancelled"
    }
    assert done.request_counts["total"] == 10


def test_a_cancel_before_any_part_started_ends_every_request_cancelled(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any
) -> None:
    held = hold_jobs(gateway.batches, gateway.jobs)
    caller, batch = create(gateway, 7)
    assert held.kinds() == [Job.START_PARTS]
    cancelling = gateway.batches.cancel(caller, batch.id, None)
    assert cancelling.status == "cancelling"
    held.release(work_queue)
    done = stored(gateway, batch.id)
    assert done.status == "cancelled" and fake.batch_ids(KEY) == []
    errors = every_request_once(gateway, caller, done, 7)
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}


# -- lost work ---------------------------------------------------------------------------------------------------------


def test_a_lost_start_parts_message_is_sent_again_by_the_sweeper(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, clock: Clock
) -> None:
    held = hold_jobs(gateway.batches, gateway.jobs)
    caller, batch = create(gateway, 7)
    held.sent.clear()  # the start_parts message is lost
    gateway.jobs.sweep()
    assert Job.START_PARTS not in held.kinds()  # just accepted: its message may still be on its way
    clock.advance(121)
    gateway.jobs.sweep()
    assert held.kinds().count(Job.START_PARTS) == 1
    held.release(work_queue)
    assert all(job.started for job in stored(gateway, batch.id).jobs)
    gateway.batches.queue = gateway.jobs.queue = work_queue
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    assert len(fake.batch_ids(KEY)) == 3
    every_request_once(gateway, caller, done, 7)


def test_a_run_killed_before_its_create_was_sent_is_taken_over_and_creates_each_part_once(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    killed: list[int] = []

    def die_before_part_two(request: BatchRequest) -> None:
        if request.part is not None and request.part.number == 2 and not killed:
            killed.append(1)
            raise Killed

    wrap_create(monkeypatch, die_before_part_two)
    held = hold_jobs(gateway.batches, gateway.jobs)
    caller, batch = create(gateway, 7)
    with pytest.raises(Killed):
        gateway.jobs.run(Job.START_PARTS, batch.id)
    record = stored(gateway, batch.id)
    assert record.jobs[2].sent_at is not None and not record.jobs[2].started  # noted, never answered

    gateway.jobs.run(Job.START_PARTS, batch.id)  # its lease still holds: nothing is done
    assert stored(gateway, batch.id) == record

    clock.advance(SUBMIT_LEASE_SECONDS + 1)
    held.sent.clear()
    gateway.jobs.sweep()
    assert Job.START_PARTS in held.kinds()
    # Anthropic shows no batch of the part's size (1 request) since its note: it was never made, and is made now
    gateway.jobs.run(Job.START_PARTS, batch.id)
    record = stored(gateway, batch.id)
    assert all(job.started for job in record.jobs)
    assert len(fake.batch_ids(KEY)) == 3  # one provider job per part, none twice
    gateway.batches.queue = gateway.jobs.queue = work_queue
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    every_request_once(gateway, caller, done, 7)


def test_a_run_killed_after_its_create_was_sent_fails_that_part_where_the_provider_cannot_tell(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    killed: list[int] = []

    def die_after_part_one(request: BatchRequest) -> None:
        if request.part is not None and request.part.number == 1 and not killed:
            killed.append(1)
            raise Killed

    wrap_create(monkeypatch, lambda request: None, die_after_part_one)
    held = hold_jobs(gateway.batches, gateway.jobs)
    caller, batch = create(gateway, 7)
    with pytest.raises(Killed):
        gateway.jobs.run(Job.START_PARTS, batch.id)
    assert len(fake.batch_ids(KEY)) == 2  # part 1's job was made; its answer never recorded

    clock.advance(SUBMIT_LEASE_SECONDS + 1)
    gateway.jobs.run(Job.START_PARTS, batch.id)
    record = stored(gateway, batch.id)
    part_one = record.jobs[1]
    assert part_one.phase == "failed" and not part_one.started
    assert part_one.errors is not None and part_one.errors["data"][0]["code"] == "submission_outcome_unknown"
    assert len(fake.batch_ids(KEY)) == 3  # parts 0 and 2, and part 1's one job: nothing created twice
    held.sent.clear()
    gateway.batches.queue = gateway.jobs.queue = work_queue
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "completed"
    errors = every_request_once(gateway, caller, done, 7)
    assert sorted(line["custom_id"] for line in errors) == ["r3", "r4", "r5"]


# -- expiry ------------------------------------------------------------------------------------------------------------


def test_past_its_window_a_batch_with_waiting_parts_expires_as_a_whole(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    with_room(monkeypatch, fake, 1)
    caller, batch = create(gateway, 10)
    work_queue.drain()
    record = stored(gateway, batch.id)
    (running,) = [job.id for job in record.jobs if job.started]

    clock.advance(24 * 3600 + 1)
    fake.step_batches_on_retrieve = False  # the running part still runs when the window closes
    gateway.jobs.sweep()
    work_queue.drain()
    record = stored(gateway, batch.id)
    assert fake.batch_json(running)["processing_status"] == "canceling"  # stopped at the provider
    assert record.jobs[0].stopped == "expired"
    assert [job.outcome for job in record.jobs[1:]] == ["expired"] * 3
    assert record.status == "finalizing"  # ending (nobody cancelled it)

    fake.step_batches_on_retrieve = True
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "expired"
    assert done.jobs[0].outcome == "expired"
    assert len(fake.batch_ids(KEY)) == 1
    errors = every_request_once(gateway, caller, done, 10)
    assert {line["error"]["code"] for line in errors if line["custom_id"] not in {"r0", "r1", "r2"}} == {
        "batch_expired"
    }
    assert done.request_counts["total"] == 10


def test_past_its_window_a_batch_whose_first_parts_completed_expires_with_their_answers(
    gateway: Gateway, work_queue: LocalWorkQueue, fake: Any, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    with_room(monkeypatch, fake, 1)
    caller, batch = create(gateway, 10)
    work_queue.drain()
    fake.run_to_end(stored(gateway, batch.id).jobs[0].id)
    clock.advance(24 * 3600 + 1)
    gateway.jobs.sweep()
    done = until_final(gateway, work_queue, caller, batch.id)
    assert done.status == "expired"
    assert done.request_counts == {"total": 10, "completed": 3, "failed": 7}
    output = result_lines(gateway, caller, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == ["r0", "r1", "r2"]
    every_request_once(gateway, caller, done, 10)
