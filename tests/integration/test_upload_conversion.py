"""A batch upload for a provider that takes it converted (Bedrock, Gemini, Anthropic) is read once: each line parsed
once, checked, then converted, in one pass, by files.create and by Uploads (synchronous and by its job). The errors
are those of a file checked whole and then converted: the first line the check refuses, wherever it is, then what
the provider refuses of the request itself, then the first line the conversion refuses; nothing is staged or sent
before the whole file has passed both."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from batchbridge import tracing
from batchbridge.domain import codec
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.ports import Caller, ProviderAdapter, UploadRequest
from batchbridge.domain.records import FileRecord
from batchbridge.domain.services import uploads as uploads_module
from batchbridge.domain.services.files import FileService
from batchbridge.gateway import Gateway
from batchbridge.providers.keyed import GatewayKeyed
from batchbridge.providers.registry import Registry
from batchbridge.store.queue import LocalWorkQueue
from tests.conftest import BUCKET

MODELS = {
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini-2.5-flash",
    "anthropic": "claude-3-5-haiku-20241022",
}
PROVIDERS = list(MODELS)
STAGING = "batchbridge/bedrock/"  # where Bedrock uploads are staged in the gateway's bucket


def line(custom_id: str, model: str, url: str = "/v1/chat/completions") -> bytes:
    body: dict[str, Any] = {"model": model}
    if url == "/v1/embeddings":
        body["input"] = "Hi"
    else:
        body["messages"] = [{"role": "user", "content": f"Question {custom_id}?"}]
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}).encode() + b"\n"


def lines(count: int, model: str) -> bytes:
    return b"".join(line(f"req-{n}", model) for n in range(count))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every line of an upload codec.loads parses, as it was given (whoever calls it, in whichever thread)."""
    seen: list[bytes] = []
    loads = codec.loads

    def counting(data: bytes | str) -> Any:
        seen.append(data.encode() if isinstance(data, str) else bytes(data))
        return loads(data)

    monkeypatch.setattr(codec, "loads", counting)
    return seen


def parses_of(content: bytes, seen: list[bytes]) -> int:
    """How many of the parses in ``seen`` read a line of ``content``."""
    file_lines = set(content.splitlines())
    return sum(1 for data in seen if data.rstrip(b"\r\n") in file_lines)


def caller(gateway: Gateway) -> Caller:
    return gateway.caller({"authorization": "Bearer sk-user-one"})


def create(files: FileService, who: Caller, provider: str, content: bytes) -> FileRecord:
    return files.create(
        who,
        provider,
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )


def staged_lines(record: FileRecord) -> list[dict[str, Any]]:
    assert record.staged_bucket is not None and record.staged_key is not None
    body = boto3.client("s3").get_object(Bucket=record.staged_bucket, Key=record.staged_key)["Body"].read()
    return [json.loads(raw) for raw in body.splitlines()]


def staged_keys() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=STAGING)
    return [item["Key"] for item in listed.get("Contents", [])]


def assert_converted(provider: str, record: FileRecord, count: int, fake_gemini: tuple[Any, str]) -> None:
    """The provider has the file converted, every line of it (Anthropic keeps none: its batches read ours)."""
    assert record.request_count == count and record.status == "processed"
    if provider == "bedrock":
        assert [item["recordId"] for item in staged_lines(record)] == [f"r{n:010d}" for n in range(count)]
    elif provider == "gemini":
        assert record.provider_file_id is not None
        sent = fake_gemini[0].state.fake.file_bytes(record.provider_file_id).splitlines()
        assert [json.loads(raw)["key"] for raw in sent] == [f"req-{n}" for n in range(count)]
    else:
        assert record.provider_file_id is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_files_create_parses_each_line_once(
    gateway: Gateway, provider: str, parsed: list[bytes], fake_gemini: tuple[Any, str]
) -> None:
    content = lines(7, MODELS[provider])
    record = create(gateway.files, caller(gateway), provider, content)
    assert parses_of(content, parsed) == 7
    assert_converted(provider, record, 7, fake_gemini)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda adapter: GatewayKeyed(adapter, lambda: "sk-gateway-anthropic"),
        lambda adapter: tracing._Traced(adapter, "anthropic"),
    ],
    ids=["gateway-keyed", "traced"],
)
def test_an_adapter_behind_its_wrappers_converts_in_the_same_pass(
    gateway: Gateway, wrap: Callable[[ProviderAdapter], Any], parsed: list[bytes]
) -> None:
    """The wrappers forward the adapter's methods through __getattr__ (which a runtime protocol check skips from
    Python 3.12 on): the conversion is still the check's pass, not a second one in upload_file."""

    class Wrapped:
        def check(self, name: str) -> None:
            gateway.providers.check(name)

        def get(self, name: str) -> ProviderAdapter:
            wrapped: ProviderAdapter = wrap(gateway.providers.get(name))
            return wrapped

    content = lines(5, MODELS["anthropic"])
    files = FileService(gateway.records, gateway.blobs, Wrapped(), gateway.files.clock)
    assert create(files, caller(gateway), "anthropic", content).request_count == 5
    assert parses_of(content, parsed) == 5


def upload_in_parts(gateway: Gateway, who: Caller, provider: str, content: bytes, md5: str | None = None) -> Any:
    upload = gateway.uploads.create(
        who,
        provider,
        {"filename": "in.jsonl", "purpose": "batch", "bytes": len(content), "mime_type": "application/jsonl"},
    )
    part_ids = []
    for at in range(0, len(content), 300):
        chunk = content[at : at + 300]
        part_ids.append(gateway.uploads.add_part(who, upload.id, None, stream=io.BytesIO(chunk), size=len(chunk)).id)
    return gateway.uploads.complete(who, upload.id, None, {"part_ids": part_ids, "md5": md5})


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("completion", ["in the request", "by its job"])
def test_an_assembled_upload_parses_each_line_once(
    gateway: Gateway,
    work_queue: LocalWorkQueue,
    provider: str,
    completion: str,
    parsed: list[bytes],
    fake_gemini: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uploads_module, "HELD_UPLOAD_BYTES", 0)  # assembled in the bucket, checked as it is
    if completion == "by its job":
        monkeypatch.setattr(uploads_module, "SYNC_COMPLETE_MAX_BYTES", 0)
    content = lines(9, MODELS[provider])
    _, file = upload_in_parts(gateway, caller(gateway), provider, content)
    work_queue.drain()
    made = gateway.records.get_file(file.id)
    assert made is not None
    assert_converted(provider, made, 9, fake_gemini)
    assert parses_of(content, parsed) == 9


def refusal(make: Callable[[], object]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        make()
    error = caught.value
    assert error.status == 400
    return error


def embeddings(*custom_ids: str, model: str) -> bytes:
    """Lines the check takes (one endpoint, each with its model) and no provider here converts."""
    return b"".join(line(custom_id, model, "/v1/embeddings") for custom_id in custom_ids)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_line_the_check_refuses_outranks_an_earlier_line_the_conversion_refuses(
    gateway: Gateway, provider: str, fake_gemini: tuple[Any, str]
) -> None:
    who = caller(gateway)
    content = embeddings("a", "b", "a", model=MODELS[provider])  # line 1 unconvertible, line 3 a duplicate
    error = refusal(lambda: create(gateway.files, who, provider, content))
    assert (error.code, error.param) == ("duplicate_custom_id", "file")
    assert error.message.startswith("Invalid batch input file, line 3:")
    error = refusal(lambda: create(gateway.files, who, provider, embeddings("a", "b", model=MODELS[provider])))
    assert (error.code, error.param) == ("unsupported_endpoint", "file")
    assert error.message.startswith("custom_id 'a':")
    assert staged_keys() == [] and fake_gemini[0].state.fake.file_names("sk-user-one") == []
    assert gateway.files.list(who, None, {}).items == []


def test_the_first_line_the_conversion_refuses_is_named(gateway: Gateway) -> None:
    model = MODELS["bedrock"]
    content = line("a", model) + line("b", "anthropic.claude-3-sonnet-20240229-v1:0") + line("c", "meta.llama3")
    error = refusal(lambda: create(gateway.files, caller(gateway), "bedrock", content))
    assert error.code == "model_mismatch" and error.message.startswith("custom_id 'b':")
    assert staged_keys() == []


def test_what_the_provider_refuses_of_the_request_outranks_a_line_it_cannot_convert(gateway: Gateway) -> None:
    """As before the one pass: Bedrock's missing staging bucket is said before the line it cannot convert."""
    settings = dataclasses.replace(gateway.settings, bedrock_bucket=None)
    unstaged = dataclasses.replace(gateway, settings=settings, providers=Registry(settings))
    content = embeddings("a", "b", model=MODELS["bedrock"])
    error = refusal(lambda: create(unstaged.files, caller(gateway), "bedrock", content))
    assert (error.code, error.param) == ("missing_storage_config", "storage_config")


def test_an_assembled_upload_reports_its_md5_before_a_line_it_cannot_convert(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads_module, "HELD_UPLOAD_BYTES", 0)
    who = caller(gateway)
    content = embeddings("a", "b", "c", model=MODELS["bedrock"])
    error = refusal(lambda: upload_in_parts(gateway, who, "bedrock", content, md5="0" * 32))
    assert error.code == "md5_mismatch"
    error = refusal(lambda: upload_in_parts(gateway, who, "bedrock", content, md5=hashlib.md5(content).hexdigest()))
    assert error.code == "unsupported_endpoint" and error.message.startswith("custom_id 'a':")
    assert staged_keys() == []
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="files/")
    assert listed.get("Contents", []) == []  # the assembled copy is gone with the refusal


def test_an_adapter_given_its_lines_unconverted_converts_them_itself(gateway: Gateway) -> None:
    """A caller that hands the adapter the file alone (no pass of the file service's) still gets it converted."""
    content = lines(3, MODELS["bedrock"])
    request = UploadRequest(
        file_id="file-direct",
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        purpose="batch",
        expires_after_seconds=None,
        extras={},
    )
    staged = gateway.providers.get("bedrock").upload_file(caller(gateway).credentials, request)
    assert staged is not None and staged.staged_bucket == BUCKET and staged.staged_key is not None
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=staged.staged_key)["Body"].read()
    assert [json.loads(raw)["recordId"] for raw in body.splitlines()] == ["r0000000000", "r0000000001", "r0000000002"]
