"""Gemini through the OpenAI SDK: the product docs' snippets and workflow, results, cancels, expiry, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.contract.openai_schema import assert_valid
from tests.integration import cookbook
from tests.integration.cookbook import CATEGORIZE_SYSTEM_PROMPT, MOVIE_SCHEMA, OVERVIEWS

KEY = "gemini-user-key"
PROVIDER = "gemini"
MODEL = "gemini-1.5-flash"

DOCS_JSONL = (
    '{"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gemini-1.5-flash", '
    '"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 100}}\n'
    '{"custom_id": "req-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gemini-1.5-flash", '
    '"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 100}}'
)


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


@pytest.fixture
def fake(fake_gemini: tuple[Any, str]) -> Any:
    return fake_gemini[0].state.fake


def jsonl(*bodies: dict[str, Any], prefix: str = "req") -> bytes:
    return "\n".join(
        json.dumps({"custom_id": f"{prefix}-{n}", "method": "POST", "url": "/v1/chat/completions", "body": body})
        for n, body in enumerate(bodies, start=1)
    ).encode()


def ask(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


def upload(client: OpenAI, content: bytes, **extra: Any) -> Any:
    return client.files.create(
        file=("batch.jsonl", content, "application/jsonl"), purpose="batch", extra_body={"provider": PROVIDER, **extra}
    )


def create(client: OpenAI, file_id: str, **extra: Any) -> Any:
    return client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, **extra},
    )


def finish(client: OpenAI, batch_id: str) -> Any:
    for _ in range(10):
        batch = client.batches.retrieve(batch_id, extra_query={"provider": PROVIDER})
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            return batch
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def lines_of(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    content = client.files.content(file_id).read().decode()
    lines = [json.loads(line) for line in content.splitlines()]
    for line in lines:
        assert_valid("BatchRequestOutput", line)
    return {line["custom_id"]: line for line in lines}


def sent(fake: Any, method: str, contains: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and contains in r.path]


def test_docs_workflow(client: OpenAI, fake: Any) -> None:
    uploaded = client.files.create(
        file=("batch_e2e.jsonl", DOCS_JSONL.encode(), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": PROVIDER},
    )
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(DOCS_JSONL)
    assert uploaded.expires_at is not None  # Gemini deletes uploads after 48 h: the file says so
    # Google's resumable protocol: a start, then the bytes at offset 0, finalized; the key as x-goog-api-key.
    (start,) = sent(fake, "POST", "/upload/v1beta/files")[:1]
    assert start.headers["x-goog-api-key"] == KEY and start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    (gemini_file,) = fake.file_names(KEY)
    converted = [json.loads(line) for line in fake.file_bytes(gemini_file).splitlines()]
    assert int(start.headers["x-goog-upload-header-content-length"]) == len(fake.file_bytes(gemini_file))
    assert converted == [
        {
            "key": "req-1",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "What is 2+2?"}]}],
                "generationConfig": {"maxOutputTokens": 100},
            },
        },
        {
            "key": "req-2",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}],
                "generationConfig": {"maxOutputTokens": 100},
            },
        },
    ]
    # Gemini cannot give an upload back: the content is the gateway's copy of the original bytes.
    assert client.files.content(uploaded.id, extra_query={"provider": PROVIDER}).read() == DOCS_JSONL.encode()
    assert [f.id for f in client.files.list(extra_query={"provider": PROVIDER}).data] == [uploaded.id]
    retrieved = client.files.retrieve(uploaded.id, extra_query={"provider": PROVIDER})
    assert (retrieved.filename, retrieved.purpose, retrieved.bytes) == ("batch_e2e.jsonl", "batch", len(DOCS_JSONL))

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER, "model": MODEL},
    )
    assert batch.id.startswith("batch_") and batch.status == "validating"
    assert batch.request_counts is not None and batch.request_counts.total == 2
    (created,) = sent(fake, "POST", ":batchGenerateContent")
    assert created.path == f"/v1beta/models/{MODEL}:batchGenerateContent"
    assert created.headers["x-goog-api-key"] == KEY
    assert created.json()["batch"]["inputConfig"] == {"fileName": gemini_file}
    assert_valid("Batch", client.batches.with_raw_response.retrieve(batch.id).http_response.json())

    statuses = []
    for _ in range(10):
        polled = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
        statuses.append(polled.status)
        if polled.status in ["completed", "failed", "expired", "cancelled"]:
            break
    assert statuses[-1] == "completed" and set(statuses) <= {"in_progress", "finalizing", "completed"}, statuses
    assert polled.request_counts is not None
    assert (polled.request_counts.total, polled.request_counts.completed, polled.request_counts.failed) == (2, 2, 0)
    assert polled.model == MODEL and polled.error_file_id is None
    assert polled.completed_at is not None and polled.in_progress_at is not None
    assert_valid("Batch", client.batches.with_raw_response.retrieve(batch.id).http_response.json())
    output = lines_of(client, polled.output_file_id)
    assert list(output) == ["req-1", "req-2"]
    answer = output["req-2"]["response"]["body"]
    assert answer["choices"][0]["message"]["content"] == "echo: What is the capital of France?"
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["model"] == MODEL
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
    assert [b.id for b in client.batches.list(limit=10, extra_query={"provider": PROVIDER}).data] == [batch.id]

    deleted = client.files.delete(uploaded.id, extra_query={"provider": PROVIDER})
    assert deleted.deleted is True
    assert gemini_file not in fake.file_names(KEY)  # the Gemini copy goes too
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id, extra_query={"provider": PROVIDER})


def test_the_lines_model_serves_when_the_batch_names_none(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("Hi", model="models/gemini-2.5-flash")))
    batch = create(client, uploaded.id)
    assert batch.model == "gemini-2.5-flash"
    (created,) = sent(fake, "POST", ":batchGenerateContent")
    assert created.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"


def test_lines_may_leave_the_model_to_the_batch(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl({"messages": [{"role": "user", "content": "Hi"}]}))
    with pytest.raises(openai.BadRequestError) as caught:  # no model anywhere: never a silent default
        create(client, uploaded.id)
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "missing_model" and "'req-1'" in error["message"]
    assert sent(fake, "POST", ":batchGenerateContent") == []
    batch = create(client, uploaded.id, model="gemini-2.0-flash")
    assert finish(client, batch.id).status == "completed"
    assert sent(fake, "POST", ":batchGenerateContent")[0].path == "/v1beta/models/gemini-2.0-flash:batchGenerateContent"


def test_a_batch_model_that_contradicts_the_lines_is_a_400(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("Hi")))
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, uploaded.id, model="gemini-2.5-pro")
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "model_mismatch"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, jsonl(ask("Hi"), ask("Ho", model="gemini-2.5-pro")))
    assert isinstance(caught.value.body, dict) and "'req-2'" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        create(client, uploaded.id, model="../files/x")
    assert sent(fake, "POST", ":batchGenerateContent") == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (ask("Hi", stop=["a", "b", "c", "d", "e"]), "body.stop"),  # OpenAI's limit is 4 (Gemini's 5)
        # reasoning_effort without a model: the 400 asks for the model on the line
        ({"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "low"}, "(body.model)"),
        (
            {
                "model": MODEL,
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}
                ],
            },
            "input_audio",
        ),
        (ask("Hi", logit_bias={"50256": -100}), "body.logit_bias"),  # logprobs translate now (issue 19)
    ],
)
def test_a_line_gemini_cannot_take_fails_the_upload(
    client: OpenAI, fake: Any, body: dict[str, Any], named: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, jsonl(ask("fine"), body))
    error = caught.value.body
    assert isinstance(error, dict) and "custom_id 'req-2'" in error["message"] and named in error["message"]
    assert fake.file_names(KEY) == [] and client.files.list(extra_query={"provider": PROVIDER}).data == []


def test_four_stop_sequences_reach_gemini(client: OpenAI, fake: Any) -> None:
    upload(client, jsonl(ask("Hi", stop=["a", "b", "c", "d"])))
    (name,) = fake.file_names(KEY)
    line = json.loads(fake.file_bytes(name))
    assert line["request"]["generationConfig"]["stopSequences"] == ["a", "b", "c", "d"]


def test_error_lines_and_blocked_prompts_go_to_the_error_file(client: OpenAI) -> None:
    uploaded = upload(client, jsonl(ask("Hello"), ask("please FAIL"), ask("BLOCK me")))
    done = finish(client, create(client, uploaded.id).id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 1, 2)
    assert list(lines_of(client, done.output_file_id)) == ["req-1"]
    errors = lines_of(client, done.error_file_id)
    assert sorted(errors) == ["req-2", "req-3"]
    assert errors["req-2"]["response"]["status_code"] == 400
    assert "FAIL" in errors["req-2"]["response"]["body"]["error"]["message"]
    blocked = errors["req-3"]["response"]["body"]["error"]
    assert blocked["code"] == "prompt_blocked" and "SAFETY" in blocked["message"]


def test_results_are_matched_by_key_then_by_position(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one"), ask("two"), ask("three")))
    batch = create(client, uploaded.id)
    (name,) = fake.batch_names(KEY)
    operation = fake.run_to_end(name)
    results_file = operation["metadata"]["output"]["responsesFile"]
    lines = [json.loads(line) for line in fake.file_bytes(results_file).splitlines()]
    del lines[1]["key"]  # a line without its key keeps its place: it is the second request's
    with fake._lock:  # keyed lines are found wherever they are
        fake._files[results_file.removeprefix("files/")].data = b"".join(
            json.dumps(line).encode() + b"\n" for line in [lines[2], lines[1], lines[0]]
        )
    done = finish(client, batch.id)
    output = lines_of(client, done.output_file_id)
    assert {cid: line["response"]["body"]["choices"][0]["message"]["content"] for cid, line in output.items()} == {
        "req-1": "echo: one",
        "req-2": "echo: two",
        "req-3": "echo: three",
    }


def test_cancel(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one"), ask("two")))
    batch = create(client, uploaded.id)
    cancelling = client.batches.cancel(batch.id, extra_body={"provider": PROVIDER})
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    (cancel,) = sent(fake, "POST", ":cancel")
    assert cancel.path.startswith("/v1beta/batches/") and cancel.headers["x-goog-api-key"] == KEY
    done = finish(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None
    assert done.output_file_id is None
    errors = lines_of(client, done.error_file_id)
    assert sorted(errors) == ["req-1", "req-2"]
    assert {line["error"]["code"] for line in errors.values()} == {"batch_cancelled"}
    assert done.request_counts is not None and (done.request_counts.total, done.request_counts.failed) == (2, 2)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id, extra_body={"provider": PROVIDER})


def test_an_expired_batch_ends_expired(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one")))
    batch = create(client, uploaded.id)
    fake.expire(fake.batch_names(KEY)[0])
    done = finish(client, batch.id)
    assert done.status == "expired" and done.expired_at is not None
    errors = lines_of(client, done.error_file_id)
    assert errors["req-1"]["error"]["code"] == "batch_expired"


def test_a_failed_batch_fails_with_gemini_s_message(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one")))
    batch = create(client, uploaded.id)
    name = fake.batch_names(KEY)[0]
    failed = fake.operation(name)
    failed["metadata"]["state"] = "JOB_STATE_FAILED"  # the SDK's spelling is read as well as BATCH_STATE_*
    failed["done"] = True
    failed["error"] = {"code": 400, "message": "The input file is malformed.", "status": "INVALID_ARGUMENT"}
    fake.inject(200, failed, path_contains=name.removeprefix("batches/"), method="GET")
    done = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
    assert done.status == "failed" and done.failed_at is not None
    assert done.errors is not None and done.errors.data is not None
    assert "The input file is malformed." in (done.errors.data[0].message or "")
    assert done.output_file_id is None and done.error_file_id is None


@pytest.mark.parametrize(
    ("status", "error_type", "sdk_error"),
    [
        (429, "rate_limit_error", openai.RateLimitError),
        (400, "invalid_request_error", openai.BadRequestError),
        (503, "upstream_error", openai.InternalServerError),
    ],
)
def test_gemini_errors_come_back_openai_shaped(
    client: OpenAI, fake: Any, status: int, error_type: str, sdk_error: type[Exception]
) -> None:
    uploaded = upload(client, jsonl(ask("one")))
    fake.inject(status, path_contains=":batchGenerateContent")
    with pytest.raises(sdk_error) as caught:
        create(client, uploaded.id)
    body = caught.value.body  # type: ignore[attr-defined]
    assert isinstance(body, dict) and body["type"] == error_type and body["message"].startswith("Gemini: ")
    assert client.batches.list(extra_query={"provider": PROVIDER}).data == []  # nothing half-written


def test_a_failed_upload_leaves_nothing(client: OpenAI, fake: Any) -> None:
    fake.inject(500, path_contains="/upload/")
    with pytest.raises(openai.InternalServerError):
        upload(client, jsonl(ask("one")))
    assert client.files.list(extra_query={"provider": PROVIDER}).data == []


def test_large_uploads_go_in_chunks(client: OpenAI, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from batchbridge.providers import gemini

    monkeypatch.setattr(gemini, "CHUNK_BYTES", 1000)
    content = jsonl(*(ask(f"question {n} " + "x" * 50) for n in range(40)))
    uploaded = upload(client, content)
    chunks = [r for r in fake.requests if "upload_id=" in r.path or r.query.get("upload_id")]
    assert len(chunks) > 3
    assert [r.headers["x-goog-upload-command"] for r in chunks] == ["upload"] * (len(chunks) - 1) + ["upload, finalize"]
    offsets = [int(r.headers["x-goog-upload-offset"]) for r in chunks]
    assert offsets == [n * 1000 for n in range(len(chunks))]
    (name,) = fake.file_names(KEY)
    assert len(fake.file_bytes(name).splitlines()) == 40
    done = finish(client, create(client, uploaded.id).id)
    assert done.request_counts is not None and done.request_counts.completed == 40


def test_a_key_gemini_rejects_is_a_401(client: OpenAI, fake: Any) -> None:
    fake.api_keys = {"some-other-key"}  # Gemini answers 400 API_KEY_INVALID
    with pytest.raises(openai.AuthenticationError) as caught:
        upload(client, jsonl(ask("one")))
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_api_key"


def test_results_come_through_the_other_download_path(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one")))
    batch = create(client, uploaded.id)
    fake.run_to_end(fake.batch_names(KEY)[0])
    # The SDK's path refused (as a server routing /v1beta/files/{id} generically might): Google's REST path serves.
    fake.inject(403, path_contains=":download", method="GET")
    done = finish(client, batch.id)
    assert done.status == "completed"
    assert lines_of(client, done.output_file_id)["req-1"]["response"]["status_code"] == 200
    downloads = [r.path for r in fake.requests if ":download" in r.path]
    assert downloads[0].startswith("/v1beta/files/") and downloads[-1].startswith("/download/v1beta/files/")


def test_an_unreadable_result_line_keeps_its_place(client: OpenAI, fake: Any) -> None:
    uploaded = upload(client, jsonl(ask("one"), ask("two"), ask("three")))
    batch = create(client, uploaded.id)
    results_file = fake.run_to_end(fake.batch_names(KEY)[0])["metadata"]["output"]["responsesFile"]
    lines = fake.file_bytes(results_file).splitlines()
    third = json.loads(lines[2])
    del third["key"]
    with fake._lock:
        fake._files[results_file.removeprefix("files/")].data = b"\n".join(
            [lines[0], b"{not json", json.dumps(third).encode()]
        )
    done = finish(client, batch.id)
    assert list(lines_of(client, done.output_file_id)) == ["req-1", "req-3"]  # req-3 by position, after the bad line
    errors = lines_of(client, done.error_file_id)
    assert errors["req-2"]["error"]["code"] == "provider_bad_result"


def test_a_succeeded_batch_without_results_is_never_finalized_as_unrun(
    client: OpenAI, fake: Any, work_queue: Any
) -> None:
    uploaded = upload(client, jsonl(ask("one")))
    batch = create(client, uploaded.id)
    name = fake.batch_names(KEY)[0]
    succeeded = fake.run_to_end(name)
    del succeeded["metadata"]["output"], succeeded["response"]
    fake.inject(200, succeeded, path_contains=name.removeprefix("batches/"), method="GET", times=50)
    for _ in range(3):
        polled = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
    assert polled.status == "finalizing" and polled.output_file_id is None and polled.error_file_id is None


def test_a_results_download_dropped_half_way_loses_and_duplicates_nothing(client: OpenAI, fake: Any) -> None:
    fake.cut_downloads = 2  # the first two downloads of the responses file break off mid-body
    uploaded = upload(client, jsonl(ask("one"), ask("two"), ask("three")))
    batch = create(client, uploaded.id)
    for _ in range(10):
        polled = client.batches.retrieve(batch.id, extra_query={"provider": PROVIDER})
        if polled.status == "completed":
            break
        assert polled.output_file_id is None  # never a short file in between
    assert polled.status == "completed" and fake.cut_downloads == 0
    assert sorted(lines_of(client, polled.output_file_id)) == ["req-1", "req-2", "req-3"]  # each exactly once


# The OpenAI Cookbook's first batch example (examples/batch_processing.ipynb): movie descriptions classified in
# JSON mode. Only the model name and the provider extras differ from the notebook.
MOVIES = OVERVIEWS


def cookbook_tasks(response_format: dict[str, Any]) -> bytes:
    tasks = cookbook.cookbook_tasks("gemini-2.5-flash", response_format)
    return "\n".join(json.dumps(task) for task in tasks).encode()


CATEGORIES_SCHEMA = MOVIE_SCHEMA


def run_cookbook_batch(client: OpenAI, response_format: dict[str, Any]) -> list[str]:
    """Upload, create, poll and read the results as the notebook does; the answers' content strings."""
    batch_file = client.files.create(
        file=("batch_tasks_movies.jsonl", cookbook_tasks(response_format), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": PROVIDER},
    )
    batch_job = client.batches.create(
        input_file_id=batch_file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": PROVIDER},
    )
    batch_job = finish(client, batch_job.id)
    assert batch_job.status == "completed" and batch_job.error_file_id is None
    assert batch_job.output_file_id is not None
    result = client.files.content(batch_job.output_file_id).content
    results = []
    for line in result.decode().splitlines():
        json_object = json.loads(line.strip())
        assert_valid("BatchRequestOutput", json_object)
        results.append(json_object)
    contents = []
    for res in results:
        task_id = res["custom_id"]
        index = task_id.split("-")[-1]
        assert MOVIES[int(index)]
        contents.append(res["response"]["body"]["choices"][0]["message"]["content"])
    return contents


def test_the_cookbook_json_mode_batch_runs_on_gemini(client: OpenAI, fake: Any) -> None:
    contents = run_cookbook_batch(client, {"type": "json_object"})
    sent = [json.loads(line)["request"] for line in fake.file_bytes(sent_file(fake)).splitlines()]
    assert sent[0]["generationConfig"] == {"temperature": 0.1, "responseMimeType": "application/json"}
    assert sent[0]["systemInstruction"] == {"parts": [{"text": CATEGORIZE_SYSTEM_PROMPT}]}
    assert [json.loads(content) for content in contents] == [{"echo": movie} for movie in MOVIES]


def test_the_cookbook_batch_with_a_json_schema_runs_on_gemini(client: OpenAI, fake: Any) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "movie_categories", "strict": True, "schema": CATEGORIES_SCHEMA},
    }
    contents = run_cookbook_batch(client, response_format)
    sent = [json.loads(line)["request"] for line in fake.file_bytes(sent_file(fake)).splitlines()]
    assert sent[0]["generationConfig"] == {
        "temperature": 0.1,
        "responseMimeType": "application/json",
        "responseJsonSchema": CATEGORIES_SCHEMA,  # JSON Schema, as the notebook wrote it
    }
    answers = [json.loads(content) for content in contents]
    assert answers == [{"categories": [movie], "summary": movie} for movie in MOVIES]
    assert all(list(answer) == ["categories", "summary"] for answer in answers)  # the schema's order


def sent_file(fake: Any) -> str:
    """The Gemini file the gateway uploaded the converted lines as (the batch's input)."""
    (created,) = sent(fake, "POST", ":batchGenerateContent")
    return str(created.json()["batch"]["inputConfig"]["fileName"])


def test_a_pydantic_style_schema_runs_on_gemini_as_written(client: OpenAI, fake: Any) -> None:
    # What Pydantic generates for a recursive model with optional and bounded fields: $defs, a recursive $ref,
    # anyOf with null, an integer enum, a format, bounds; none of it converted, all of it Gemini's to honour.
    schema = {
        "$defs": {
            "Category": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "format": "uuid"},
                    "parents": {"type": "array", "items": {"$ref": "#/$defs/Category"}, "uniqueItems": True},
                },
                "required": ["name", "parents"],
            }
        },
        "type": "object",
        "properties": {
            "category": {"$ref": "#/$defs/Category"},
            "year": {"anyOf": [{"type": "integer", "multipleOf": 1, "minimum": 1900}, {"type": "null"}]},
            "stars": {"type": "integer", "enum": [3, 4, 5]},
        },
        "required": ["category", "year", "stars"],
    }
    line = ask(
        "Hi",
        model="gemini-2.5-flash",
        response_format={"type": "json_schema", "json_schema": {"name": "m", "schema": schema}},
    )
    done = finish(client, create(client, upload(client, jsonl(line)).id).id)
    assert done.status == "completed" and done.error_file_id is None
    request = json.loads(fake.file_bytes(sent_file(fake)))["request"]
    assert request["generationConfig"]["responseJsonSchema"] == schema
    answer = json.loads(
        lines_of(client, done.output_file_id)["req-1"]["response"]["body"]["choices"][0]["message"]["content"]
    )
    assert (answer["year"], answer["stars"]) == (1900, 3) and answer["category"]["name"] == "Hi"


def test_a_strict_schema_outside_openai_s_rules_fails_the_upload_naming_the_rule(client: OpenAI, fake: Any) -> None:
    schema = {**CATEGORIES_SCHEMA, "required": ["categories"]}  # strict mode wants every property required
    strict = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, jsonl(ask("fine"), ask("Hi", response_format=strict)))
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "body.response_format.json_schema.schema.required"
    assert "custom_id 'req-2'" in error["message"] and "must list every property" in error["message"]
    assert fake.file_names(KEY) == []
    loose = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}  # not strict: Gemini's to hold
    upload(client, jsonl(ask("Hi", response_format=loose)))
    assert len(fake.file_names(KEY)) == 1


def test_reasoning_n_and_logprobs_come_back_in_openai_shape(client: OpenAI, fake: Any) -> None:
    lines = jsonl(
        ask("Think", model="gemini-2.5-flash", reasoning_effort="low", max_completion_tokens=500),
        ask("Twice please", model="gemini-2.5-flash", n=2),
        ask("How sure", model="gemini-2.5-flash", logprobs=True, top_logprobs=2),
    )
    done = finish(client, create(client, upload(client, lines).id).id)
    assert done.status == "completed" and done.error_file_id is None
    output = lines_of(client, done.output_file_id)
    thought = output["req-1"]["response"]["body"]
    assert thought["choices"][0]["message"]["content"] == "echo: Think"  # no thought text in the answer
    usage = thought["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 7  # the fake's thoughtsTokenCount
    assert usage["completion_tokens"] == 2 + 7 and usage["total_tokens"] == usage["prompt_tokens"] + 9
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    twice = output["req-2"]["response"]["body"]["choices"]
    assert [(c["index"], c["message"]["content"]) for c in twice] == [
        (0, "echo: Twice please"),
        (1, "echo: Twice please"),
    ]
    logprobs = output["req-3"]["response"]["body"]["choices"][0]["logprobs"]
    assert [token["token"] for token in logprobs["content"]] == ["echo:", "How", "sure"]
    assert all(len(token["top_logprobs"]) == 2 for token in logprobs["content"])
