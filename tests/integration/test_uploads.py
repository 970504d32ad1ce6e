"""The Uploads API and large content: big files through the stock SDK, in parts, on real moto S3 rules."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import FileObject

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.gateway import Gateway
from batchbridge.store.embedded import EmbeddedAws
from batchbridge.store.queue import LocalWorkQueue
from batchbridge.store.schema import ensure_bucket, ensure_table
from batchbridge.store.vault import ensure_key
from tests.contract.openai_schema import assert_valid
from tests.fakes.server import running_server

KEY = "sk-user-uploads"
PART = 4 * 1024 * 1024
GEMINI = {"provider": "gemini"}  # a provider whose lines the gateway checks at upload (OpenAI judges its own)
LINE = (
    '{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "question %d %s"}]}}\n'
)


def settled(client: OpenAI, file_id: str, **options: Any) -> FileObject:
    """The file once its processing is over: a large upload's is "uploaded" at completion, made by a job."""
    for _ in range(600):
        file = client.files.retrieve(file_id, **options)
        if file.status != "uploaded":
            return file
        time.sleep(0.05)
    raise AssertionError(f"{file_id} stayed 'uploaded'")


def batch_lines(total_bytes: int) -> bytes:
    """Realistic chat lines adding up to about ``total_bytes``."""
    pad = "x" * 400
    count = total_bytes // len(LINE % (0, 0, pad))
    return "".join(LINE % (n, n, pad) for n in range(count)).encode()


@pytest.fixture
def embedded() -> Iterator[EmbeddedAws]:
    """moto as a real HTTP server on loopback (so presigned URLs can be fetched), S3 rules as S3 has them."""
    aws = EmbeddedAws()
    try:
        yield aws
    finally:
        aws.stop()


@pytest.fixture
def served(
    embedded: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, fake_openai: tuple[Any, str], fake_gemini: tuple[Any, str]
) -> Iterator[tuple[str, Gateway]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "BATCHBRIDGE_STORAGE": "embedded",
        "BATCHBRIDGE_TABLE": "uploads-test",
        "BATCHBRIDGE_BUCKET": "uploads-test",
        "BATCHBRIDGE_OPENAI_BASE_URL": fake_openai[1],
        "BATCHBRIDGE_GEMINI_BASE_URL": fake_gemini[1],
        "BATCHBRIDGE_REFRESH_SECONDS": "0",
        "BATCHBRIDGE_KMS_KEY": "alias/uploads-test",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    ensure_table(embedded.client("dynamodb"), settings.table)
    ensure_bucket(embedded.client("s3"), settings.bucket)
    ensure_key(embedded.client("kms"), settings.kms_key)
    queue = LocalWorkQueue(retry_delay_seconds=0.05)
    gateway = Gateway.from_settings(settings, aws=embedded, queue=queue)
    queue.start(gateway.jobs.run)
    try:
        with running_server(build_app(gateway=gateway)) as base:
            yield base, gateway
    finally:
        queue.stop()


@pytest.fixture
def client(served: tuple[str, Gateway]) -> Iterator[OpenAI]:
    with OpenAI(base_url=served[0] + "/openai", api_key=KEY, max_retries=0, timeout=120) as sdk:
        yield sdk


@pytest.mark.heavy
def test_a_25_mb_file_in_4_mib_parts_then_a_batch_then_a_byte_exact_round_trip(
    client: OpenAI, fake_openai: tuple[Any, str]
) -> None:
    data = batch_lines(25 * 1024 * 1024)
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="application/jsonl",
        purpose="batch",
        part_size=PART,
        md5=hashlib.md5(data).hexdigest(),
    )
    assert upload.status == "completed" and upload.file is not None
    assert upload.file.bytes == len(data) and upload.file.filename == "big.jsonl" and upload.file.purpose == "batch"
    assert upload.file.id.startswith("file-") and upload.file.status == "uploaded"  # made by its job
    assert_valid("Upload", upload.model_dump(mode="json", exclude_none=True), strict_nulls=True)
    assert settled(client, upload.file.id).status == "processed"
    # the provider got the whole file, as files.create would have sent it
    upstream = fake_openai[0].state.fake
    assert [f.content for f in upstream._files.values()] == [data]

    batch = client.batches.create(
        input_file_id=upload.file.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.input_file_id == upload.file.id and batch.status == "validating"
    # over the inline threshold: a redirect to a presigned S3 GET, which the SDK follows without our key
    assert client.files.content(upload.file.id).read() == data
    raw = client.files.with_raw_response.content(upload.file.id)
    assert raw.http_response.history and raw.http_response.history[0].status_code == 302
    redirect = raw.http_response.history[0]
    assert "follow the redirect" in redirect.text and "curl, add -L" in redirect.text  # for clients that do not
    assert redirect.headers["x-request-id"].startswith("req_")
    assert "authorization" not in {k.lower() for k in raw.http_response.request.headers}
    assert raw.http_response.content == data

    # the batch's output, copied into our bucket by the finalizer, comes through the redirect too
    for _ in range(100):
        batch = client.batches.retrieve(batch.id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            break
        time.sleep(0.1)
    assert batch.status == "completed" and batch.output_file_id is not None
    output = client.files.with_raw_response.content(batch.output_file_id)
    assert output.http_response.history and output.http_response.history[0].status_code == 302
    lines = output.http_response.content.splitlines()
    assert len(lines) == data.count(b"\n") and json.loads(lines[-1])["response"]["status_code"] == 200


def test_uploads_reject_what_does_not_add_up(client: OpenAI) -> None:
    data = batch_lines(300_000)
    created = client.uploads.with_raw_response.create(
        bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose="batch"
    )
    assert_valid("Upload", created.http_response.json())
    upload = created.parse()
    assert upload.status == "pending" and upload.expires_at == upload.created_at + 3600
    first = client.uploads.parts.create(upload.id, data=data[:100_000])
    second = client.uploads.parts.create(upload.id, data=data[100_000:])
    assert first.object == "upload.part" and first.upload_id == upload.id
    assert_valid("UploadPart", first.model_dump(mode="json"), strict_nulls=True)
    with pytest.raises(openai.BadRequestError, match="add up to 100000 bytes"):
        client.uploads.complete(upload.id, part_ids=[first.id])
    with pytest.raises(openai.BadRequestError, match="no part"):
        client.uploads.complete(upload.id, part_ids=[first.id, "part_" + "0" * 32])
    with pytest.raises(openai.BadRequestError, match="MD5"):
        client.uploads.complete(upload.id, part_ids=[first.id, second.id], md5="0" * 32)
    other = client.uploads.create(bytes=10, filename="b.jsonl", mime_type="application/jsonl", purpose="batch")
    foreign = client.uploads.parts.create(other.id, data=b"0123456789")
    with pytest.raises(openai.BadRequestError, match="no part"):  # another upload's part
        client.uploads.complete(upload.id, part_ids=[first.id, foreign.id])

    done = client.uploads.complete(upload.id, part_ids=[first.id, second.id])  # still pending after the failures
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).read() == data  # small: served inline
    again = client.uploads.complete(upload.id, part_ids=[first.id, second.id])  # a retry (after a 504, say)
    assert again.status == "completed" and again.file is not None and again.file.id == done.file.id
    with pytest.raises(openai.ConflictError, match="completed"):
        client.uploads.complete(upload.id, part_ids=[second.id, first.id])
    with pytest.raises(openai.ConflictError):
        client.uploads.parts.create(upload.id, data=b"more")
    with pytest.raises(openai.ConflictError):
        client.uploads.cancel(upload.id)

    cancelled = client.uploads.cancel(other.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.ConflictError, match="cancelled"):
        client.uploads.parts.create(other.id, data=b"more")
    with pytest.raises(openai.ConflictError, match="cancelled"):
        client.uploads.complete(other.id, part_ids=[foreign.id])
    assert [f.id for f in client.files.list()] == [done.file.id]  # nothing else became a file


def test_a_bad_line_fails_the_completion_and_leaves_the_upload_pending(client: OpenAI) -> None:
    data = batch_lines(50_000) + b'{"custom_id": "bad"}\n'
    upload = client.uploads.create(
        bytes=len(data),
        filename="a.jsonl",
        mime_type="application/jsonl",
        purpose="batch",
        extra_body=GEMINI,
    )
    part = client.uploads.parts.create(upload.id, data=data)
    with pytest.raises(openai.BadRequestError, match="line"):
        client.uploads.complete(upload.id, part_ids=[part.id])
    assert client.files.list().data == []


def stored_files(embedded: EmbeddedAws) -> list[str]:
    """The gateway's file objects (moto's state outlives one test: compare, do not count)."""
    listed = embedded.client("s3").list_objects_v2(Bucket="uploads-test", Prefix="files/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_wrong_md5_or_a_bad_line_keeps_a_small_upload_pending_and_makes_no_file(
    embedded: EmbeddedAws, client: OpenAI
) -> None:
    """A small upload is completed within the request (joined in memory): what is wrong is a 400, and nothing is
    left behind."""
    before = stored_files(embedded)
    data = batch_lines(300_000)
    upload = client.uploads.create(bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose="batch")
    parts = [client.uploads.parts.create(upload.id, data=data[at : at + PART]) for at in range(0, len(data), PART)]
    part_ids = [part.id for part in parts]
    with pytest.raises(openai.BadRequestError, match="MD5"):
        client.uploads.complete(upload.id, part_ids=part_ids, md5="0" * 32)
    assert client.files.list().data == []

    bad = data + b'{"custom_id": "bad"}\n'
    bad_line = bad.count(b"\n")
    broken = client.uploads.create(
        bytes=len(bad), filename="b.jsonl", mime_type="application/jsonl", purpose="batch", extra_body=GEMINI
    )
    broken_parts = [client.uploads.parts.create(broken.id, data=bad[at : at + PART]) for at in range(0, len(bad), PART)]
    with pytest.raises(openai.BadRequestError, match=f"[Ll]ine {bad_line}\\b"):
        client.uploads.complete(broken.id, part_ids=[part.id for part in broken_parts])
    assert client.files.list().data == []
    assert stored_files(embedded) == before

    done = client.uploads.complete(upload.id, part_ids=part_ids, md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.file is not None and done.file.bytes == len(data)
    assert done.file.status == "processed"
    assert client.files.content(done.file.id).read() == data


def test_a_wrong_md5_or_a_bad_line_makes_a_large_upload_s_file_an_error_and_keeps_nothing(
    embedded: EmbeddedAws, client: OpenAI, fake_gemini: tuple[Any, str]
) -> None:
    """A large upload is assembled in the bucket by its job, which checks alike: the file turns "error" naming
    what is wrong, and none of its bytes are kept."""
    before = stored_files(embedded)
    data = batch_lines(9 * 1024 * 1024)
    upload = client.uploads.create(bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose="batch")
    parts = [client.uploads.parts.create(upload.id, data=data[at : at + PART]) for at in range(0, len(data), PART)]
    accepted = client.uploads.complete(upload.id, part_ids=[part.id for part in parts], md5="0" * 32)
    assert accepted.status == "completed" and accepted.file is not None and accepted.file.status == "uploaded"
    failed = settled(client, accepted.file.id)
    assert failed.status == "error" and failed.status_details is not None and "MD5" in failed.status_details

    bad = data + b'{"custom_id": "bad"}\n'
    bad_line = bad.count(b"\n")
    broken = client.uploads.create(
        bytes=len(bad), filename="b.jsonl", mime_type="application/jsonl", purpose="batch", extra_body=GEMINI
    )
    broken_parts = [client.uploads.parts.create(broken.id, data=bad[at : at + PART]) for at in range(0, len(bad), PART)]
    accepted = client.uploads.complete(broken.id, part_ids=[part.id for part in broken_parts])
    assert accepted.file is not None
    failed = settled(client, accepted.file.id, extra_query=GEMINI)
    assert failed.status == "error" and failed.status_details is not None
    assert re.search(f"[Ll]ine {bad_line}\\b", failed.status_details)
    with pytest.raises(openai.BadRequestError, match=f"[Ll]ine {bad_line}\\b"):
        client.batches.create(input_file_id=failed.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert stored_files(embedded) == before
    assert fake_gemini[0].state.fake.file_names(KEY) == []


def test_another_key_sees_no_upload(served: tuple[str, Gateway], client: OpenAI) -> None:
    upload = client.uploads.create(bytes=5, filename="a.jsonl", mime_type="text/plain", purpose="user_data")
    with OpenAI(base_url=served[0] + "/openai", api_key="sk-someone-else", max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.uploads.parts.create(upload.id, data=b"hello")
        with pytest.raises(openai.NotFoundError):
            other.uploads.cancel(upload.id)
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("upload_../../files")


def test_an_upload_for_another_provider_becomes_that_provider_s_file(
    client: OpenAI, fake_gemini: tuple[Any, str]
) -> None:
    data = batch_lines(6 * 1024 * 1024).replace(b"gpt-4o-mini", b"gemini-2.5-flash")
    gemini = client.with_options(default_query={"provider": "gemini"})
    upload = gemini.uploads.upload_file_chunked(
        file=data, filename="g.jsonl", bytes=len(data), mime_type="application/jsonl", purpose="batch", part_size=PART
    )
    assert upload.file is not None
    assert client.files.retrieve(upload.file.id, extra_query={"provider": "gemini"}).bytes == len(data)
    (name,) = fake_gemini[0].state.fake.file_names(KEY)
    assert fake_gemini[0].state.fake.file_bytes(name).count(b"\n") == data.count(b"\n")


def test_a_files_create_over_the_lambda_limit_is_a_413_naming_the_uploads_api(served: tuple[str, Gateway]) -> None:
    body = batch_lines(5 * 1024 * 1024)
    client = OpenAI(base_url=served[0] + "/openai", api_key=KEY, max_retries=0)
    with client, pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("big.jsonl", body, "application/jsonl"), purpose="batch")
    assert caught.value.status_code == 413
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "request_too_large"
    assert "upload_file_chunked" in error["message"] and "4 * 1024 * 1024" in error["message"]
    # no Content-Length (chunked): the same answer once the size is known
    response = httpx.post(
        served[0] + "/openai/v1/files",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "multipart/form-data; boundary=b"},
        content=iter(
            [
                b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jsonl"\r\n\r\n',
                body,
                b"\r\n--b--\r\n",
            ]
        ),
    )
    assert response.status_code == 413 and json.loads(response.content)["error"]["code"] == "request_too_large"


def test_moto_keeps_s3_s_5_mib_part_minimum(embedded: EmbeddedAws) -> None:
    """The assembly tests mean something only if small parts would fail, as they do on S3."""
    import botocore.exceptions

    s3 = embedded.client("s3")
    s3.create_bucket(Bucket="rule-check")
    started = s3.create_multipart_upload(Bucket="rule-check", Key="k")["UploadId"]
    parts = []
    for number in (1, 2):
        sent = s3.upload_part(
            Bucket="rule-check", Key="k", UploadId=started, PartNumber=number, Body=b"x" * (4 * 1024 * 1024)
        )
        parts.append({"PartNumber": number, "ETag": sent["ETag"]})
    with pytest.raises(botocore.exceptions.ClientError, match="EntityTooSmall"):
        s3.complete_multipart_upload(Bucket="rule-check", Key="k", UploadId=started, MultipartUpload={"Parts": parts})


@pytest.mark.parametrize("purpose", ["user_data", "batch"], ids=["not a batch file", "a batch file for OpenAI"])
def test_a_large_upload_whose_lines_are_not_checked_keeps_every_byte(client: OpenAI, purpose: str) -> None:
    """Assembled in the bucket with no line check reading it (another purpose; OpenAI judges its own lines): every
    part is still written, byte for byte."""
    data = batch_lines(9 * 1024 * 1024)
    upload = client.uploads.create(bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose=purpose)
    parts = [client.uploads.parts.create(upload.id, data=data[at : at + PART]) for at in range(0, len(data), PART)]
    done = client.uploads.complete(upload.id, part_ids=[part.id for part in parts])
    assert done.file is not None and done.file.bytes == len(data)
    assert settled(client, done.file.id).status == "processed"
    assert client.files.content(done.file.id).read() == data
