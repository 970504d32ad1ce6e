"""The Uploads API and large content: big files through the stock SDK, in parts, on real moto S3 rules."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

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
LINE = (
    '{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "question %d %s"}]}}\n'
)


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
    assert upload.file.id.startswith("file-")
    assert_valid("Upload", upload.model_dump(mode="json", exclude_none=True), strict_nulls=True)
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
    assert_valid("Upload", created.http_response.json(), strict_nulls=True)
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
    with pytest.raises(openai.ConflictError, match="completed"):
        client.uploads.complete(upload.id, part_ids=[first.id, second.id])
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
    upload = client.uploads.create(bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose="batch")
    part = client.uploads.parts.create(upload.id, data=data)
    with pytest.raises(openai.BadRequestError, match="line"):
        client.uploads.complete(upload.id, part_ids=[part.id])
    assert client.files.list().data == []


@pytest.mark.parametrize("size", [300_000, 9 * 1024 * 1024], ids=["held in memory", "assembled in the bucket"])
def test_a_wrong_md5_or_a_bad_line_keeps_the_upload_pending_and_makes_no_file(
    embedded: EmbeddedAws, client: OpenAI, size: int
) -> None:
    """Small uploads are joined in memory, large ones assembled in the bucket (HELD_UPLOAD_BYTES): both check alike
    and leave nothing behind when they refuse."""

    def stored_files() -> list[str]:  # moto's state outlives one test: compare, do not count
        listed = embedded.client("s3").list_objects_v2(Bucket="uploads-test", Prefix="files/")
        return [item["Key"] for item in listed.get("Contents", [])]

    before = stored_files()
    data = batch_lines(size)
    upload = client.uploads.create(bytes=len(data), filename="a.jsonl", mime_type="application/jsonl", purpose="batch")
    parts = [client.uploads.parts.create(upload.id, data=data[at : at + PART]) for at in range(0, len(data), PART)]
    part_ids = [part.id for part in parts]
    with pytest.raises(openai.BadRequestError, match="MD5"):
        client.uploads.complete(upload.id, part_ids=part_ids, md5="0" * 32)
    assert client.files.list().data == []

    bad = data + b'{"custom_id": "bad"}\n'
    bad_line = bad.count(b"\n")
    broken = client.uploads.create(bytes=len(bad), filename="b.jsonl", mime_type="application/jsonl", purpose="batch")
    broken_parts = [client.uploads.parts.create(broken.id, data=bad[at : at + PART]) for at in range(0, len(bad), PART)]
    with pytest.raises(openai.BadRequestError, match=f"[Ll]ine {bad_line}\\b"):
        client.uploads.complete(broken.id, part_ids=[part.id for part in broken_parts])
    assert client.files.list().data == []
    assert stored_files() == before

    done = client.uploads.complete(upload.id, part_ids=part_ids, md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.file is not None and done.file.bytes == len(data)
    assert client.files.content(done.file.id).read() == data


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
