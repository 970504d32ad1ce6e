"""The sweeper fans out: one refresh job queued per batch not yet final, within its time budget, over a sharded
index; each job refreshes its batch once."""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

import pytest

from batchbridge.domain import ids
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.gateway import Gateway
from batchbridge.providers import openai
from batchbridge.store.records import ACTIVE_SHARDS, active_shard
from batchbridge.store.vault import NoVault
from tests.integration.test_jobs import RecordingQueue

BATCHES = 5_000


class CountingAdapter:
    """Stands in for a provider: every batch still running; counts the asks per batch."""

    spec = openai.SPEC  # the states it reports are OpenAI's

    def __init__(self) -> None:
        self.asked: collections.Counter[str] = collections.Counter()

    def get_batch(self, credentials: Any, provider_batch_id: str) -> ProviderBatch:
        self.asked[provider_batch_id] += 1
        return ProviderBatch(id=provider_batch_id, raw_status="in_progress")


class OneProvider:
    def __init__(self, adapter: CountingAdapter) -> None:
        self.adapter = adapter

    def get(self, name: str) -> CountingAdapter:
        return self.adapter


def running_batch(number: int) -> BatchRecord:
    return BatchRecord(
        id=ids.new_batch_id(),
        owner="owner",
        provider="openai",
        endpoint="/v1/chat/completions",
        input_file_id=ids.new_file_id(),
        completion_window="24h",
        status="in_progress",
        created_at=1_700_000_000 + number,
        created_ns=(1_700_000_000 + number) * 10**9,
        jobs=[ProviderJob(id=f"upstream-{number}", raw_status="in_progress", phase="in_progress")],
    )


def ended(record: BatchRecord, **changes: Any) -> BatchRecord:
    """``record`` final, its provider job ended completed."""
    job = dataclasses.replace(record.jobs[0], raw_status="completed", phase="ended", outcome="completed")
    return dataclasses.replace(record, status="completed", jobs=[job], **changes)


@pytest.mark.heavy
def test_five_thousand_due_batches_are_queued_in_one_sweep_and_each_refreshed_once(gateway: Gateway) -> None:
    gateway.queue.stop()
    batches = [running_batch(number) for number in range(BATCHES)]
    for record in batches:
        gateway.records.put_batch(record)
    shards = collections.Counter(active_shard(record.id) for record in batches)
    assert len(shards) == ACTIVE_SHARDS and max(shards.values()) < BATCHES / ACTIVE_SHARDS * 1.5  # no hot key

    queue = RecordingQueue()
    adapter = CountingAdapter()
    jobs = dataclasses.replace(gateway.jobs, queue=queue, providers=OneProvider(adapter), vault=NoVault())
    budget = 60.0
    started = time.monotonic()
    assert jobs.sweep(deadline=started + budget) == BATCHES
    assert adapter.asked == {}  # the sweep itself asks no provider
    assert sorted((kind, ref.split("@")[0], delay) for kind, ref, delay in queue.sent) == sorted(
        ("refresh", record.id, 0) for record in batches
    )

    for kind, batch_id, _ in list(queue.sent):
        jobs.run(kind, batch_id)
    assert len(adapter.asked) == BATCHES and set(adapter.asked.values()) == {1}


def test_a_sweep_stops_at_its_budget_and_the_next_goes_on(gateway: Gateway) -> None:
    gateway.queue.stop()
    batches = [running_batch(number) for number in range(30)]
    for record in batches:
        gateway.records.put_batch(record)
    queue = RecordingQueue()
    jobs = dataclasses.replace(gateway.jobs, queue=queue, providers=OneProvider(CountingAdapter()))
    assert jobs.sweep(deadline=time.monotonic()) == 0 and queue.sent == []  # no time left: nothing started
    assert jobs.sweep(deadline=time.monotonic() + 60) == 30


def test_a_refresh_job_for_a_batch_final_meanwhile_asks_nobody(gateway: Gateway) -> None:
    gateway.queue.stop()
    record = running_batch(0)
    gateway.records.put_batch(ended(record))
    adapter = CountingAdapter()
    jobs = dataclasses.replace(gateway.jobs, queue=RecordingQueue(), providers=OneProvider(adapter))
    assert jobs.refresh_job(record.id) is None and adapter.asked == {}
    assert jobs.refresh_job(ids.new_batch_id()) is None


def test_the_sweep_tells_which_batches_are_not_yet_final(gateway: Gateway) -> None:
    gateway.queue.stop()
    running = running_batch(0)
    final = ended(running_batch(1), notify_pending=True)
    for record in (running, final):
        gateway.records.put_batch(record)
    seen: list[str] = []
    jobs = dataclasses.replace(gateway.jobs, queue=RecordingQueue())
    assert jobs.sweep(seen=lambda record: seen.append(record.id)) == 2
    assert seen == [running.id]  # final (its webhook still owed) is not counted as active


def test_each_minutes_sweep_starts_at_another_shard(gateway: Gateway) -> None:
    """A sweep that stops at its budget never leaves the same batches out every time."""
    gateway.queue.stop()
    batches = [running_batch(number) for number in range(64)]
    for record in batches:
        gateway.records.put_batch(record)
    for start in (0, 5, 15, 16 + 3):
        shards = [active_shard(record.id) for record in gateway.records.list_active_batches(start=start)]
        assert len(shards) == 64
        first_shards = list(dict.fromkeys(shards))
        occupied = sorted({active_shard(record.id) for record in batches}, key=int)
        expected = sorted(occupied, key=lambda shard: (int(shard) - start) % ACTIVE_SHARDS)
        assert first_shards == expected

    queue = RecordingQueue()
    minute = 60 * 10**9
    early = dataclasses.replace(gateway.jobs, queue=queue, clock=lambda: 1_000 * minute)
    later = dataclasses.replace(gateway.jobs, queue=queue, clock=lambda: 1_001 * minute)
    early.sweep()
    later.sweep()
    firsts = [queue.sent[0][1].split("@")[0], queue.sent[64][1].split("@")[0]]
    assert active_shard(firsts[0]) != active_shard(firsts[1])


def test_refreshes_queued_by_sweeps_that_outpaced_the_queue_ask_the_provider_once(gateway: Gateway) -> None:
    gateway.queue.stop()
    record = running_batch(0)
    gateway.records.put_batch(record)
    queue = RecordingQueue()
    adapter = CountingAdapter()
    jobs = dataclasses.replace(gateway.jobs, queue=queue, providers=OneProvider(adapter), vault=NoVault())
    jobs.sweep()
    jobs.sweep()  # the first sweep's job has not run yet: a twin is queued
    assert [kind for kind, _, _ in queue.sent] == ["refresh", "refresh"]
    for kind, reference, _ in list(queue.sent):
        jobs.run(kind, reference)
    assert adapter.asked == {"upstream-0": 1}
    jobs.sweep()  # a later sweep's refresh asks again
    jobs.run(*queue.sent[-1][:2])
    assert adapter.asked == {"upstream-0": 2}
