"""The finalizer is idempotent and finishes what a dead run left; webhooks retry, then record a failure."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import time
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services.batch_writes import save
from batchbridge.domain.services.files import Caller
from batchbridge.domain.services.jobs import NOTIFY_OVERDUE_SECONDS, BatchJobs, WebhookConfig
from batchbridge.gateway import Gateway
from tests.integration.services import batch_from_jsonl

KEY = "sk-user-one"
LINE = (
    '{"custom_id": "%s", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "%s", '
    '"messages": [{"role": "user", "content": "Hi %s"}]}}\n'
)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def new_batch(gateway: Gateway, models: list[str]) -> tuple[Caller, BatchRecord]:
    """A batch created through the services, one request per model."""
    content = "".join(LINE % (f"r{i}", model, i) for i, model in enumerate(models)).encode()
    return batch_from_jsonl(gateway, "openai", content, KEY)


def ended_batch(gateway: Gateway, fake: Any, models: list[str]) -> tuple[Caller, str]:
    """A batch whose provider has ended it, not yet finalized by us."""
    caller, batch = new_batch(gateway, models)
    assert batch.provider_batch_id is not None
    fake.run_to_end(batch.provider_batch_id)
    return caller, batch.id


def result_files(gateway: Gateway, caller: Caller) -> list[str]:
    page = gateway.files.list(caller, None, {"purpose": "batch_output"})
    return sorted(record.id for record in page.items)


def test_finalizer_run_twice_gives_the_same_files(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()  # this test runs the jobs itself
    caller, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini", "invalid-model"])
    first = gateway.jobs.finalize(batch_id)
    second = gateway.jobs.finalize(batch_id)
    assert first is not None and second is not None
    assert first.status == "completed" and first.request_counts == {"total": 2, "completed": 1, "failed": 1}
    assert (second.output_file_id, second.error_file_id, second.version) == (
        first.output_file_id,
        first.error_file_id,
        first.version,
    )
    assert result_files(gateway, caller) == sorted([first.output_file_id or "", first.error_file_id or ""])


def test_a_finalizer_that_died_half_way_is_finished_by_the_next(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    caller, batch_id = ended_batch(gateway, fake, ["gpt-4o-mini", "invalid-model"])
    record = gateway.records.get_batch(batch_id)
    assert record is not None and record.provider_batch_id is not None
    provider_error_file = fake.batch_json(record.provider_batch_id)["error_file_id"]
    # dies after the output file (every attempt: reads are retried)
    fake.inject(500, path_contains=f"/files/{provider_error_file}", method="GET", times=3)
    with pytest.raises(GatewayError):
        gateway.jobs.finalize(batch_id)
    half = gateway.records.get_batch(batch_id)
    assert half is not None and not half.is_terminal and half.output_file_id is None  # nothing half-written
    assert result_files(gateway, caller) == []  # not even the output file read before the crash: stored together

    done = gateway.jobs.finalize(batch_id)
    assert done is not None and done.status == "completed"
    assert result_files(gateway, caller) == sorted([done.output_file_id or "", done.error_file_id or ""])
    errors = b"".join(gateway.files.content(caller, done.error_file_id or "", None)[1])
    assert [json.loads(line)["custom_id"] for line in errors.splitlines()] == ["r1"]


class Receiver:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.posts.append((url, body, headers))
        if len(self.posts) <= self.failures:
            if len(self.posts) % 2:
                raise ConnectionError("receiver down")
            return 500
        return 204


class RecordingQueue:
    """Holds the jobs sent, for the test to deliver (or lose) itself."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        self.sent.append((kind, batch_id, delay_seconds))


def with_webhook(gateway: Gateway, receiver: Receiver, queue: RecordingQueue, **changes: Any) -> BatchJobs:
    config = WebhookConfig("https://hooks.example/batches", SECRET, first_backoff_seconds=30)
    return dataclasses.replace(gateway.jobs, webhook=config, sender=receiver, queue=queue, **changes)


@pytest.mark.parametrize(
    ("failures", "status", "attempts"), [(0, "delivered", 1), (3, "delivered", 4), (99, "failed", 5)]
)
def test_webhook_retries_as_queued_jobs_then_records_the_delivery(
    gateway: Gateway, fake_openai: tuple[Any, str], failures: int, status: str, attempts: int
) -> None:
    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    receiver, queue = Receiver(failures), RecordingQueue()
    jobs = with_webhook(gateway, receiver, queue)
    finalized = jobs.finalize(batch_id)
    assert finalized is not None and finalized.status == "completed" and finalized.notify_pending
    assert queue.sent == [("notify", batch_id, 0)]
    delivery = None
    while queue.sent and queue.sent[-1][0] == "notify" and len(queue.sent) < 20:  # the queue delivering each job
        queue.sent.append(("delivered", batch_id, 0))
        delivery = jobs.notify(batch_id) or delivery
    assert delivery is not None and (delivery.status, delivery.attempts) == (status, attempts)
    assert delivery.event_type == "batch.completed"
    assert gateway.records.get_delivery(delivery.event_id) == delivery
    delays = [delay for kind, _, delay in queue.sent if kind == "notify"][1:]
    assert delays == [30, 60, 120, 240][: attempts - 1]  # each retry its own job, with doubling delay
    assert len(receiver.posts) == attempts and len({h["webhook-id"] for _, _, h in receiver.posts}) == 1
    record = gateway.records.get_batch(batch_id)
    assert record is not None and record.status == "completed" and not record.notify_pending
    assert jobs.notify(batch_id) is None and len(receiver.posts) == attempts  # settled: nothing more owed


def test_a_lost_notify_job_is_resent_by_the_sweeper(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    receiver, queue = Receiver(0), RecordingQueue()
    jobs = with_webhook(gateway, receiver, queue)
    assert jobs.finalize(batch_id) is not None
    queue.sent.clear()  # the notify job is lost (a crash between the final write and the send)
    jobs.sweep()
    assert queue.sent == []  # not overdue yet: a queued job may still be on its way
    later = with_webhook(gateway, receiver, queue, clock=lambda: time.time_ns() + (NOTIFY_OVERDUE_SECONDS + 1) * 10**9)
    later.sweep()
    assert queue.sent == [("notify", batch_id, 0)]
    delivery = later.notify(batch_id)
    assert delivery is not None and delivery.status == "delivered"
    later.sweep()
    assert queue.sent == [("notify", batch_id, 0)]  # settled, out of the sweeper's index


def test_a_cancel_racing_a_refresh_is_still_recorded(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    caller, batch = new_batch(gateway, ["gpt-4o-mini"])
    adapter = gateway.providers.get("openai")
    real_cancel = adapter.cancel_batch

    def cancel_while_someone_writes(credentials: Any, provider_batch_id: str) -> Any:
        report = real_cancel(credentials, provider_batch_id)
        stored = gateway.records.get_batch(batch.id)
        assert stored is not None
        newer = copy.deepcopy(stored)
        newer.refreshed_ns += 1  # e.g. the sweeper's refresh landing first
        assert save(gateway.records, stored, newer) == newer
        return report

    adapter.cancel_batch = cancel_while_someone_writes  # type: ignore[method-assign]
    answered = gateway.batches.cancel(caller, batch.id, None)
    stored = gateway.records.get_batch(batch.id)
    assert answered.status == "cancelling" and stored is not None and stored.status == "cancelling"
    assert "cancelling_at" in stored.timestamps


def test_racing_writers_settle_on_one_outcome(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    """A cancel and a completion both read version N: the first write wins, the second gets the winner."""
    from batchbridge.domain.refresh import move

    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    read = gateway.records.get_batch(batch_id)
    assert read is not None
    completing, cancelling = copy.deepcopy(read), copy.deepcopy(read)
    assert move(completing, "in_progress", 10) and move(cancelling, "cancelling", 11)
    first = save(gateway.records, read, completing)
    second = save(gateway.records, read, cancelling)
    assert first.status == "in_progress" and second == first  # the loser is told what won
    stored = gateway.records.get_batch(batch_id)
    assert stored == first and "cancelling_at" not in stored.timestamps


def test_a_list_refreshes_within_its_time_budget(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    for _ in range(5):
        caller, _ = new_batch(gateway, ["gpt-4o-mini"])
    ticks = iter(range(10**6))
    slow = dataclasses.replace(gateway.batches, clock=lambda: time.time_ns() + next(ticks) * 2 * 10**9)

    def provider_reads() -> int:
        return sum(1 for r in fake.requests if r.method == "GET" and r.path.startswith("/v1/batches/"))

    before = provider_reads()
    page = slow.list(caller, None, {})
    assert len(page.items) == 5
    refreshed = provider_reads() - before
    assert 1 <= refreshed <= 2  # each refresh "takes" 2 s: the 3 s budget stops the rest
    before = provider_reads()
    assert len(gateway.batches.list(caller, None, {}).items) == 5
    # a fast provider: every other batch is refreshed (those just refreshed carry the test clock's future stamp)
    assert provider_reads() - before == 5 - refreshed


def test_the_sweeper_resends_a_lost_finalize_only_when_overdue(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    from batchbridge.domain.services.jobs import FINALIZE_RESEND_SECONDS

    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    queue = RecordingQueue()
    jobs = dataclasses.replace(gateway.jobs, queue=queue)
    jobs.sweep()  # queues the batch's refresh, a job of its own
    [(kind, reference, delay)] = queue.sent
    assert (kind, reference.split("@")[0], delay) == ("refresh", batch_id, 0)
    queue.sent.clear()
    jobs.run(kind, reference)  # sees the provider ended it: finalize sent at once
    assert queue.sent == [("finalize", batch_id, 0)]
    queue.sent.clear()  # ... and lost
    jobs.sweep()
    assert queue.sent == []  # a job may still be on its way
    later = dataclasses.replace(jobs, clock=lambda: time.time_ns() + (FINALIZE_RESEND_SECONDS + 1) * 10**9)
    later.sweep()
    assert queue.sent == [("finalize", batch_id, 0)]
