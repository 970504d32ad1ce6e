"""A Gemini part create that timed out and made no batch leaves its uploaded part file at Gemini (the file goes
before the batch's create): ``release_unused_part_input`` finds it by its display name among the files made since the
create and deletes it, leaving every other file alone; the start_parts job does so when find_batch finds no batch of
the part, and then starts the part."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.parts import JobLimits, JobPart, plan_parts
from batchbridge.domain.ports import BatchRequest, Credentials, Job
from batchbridge.domain.records import BatchRecord, FileRecord
from batchbridge.domain.services.batch_writes import RECONCILE_AFTER_SECONDS
from batchbridge.gateway import Gateway
from batchbridge.providers.gemini import GeminiAdapter, part_filename
from batchbridge.store.queue import LocalWorkQueue
from tests.integration.helpers import hold_jobs, move_clock

KEY = "sk-gemini-unused"
CREDENTIALS = Credentials(KEY)
BATCH_ID = "batch_unused0123456789"
MODEL = "gemini-2.5-flash"
TIMED_OUT = GatewayError(504, "Gemini did not answer in time.", code="provider_timeout")


def chat_lines(count: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": f"r{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": f"Q{n}"}]},
            }
        ).encode()
        + b"\n"
        for n in range(count)
    )


def parts_of(content: bytes, per_part: int) -> list[JobPart]:
    return plan_parts(((offset, length) for offset, length, _ in iter_lines_at([content])), JobLimits(per_part))


def request(content: bytes, part: JobPart | None, batch_id: str = BATCH_ID) -> BatchRequest:
    file = FileRecord(
        id="file-gateway0123",
        owner="owner",
        provider="gemini",
        filename="in.jsonl",
        bytes=len(content),
        purpose="batch",
        created_at=1,
        blob_key="files/file-gateway0123",
        request_count=content.count(b"\n"),
        model=MODEL,
    )
    data = content if part is None else content[part.offset : part.offset + part.length]
    return BatchRequest(
        batch_id=batch_id,
        input_file=file,
        open_input=lambda: iter([content]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata=None,
        output_expires_after_seconds=None,
        extras={},
        part=part,
        open_part=lambda: iter([data]),
    )


@pytest.fixture
def fake(fake_gemini: tuple[Any, str]) -> Any:
    return fake_gemini[0].state.fake


@pytest.fixture
def adapter(fake_gemini: tuple[Any, str]) -> GeminiAdapter:
    return GeminiAdapter(fake_gemini[1], timeout=5)


def timing_out(monkeypatch: pytest.MonkeyPatch, number: int) -> list[str]:
    """The create of part ``number``'s batch timing out once, after its file was uploaded and before it reached
    Gemini: the files it left (their names), listed as they are left."""
    original = GeminiAdapter._create
    left: list[str] = []

    def create(
        self: GeminiAdapter, credentials: Credentials, request: BatchRequest, model_id: str, file_name: str | None
    ) -> dict[str, Any]:
        if request.part is not None and request.part.number == number and not left:
            assert file_name is not None
            left.append(file_name)
            raise TIMED_OUT
        return original(self, credentials, request, model_id, file_name)

    monkeypatch.setattr(GeminiAdapter, "_create", create)
    return left


def now_seconds(fake: Any) -> int:
    return int(fake.clock() // 1_000_000_000)


def test_the_file_a_timed_out_part_create_left_is_deleted_and_no_other(
    fake: Any, adapter: GeminiAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = chat_lines(7)
    parts = parts_of(content, 3)
    user_file = fake.add_file(KEY, b"{}\n", "application/jsonl", "in.jsonl", "UPLOADED").name
    other_batch = adapter.create_batch(CREDENTIALS, request(content, parts[1], batch_id="batch_other0123456789"))
    running = adapter.create_batch(CREDENTIALS, request(content, parts[0]))
    left = timing_out(monkeypatch, 1)
    sent_at = now_seconds(fake)
    with pytest.raises(GatewayError) as caught:
        adapter.create_batch(CREDENTIALS, request(content, parts[1]))
    assert caught.value.code == "provider_timeout"
    (unused,) = left
    assert fake.get_file(KEY, unused.removeprefix("files/")).display_name == part_filename(BATCH_ID, parts[1])
    assert adapter.find_batch(CREDENTIALS, request(content, parts[1]), sent_at) is None

    adapter.release_unused_part_input(CREDENTIALS, request(content, parts[1]), sent_at)

    # the part's own file gone; the user's, another part's (running) and another batch's same part's files stay
    assert sorted(fake.file_names(KEY)) == sorted([user_file, other_batch.input_location, running.input_location])
    adapter.release_unused_part_input(CREDENTIALS, request(content, parts[1]), sent_at)  # gone already: nothing
    adapter.release_unused_part_input(CREDENTIALS, request(content, None), sent_at)  # no part: nothing of its own
    assert len(fake.file_names(KEY)) == 3


def test_the_unused_part_file_is_found_past_the_first_page_of_files(
    fake: Any, adapter: GeminiAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = chat_lines(4)
    part = parts_of(content, 2)[1]
    left = timing_out(monkeypatch, 1)
    sent_at = now_seconds(fake)
    with pytest.raises(GatewayError):
        adapter.create_batch(CREDENTIALS, request(content, part))
    later = [fake.add_file(KEY, b"{}\n", "application/jsonl", f"later-{n}.jsonl", "UPLOADED").name for n in range(120)]

    adapter.release_unused_part_input(CREDENTIALS, request(content, part), sent_at)

    assert left[0] not in fake.file_names(KEY)
    assert sorted(fake.file_names(KEY)) == sorted(later)  # (listed 100 a page, newest first)


# -- through the start_parts job -------------------------------------------------------------------------------------


@pytest.fixture
def split_gemini(
    gateway_env: dict[str, str], work_queue: LocalWorkQueue, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    """A gateway whose Gemini jobs hold at most 3 requests, its jobs run as `serve` runs them."""
    monkeypatch.setenv("BATCHBRIDGE_GEMINI_JOB_MAX_REQUESTS", "3")
    gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue)
    work_queue.start(gateway.jobs.run)
    yield gateway


def stored(gateway: Gateway, batch_id: str) -> BatchRecord:
    record = gateway.records.get_batch(batch_id)
    assert record is not None
    return record


def test_start_parts_deletes_the_file_a_timed_out_gemini_part_create_left_and_starts_the_part(
    split_gemini: Gateway, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = split_gemini
    clock = move_clock(gateway)
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    content = chat_lines(7)
    uploaded = gateway.files.create(
        caller,
        "gemini",
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    left = timing_out(monkeypatch, 1)
    hold_jobs(gateway.batches, gateway.jobs)
    batch = gateway.batches.create(
        caller, None, {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    )
    with pytest.raises(GatewayError):
        gateway.jobs.run(Job.START_PARTS, batch.id)
    (unused,) = left
    assert unused in fake.file_names(KEY) and stored(gateway, batch.id).jobs[1].sent_at is not None

    clock.advance(RECONCILE_AFTER_SECONDS + 1)
    gateway.jobs.run(Job.START_PARTS, batch.id)  # Gemini shows no batch of part 1: its file goes, the part starts

    record = stored(gateway, batch.id)
    assert all(job.started for job in record.jobs) and len(fake.batch_names(KEY)) == 3
    assert unused not in fake.file_names(KEY)
    part_files = [job.input_location for job in record.jobs]
    assert sorted(fake.file_names(KEY)) == sorted([uploaded.provider_file_id, *part_files])
