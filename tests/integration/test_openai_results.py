"""An OpenAI batch's results through the one finalizer path every provider takes: OpenAI's own output and error
files copied into the batch's files byte for byte (its lines never re-serialised, never moved between the two),
streamed a chunk at a time, with OpenAI's counts, dates and nulls."""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from batchbridge.domain.records import DEFAULT_OUTPUT_LIFETIME_SECONDS
from batchbridge.domain.services.result_files import SPOOL_BYTES, ResultFiles
from batchbridge.gateway import Gateway
from tests.fakes.openai_upstream import CONTENT_CHUNK_BYTES
from tests.integration.services import batch_from_jsonl

KEY = "sk-results"
LINE = (
    '{"custom_id": "%s", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "%s", '
    '"messages": [{"role": "user", "content": "Hi"}]}}\n'
)
# Lines as OpenAI might write them, that a parse and dump would change: spacing, key order, unicode escapes and raw
# UTF-8, a float's spelling, an escaped slash. The output file holds a line that reads like a failure and the error
# file one that reads like a success: each stays where OpenAI put it.
OUTPUT = (
    b'{"id": "batch_req_1",  "custom_id":"ok-1", "response": {"status_code": 200, "request_id": "req_1", '
    b'"body": {"object": "chat.completion", "choices": [{"message": {"role": "assistant", '
    b'"content": "caf\\u00e9 \xc3\xa9 \\ud83d\\ude00 1.50 a\\/b"}}]}}, "error": null}\n'
    b'{"error": {"code": "server_error", "message": "looks failed"}, "response": {"status_code": 500, '
    b'"request_id": "req_2", "body": {}}, "custom_id": "ok-2", "id": "batch_req_2"}\n'
)
ERRORS = (  # and no newline at its end
    b'{ "id" : "batch_req_3", "custom_id" : "bad-1", "response" : {"status_code": 200, "request_id": "req_3", '
    b'"body": {"choices": []}}, "error" : null }\r\n'
    b'{"id":"batch_req_4","custom_id":"bad-2","response":null,"error":{"code":"batch_expired","message":"\\u2026"}}'
)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def ended(client: OpenAI, fake: Any, models: list[str], **create: Any) -> tuple[str, dict[str, Any]]:
    """A batch of one request per model that OpenAI has ended (not yet seen by the gateway): its ID, and OpenAI's
    batch."""
    known = set(fake.batch_ids(KEY))
    content = "".join(LINE % (f"r{n}", model) for n, model in enumerate(models)).encode()
    uploaded = client.files.create(file=("in.jsonl", content), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", **create
    )
    (provider_batch_id,) = set(fake.batch_ids(KEY)) - known
    return batch.id, fake.run_to_end(provider_batch_id)


def finished(client: OpenAI, batch_id: str) -> Any:
    for _ in range(5):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "expired", "cancelled", "failed"):
            return batch
    raise AssertionError(f"batch {batch_id} still {batch.status}")


@pytest.mark.parametrize("output_expires_after", [None, 7200])
def test_the_result_files_are_openais_bytes_with_its_split_and_dates(
    client: OpenAI, fake_openai: tuple[Any, str], gateway: Gateway, output_expires_after: int | None
) -> None:
    fake = fake_openai[0].state.fake
    fake.clock = lambda: int(time.time()) - 600  # OpenAI's clock, so its dates differ from the gateway's
    create = {"output_expires_after": {"anchor": "created_at", "seconds": output_expires_after}}
    batch_id, theirs = ended(client, fake, ["gpt-4o-mini", "invalid-model"], **(create if output_expires_after else {}))
    fake.set_file_content(theirs["output_file_id"], OUTPUT)
    fake.set_file_content(theirs["error_file_id"], ERRORS)

    batch = finished(client, batch_id)
    assert batch.status == "completed" and batch.output_file_id and batch.error_file_id
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (2, 1, 1)
    assert batch.completed_at == theirs["completed_at"] and batch.usage is not None
    assert client.files.content(batch.output_file_id).read() == OUTPUT
    assert client.files.content(batch.error_file_id).read() == ERRORS
    for role, file_id, content in (("output", batch.output_file_id, OUTPUT), ("error", batch.error_file_id, ERRORS)):
        ours = client.files.retrieve(file_id)
        upstream = fake.get_file(KEY, theirs[f"{role}_file_id"])  # OpenAI's expiry, or 30 days where it sets none
        assert upstream.expires_at == (upstream.created_at + output_expires_after if output_expires_after else None)
        assert (ours.filename, ours.purpose, ours.bytes, ours.created_at, ours.expires_at) == (
            f"{batch_id}_{role}.jsonl",
            "batch_output",
            len(content),
            upstream.created_at,
            upstream.created_at + (output_expires_after or DEFAULT_OUTPUT_LIFETIME_SECONDS),
        )
    record = gateway.records.get_batch(batch_id)
    assert record is not None and not record.release_pending
    # OpenAI's files are left where they are (nothing of ours to release there) ...
    assert {theirs["output_file_id"], theirs["error_file_id"]} <= set(fake.file_ids(KEY))
    # ... until the user deletes the gateway's copy, as before
    assert client.files.delete(batch.output_file_id).deleted
    assert theirs["output_file_id"] not in fake.file_ids(KEY) and theirs["error_file_id"] in fake.file_ids(KEY)


def test_no_error_file_where_openai_wrote_none_and_no_output_file_either(
    client: OpenAI, fake_openai: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    batch_id, theirs = ended(client, fake, ["gpt-4o-mini"])
    assert theirs["error_file_id"] is None
    batch = finished(client, batch_id)
    assert batch.output_file_id is not None and batch.error_file_id is None
    assert client.files.content(batch.output_file_id).read() == fake.file_content(theirs["output_file_id"])
    assert [f.id for f in client.files.list(purpose="batch_output")] == [batch.output_file_id]

    failing_id, failing = ended(client, fake, ["invalid-model", "invalid-model"])
    assert failing["output_file_id"] is None
    failed = finished(client, failing_id)
    assert failed.status == "completed" and failed.output_file_id is None and failed.error_file_id is not None
    assert (failed.request_counts.completed, failed.request_counts.failed) == (0, 2)
    assert client.files.content(failed.error_file_id).read() == fake.file_content(failing["error_file_id"])


def test_an_empty_file_from_openai_is_an_empty_file(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    batch_id, theirs = ended(client, fake, ["gpt-4o-mini"])
    fake.set_file_content(theirs["output_file_id"], b"")
    batch = finished(client, batch_id)
    assert batch.status == "completed" and batch.output_file_id is not None and batch.error_file_id is None
    assert client.files.retrieve(batch.output_file_id).bytes == 0
    assert client.files.content(batch.output_file_id).read() == b""
    assert (batch.request_counts.total, batch.request_counts.completed) == (1, 1)  # OpenAI's counts, not the lines'


def test_a_cancelled_batch_openai_wrote_no_file_for_ends_with_no_files_and_its_counts(
    client: OpenAI, fake_openai: tuple[Any, str]
) -> None:
    """OpenAI ends a cancelled batch with "partial results (if any)": none at all is no file, with OpenAI's counts
    (nothing is checked against the requests: there are no lines of ours)."""
    fake = fake_openai[0].state.fake
    uploaded = client.files.create(file=("in.jsonl", (LINE % ("r0", "gpt-4o-mini")).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    (provider_batch_id,) = fake.batch_ids(KEY)
    fake.advance(provider_batch_id)  # in_progress: counted
    client.batches.cancel(batch.id)
    theirs = fake.run_to_end(provider_batch_id)
    assert theirs["status"] == "cancelled" and theirs["request_counts"]["total"] == 1
    fake.get_batch(KEY, provider_batch_id).error_file_id = None  # (the fake writes its unrun requests' lines)
    cancelled = finished(client, batch.id)
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None and cancelled.error_file_id is None
    assert cancelled.request_counts is not None
    assert cancelled.request_counts.model_dump() == theirs["request_counts"]
    assert client.files.list(purpose="batch_output").data == []


def test_a_result_recorded_before_copies_is_still_read_from_openai(
    client: OpenAI, fake_openai: tuple[Any, str], gateway: Gateway
) -> None:
    """A result file finalized by an older gateway: its record names OpenAI's file and holds no copy of ours."""
    fake = fake_openai[0].state.fake
    batch_id, theirs = ended(client, fake, ["gpt-4o-mini"])
    batch = finished(client, batch_id)
    assert batch.output_file_id is not None
    record = gateway.records.get_file(batch.output_file_id)
    assert record is not None and record.blob_key is not None
    gateway.blobs.delete(record.blob_key)
    gateway.records.put_file(dataclasses.replace(record, blob_key=None, content_type=None))
    fake.set_file_content(theirs["output_file_id"], OUTPUT)  # (what only OpenAI holds)
    assert client.files.content(batch.output_file_id).read() == OUTPUT
    assert client.files.retrieve(batch.output_file_id).bytes == record.bytes


def test_a_large_file_is_copied_a_chunk_at_a_time(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    """32 MiB of OpenAI output through the finalizer's copy: what it holds at once stays within its spool (what it
    keeps in memory before writing to disk) and a few chunks; the file comes out whole, byte for byte."""
    gateway.queue.stop()  # this test runs the finalizer itself
    fake = fake_openai[0].state.fake
    caller, batch = batch_from_jsonl(gateway, "openai", (LINE % ("r0", "gpt-4o-mini")).encode(), KEY)
    assert batch.provider_batch_id is not None
    theirs = fake.run_to_end(batch.provider_batch_id)
    line = b'{"id": "batch_req_%07d", "custom_id": "r", "response": {"body": "%s"}, "error": null}\n'
    large = b"".join(line % (n, b"\xc3\xa9" * 240) for n in range(32 * 1024 * 1024 // 560))
    fake.set_file_content(theirs["output_file_id"], large)
    record = gateway.records.get_batch(batch.id)
    assert record is not None
    adapter = gateway.providers.get("openai")
    report = adapter.get_batch(caller.credentials, batch.provider_batch_id)

    tracemalloc.start()
    try:
        with ResultFiles(record, int(time.time())) as files:
            files.add_job(adapter, caller.credentials, record.jobs[0], report, gateway.blobs)
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SPOOL_BYTES + 64 * CONTENT_CHUNK_BYTES, f"the copy held {peak / 2**20:.1f} MiB at its peak"

    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "completed" and done.output_file_id is not None
    _, chunks = gateway.files.content(caller, done.output_file_id, None)
    assert b"".join(chunks) == large
