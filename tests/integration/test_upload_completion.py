"""uploads.complete never outruns API Gateway's 29 s: small uploads complete within the request, larger ones are
accepted at once (the file "uploaded") and made by the complete_upload job; every in-progress state is a lease, so a
function killed mid-work leaves nothing stuck and the client's retry succeeds."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import FileObject

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import PROCESSING_UNFINISHED
from batchbridge.domain.services import uploads as uploads_module
from batchbridge.domain.services.uploads import (
    COMPLETE_UPLOAD_JOB,
    COMPLETING_LEASE_SECONDS,
    PROCESSING_LEASE_SECONDS,
    upload_file_id,
)
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET
from tests.contract.openai_schema import assert_valid
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
    ungranted,
)

KEY = "sk-user-one"
AUTH = {"Authorization": f"Bearer {KEY}"}
THRESHOLD = 20_000  # SYNC_COMPLETE_MAX_BYTES in these tests: a few KB make an asynchronous completion
GEMINI = {"provider": "gemini"}  # a provider whose lines the gateway checks (OpenAI judges its own)
LINE = (
    '{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "%s", '
    '"messages": [{"role": "user", "content": "question %d"}]}}\n'
)


def lines(total_bytes: int, model: str = "gpt-4o-mini") -> bytes:
    out, n = [], 0
    while sum(map(len, out)) < total_bytes:
        out.append((LINE % (n, model, n)).encode())
        n += 1
    return b"".join(out)


@pytest.fixture
def clock(gateway: Gateway) -> Clock:
    return move_clock(gateway)


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads_module, "SYNC_COMPLETE_MAX_BYTES", THRESHOLD)


@pytest.fixture
def held(gateway: Gateway) -> HeldQueue:
    """complete's jobs held back, so the test sees the file before its job ran."""
    return hold_jobs(gateway.uploads)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client, clock: Clock) -> Iterator[OpenAI]:
    """The stock SDK; each request first lets queued jobs finish (as a client polling every few seconds sees)."""
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


@pytest.fixture
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url + "/openai/v1", headers=AUTH, timeout=30, verify=LOOPBACK_TLS) as raw:
        yield raw


def provider_copies(fake_openai: tuple[Any, str]) -> list[str]:
    ids: list[str] = fake_openai[0].state.fake.file_ids(KEY)
    return ids


def stored(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def upload_parts(client: OpenAI, data: bytes, part_size: int = 8_000, **options: Any) -> tuple[str, list[str]]:
    upload = client.uploads.create(
        bytes=len(data), filename="in.jsonl", mime_type="application/jsonl", purpose="batch", **options
    )
    parts = [
        client.uploads.parts.create(upload.id, data=data[at : at + part_size]) for at in range(0, len(data), part_size)
    ]
    return upload.id, [part.id for part in parts]


def settled(client: OpenAI, file_id: str) -> FileObject:
    for _ in range(200):
        file = client.files.retrieve(file_id)
        if file.status != "uploaded":
            return file
        time.sleep(0.05)
    raise AssertionError(f"{file_id} stayed 'uploaded'")


# -- synchronous and asynchronous completion -------------------------------------------------------------------------


def test_a_small_upload_completes_within_the_request(
    client: OpenAI, http: httpx.Client, small_threshold: None, fake_openai: tuple[Any, str]
) -> None:
    data = lines(THRESHOLD // 2)
    upload = client.uploads.upload_file_chunked(
        file=data, filename="s.jsonl", bytes=len(data), mime_type="application/jsonl", purpose="batch", part_size=4096
    )
    assert upload.status == "completed" and upload.file is not None and upload.file.status == "processed"
    assert upload.file.id == upload_file_id(upload.id)
    assert_valid("Upload", upload.model_dump(mode="json"))
    assert client.files.content(upload.file.id).read() == data
    assert create_batch(client, upload.file.id).status == "validating"
    raw = http.get(f"/files/{upload.file.id}").json()
    assert raw["status"] == "processed" and raw["status_details"] is None
    assert_valid("OpenAIFile", raw)
    assert stored(f"uploads/{upload.id}/") == []  # the parts went once the file held the bytes


def test_a_large_upload_is_accepted_at_once_and_made_by_its_job(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_threshold: None,
    fake_openai: tuple[Any, str],
) -> None:
    data = lines(THRESHOLD * 3)
    upload_id, part_ids = upload_parts(client, data)
    response = http.post(
        f"/uploads/{upload_id}/complete", json={"part_ids": part_ids, "md5": hashlib.md5(data).hexdigest()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("Upload", body)
    assert body["status"] == "completed" and body["file"]["status"] == "uploaded"
    assert body["file"]["status_details"] is None and body["file"]["bytes"] == len(data)
    file_id = body["file"]["id"]
    assert held.sent == [(COMPLETE_UPLOAD_JOB, upload_id, 0)] and provider_copies(fake_openai) == []

    # not usable yet: seen as "uploaded", its content and a batch of it a 409 the SDKs retry after a while
    assert client.files.retrieve(file_id).status == "uploaded"
    assert [(f.id, f.status) for f in client.files.list()] == [(file_id, "uploaded")]
    content = http.get(f"/files/{file_id}/content")
    assert content.status_code == 409 and content.json()["error"]["code"] == "file_not_ready"
    assert content.headers["retry-after"] == "10" and content.headers["x-should-retry"] == "true"
    assert "still being processed" in content.json()["error"]["message"]
    with pytest.raises(openai.ConflictError, match="still being processed") as refused:
        create_batch(client, file_id)
    assert refused.value.code == "file_not_ready"
    # a retry of the complete (a client that saw no answer) gets the same upload
    again = client.uploads.complete(upload_id, part_ids=part_ids)
    assert again.status == "completed" and again.file is not None and again.file.id == file_id

    held.release(work_queue)  # the job (sent twice: its retry re-sent it) makes the file once
    done = client.files.retrieve(file_id)
    assert done.status == "processed" and done.status_details is None and done.created_at == body["file"]["created_at"]
    raw = http.get(f"/files/{file_id}").json()
    assert_valid("OpenAIFile", raw)
    assert client.files.content(file_id).read() == data
    assert len(provider_copies(fake_openai)) == 1
    assert create_batch(client, file_id).status == "validating"
    assert stored(f"uploads/{upload_id}/") == []
    assert gateway.records.get_upload(upload_id).sealed_credentials is None  # not kept past its job


@pytest.mark.heavy  # a 9 MiB file in 4 MiB parts, made by its job: some 40 s
def test_the_sdk_s_chunked_upload_of_a_file_over_the_real_threshold(
    client: OpenAI, gateway: Gateway, fake_openai: tuple[Any, str]
) -> None:
    """At the real threshold (the content, over the inline limit, is a redirect to S3: read from the bucket here;
    test_uploads follows it on a real S3 endpoint)."""
    data = lines(uploads_module.SYNC_COMPLETE_MAX_BYTES + 1024 * 1024)
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="application/jsonl",
        purpose="batch",
        part_size=4 * 1024 * 1024,
        md5=hashlib.md5(data).hexdigest(),
    )
    assert upload.status == "completed" and upload.file is not None and upload.file.status == "uploaded"
    assert settled(client, upload.file.id).status == "processed"
    assert b"".join(gateway.blobs.open(f"files/{upload.file.id}")) == data
    (copy,) = provider_copies(fake_openai)
    assert fake_openai[0].state.fake.file_content(copy) == data


@pytest.mark.parametrize("wrong", ["a bad line", "the MD5"])
def test_what_is_wrong_with_a_large_upload_makes_its_file_an_error_and_keeps_nothing(
    client: OpenAI,
    http: httpx.Client,
    small_threshold: None,
    wrong: str,
    fake_openai: tuple[Any, str],
    fake_gemini: tuple[Any, str],
) -> None:
    data = lines(THRESHOLD * 2, "gemini-2.5-flash")
    md5 = hashlib.md5(data).hexdigest()
    if wrong == "a bad line":
        data += b'{"custom_id": "bad"}\n'
        md5 = hashlib.md5(data).hexdigest()
        expected = f"Line {len(data.splitlines())}"
    else:
        md5, expected = "0" * 32, "MD5"
    upload_id, part_ids = upload_parts(client, data, extra_body=GEMINI)
    accepted = client.uploads.complete(upload_id, part_ids=part_ids, md5=md5)
    assert accepted.file is not None and accepted.file.status == "uploaded"

    failed = client.files.retrieve(accepted.file.id)  # after the job ran
    assert failed.status == "error" and failed.status_details is not None
    assert expected.lower() in failed.status_details.lower()
    raw = http.get(f"/files/{failed.id}").json()
    assert_valid("OpenAIFile", raw)
    with pytest.raises(openai.BadRequestError) as refused:
        create_batch(client, failed.id)
    assert refused.value.code == "file_processing_failed" and expected.lower() in str(refused.value).lower()
    content = http.get(f"/files/{failed.id}/content")
    assert content.status_code == 400 and content.json()["error"]["code"] == "file_processing_failed"
    # nothing half-stored: no bytes of it, no provider copy, the parts gone
    assert stored(f"files/{failed.id}") == [] and stored(f"uploads/{upload_id}/") == []
    assert fake_gemini[0].state.fake.file_names(KEY) == [] and provider_copies(fake_openai) == []
    # the upload is completed (with a failed file): cancelling it is a 409, as for any completed upload
    with pytest.raises(openai.ConflictError):
        client.uploads.cancel(upload_id)


# -- leases: a function killed mid-work ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "where"),
    [
        (THRESHOLD // 2, "the provider upload"),
        (THRESHOLD // 2, "the file record"),
        (THRESHOLD // 2, "the upload record"),
        (THRESHOLD * 2, "the file record"),
        (THRESHOLD * 2, "the job's sending"),
    ],
    ids=["sync: provider", "sync: file record", "sync: upload record", "async: file record", "async: job sent"],
)
def test_a_complete_killed_mid_work_is_retried_by_the_client_and_succeeds(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    small_threshold: None,
    size: int,
    where: str,
    fake_openai: tuple[Any, str],
) -> None:
    data = lines(size)
    upload_id, part_ids = upload_parts(client, data)
    caller = gateway.caller({"authorization": AUTH["Authorization"]})
    if where == "the provider upload":
        kill_once(gateway.providers.get("openai"), "upload_file")
    elif where == "the file record":
        kill_once(gateway.records, "put_file")
    elif where == "the upload record":
        kill_once(gateway.records, "update_upload", lambda record: record.status == "completed")
    else:
        kill_once(gateway.uploads.queue, "send")
    with pytest.raises(Killed):
        gateway.uploads.complete(caller, upload_id, None, {"part_ids": part_ids})

    record = gateway.records.get_upload(upload_id)
    assert record is not None
    if where == "the job's sending":  # it got as far as "completed": a retry answers at once and re-sends the job
        assert record.status == "completed"
    else:
        # while its lease holds, the claim is another request's: a 409 the SDKs retry after Retry-After
        assert record.status == "completing" and record.status_at(clock.now()) == "pending"
        busy = http.post(f"/uploads/{upload_id}/complete", json={"part_ids": part_ids})
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "upload_in_progress"
        assert busy.headers["x-should-retry"] == "true"
        assert 0 < int(busy.headers["retry-after"]) <= COMPLETING_LEASE_SECONDS
        assert_valid("ErrorResponse", busy.json())
        with pytest.raises(openai.ConflictError):
            client.uploads.cancel(upload_id)  # cancelling a completing upload stays a 409
        clock.advance(COMPLETING_LEASE_SECONDS)  # the killed function's claim lapses
        assert gateway.records.get_upload(upload_id).status_at(clock.now()) == "pending"  # type: ignore[union-attr]
        with pytest.raises(openai.ConflictError, match="interrupted; complete it again"):
            client.uploads.parts.create(upload_id, data=b"more")

    retried = client.uploads.complete(upload_id, part_ids=part_ids)
    assert retried.status == "completed" and retried.file is not None
    assert retried.file.id == upload_file_id(upload_id)  # the same file, whichever attempt made it
    assert_valid("Upload", retried.model_dump(mode="json"))
    assert settled(client, retried.file.id).status == "processed"
    assert client.files.content(retried.file.id).read() == data
    assert [f.id for f in client.files.list()] == [retried.file.id]
    assert len(provider_copies(fake_openai)) == 1
    # and again: a retry after a 504 gets the completed upload
    assert client.uploads.complete(upload_id, part_ids=part_ids).file.id == retried.file.id  # type: ignore[union-attr]


def test_a_job_killed_mid_work_leaves_its_file_error_once_its_lease_ends(
    client: OpenAI,
    http: httpx.Client,
    gateway: Gateway,
    clock: Clock,
    held: HeldQueue,
    small_threshold: None,
    fake_openai: tuple[Any, str],
) -> None:
    data = lines(THRESHOLD * 2)
    upload_id, part_ids = upload_parts(client, data)
    file_id = client.uploads.complete(upload_id, part_ids=part_ids).file.id  # type: ignore[union-attr]
    kill_once(gateway.providers.get("openai"), "upload_file")
    with pytest.raises(Killed):
        gateway.jobs.run(COMPLETE_UPLOAD_JOB, upload_id)
    assert client.files.retrieve(file_id).status == "uploaded"  # its lease holds
    gateway.jobs.run(COMPLETE_UPLOAD_JOB, upload_id)  # redelivered while the dead run's claim holds: nothing done
    assert client.files.retrieve(file_id).status == "uploaded" and provider_copies(fake_openai) == []

    clock.advance(PROCESSING_LEASE_SECONDS)
    failed = client.files.retrieve(file_id)  # never "uploaded" forever
    assert (failed.status, failed.status_details) == ("error", PROCESSING_UNFINISHED)
    assert [f.status for f in client.files.list()] == ["error"]
    assert_valid("OpenAIFile", http.get(f"/files/{file_id}").json())
    with pytest.raises(openai.BadRequestError, match="upload the file again"):
        create_batch(client, file_id)
    gateway.jobs.run(COMPLETE_UPLOAD_JOB, upload_id)  # the message redelivered after its lease: stays an error
    stored_record = gateway.records.get_file(file_id)
    assert stored_record is not None and stored_record.status == "error"
    assert client.files.retrieve(file_id).status == "error" and provider_copies(fake_openai) == []
    assert stored(f"files/{file_id}") == [] and stored(f"uploads/{upload_id}/") == []
    assert client.files.delete(file_id).deleted


def test_a_job_that_outruns_its_lease_keeps_nothing_and_the_file_stays_an_error(
    client: OpenAI, gateway: Gateway, clock: Clock, held: HeldQueue, small_threshold: None, fake_openai: tuple[Any, str]
) -> None:
    data = lines(THRESHOLD * 2)
    upload_id, part_ids = upload_parts(client, data)
    file_id = client.uploads.complete(upload_id, part_ids=part_ids).file.id  # type: ignore[union-attr]
    adapter = gateway.providers.get("openai")
    original = adapter.upload_file

    def slow(*args: Any) -> Any:
        clock.advance(PROCESSING_LEASE_SECONDS)  # readers see it "error" from here on
        return original(*args)

    adapter.upload_file = slow  # type: ignore[method-assign]
    gateway.jobs.run(COMPLETE_UPLOAD_JOB, upload_id)
    failed = client.files.retrieve(file_id)
    assert (failed.status, failed.status_details) == ("error", PROCESSING_UNFINISHED)
    assert provider_copies(fake_openai) == [] and stored(f"files/{file_id}") == []


def test_a_passing_failure_runs_the_job_again_within_its_lease(
    client: OpenAI, gateway: Gateway, monkeypatch: pytest.MonkeyPatch, small_threshold: None
) -> None:
    monkeypatch.setattr(uploads_module, "PROCESSING_RETRY_SECONDS", 0)
    adapter = gateway.providers.get("openai")
    original = adapter.upload_file
    calls: list[int] = []

    def flaky(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise GatewayError(503, "The OpenAI provider is unavailable.", type="upstream_error")
        return original(*args)

    adapter.upload_file = flaky  # type: ignore[method-assign]
    data = lines(THRESHOLD * 2)
    upload_id, part_ids = upload_parts(client, data)
    file_id = client.uploads.complete(upload_id, part_ids=part_ids).file.id  # type: ignore[union-attr]
    assert settled(client, file_id).status == "processed" and len(calls) == 2
    assert client.files.content(file_id).read() == data


@pytest.mark.parametrize("when", ["before", "while"])
def test_a_file_deleted_before_or_while_its_job_runs_stays_deleted(
    client: OpenAI,
    gateway: Gateway,
    held: HeldQueue,
    work_queue: LocalWorkQueue,
    small_threshold: None,
    when: str,
    fake_openai: tuple[Any, str],
) -> None:
    upload_id, part_ids = upload_parts(client, lines(THRESHOLD * 2))
    file_id = client.uploads.complete(upload_id, part_ids=part_ids).file.id  # type: ignore[union-attr]
    if when == "before":
        assert client.files.delete(file_id).deleted
    else:
        adapter = gateway.providers.get("openai")
        original = adapter.upload_file

        def deleted_meanwhile(*args: Any) -> Any:
            gateway.files.delete(gateway.caller({"authorization": AUTH["Authorization"]}), file_id, None)
            return original(*args)

        adapter.upload_file = deleted_meanwhile  # type: ignore[method-assign]
    held.release(work_queue)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    assert provider_copies(fake_openai) == [] and stored(f"files/{file_id}") == []
    assert stored(f"uploads/{upload_id}/") == []


# -- the deployed functions ------------------------------------------------------------------------------------------


def handler_flow(provider: str, data: bytes, calls: list[tuple[str, str | None]] | None = None) -> dict[str, Any]:
    """A large upload through the Lambda handlers: create, part, complete (at once), then the finalizer function
    runs its complete_upload job from the SQS queue. ``calls`` collects the AWS calls of each function."""
    from tests.integration.apigw import LambdaContext, drain_sqs_event, json_event, rest_event
    from tests.integration.test_handlers import invoke, part_event

    def run(operation: str, event: dict[str, Any]) -> dict[str, Any]:
        status, body = invoke(operation, event)
        assert status == 200, (operation, body)
        result: dict[str, Any] = json.loads(body)
        return result

    payload = {"filename": "in.jsonl", "purpose": "batch", "bytes": len(data), "mime_type": "text/jsonl"}
    upload = run("uploads_create", json_event("POST", "/openai/v1/uploads", None, payload | {"provider": provider}))
    part = run("uploads_add_part", part_event(upload["id"], data))
    path = "/openai/v1/uploads/{upload_id}/complete"
    if calls is not None:
        calls.clear()
    done = run("uploads_complete", json_event("POST", path, {"upload_id": upload["id"]}, {"part_ids": [part["id"]]}))
    assert done["status"] == "completed" and done["file"]["status"] == "uploaded"
    seen: dict[str, Any] = {"uploads_complete": list(calls or [])}
    from batchbridge.handlers import finalizer

    event = drain_sqs_event(os.environ["BATCHBRIDGE_WORK_QUEUE_URL"])
    if calls is not None:  # the finalizer's own calls from here (the SQS delivery is Lambda's)
        calls.clear()
    assert [json.loads(r["body"])["kind"] for r in event["Records"]] == [COMPLETE_UPLOAD_JOB]
    assert finalizer.handler(event, LambdaContext(remaining_millis=900_000)) == {"batchItemFailures": []}
    seen["finalizer"] = list(calls or [])
    file = run("files_retrieve", rest_event("GET", "/openai/v1/files/{file_id}", {"file_id": done["file"]["id"]}))
    assert file["status"] == "processed", file
    return seen


@pytest.fixture
def handlers(gateway: Gateway, small_threshold: None) -> Iterator[None]:
    with handlers_gateway_afresh():
        yield


@pytest.mark.parametrize("provider", ["openai", "bedrock"])
def test_the_handlers_complete_at_once_and_the_finalizer_function_makes_the_file(handlers: None, provider: str) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0" if provider == "bedrock" else "gpt-4o-mini"
    handler_flow(provider, lines(THRESHOLD * 2, model))


def test_every_aws_call_of_an_asynchronous_completion_is_granted_by_the_template(handlers: None) -> None:
    with recorded_aws_calls() as calls:
        seen = handler_flow("bedrock", lines(THRESHOLD * 2, "anthropic.claude-3-haiku-20240307-v1:0"), calls)
    assert ungranted(seen) == {"uploads_complete": [], "finalizer": []}


def test_a_complete_that_loses_to_a_cancel_is_told_so_at_once(
    client: OpenAI, http: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel wrote first: the complete answers from what the cancel left (a final 409), not "retry later"."""
    upload_id, part_ids = upload_parts(client, lines(20_000))
    records = gateway.uploads.records
    original = records.update_upload

    def cancel_wins(record: Any) -> bool:
        if record.status == "completing":
            current = records.get_upload(record.id)
            assert current is not None
            original(dataclasses.replace(current, status="cancelled", version=current.version + 1))
        return original(record)

    monkeypatch.setattr(records, "update_upload", cancel_wins)
    response = http.post(f"/uploads/{upload_id}/complete", json={"part_ids": part_ids})
    assert response.status_code == 409, response.text
    assert "cancelled" in response.json()["error"]["message"]
    assert "retry-after" not in response.headers and response.headers.get("x-should-retry") == "false"
