"""How large a batch input file may be: up to BATCHBRIDGE_MAX_REQUESTS_PER_BATCH requests whatever one provider job
takes (a batch beyond its provider's job limits is split into jobs), and through the Uploads API up to an Upload's
8 GB. Every batch file's request_count is recorded (OpenAI's lines counted, never judged); an OpenAI batch file
larger than one OpenAI job may be is kept by the gateway only, and served, listed and deleted all the same."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.domain import validation
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import FileRecord
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.fakes.server import running_server

KEY = "sk-limits"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022", "gemini": "gemini-2.5-flash"}
MB = 1024 * 1024


def line(custom_id: str, model: str, pad: str = "") -> bytes:
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": f"Q {custom_id}{pad}"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode()


def lines(count: int, model: str, pad: str = "") -> bytes:
    return b"".join(line(f"r{n}", model, pad) + b"\n" for n in range(count))


@pytest.fixture
def make_gateway(
    gateway_env: dict[str, str], work_queue: LocalWorkQueue, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Gateway]:
    """A gateway built from the test environment with ``settings`` (name -> value) added."""

    def make(**settings: str) -> Gateway:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        built = Gateway.from_settings(Settings.from_env(), queue=work_queue)
        work_queue.start(built.jobs.run)
        return built

    return make


def upload(gateway: Gateway, provider: str, content: bytes) -> FileRecord:
    return gateway.files.create(
        gateway.caller({"authorization": f"Bearer {KEY}"}),
        provider,
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_file_of_more_requests_than_one_job_takes_is_accepted_with_its_count(
    make_gateway: Callable[..., Gateway], provider: str
) -> None:
    record = upload(make_gateway(), provider, lines(50_001, MODELS[provider]))
    assert record.status == "processed" and record.request_count == 50_001


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_more_requests_than_the_gateway_s_limit_is_a_400_naming_it(
    make_gateway: Callable[..., Gateway], provider: str
) -> None:
    gateway = make_gateway(BATCHBRIDGE_MAX_REQUESTS_PER_BATCH="5")
    assert upload(gateway, provider, lines(5, MODELS[provider])).request_count == 5
    with pytest.raises(GatewayError) as caught:
        upload(gateway, provider, lines(6, MODELS[provider]))
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "too_many_requests", "file")
    assert "line 6:" in error.message and "at most 5 requests" in error.message
    assert "BATCHBRIDGE_MAX_REQUESTS_PER_BATCH" in error.message


def test_openai_s_lines_are_counted_never_judged(
    make_gateway: Callable[..., Gateway], fake_openai: tuple[Any, str]
) -> None:
    """OpenAI judges its own files: whatever its lines hold (blank lines, a line that is no JSON), the file goes as
    it is, its non-blank lines counted."""
    gateway = make_gateway(BATCHBRIDGE_MAX_REQUESTS_PER_BATCH="5")
    content = b"\n" + lines(6, MODELS["openai"]) + b"  \n\nnot json\r\n" + line("last", MODELS["openai"])
    record = upload(gateway, "openai", content)
    assert record.request_count == 8 and record.provider_file_id is not None
    assert fake_openai[0].state.fake.file_content(record.provider_file_id) == content


def test_an_openai_upload_s_lines_are_counted_as_its_parts_are_assembled(
    make_gateway: Callable[..., Gateway], work_queue: LocalWorkQueue
) -> None:
    """A large upload is assembled (and its lines counted) by the complete_upload job, in chunks that cut lines."""
    gateway = make_gateway()
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    content = lines(20_000, MODELS["openai"], pad="x" * 400)
    assert len(content) > 8 * MB
    created = gateway.uploads.create(
        caller,
        "openai",
        {"filename": "in.jsonl", "purpose": "batch", "bytes": len(content), "mime_type": "application/jsonl"},
    )
    part_ids = []
    for at in range(0, len(content), 3 * MB + 7):
        data = content[at : at + 3 * MB + 7]
        part_ids.append(gateway.uploads.add_part(caller, created.id, None, stream=io.BytesIO(data), size=len(data)).id)
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    _, accepted = gateway.uploads.complete(caller, created.id, None, {"part_ids": part_ids, "md5": md5})
    work_queue.drain()
    made = gateway.records.get_file(accepted.id)
    assert made is not None and made.status == "processed" and made.request_count == 20_000


@pytest.fixture
def small_jobs_client(make_gateway: Callable[..., Gateway]) -> Iterator[OpenAI]:
    """The OpenAI SDK against a gateway whose OpenAI jobs hold at most 4,000 bytes."""
    gateway = make_gateway(BATCHBRIDGE_OPENAI_JOB_MAX_BYTES="4000")
    with running_server(build_app(gateway=gateway)) as base:
        yield OpenAI(api_key=KEY, base_url=f"{base}/openai/v1", max_retries=0)


def test_an_openai_batch_file_larger_than_one_job_is_kept_by_the_gateway_only(
    small_jobs_client: OpenAI, fake_openai: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    small, large = lines(3, MODELS["openai"]), lines(60, MODELS["openai"])
    assert len(small) <= 4000 < len(large)

    sent = small_jobs_client.files.create(file=("small.jsonl", small), purpose="batch")
    kept = small_jobs_client.files.create(file=("large.jsonl", large), purpose="batch")

    assert len(fake.file_ids(KEY)) == 1 and fake.file_content(fake.file_ids(KEY)[0]) == small
    retrieved = small_jobs_client.files.retrieve(kept.id)
    assert (retrieved.bytes, retrieved.filename, retrieved.status) == (len(large), "large.jsonl", "processed")
    assert small_jobs_client.files.content(kept.id).content == large
    assert {file.id for file in small_jobs_client.files.list()} == {sent.id, kept.id}
    assert small_jobs_client.files.delete(kept.id).deleted
    with pytest.raises(openai.NotFoundError):
        small_jobs_client.files.retrieve(kept.id)
    assert len(fake.file_ids(KEY)) == 1  # the file OpenAI holds is another's


def test_a_batch_file_may_be_as_large_as_an_upload_through_the_uploads_api(
    make_gateway: Callable[..., Gateway],
) -> None:
    validation.file_size(validation.MAX_UPLOAD_BYTES, "batch", uploaded_in_parts=True)
    with pytest.raises(GatewayError) as caught:
        validation.file_size(validation.MAX_UPLOAD_BYTES + 1, "batch", uploaded_in_parts=True)
    assert (caught.value.status, caught.value.code) == (413, "file_too_large")
    with pytest.raises(GatewayError) as caught:  # sent whole (files.create), OpenAI's 200 MB as before
        validation.file_size(validation.MAX_BATCH_FILE_BYTES + 1, "batch")
    assert caught.value.status == 400

    gateway = make_gateway()
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    params = {"filename": "in.jsonl", "mime_type": "application/jsonl"}
    created = gateway.uploads.create(caller, "openai", {**params, "purpose": "batch", "bytes": 3 * 1024 * MB})
    assert created.status == "pending" and created.bytes == 3 * 1024 * MB
    with pytest.raises(GatewayError) as caught:  # other files: 512 MB, as OpenAI's files are
        gateway.uploads.create(caller, "openai", {**params, "purpose": "user_data", "bytes": 3 * 1024 * MB})
    assert caught.value.status == 413
