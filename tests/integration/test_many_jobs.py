"""A batch of several provider jobs: a cancel cancels every job still running (one that had ended is done), each
job's results go through the one finalizer path, each job keeps its own custom_id map and where its input and
results are."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.domain.services.batch_writes import adopt
from batchbridge.domain.services.files import Caller
from batchbridge.gateway import Gateway
from batchbridge.providers.anthropic import SPEC as ANTHROPIC
from batchbridge.store.records import _batch_item, _decoded
from tests.integration.services import batch_from_jsonl

KEY = "sk-many-jobs"
LINE = (
    '{"custom_id": "%s", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "Hi"}]}}\n'
)


def two_job_batch(gateway: Gateway) -> tuple[Caller, BatchRecord, str, str]:
    """A batch of two OpenAI jobs (each made at the fake by a batch of its own, the second's job moved into the
    first's record), both running: the caller, the record, and the two provider batch IDs."""
    caller, first = batch_from_jsonl(gateway, "openai", (LINE % "a").encode(), KEY)
    _, second = batch_from_jsonl(gateway, "openai", (LINE % "b").encode(), KEY)
    assert first.provider_batch_id is not None and second.provider_batch_id is not None
    record = gateway.records.get_batch(first.id)
    other = gateway.records.get_batch(second.id)
    assert record is not None and other is not None
    both = dataclasses.replace(record, jobs=[*record.jobs, *other.jobs], version=record.version + 1)
    assert gateway.records.update_batch(both)
    return caller, both, first.provider_batch_id, second.provider_batch_id


def test_a_cancel_cancels_the_jobs_still_running_and_keeps_the_ended_ones_report(
    gateway: Gateway, fake_openai: tuple[Any, str]
) -> None:
    gateway.queue.stop()  # this test runs the finalizer itself
    fake = fake_openai[0].state.fake
    caller, batch, ended_id, running_id = two_job_batch(gateway)
    ended = fake.run_to_end(ended_id)
    fake.advance(running_id)
    assert ended["status"] == "completed" and fake.batch_json(running_id)["status"] == "in_progress"

    cancelled = gateway.batches.cancel(caller, batch.id, None)  # OpenAI refuses the ended one: a 409 there

    assert cancelled.status == "cancelling"
    assert fake.batch_json(running_id)["status"] == "cancelling"  # the running job was cancelled all the same
    first, second = cancelled.jobs
    assert (first.id, first.phase, first.outcome) == (ended_id, "ended", "completed")  # its fresh report kept
    assert (second.id, second.phase, second.outcome) == (running_id, "cancelling", None)
    stored = gateway.records.get_batch(batch.id)
    assert stored == cancelled

    # Both jobs' results through the one path: each job's OpenAI files, raw, one after the other
    finished = fake.run_to_end(running_id)
    assert finished["status"] == "cancelled"
    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "cancelled"
    counts = [ended["request_counts"], finished["request_counts"]]
    assert done.request_counts == {name: sum(count[name] for count in counts) for name in counts[0]}  # OpenAI's
    # each role's file: the jobs' files of that role, raw, in the jobs' order
    for role, file_id in (("output", done.output_file_id), ("error", done.error_file_id)):
        named = [job[f"{role}_file_id"] for job in (ended, finished) if job[f"{role}_file_id"]]
        theirs = b"".join(fake.file_content(provider_file_id) for provider_file_id in named)
        if not theirs:
            assert file_id is None
            continue
        assert file_id is not None
        _, ours = gateway.files.content(caller, file_id, None)
        assert b"".join(ours) == theirs
    assert done.output_file_id is not None  # the ended job's answer
    _, output = gateway.files.content(caller, done.output_file_id, None)
    assert json.loads(b"".join(output).splitlines()[0])["custom_id"] == "a"


def test_a_cancel_of_jobs_that_have_all_ended_is_the_providers_refusal(
    gateway: Gateway, fake_openai: tuple[Any, str]
) -> None:
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    caller, batch, first_id, second_id = two_job_batch(gateway)
    fake.run_to_end(first_id)
    fake.run_to_end(second_id)
    with pytest.raises(GatewayError) as raised:
        gateway.batches.cancel(caller, batch.id, None)
    assert raised.value.status == 409 and "completed" in raised.value.message
    stored = gateway.records.get_batch(batch.id)
    assert stored == batch  # nothing recorded: no cancel was sent


def test_a_cancel_of_jobs_still_running_cancels_each(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    caller, batch, first_id, second_id = two_job_batch(gateway)
    assert gateway.batches.cancel(caller, batch.id, None).status == "cancelling"
    assert {fake.batch_json(first_id)["status"], fake.batch_json(second_id)["status"]} == {"cancelling"}


def test_each_job_keeps_its_own_custom_id_map_and_locations(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    """The first job's map under the batch's key (as records before jobs had it), a later job's under its own; the
    provider's input file and result files as it named them, stored and read back."""
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    _, batch = batch_from_jsonl(gateway, "openai", (LINE % "a").encode(), KEY)
    record = gateway.records.get_batch(batch.id)
    assert record is not None and batch.provider_batch_id is not None
    (job,) = record.jobs
    assert job.input_location == fake.batch_json(batch.provider_batch_id)["input_file_id"]
    assert job.output_locations is None  # none named while it runs
    ended = fake.run_to_end(batch.provider_batch_id)
    refreshed = gateway.jobs.refresh(record)
    assert refreshed.jobs[0].output_locations == [ended["output_file_id"]]

    intent = dataclasses.replace(refreshed, jobs=[])
    first_report = ProviderBatch(id="msgbatch_1", raw_status="in_progress", custom_id_map={"p1": "a"})
    second_report = ProviderBatch(id="msgbatch_2", raw_status="in_progress", custom_id_map={"p2": "b"})
    one = adopt(gateway.blobs, ANTHROPIC, intent, first_report, 10**18)
    two = adopt(gateway.blobs, ANTHROPIC, one, second_report, 10**18)
    keys = [item.custom_id_map_key for item in two.jobs]
    assert keys == [f"batches/{batch.id}/custom_ids.json", f"batches/{batch.id}/custom_ids-1.json"]
    first_map, second_map = (b"".join(gateway.blobs.open(key or "")) for key in keys)
    assert b'"p1"' in first_map and b'"p2"' not in first_map  # each job's own map
    assert b'"p2"' in second_map and b'"p1"' not in second_map

    read_back = _decoded(BatchRecord, _batch_item(refreshed))
    assert read_back.jobs == refreshed.jobs
    earlier = dataclasses.asdict(refreshed.jobs[0])
    del earlier["input_location"], earlier["output_locations"]  # a job stored before it kept them reads as before
    assert ProviderJob.from_stored(earlier) == dataclasses.replace(
        refreshed.jobs[0], input_location=None, output_locations=None
    )
