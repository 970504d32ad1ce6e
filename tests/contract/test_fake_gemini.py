"""Contract test: the official ``google-genai`` SDK drives tests/fakes/gemini_upstream.py end to end."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import BATCH_TYPE, FakeGeminiState, create_app
from tests.fakes.server import running_server

NS_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
MODEL = "gemini-2.5-flash"


def _line(key: str, *texts: str, model: str | None = None) -> dict[str, Any]:
    roles = ["user", "model"]
    contents = [{"role": roles[i % 2], "parts": [{"text": t}]} for i, t in enumerate(texts)]
    request: dict[str, Any] = {"contents": contents}
    if model:
        request["model"] = model
    return {"key": key, "request": request}


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


@pytest.fixture()
def env() -> Iterator[tuple[FakeGeminiState, str]]:
    app = create_app()
    with running_server(app) as base:
        yield app.state.fake, base


def _client(base: str, key: str = "test-key", **opts: Any) -> genai.Client:
    retry = types.HttpRetryOptions(attempts=1)
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base, retry_options=retry, **opts))


def _upload(client: genai.Client, lines: list[dict[str, Any]]) -> types.File:
    cfg = types.UploadFileConfig(mime_type="application/jsonl", display_name="batch-input")
    return client.files.upload(file=io.BytesIO(_jsonl(lines)), config=cfg)


def test_upload_batch_download_list_delete(env: tuple[FakeGeminiState, str]) -> None:
    fake, base = env
    client = _client(base)
    lines = [
        _line("k-1", "hello there"),
        _line("k-2", "please FAIL"),
        _line("k-3", "first", "reply", "second turn"),
        _line("k-4", "bad model", model="models/invalid-model"),
    ]
    uploaded = _upload(client, lines)
    assert uploaded.name is not None and uploaded.name.startswith("files/")
    assert uploaded.display_name == "batch-input"
    assert uploaded.mime_type == "application/jsonl"
    assert uploaded.size_bytes == len(_jsonl(lines))
    assert uploaded.source == types.FileSource.UPLOADED
    assert uploaded.state == types.FileState.ACTIVE
    assert uploaded.download_uri is None

    # resumable protocol on the wire
    start, finalize = fake.requests[0], fake.requests[1]
    assert start.path.startswith("/upload/") and start.path.endswith("/files")
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-length"] == str(len(_jsonl(lines)))
    assert finalize.headers["x-goog-upload-command"] == "upload, finalize"
    assert finalize.headers["x-goog-upload-offset"] == "0"
    assert finalize.query["upload_id"]
    assert finalize.body == _jsonl(lines)

    got = client.files.get(name=uploaded.name)
    assert got.name == uploaded.name and got.size_bytes == uploaded.size_bytes

    job = client.batches.create(model=MODEL, src=uploaded.name, config={"display_name": "nightly"})
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.model == f"models/{MODEL}"
    assert job.display_name == "nightly"
    create_req = fake.requests[-1]
    assert create_req.path.endswith(f"/models/{MODEL}:batchGenerateContent")
    assert create_req.json() == {"batch": {"displayName": "nightly", "inputConfig": {"fileName": uploaded.name}}}

    op = fake.operation(job.name)
    assert "done" not in op
    assert op["metadata"]["@type"] == BATCH_TYPE
    assert op["metadata"]["state"] == "BATCH_STATE_PENDING"
    assert op["metadata"]["batchStats"] == {"requestCount": "4", "pendingRequestCount": "4"}
    assert NS_TIME.match(op["metadata"]["createTime"])
    assert fake.batch_names("test-key") == [job.name]

    states = []
    for _ in range(5):
        job = client.batches.get(name=job.name)
        states.append(job.state)
        if job.state == types.JobState.JOB_STATE_SUCCEEDED:
            break
    assert states == [types.JobState.JOB_STATE_RUNNING, types.JobState.JOB_STATE_SUCCEEDED]
    assert job.end_time is not None
    assert job.dest is not None and job.dest.file_name is not None
    assert job.dest.file_name.startswith("files/batch-")

    op = fake.operation(job.name)
    assert op["done"] is True
    assert op["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert op["metadata"]["batchStats"] == {
        "requestCount": "4",
        "successfulRequestCount": "2",
        "failedRequestCount": "2",
    }
    assert op["response"]["responsesFile"] == job.dest.file_name
    assert op["metadata"]["output"] == {"responsesFile": job.dest.file_name}
    assert NS_TIME.match(op["metadata"]["endTime"])

    result_file = client.files.get(name=job.dest.file_name)
    assert result_file.source == types.FileSource.GENERATED
    assert result_file.download_uri is not None

    data = client.files.download(file=job.dest.file_name)
    assert fake.requests[-1].path.endswith(f"/{job.dest.file_name}:download")
    assert fake.requests[-1].query == {"alt": "media"}
    out = [json.loads(x) for x in data.decode().splitlines()]
    assert [o["key"] for o in out] == ["k-1", "k-2", "k-3", "k-4"]
    ok1 = out[0]["response"]
    assert ok1["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello there"
    assert ok1["candidates"][0]["content"]["role"] == "model"
    assert ok1["candidates"][0]["finishReason"] == "STOP"
    usage = ok1["usageMetadata"]
    assert usage["promptTokenCount"] == 2 and usage["candidatesTokenCount"] == 3 and usage["totalTokenCount"] == 5
    assert out[2]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: second turn"
    for failed in (out[1], out[3]):
        assert "response" not in failed
        assert failed["error"]["code"] == 400 and failed["error"]["status"] == "INVALID_ARGUMENT"
    # the SDK parses a result line as GenerateContentResponse
    parsed = types.GenerateContentResponse.model_validate(
        {"candidates": [{"content": {"parts": [{"text": ok1["candidates"][0]["content"]["parts"][0]["text"]}]}}]}
    )
    assert parsed.text == "echo: hello there"

    # uploaded (not generated) files cannot be downloaded
    with pytest.raises(ValueError, match="Only generated files"):
        client.files.download(file=got)

    listed = list(client.batches.list())
    assert [b.name for b in listed] == [job.name]
    assert listed[0].state == types.JobState.JOB_STATE_SUCCEEDED
    files = {f.name for f in client.files.list()}
    assert files == {uploaded.name, job.dest.file_name}

    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as exc:
        client.files.get(name=uploaded.name)
    assert exc.value.code == 403 and exc.value.status == "PERMISSION_DENIED"
    assert fake.file_names("test-key") == [job.dest.file_name]

    client.batches.delete(name=job.name)
    assert fake.batch_names("test-key") == []
    assert list(client.batches.list()) == []


def test_cancel_then_cancelled_and_programmatic_steps(env: tuple[FakeGeminiState, str]) -> None:
    fake, base = env
    client = _client(base)
    f = _upload(client, [_line("only", "hi")])
    job = client.batches.create(model=MODEL, src=f.name)
    assert job.name is not None
    client.batches.cancel(name=job.name)
    assert fake.requests[-1].path.endswith(f"/{job.name}:cancel")
    job = client.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    op = fake.operation(job.name)
    assert op["done"] is True and "response" not in op and "output" not in op["metadata"]
    assert op["metadata"]["batchStats"] == {"requestCount": "1"}
    # terminal: further gets do not change it
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED

    fake.step_batches_on_get = False
    job2 = client.batches.create(model=MODEL, src=f.name)
    assert job2.name is not None
    assert client.batches.get(name=job2.name).state == types.JobState.JOB_STATE_PENDING
    assert fake.advance(job2.name)["metadata"]["state"] == "BATCH_STATE_RUNNING"
    final = fake.run_to_end(job2.name)
    assert final["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert final["metadata"]["batchStats"] == {"requestCount": "1", "successfulRequestCount": "1"}
    assert fake.file_bytes(final["response"]["responsesFile"]).startswith(b'{"key":"only","response":')
    names = [b.name for b in client.batches.list(config={"page_size": 1})]
    assert names == [job2.name, job.name]
    assert fake.requests[-1].query["pageSize"] == "1" and fake.requests[-1].query["pageToken"]


def test_per_key_isolation_auth_and_inject(env: tuple[FakeGeminiState, str]) -> None:
    fake, base = env
    alice, bob = _client(base, "alice-key"), _client(base, "bob-key")
    f = _upload(alice, [_line("a", "x")])
    job = alice.batches.create(model=MODEL, src=f.name)
    assert job.name is not None and f.name is not None

    with pytest.raises(errors.ClientError) as exc:
        bob.batches.get(name=job.name)
    assert exc.value.code == 404 and exc.value.status == "NOT_FOUND"
    with pytest.raises(errors.ClientError) as exc:
        bob.files.get(name=f.name)
    assert exc.value.code == 403
    with pytest.raises(errors.ClientError):
        bob.batches.create(model=MODEL, src=f.name)
    assert list(bob.batches.list()) == [] and list(bob.files.list()) == []
    assert fake.batch_names("bob-key") == [] and fake.batch_names("alice-key") == [job.name]

    # no key: 403 PERMISSION_DENIED; ?key= works; empty list is {}
    r = httpx.get(f"{base}/v1beta/batches")
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = httpx.get(f"{base}/v1beta/batches", params={"key": "carol-key"})
    assert r.status_code == 200 and r.json() == {}
    fake.api_keys = {"alice-key"}
    with pytest.raises(errors.ClientError) as exc:
        bob.batches.list()
    assert exc.value.code == 400 and exc.value.status == "INVALID_ARGUMENT"
    assert exc.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"

    fake.inject(429, path_contains="/batches/", method="GET")
    with pytest.raises(errors.ClientError) as exc:
        alice.batches.get(name=job.name)
    assert exc.value.code == 429 and exc.value.status == "RESOURCE_EXHAUSTED"
    assert alice.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING


def test_v1beta_pinned_client_and_snake_case_body(env: tuple[FakeGeminiState, str]) -> None:
    fake, base = env
    client = _client(base, api_version="v1beta")
    f = _upload(client, [_line("z", "ping")])
    assert fake.requests[0].path == "/upload/v1beta/files"
    body = {"batch": {"display_name": "snake", "input_config": {"file_name": f.name}}}
    r = httpx.post(
        f"{base}/v1beta/models/{MODEL}:batchGenerateContent", json=body, headers={"x-goog-api-key": "test-key"}
    )
    assert r.status_code == 200
    name = r.json()["name"]
    assert r.json()["metadata"]["displayName"] == "snake"
    job = client.batches.get(name=name)
    assert fake.requests[-1].path == f"/v1beta/{name}"
    assert job.state == types.JobState.JOB_STATE_RUNNING
    op = fake.run_to_end(name)
    raw = httpx.get(
        f"{base}/download/v1beta/{op['response']['responsesFile']}:download",
        params={"alt": "media"},
        headers={"x-goog-api-key": "test-key"},
    )
    assert json.loads(raw.content)["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: ping"


def test_generation_config_shapes_the_answer_as_the_sdk_reads_it(env: tuple[FakeGeminiState, str]) -> None:
    """JSON mode with a schema, n candidates, thinking and logprobs: the requests the SDK makes of its own config
    are answered with what the SDK parses into its types."""
    fake, base = env
    client = _client(base)
    schema = {
        "type": "OBJECT",
        "properties": {"label": {"type": "STRING", "enum": ["spam", "ham"]}, "score": {"type": "INTEGER"}},
        "required": ["label", "score"],
        "property_ordering": ["label", "score"],
    }
    structured = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema=schema,
        candidate_count=2,
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
        response_logprobs=True,
        logprobs=2,
    )
    plain_json = types.GenerateContentConfig(response_mime_type="application/json")
    requests: list[types.InlinedRequestDict] = [
        {"contents": [{"role": "user", "parts": [{"text": "classify this"}]}], "config": structured},
        {"contents": [{"role": "user", "parts": [{"text": "any JSON"}]}], "config": plain_json},
        {
            "contents": [{"role": "user", "parts": [{"text": "open object"}]}],
            "config": {"response_mime_type": "application/json", "response_schema": {"type": "OBJECT"}},
        },
    ]
    job = client.batches.create(model=MODEL, src=requests)
    assert job.name is not None
    sent = fake.requests[-1].json()["batch"]["inputConfig"]["requests"]["requests"]
    config = sent[0]["request"]["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["candidateCount"] == 2
    assert config["responseSchema"]["type"] == "OBJECT"
    assert config["thinkingConfig"] == {"thinking_budget": 1024, "include_thoughts": True}  # the SDK's spelling
    assert (config["responseLogprobs"], config["logprobs"]) == (True, 2)

    job = client.batches.get(name=fake.run_to_end(job.name)["name"])
    assert job.dest is not None and job.dest.inlined_responses is not None
    first, second, third = job.dest.inlined_responses
    answer = first.response
    assert answer is not None and answer.candidates is not None
    assert [c.index for c in answer.candidates] == [0, 1]
    for candidate in answer.candidates:
        assert candidate.content is not None and candidate.content.parts is not None
        thought, text = candidate.content.parts
        assert thought.thought is True
        assert json.loads(text.text or "") == {"label": "spam", "score": 0}
        assert candidate.logprobs_result is not None and candidate.logprobs_result.chosen_candidates is not None
        assert candidate.logprobs_result.top_candidates is not None
        assert all(len(step.candidates or []) == 2 for step in candidate.logprobs_result.top_candidates)
        assert candidate.avg_logprobs is not None
    usage = answer.usage_metadata
    assert usage is not None and usage.thoughts_token_count == 7
    assert usage.total_token_count == (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + 7
    assert second.response is not None and json.loads(second.response.text or "") == {"echo": "any JSON"}
    assert third.response is None and third.error is not None  # Gemini refuses an OBJECT without properties
    assert third.error.code == 400 and "should be non-empty for OBJECT type" in (third.error.message or "")


TREE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["id", "children"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "tree": {"$ref": "#/$defs/Node"},
        "email": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "integer", "minimum": 3}]},
        "stars": {"type": "integer", "enum": [4, 5]},
        "kind": {"const": "review"},
        "age": {"type": ["integer", "null"], "exclusiveMinimum": 17},
    },
    "required": ["tree", "email", "point", "stars", "kind", "age"],
    "additionalProperties": False,
}


def test_response_json_schema_is_answered_with_an_instance(env: tuple[FakeGeminiState, str]) -> None:
    """The SDK's ``response_json_schema`` (JSON Schema as written: a recursive $ref, anyOf with null, prefixItems,
    an integer enum, const) reaches the fake as ``responseJsonSchema`` and is answered with JSON of that shape; a
    $ref that points nowhere, or a schema without the JSON MIME type, is the line's INVALID_ARGUMENT."""
    fake, base = env
    client = _client(base)
    json_schema = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=TREE_SCHEMA)
    dangling = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}
    requests: list[types.InlinedRequestDict] = [
        {"contents": [{"role": "user", "parts": [{"text": "a tree"}]}], "config": json_schema},
        {
            "contents": [{"role": "user", "parts": [{"text": "dangling"}]}],
            "config": {"response_mime_type": "application/json", "response_json_schema": dangling},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "no mime"}]}],
            "config": {"response_json_schema": TREE_SCHEMA},
        },
    ]
    job = client.batches.create(model=MODEL, src=requests)
    assert job.name is not None
    sent = fake.requests[-1].json()["batch"]["inputConfig"]["requests"]["requests"]
    config = sent[0]["request"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": TREE_SCHEMA}  # as written

    job = client.batches.get(name=fake.run_to_end(job.name)["name"])
    assert job.dest is not None and job.dest.inlined_responses is not None
    first, second, third = job.dest.inlined_responses
    assert first.response is not None
    answer = json.loads(first.response.text or "")
    assert list(answer) == ["tree", "email", "point", "stars", "kind", "age"]
    assert (answer["email"], answer["point"], answer["stars"], answer["kind"], answer["age"]) == (
        "a tree",
        [0.0, 3],
        4,
        "review",
        18,
    )
    node, depth = answer["tree"], 0
    while node["children"]:  # the recursion ends: past a depth, arrays hold only their minItems
        assert list(node) == ["id", "children"] and len(node["children"]) == 1
        node, depth = node["children"][0], depth + 1
    assert 1 < depth < 64
    assert second.response is None and second.error is not None and second.error.code == 400
    assert "could not be resolved" in (second.error.message or "")
    assert third.response is None and third.error is not None and third.error.code == 400
    assert "response_json_schema needs a compatible response_mime_type" in (third.error.message or "")
