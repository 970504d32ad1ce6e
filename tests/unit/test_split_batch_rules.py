"""The rules of a split batch's parts, pure: what status its parts together show, a part the provider failed because
its queue was full waiting again with backoff, when the sweeper sends the start_parts job, and in which order."""

from __future__ import annotations

from typing import Any

import pytest

from batchbridge.domain.lifecycle import Observation
from batchbridge.domain.merging import merged_observation
from batchbridge.domain.ports import Job, ProviderBatch
from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.domain.refresh import PART_BACKOFF_MAX_SECONDS, apply_report, part_backoff_seconds
from batchbridge.domain.services.batch_writes import schedule
from batchbridge.domain.services.parts_runner import fair_order, parts_due
from batchbridge.providers.anthropic import SPEC as ANTHROPIC
from batchbridge.providers.openai import SPEC as OPENAI

NOW = 1_800_000_000


def part(number: int, job_id: str = "", count: int = 2, **fields: Any) -> ProviderJob:
    stored = {"number": number, "first_index": number * count, "count": count, "offset": number * 100, "length": 100}
    return ProviderJob(id=job_id, part=stored, **fields)


def batch(jobs: list[ProviderJob], **fields: Any) -> BatchRecord:
    values: dict[str, Any] = {
        "id": "batch_1",
        "owner": "owner",
        "provider": "openai",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": "validating",
        "created_at": NOW - 600,
        "input_copy_key": "batches/batch_1/input.jsonl",
        "parts_pending": True,
    }
    return BatchRecord(jobs=jobs, **(values | fields))


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([part(0), part(1)], None),  # none started: nothing to show (validating)
        ([part(0, phase="failed"), part(1)], Observation("validating")),  # refused, none started
        ([part(0, "b0", phase="validating"), part(1)], Observation("validating")),
        ([part(0, "b0", phase="in_progress"), part(1)], Observation("in_progress")),
        ([part(0, "b0", phase="ended", outcome="completed"), part(1)], Observation("in_progress")),  # waits after one
        (
            [part(0, "b0", phase="ended", outcome="completed"), part(1, phase="failed")],
            Observation("ended", "completed"),
        ),
        ([part(0, phase="failed"), part(1, phase="failed")], Observation("failed")),  # no part could run
        (
            [part(0, "b0", phase="ended", outcome="completed"), part(1, phase="ended", outcome="expired")],
            Observation("ended", "expired"),  # the window is the whole batch's
        ),
        (
            [part(0, "b0", phase="ended", outcome="expired"), part(1, phase="ended", outcome="cancelled")],
            Observation("ended", "cancelled"),
        ),
    ],
)
def test_a_split_batch_shows_what_its_parts_together_say(jobs: list[ProviderJob], expected: Observation | None) -> None:
    assert merged_observation(jobs) == expected


def test_a_part_failed_because_the_providers_queue_was_full_waits_again_with_backoff() -> None:
    record = batch(
        [part(0, "batch_a", phase="in_progress"), part(1, "batch_b", phase="validating")], parts_pending=False
    )
    full = {"object": "list", "data": [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached."}]}
    report = ProviderBatch(id="batch_b", raw_status="failed", errors=full)

    updated = apply_report(OPENAI, record, report, NOW)

    waiting = updated.jobs[1]
    assert (waiting.id, waiting.phase, waiting.errors, waiting.attempts) == ("", None, None, 1)
    assert waiting.waiting and waiting.waiting_until == NOW + part_backoff_seconds(1)
    assert waiting.part == record.jobs[1].part
    assert updated.parts_pending and updated.status == "in_progress" and updated.errors is None


def test_a_part_failed_for_another_reason_fails_with_its_requests_counted_failed() -> None:
    record = batch([part(0, "batch_a", phase="in_progress"), part(1, "batch_b", count=3, phase="validating")])
    bad = {"object": "list", "data": [{"code": "invalid_model", "message": "No such model."}]}

    updated = apply_report(OPENAI, record, ProviderBatch(id="batch_b", raw_status="failed", errors=bad), NOW)

    assert updated.jobs[1].phase == "failed" and updated.jobs[1].id == "batch_b"
    assert updated.jobs[1].request_counts == {"total": 3, "completed": 0, "failed": 3}
    assert updated.errors == bad


def test_a_queue_full_code_of_another_provider_is_a_failure() -> None:
    assert ANTHROPIC.queue_full_codes == frozenset()
    assert OPENAI.queue_full_codes == frozenset({"token_limit_exceeded"})


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [part_backoff_seconds(attempts) for attempts in range(1, 12)]
    assert waits[:3] == [60, 120, 240]
    assert waits == sorted(waits) and waits[-1] == PART_BACKOFF_MAX_SECONDS


def test_the_sweeper_sends_start_parts_once_a_waiting_part_may_be_tried() -> None:
    backing_off = batch([part(0, "b0", phase="in_progress"), part(1, waiting_until=NOW + 30)])
    assert not parts_due(backing_off, NOW)
    assert parts_due(backing_off, NOW + 30)
    held = batch([part(0), part(1)], parts_until=NOW + 10)
    assert not parts_due(held, NOW) and parts_due(held, NOW + 10)  # a run holds it till its lease lapses
    just_accepted = batch([], created_at=NOW - 5)
    assert not parts_due(just_accepted, NOW)  # its own job is on its way
    assert parts_due(batch([], created_at=NOW - 600), NOW)  # lost
    assert not parts_due(batch([part(0, "b0", phase="in_progress")], parts_pending=False), NOW)  # all started
    past_window = batch([part(0, "b0", phase="in_progress")], parts_pending=False, created_at=NOW - 86_401)
    assert parts_due(past_window, NOW)  # its running part is stopped
    cancelling = batch([part(0, waiting_until=NOW + 300)], status="cancelling")
    assert parts_due(cancelling, NOW)
    assert not parts_due(batch([part(0)], input_copy_key=None), NOW)  # not a split batch


def test_batches_are_started_first_come_per_owner_and_in_turn_across_owners() -> None:
    def made(owner: str, order: int) -> BatchRecord:
        return batch([], id=f"batch_{owner}{order}", owner=owner, created_ns=order)

    busy = [made("a", order) for order in (1, 2, 3, 4)]
    ordered = fair_order([*reversed(busy), made("b", 5), made("c", 6), made("b", 7)])
    assert [record.id for record in ordered] == [
        "batch_a1",
        "batch_b5",
        "batch_c6",
        "batch_a2",
        "batch_b7",
        "batch_a3",
        "batch_a4",
    ]


class Recorded:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        self.sent.append((kind, batch_id))


def test_a_part_that_ends_makes_room_for_the_waiting_ones() -> None:
    before = batch([part(0, "b0", phase="in_progress"), part(1, "b1", phase="in_progress"), part(2)])
    ended = apply_report(ANTHROPIC, before, ProviderBatch(id="b0", raw_status="ended"), NOW)
    queue = Recorded()
    schedule(queue, before, ended)
    assert queue.sent == [(Job.START_PARTS, "batch_1")]

    still = apply_report(ANTHROPIC, before, ProviderBatch(id="b0", raw_status="in_progress"), NOW)
    quiet = Recorded()
    schedule(quiet, before, still)
    assert quiet.sent == []  # nothing ended: no more room than before

    full = {"object": "list", "data": [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached."}]}
    requeued_part = apply_report(OPENAI, before, ProviderBatch(id="b1", raw_status="failed", errors=full), NOW)
    again = Recorded()
    schedule(again, before, requeued_part)
    assert again.sent == [(Job.START_PARTS, "batch_1")]  # its start_parts job puts it off till its backoff passed
