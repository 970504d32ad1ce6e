"""Contract tests: the fake OpenAI upstream (tests/fakes/openai_upstream.py) driven by the official SDK.

If the fake drifts from what the real SDK sends/parses, or from the OpenAPI schemas, these fail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from tests.contract.openai_schema import assert_valid, errors_for
from tests.fakes.openai_upstream import FakeOpenAIState, create_app
from tests.fakes.server import LOOPBACK_TLS, running_server

API_KEY = "sk-test"
OTHER_KEY = "sk-other"
BATCH_TS_KEYS = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


@dataclass
class Fake:
    base_url: str
    state: FakeOpenAIState

    def client(self, api_key: str = API_KEY, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("http_client", openai.DefaultHttpxClient(verify=LOOPBACK_TLS))
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=api_key, **kwargs)


@pytest.fixture
def fake() -> Iterator[Fake]:
    app = create_app()
    with running_server(app) as base:
        yield Fake(base, app.state.fake)


@pytest.fixture
def client(fake: Fake) -> Iterator[openai.OpenAI]:
    c = fake.client()
    yield c
    c.close()


def chat_line(
    custom_id: str, text: str, *, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions"
) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": url,
        "body": {
            "model": model,
            "messages": [
                {"role": "system", "content": "be terse"},
                {"role": "user", "content": text},
            ],
        },
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def upload_batch_input(client: openai.OpenAI, lines: list[dict[str, Any]] | bytes) -> str:
    data = lines if isinstance(lines, bytes) else jsonl(lines)
    return client.files.create(file=("input.jsonl", data), purpose="batch").id


def read_jsonl(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    raw = client.files.content(file_id).read()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode().splitlines()]


def retrieve_raw(client: openai.OpenAI, batch_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.batches.with_raw_response.retrieve(batch_id).http_response.json()
    assert_valid("Batch", body)
    return body


# ---------------------------------------------------------------------------------------------------------
# schema helper


def test_schema_helper_rejects_bad_instances() -> None:
    good = {"id": "file-x", "object": "file", "deleted": True}
    assert_valid("DeleteFileResponse", good)
    with pytest.raises(AssertionError, match="deleted"):
        assert_valid("DeleteFileResponse", {"id": "file-x", "object": "file", "deleted": "yes"})
    with pytest.raises(AssertionError, match="'object' is a required property"):
        assert_valid(
            "OpenAIFile",
            {"id": "f", "bytes": 1, "created_at": 1, "filename": "a", "purpose": "batch", "status": "processed"},
        )
    # nullable relaxation only for optional properties; strict mode follows the spec verbatim
    batch = {
        "id": "b",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "f",
        "completion_window": "24h",
        "status": "validating",
        "created_at": 1,
        "failed_at": None,
    }
    assert_valid("Batch", batch)
    assert errors_for("Batch", batch, strict_nulls=True) == ["failed_at: None is not of type 'integer'"]
    with pytest.raises(AssertionError, match="status"):
        assert_valid("Batch", {**batch, "status": "done"})
    with pytest.raises(AssertionError):
        assert_valid("Batch", {**batch, "created_at": None})
    with pytest.raises(AssertionError):
        assert_valid("BatchRequestOutput", {"id": "x", "custom_id": "c", "response": None, "error": None})
    with pytest.raises(KeyError):
        assert_valid("NoSuchSchema", {})


# ---------------------------------------------------------------------------------------------------------
# files


def test_file_create_retrieve_content_delete(fake: Fake, client: openai.OpenAI) -> None:
    data = b'{"a": 1}\n{"b": "\xc3\xa9"}\n'
    t0 = int(time.time())
    raw = client.files.with_raw_response.create(file=("data.jsonl", data), purpose="batch")
    body = raw.http_response.json()
    t1 = int(time.time())
    assert_valid("OpenAIFile", body)
    assert set(body) == {
        "id",
        "object",
        "bytes",
        "created_at",
        "expires_at",
        "filename",
        "purpose",
        "status",
        "status_details",
    }
    assert re.fullmatch(r"file-[A-Za-z0-9]{24}", body["id"])
    assert body["object"] == "file"
    assert body["bytes"] == len(data)
    assert t0 <= body["created_at"] <= t1
    assert body["expires_at"] == body["created_at"] + 30 * 86400
    assert body["filename"] == "data.jsonl"
    assert body["purpose"] == "batch"
    assert body["status"] == "processed"
    assert body["status_details"] is None
    created = raw.parse()
    assert created.id == body["id"]

    # the SDK's headers reached the fake
    post = [r for r in fake.state.requests if r.method == "POST" and r.path == "/v1/files"][-1]
    assert post.headers["authorization"] == f"Bearer {API_KEY}"
    assert post.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="purpose"' in post.body and b"data.jsonl" in post.body

    got = client.files.with_raw_response.retrieve(created.id).http_response.json()
    assert_valid("OpenAIFile", got)
    assert got == body

    content = client.files.with_raw_response.content(created.id).http_response
    assert content.headers["content-type"] == "application/octet-stream"
    assert client.files.content(created.id).read() == data
    get_content = [r for r in fake.state.requests if r.path.endswith("/content")][-1]
    assert get_content.headers["accept"] == "application/binary"

    deleted = client.files.with_raw_response.delete(created.id).http_response.json()
    assert_valid("DeleteFileResponse", deleted)
    assert deleted == {"id": created.id, "object": "file", "deleted": True}

    with pytest.raises(openai.NotFoundError) as exc:
        client.files.retrieve(created.id)
    assert exc.value.status_code == 404
    assert exc.value.body == {
        "message": f"No such File object: {created.id}",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)


def test_file_expiry_rules(client: openai.OpenAI) -> None:
    plain = client.files.with_raw_response.create(file=("a.txt", b"hello"), purpose="user_data")
    body = plain.http_response.json()
    assert_valid("OpenAIFile", body)
    assert "expires_at" in body and body["expires_at"] is None

    short = client.files.create(
        file=("b.txt", b"hi"), purpose="assistants", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert short.expires_at == short.created_at + 3600
    batch_short = client.files.create(
        file=("c.jsonl", b"{}\n"), purpose="batch", expires_after={"anchor": "created_at", "seconds": 2592000}
    )
    assert batch_short.expires_at == batch_short.created_at + 2592000


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"purpose": "batch_output"}, "purpose"),
        ({"purpose": "nonsense"}, "purpose"),
        ({"purpose": "batch", "expires_after": {"anchor": "created_at", "seconds": 3599}}, "expires_after.seconds"),
        ({"purpose": "batch", "expires_after": {"anchor": "created_at", "seconds": 2592001}}, "expires_after.seconds"),
        ({"purpose": "batch", "expires_after": {"anchor": "last_active_at", "seconds": 3600}}, "expires_after.anchor"),
    ],
)
def test_file_create_rejects_bad_params(client: openai.OpenAI, kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.files.create(file=("x.jsonl", b"{}\n"), **kwargs)
    assert exc.value.status_code == 400
    body = exc.value.response.json()
    assert_valid("ErrorResponse", body)
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"
    assert client.files.list().data == []


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "fakeboundary1234"
    out = b""
    for name, filename, value in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("file_first", [True, False])
def test_file_create_accepts_any_field_order(fake: Fake, file_first: bool) -> None:
    parts: list[tuple[str, str | None, bytes]] = [
        ("purpose", None, b"fine-tune"),
        ("expires_after[anchor]", None, b"created_at"),
        ("expires_after[seconds]", None, b"7200"),
    ]
    file_part: tuple[str, str | None, bytes] = ("file", "train.jsonl", b'{"x":1}\n')
    parts = [file_part, *parts] if file_first else [*parts, file_part]
    body, ctype = _multipart(parts)
    r = httpx.post(
        fake.base_url + "/v1/files", content=body, headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": ctype}
    )
    assert r.status_code == 200, r.text
    obj = r.json()
    assert_valid("OpenAIFile", obj)
    assert (obj["filename"], obj["purpose"], obj["bytes"]) == ("train.jsonl", "fine-tune", 8)
    assert obj["expires_at"] == obj["created_at"] + 7200


def test_file_create_requires_file_and_purpose(fake: Fake) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body, ctype = _multipart([("purpose", None, b"batch")])
    r = httpx.post(fake.base_url + "/v1/files", content=body, headers={**headers, "Content-Type": ctype})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "file"
    body, ctype = _multipart([("file", "a.jsonl", b"{}\n")])
    r = httpx.post(fake.base_url + "/v1/files", content=body, headers={**headers, "Content-Type": ctype})
    assert r.status_code == 400
    assert_valid("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == "purpose"


def test_file_list_pagination_order_and_filters(fake: Fake, client: openai.OpenAI) -> None:
    empty = client.files.with_raw_response.list().http_response.json()
    assert_valid("ListFilesResponse", empty)
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}

    purposes = ["batch", "user_data", "batch", "assistants", "batch"]
    ids = [
        client.files.create(file=(f"f{i}.jsonl", b"{}\n" * (i + 1)), purpose=p).id  # type: ignore[arg-type]
        for i, p in enumerate(purposes)
    ]
    fake.state.requests.clear()

    listed = [f.id for f in client.files.list(limit=2)]
    assert listed == list(reversed(ids))  # newest first; same-second ties by insertion order
    pages = [r for r in fake.state.requests if r.method == "GET" and r.path == "/v1/files"]
    assert [r.query for r in pages] == [
        {"limit": "2"},
        {"limit": "2", "after": ids[3]},
        {"limit": "2", "after": ids[1]},
    ]

    first = client.files.with_raw_response.list(limit=2).http_response.json()
    assert_valid("ListFilesResponse", first)
    assert first["object"] == "list"
    assert [f["id"] for f in first["data"]] == [ids[4], ids[3]]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[4], ids[3], True)
    last = client.files.with_raw_response.list(limit=2, after=ids[1]).http_response.json()
    assert_valid("ListFilesResponse", last)
    assert ([f["id"] for f in last["data"]], last["has_more"]) == ([ids[0]], False)

    assert [f.id for f in client.files.list(order="asc", limit=3)] == ids
    assert [f.id for f in client.files.list(purpose="batch")] == [ids[4], ids[2], ids[0]]
    assert [f.id for f in client.files.list(purpose="batch", order="asc", after=ids[0])] == [ids[2], ids[4]]

    # a cursor stays usable after its file is deleted
    client.files.delete(ids[3])
    assert [f.id for f in client.files.list(after=ids[3])] == [ids[2], ids[1], ids[0]]

    for bad in (0, 10001):
        with pytest.raises(openai.BadRequestError) as exc:
            client.files.list(limit=bad)
        assert exc.value.response.json()["error"]["param"] == "limit"
    with pytest.raises(openai.BadRequestError):
        client.files.list(order="sideways")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# batches


def test_batch_lifecycle_to_completed(fake: Fake, client: openai.OpenAI) -> None:
    lines = [
        chat_line("req-1", "hello there"),
        {
            **chat_line("req-2", "ignored"),
            "body": {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": "multi "}, {"type": "text", "text": "part"}]},
                ],
            },
        },
        chat_line("req-3", "nope", model="invalid-model-x"),
    ]
    input_id = upload_batch_input(client, lines)

    t0 = int(time.time())
    raw = client.batches.with_raw_response.create(
        input_file_id=input_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    created = raw.http_response.json()
    assert_valid("Batch", created)
    assert re.fullmatch(r"batch_[0-9a-f]{32}", created["id"])
    for key in (*BATCH_TS_KEYS, "errors", "output_file_id", "error_file_id"):
        assert key in created, key
    assert created["status"] == "validating"
    assert created["object"] == "batch"
    assert created["endpoint"] == "/v1/chat/completions"
    assert created["input_file_id"] == input_id
    assert created["completion_window"] == "24h"
    assert created["model"] == "gpt-4o-mini"
    assert t0 <= created["created_at"] <= int(time.time())
    assert created["expires_at"] == created["created_at"] + 86400
    assert all(created[k] is None for k in BATCH_TS_KEYS if k != "expires_at")
    assert created["errors"] is None
    assert created["output_file_id"] is None and created["error_file_id"] is None
    assert created["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert created["metadata"] == {"job": "nightly"}
    post = [r for r in fake.state.requests if r.path == "/v1/batches"][-1]
    assert post.json() == {
        "input_file_id": input_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"job": "nightly"},
    }

    batch_id = created["id"]
    b = retrieve_raw(client, batch_id)
    assert b["status"] == "in_progress"
    assert isinstance(b["in_progress_at"], int) and b["finalizing_at"] is None
    assert b["request_counts"] == {"total": 3, "completed": 0, "failed": 0}

    b = retrieve_raw(client, batch_id)
    assert b["status"] == "finalizing"
    assert isinstance(b["finalizing_at"], int)
    assert b["output_file_id"] is None

    b = retrieve_raw(client, batch_id)
    assert b["status"] == "completed"
    assert isinstance(b["completed_at"], int)
    assert b["in_progress_at"] <= b["finalizing_at"] <= b["completed_at"]
    assert b["failed_at"] is None and b["cancelled_at"] is None and b["errors"] is None
    assert b["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert b["usage"]["total_tokens"] == b["usage"]["input_tokens"] + b["usage"]["output_tokens"] > 0

    # terminal: further retrieves do not change it
    again = retrieve_raw(client, batch_id)
    assert again == b
    sdk = client.batches.retrieve(batch_id)
    assert sdk.status == "completed" and sdk.request_counts is not None and sdk.request_counts.failed == 1

    out_file = client.files.retrieve(b["output_file_id"])
    assert (out_file.purpose, out_file.filename) == ("batch_output", f"{batch_id}_output.jsonl")
    err_file = client.files.retrieve(b["error_file_id"])
    assert (err_file.purpose, err_file.filename) == ("batch_output", f"{batch_id}_error.jsonl")

    out = read_jsonl(client, b["output_file_id"])
    assert [x["custom_id"] for x in out] == ["req-1", "req-2"]
    assert out_file.bytes == len(client.files.content(out_file.id).read())
    for line in out:
        assert_valid("BatchRequestOutput", line)
        assert line["id"].startswith("batch_req_")
        assert line["error"] is None
        resp = line["response"]
        assert resp["status_code"] == 200 and resp["request_id"].startswith("req_")
        body = resp["body"]
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        assert body["model"] == "gpt-4o-mini" and isinstance(body["created"], int)
        assert len(body["choices"]) == 1
        assert body["choices"][0]["index"] == 0
        assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["logprobs"] is None
        usage = body["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert out[0]["response"]["body"]["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: hello there",
        "refusal": None,
    }
    assert out[1]["response"]["body"]["choices"][0]["message"]["content"] == "echo: multi part"
    # the SDK's own model parses the body
    parsed = openai.types.chat.ChatCompletion.model_validate(out[0]["response"]["body"])
    assert parsed.choices[0].message.content == "echo: hello there"

    errs = read_jsonl(client, b["error_file_id"])
    assert len(errs) == 1
    assert_valid("BatchRequestOutput", errs[0])
    assert errs[0]["custom_id"] == "req-3" and errs[0]["error"] is None
    assert errs[0]["response"]["status_code"] == 404
    assert_valid("ErrorResponse", errs[0]["response"]["body"])
    assert errs[0]["response"]["body"]["error"]["code"] == "model_not_found"
    assert errs[0]["response"]["body"]["error"]["param"] == "model"
    assert "invalid-model-x" in errs[0]["response"]["body"]["error"]["message"]


def test_batch_all_success_and_all_failure(client: openai.OpenAI) -> None:
    ok_input = upload_batch_input(client, [chat_line("a", "x"), chat_line("b", "y")])
    ok = client.batches.create(input_file_id=ok_input, endpoint="/v1/chat/completions", completion_window="24h")
    for _ in range(3):
        b = retrieve_raw(client, ok.id)
    assert b["status"] == "completed"
    assert b["error_file_id"] is None and b["output_file_id"] is not None
    assert b["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
    assert b["metadata"] is None

    bad_input = upload_batch_input(
        client, [chat_line("a", "x", model="invalid-1"), chat_line("b", "y", model="invalid-2")]
    )
    bad = client.batches.create(input_file_id=bad_input, endpoint="/v1/chat/completions", completion_window="24h")
    for _ in range(3):
        b = retrieve_raw(client, bad.id)
    assert b["status"] == "completed"  # all lines failing still completes
    assert b["output_file_id"] is None and b["error_file_id"] is not None
    assert b["request_counts"] == {"total": 2, "completed": 0, "failed": 2}
    assert [x["custom_id"] for x in read_jsonl(client, b["error_file_id"])] == ["a", "b"]


def test_embeddings_batch(client: openai.OpenAI) -> None:
    lines = [
        {
            "custom_id": "e1",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": "hello"},
        }
    ]
    batch = client.batches.create(
        input_file_id=upload_batch_input(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    assert batch.model == "text-embedding-3-small"
    for _ in range(3):
        b = client.batches.retrieve(batch.id)
    assert b.status == "completed" and b.output_file_id is not None
    (line,) = read_jsonl(client, b.output_file_id)
    assert_valid("BatchRequestOutput", line)
    body = line["response"]["body"]
    assert body["object"] == "list" and body["model"] == "text-embedding-3-small"
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0)]
    assert len(body["data"][0]["embedding"]) > 0
    assert all(isinstance(v, float) for v in body["data"][0]["embedding"])
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    parsed = openai.types.CreateEmbeddingResponse.model_validate(body)
    assert parsed.data[0].index == 0


@pytest.mark.parametrize(
    ("content", "code", "line"),
    [
        (jsonl([chat_line("a", "x")]) + b"{not json\n", "invalid_json_line", 2),
        (jsonl([chat_line("a", "x"), chat_line("b", "y"), chat_line("a", "z")]), "duplicate_custom_id", 3),
        (jsonl([chat_line("a", "x", url="/v1/embeddings")]), "url_mismatch", 1),
    ],
)
def test_batch_failing_validation(client: openai.OpenAI, content: bytes, code: str, line: int) -> None:
    input_id = upload_batch_input(client, content)
    batch = client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h")
    b = retrieve_raw(client, batch.id)
    assert b["status"] == "failed"
    assert isinstance(b["failed_at"], int) and b["in_progress_at"] is None and b["completed_at"] is None
    assert b["errors"]["object"] == "list"
    assert len(b["errors"]["data"]) == 1
    err = b["errors"]["data"][0]
    assert_valid("BatchError", err)
    assert (err["code"], err["line"], err["param"]) == (code, line, None)
    assert isinstance(err["message"], str) and err["message"]
    assert b["output_file_id"] is None and b["error_file_id"] is None
    assert retrieve_raw(client, batch.id) == b  # stays failed
    sdk = client.batches.retrieve(batch.id)
    assert sdk.errors is not None and sdk.errors.data is not None and sdk.errors.data[0].code == code
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"endpoint": "/v1/audio/speech"}, "endpoint"),
        ({"completion_window": "48h"}, "completion_window"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"output_expires_after": {"anchor": "created_at", "seconds": 60}}, "output_expires_after.seconds"),
        ({"input_file_id": "file-doesnotexist000000000000"}, "input_file_id"),
    ],
)
def test_batch_create_rejects_bad_params(client: openai.OpenAI, kwargs: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {
        "input_file_id": upload_batch_input(client, [chat_line("a", "x")]),
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        **kwargs,
    }
    with pytest.raises(openai.BadRequestError) as exc:
        client.batches.create(**args)
    body = exc.value.response.json()
    assert_valid("ErrorResponse", body)
    assert body["error"]["param"] == param
    assert client.batches.list().data == []


def test_batch_create_rejects_non_batch_purpose_input(client: openai.OpenAI) -> None:
    file_id = client.files.create(file=("a.jsonl", jsonl([chat_line("a", "x")])), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as exc:
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert exc.value.response.json()["error"]["param"] == "input_file_id"


def test_batch_output_expires_after(client: openai.OpenAI) -> None:
    batch = client.batches.create(
        input_file_id=upload_batch_input(client, [chat_line("a", "x")]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        output_expires_after={"anchor": "created_at", "seconds": 7200},
    )
    for _ in range(3):
        b = client.batches.retrieve(batch.id)
    assert b.output_file_id is not None
    out = client.files.retrieve(b.output_file_id)
    assert out.expires_at == out.created_at + 7200


def test_batch_cancel(fake: Fake, client: openai.OpenAI) -> None:
    lines = [chat_line("c1", "one"), chat_line("c2", "two")]
    batch = client.batches.create(
        input_file_id=upload_batch_input(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert retrieve_raw(client, batch.id)["status"] == "in_progress"

    raw = client.batches.with_raw_response.cancel(batch.id).http_response.json()
    assert_valid("Batch", raw)
    assert raw["status"] == "cancelling"
    assert isinstance(raw["cancelling_at"], int) and raw["cancelled_at"] is None
    cancel_req = [r for r in fake.state.requests if r.path.endswith("/cancel")][-1]
    assert cancel_req.method == "POST"

    b = retrieve_raw(client, batch.id)
    assert b["status"] == "cancelled"
    assert isinstance(b["cancelled_at"], int) and b["cancelled_at"] >= b["cancelling_at"]
    assert b["completed_at"] is None
    assert b["output_file_id"] is None
    assert b["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    errs = read_jsonl(client, b["error_file_id"])
    assert [x["custom_id"] for x in errs] == ["c1", "c2"]
    for line in errs:
        assert_valid("BatchRequestOutput", line)
        assert line["response"] is None
        assert line["error"]["code"] == "batch_cancelled" and line["error"]["message"]

    for target in (batch.id,):
        with pytest.raises(openai.ConflictError) as exc:
            client.batches.cancel(target)
        assert exc.value.status_code == 409
        assert_valid("ErrorResponse", exc.value.response.json())

    done = client.batches.create(
        input_file_id=upload_batch_input(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert fake.state.run_to_end(done.id)["status"] == "completed"
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(done.id)


def test_batch_cancel_while_validating_and_finalizing(fake: Fake, client: openai.OpenAI) -> None:
    input_id = upload_batch_input(client, [chat_line("v1", "x"), chat_line("v2", "y", model="invalid-m")])
    early = client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.cancel(early.id).status == "cancelling"
    b = client.batches.retrieve(early.id)
    assert b.status == "cancelled" and b.output_file_id is None and b.error_file_id is not None
    assert [x["error"]["code"] for x in read_jsonl(client, b.error_file_id)] == ["batch_cancelled"] * 2

    late = client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h")
    fake.state.advance(late.id)
    fake.state.advance(late.id)
    assert client.batches.cancel(late.id).status == "cancelling"
    b = client.batches.retrieve(late.id)
    # the requests had already run: partial results are kept
    assert b.status == "cancelled"
    assert b.request_counts is not None and (b.request_counts.completed, b.request_counts.failed) == (1, 1)
    assert b.output_file_id is not None and b.error_file_id is not None
    assert [x["custom_id"] for x in read_jsonl(client, b.output_file_id)] == ["v1"]


def test_batch_expire(fake: Fake, client: openai.OpenAI) -> None:
    batch = client.batches.create(
        input_file_id=upload_batch_input(client, [chat_line("x", "y")]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    fake.state.advance(batch.id)
    b = fake.state.expire(batch.id)
    assert_valid("Batch", b)
    assert b["status"] == "expired" and isinstance(b["expired_at"], int)
    (line,) = read_jsonl(client, b["error_file_id"])
    assert line["error"]["code"] == "batch_expired" and line["response"] is None


def test_manual_stepping(fake: Fake, client: openai.OpenAI) -> None:
    fake.state.step_batches_on_retrieve = False
    input_id = upload_batch_input(client, [chat_line("a", "x")])
    ids = [
        client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for _ in range(2)
    ]
    assert client.batches.retrieve(ids[0]).status == "validating"
    assert client.batches.retrieve(ids[0]).status == "validating"
    assert fake.state.advance(ids[0])["status"] == "in_progress"
    fake.state.advance_all()
    assert [client.batches.retrieve(i).status for i in ids] == ["finalizing", "in_progress"]
    fake.state.advance_all()
    fake.state.advance_all()
    assert [client.batches.retrieve(i).status for i in ids] == ["completed", "completed"]
    with pytest.raises(KeyError):
        fake.state.advance("batch_nope")


def test_batch_list_pagination(fake: Fake, client: openai.OpenAI) -> None:
    empty = client.batches.with_raw_response.list().http_response.json()
    assert_valid("ListBatchesResponse", empty)
    assert (empty["object"], empty["data"], empty["has_more"]) == ("list", [], False)

    input_id = upload_batch_input(client, [chat_line("a", "x")])
    ids = [
        client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for _ in range(5)
    ]
    fake.state.requests.clear()
    assert [b.id for b in client.batches.list(limit=2)] == list(reversed(ids))
    pages = [r.query for r in fake.state.requests if r.path == "/v1/batches"]
    assert pages == [{"limit": "2"}, {"limit": "2", "after": ids[3]}, {"limit": "2", "after": ids[1]}]

    first = client.batches.with_raw_response.list(limit=2).http_response.json()
    assert_valid("ListBatchesResponse", first)
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[4], ids[3], True)
    assert [b["status"] for b in first["data"]] == ["validating", "validating"]  # listing does not step
    assert [b.id for b in client.batches.list()] == list(reversed(ids))  # default limit 20

    for bad in (0, 101):
        with pytest.raises(openai.BadRequestError) as exc:
            client.batches.list(limit=bad)
        assert exc.value.response.json()["error"]["param"] == "limit"


# ---------------------------------------------------------------------------------------------------------
# auth, isolation, errors, injection, delay


def test_per_key_isolation(fake: Fake, client: openai.OpenAI) -> None:
    file_id = upload_batch_input(client, [chat_line("a", "x")])
    batch_id = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id
    with fake.client(OTHER_KEY) as other:
        with pytest.raises(openai.NotFoundError) as exc:
            other.files.retrieve(file_id)
        assert exc.value.body == {
            "message": f"No such File object: {file_id}",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
        with pytest.raises(openai.NotFoundError):
            other.files.content(file_id)
        with pytest.raises(openai.NotFoundError):
            other.files.delete(file_id)
        with pytest.raises(openai.NotFoundError) as bexc:
            other.batches.retrieve(batch_id)
        assert bexc.value.response.json() == {
            "error": {
                "message": f"No batch found with id '{batch_id}'.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        with pytest.raises(openai.NotFoundError):
            other.batches.cancel(batch_id)
        with pytest.raises(openai.BadRequestError):
            other.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
        assert other.files.list().data == []
        assert other.batches.list().data == []
    # the owner still sees everything, unchanged
    assert [f.id for f in client.files.list()] == [file_id]
    assert client.batches.retrieve(batch_id).status == "in_progress"


def test_auth_required(fake: Fake) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        r = httpx.get(fake.base_url + "/v1/files", headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert_valid("ErrorResponse", body)
        assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "invalid_api_key")
    fake.state.api_keys = {API_KEY}
    with fake.client("sk-wrong") as wrong, pytest.raises(openai.AuthenticationError) as exc:
        wrong.files.list()
    assert exc.value.code == "invalid_api_key"
    with fake.client() as ok:
        assert ok.files.list().data == []


def test_unknown_ids_and_routes(fake: Fake, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nothere")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nothere")
    r = httpx.get(fake.base_url + "/v1/nothing", headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nothing)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    r = httpx.delete(fake.base_url + "/v1/batches/batch_x", headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 405
    assert_valid("ErrorResponse", r.json())


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_injected_errors_map_to_sdk_exceptions(
    fake: Fake, client: openai.OpenAI, status: int, exc_type: type[openai.APIStatusError]
) -> None:
    fake.state.inject(status, path_contains="/files")
    with pytest.raises(exc_type) as exc:
        client.files.list()
    assert exc.value.status_code == status
    assert_valid("ErrorResponse", exc.value.response.json())
    assert exc.value.response.headers["x-request-id"].startswith("req_")
    assert client.files.list().data == []  # consumed after one use


def test_injection_matching_body_and_retries(fake: Fake, client: openai.OpenAI) -> None:
    custom = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    fake.state.inject(429, custom, path_contains="/batches", method="GET", times=2)
    assert client.files.list().data == []  # path does not match
    with pytest.raises(openai.RateLimitError) as exc:
        client.batches.list()
    assert exc.value.body == custom["error"]
    assert exc.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        client.batches.list()
    assert client.batches.list().data == []

    fake.state.requests.clear()
    fake.state.inject(503, path_contains="/v1/files", times=2, headers={"retry-after-ms": "10"})
    with fake.client(max_retries=2) as retrying:
        created = retrying.files.create(file=("r.jsonl", b"{}\n"), purpose="batch")
    posts = [r for r in fake.state.requests if r.method == "POST"]
    assert len(posts) == 3
    assert [r.headers.get("x-stainless-retry-count") for r in posts] == ["0", "1", "2"]
    assert [f.id for f in client.files.list()] == [created.id]  # only the third attempt stored a file

    with pytest.raises(ValueError):
        fake.state.inject(500, times=0)


def test_delay_causes_client_timeout(fake: Fake) -> None:
    fake.state.delay_seconds = 1.0
    with fake.client(timeout=0.2) as slow, pytest.raises(openai.APITimeoutError):
        slow.files.list()
    fake.state.delay_seconds = 0.0
    with fake.client() as fast:
        assert fast.files.list().data == []
