"""The one builder of OpenAI batch-output lines (``domain.output_lines``), the result context the finalizer passes
the adapters, and the translations keyed by endpoint (``domain.endpoints``): the same lines, bytes and 400s as
before they were gathered."""

from __future__ import annotations

import hashlib
import io
from typing import Any, cast

import pytest

from batchbridge.domain import codec, output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT, EMBEDDINGS_ENDPOINT, translation
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.executor import answer_line, output_line
from batchbridge.domain.executor.views import failed_line
from batchbridge.domain.jsonl import table_requests
from batchbridge.domain.ports import BatchRequest, Credentials, ResultContext
from batchbridge.domain.records import FileRecord
from batchbridge.domain.translate import anthropic, bedrock, gemini
from batchbridge.providers.anthropic import AnthropicAdapter
from batchbridge.providers.bedrock import BedrockAdapter
from batchbridge.providers.compat import CompatAdapter
from batchbridge.providers.gemini import GeminiAdapter

LINE, CID = "batch_req_0123", "req-1"
KEYS = ["id", "custom_id", "response", "error"]
CHAT = {"id": "chatcmpl-1", "object": "chat.completion"}


def encoded(line: dict[str, Any]) -> bytes:
    """A line as the output files hold it."""
    return codec.dumps_line(line)


# --------------------------------------------------------------------------------------------------------------
# the builder


def test_a_success_is_an_output_line_answered_200() -> None:
    role, line = output_lines.success(LINE, CID, CHAT, "req_9")
    assert role == "output"
    assert list(line) == KEYS
    assert encoded(line) == (
        b'{"id":"batch_req_0123","custom_id":"req-1","response":{"status_code":200,"request_id":"req_9",'
        b'"body":{"id":"chatcmpl-1","object":"chat.completion"}},"error":null}\n'
    )
    assert output_lines.success(LINE, CID, CHAT)[1]["response"]["request_id"] == ""


def test_an_http_error_is_an_error_line_with_its_status_and_body() -> None:
    body = output_lines.error_body("Overloaded", "overloaded_error")
    role, line = output_lines.http_error(LINE, CID, 529, body, "req_2")
    assert role == "error"
    assert list(line) == KEYS
    assert line["response"] == {"status_code": 529, "request_id": "req_2", "body": body}
    assert line["error"] is None
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert body == {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}}


@pytest.mark.parametrize(("status", "role"), [(200, "output"), (201, "output"), (299, "output"), (300, "error")])
def test_an_answer_goes_to_the_file_its_status_says(status: int, role: str) -> None:
    got, line = output_lines.answered(LINE, CID, status, {"x": 1}, "r")
    assert got == role == output_lines.role_of(line)
    assert line == {
        "id": LINE,
        "custom_id": CID,
        "response": {"status_code": status, "request_id": "r", "body": {"x": 1}},
        "error": None,
    }


@pytest.mark.parametrize(
    ("status", "message", "text", "kind"),
    [
        (400, "bad input", "bad input", "invalid_request_error"),
        (429, None, "", "invalid_request_error"),
        (500, 12, "12", "server_error"),
        (503, {"detail": "x"}, "{'detail': 'x'}", "server_error"),
    ],
)
def test_a_provider_error_is_typed_by_its_status(status: int, message: Any, text: str, kind: str) -> None:
    role, line = output_lines.provider_error(LINE, CID, status, message, "RESOURCE_EXHAUSTED")
    assert role == "error"
    assert line["response"] == {
        "status_code": status,
        "request_id": "",
        "body": {"error": {"message": text, "type": kind, "param": None, "code": "RESOURCE_EXHAUSTED"}},
    }


@pytest.mark.parametrize(
    ("code", "expired", "message"),
    [
        ("batch_cancelled", False, "The batch was cancelled before this request ran."),
        ("batch_expired", False, "The batch ended before this request ran."),
        ("batch_expired", True, "The batch expired before this request ran."),
    ],
)
def test_an_unrun_request_says_why(code: str, expired: bool, message: str) -> None:
    role, line = output_lines.unrun(LINE, CID, code, expired=expired)
    assert role == "error"
    assert list(line) == KEYS
    assert line == {"id": LINE, "custom_id": CID, "response": None, "error": {"code": code, "message": message}}


def test_a_result_the_gateway_cannot_read_is_an_error_line_naming_the_problem() -> None:
    problem = output_lines.bad_response("bedrock", "a record with neither modelOutput nor error")
    assert (problem.status, problem.type, problem.code) == (502, "upstream_error", "provider_bad_response")
    assert problem.message == "The bedrock provider returned a record with neither modelOutput nor error."
    role, line = output_lines.bad_result(LINE, CID, problem.message)
    assert role == "error"
    assert line["response"] is None
    assert line["error"] == {
        "code": "provider_bad_result",
        "message": "The provider's result could not be read: The bedrock provider returned a record with neither "
        "modelOutput nor error.",
    }


def test_a_request_never_answered_failed() -> None:
    role, line = output_lines.failed("", CID, "The endpoint could not be reached (ConnectError).")
    assert role == "error"
    assert line == {
        "id": "",
        "custom_id": CID,
        "response": None,
        "error": {"code": "request_failed", "message": "The endpoint could not be reached (ConnectError)."},
    }


def test_a_stored_line_is_placed_with_its_ids_keeping_its_order() -> None:
    _, stored = output_lines.answered("", "provider-id", 404, {"error": {}}, "r")
    role, line = output_lines.placed(stored, LINE, CID)
    assert role == "error"
    assert list(line) == KEYS
    assert (line["id"], line["custom_id"]) == (LINE, CID)
    assert stored["id"] == ""  # the stored line is left as it was


@pytest.mark.parametrize(
    "line",
    [
        {"response": None, "error": {"code": "x"}},
        {"response": {"status_code": "200"}},
        {"response": {"status_code": 500}},
        {},
    ],
)
def test_anything_but_a_2xx_answer_is_for_the_error_file(line: dict[str, Any]) -> None:
    assert output_lines.role_of(line) == "error"


def test_derived_ids_keep_their_format() -> None:
    completion = output_lines.completion_id(LINE)
    assert completion == "chatcmpl-" + hashlib.sha256(LINE.encode()).hexdigest()[:29]
    assert len(completion) == 38 and completion == output_lines.completion_id(LINE)
    assert output_lines.completion_id("batch_req_other") != completion
    call = output_lines.tool_call_id(completion, 0, 2)
    assert call == "call_" + hashlib.sha256(f"{completion}:0:2".encode()).hexdigest()[:24]
    # the translations' own names for it are the builder's
    assert bedrock.completion_id is gemini.completion_id is output_lines.completion_id


# --------------------------------------------------------------------------------------------------------------
# every line is the builder's


def context(model: str = "") -> ResultContext:
    return ResultContext(CHAT_ENDPOINT, model, 1_700_000_000, CID, LINE)


def test_the_executors_lines_are_the_builders() -> None:
    stored = answer_line(line_id="", custom_id=CID, status=200, body={"x": 1}, request_id=None, error=None)
    assert stored == output_lines.answered("", CID, 200, {"x": 1})[1]
    assert failed_line(CID, "no") == output_lines.failed("", CID, "no")[1]
    unanswered = answer_line(line_id="", custom_id=CID, status=None, body=None, request_id=None, error=None)
    assert unanswered == output_lines.failed("", CID, "The endpoint did not answer.")[1]
    assert output_line(stored, custom_id=CID, line_id=LINE) == output_lines.placed(stored, LINE, CID)


def test_each_translation_builds_its_lines_with_the_builder() -> None:
    message = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    role, line = anthropic.chat_result({"result": {"type": "succeeded", "message": message}}, context())
    assert (role, line) == output_lines.success(LINE, CID, line["response"]["body"], "msg_1")
    expired = anthropic.chat_result({"result": {"type": "expired"}}, context())
    assert expired == output_lines.unrun(LINE, CID, "batch_expired", expired=True)
    nova = {"output": {"message": {"content": [{"text": "hi"}]}}, "stopReason": "end_turn", "usage": {}}
    role, line = bedrock.chat_result({"modelOutput": nova}, context("amazon.nova-pro-v1:0"))
    assert (role, line) == output_lines.success(LINE, CID, line["response"]["body"])
    assert line["response"]["body"]["id"] == output_lines.completion_id(LINE)
    assert line["response"]["body"]["model"] == "amazon.nova-pro-v1:0"  # the context's model
    error = bedrock.chat_result({"error": {"errorCode": 429, "errorMessage": "slow"}}, context("amazon.nova-pro-v1:0"))
    assert error == output_lines.provider_error(LINE, CID, 429, "slow", None)
    response = {"candidates": [{"content": {"parts": [{"text": "hi"}]}}], "responseId": "r1"}
    role, line = gemini.chat_result({"response": response}, context("gemini-2.5-flash"))
    assert (role, line) == output_lines.success(LINE, CID, line["response"]["body"], "r1")
    assert line["response"]["body"]["model"] == "gemini-2.5-flash"  # no modelVersion: the context's model
    answered = gemini.chat_result({"response": {**response, "modelVersion": "gemini-2.5-flash-001"}}, context("m"))
    assert answered[1]["response"]["body"]["model"] == "gemini-2.5-flash-001"  # the model that answered


def test_a_result_the_translation_cannot_read_names_its_provider() -> None:
    for translate, raw, name in (
        (anthropic.chat_result, {"result": {"type": "mystery"}}, "anthropic"),
        (bedrock.chat_result, {"recordId": "r1"}, "bedrock"),
        (gemini.chat_result, {"key": "k"}, "gemini"),
    ):
        with pytest.raises(GatewayError) as caught:
            translate(raw, context("amazon.nova-pro-v1:0"))
        assert caught.value.message.startswith(f"The {name} provider returned ")
        assert caught.value.code == "provider_bad_response"


# --------------------------------------------------------------------------------------------------------------
# the context the adapters read results with, and their tables by endpoint


def test_adapters_convert_by_their_table_for_the_contexts_endpoint() -> None:
    """The model comes with the context (no adapter writes it into the raw line any more), and the line is left
    as the provider gave it."""
    nova = {"recordId": "r1", "modelOutput": {"output": {"message": {"content": [{"text": "hi"}]}}}}
    adapter = BedrockAdapter(bucket=None, role_arn=None, min_records=1, client=lambda service, region: None)
    before = codec.dumps(nova)
    role, line = adapter.output_line(nova, context("us.amazon.nova-pro-v1:0"))
    assert role == "output" and line["response"]["body"]["model"] == "us.amazon.nova-pro-v1:0"
    assert codec.dumps(nova) == before
    gemini_line = {"key": "k", "response": {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}}
    role, line = GeminiAdapter("http://127.0.0.1:1", timeout=1.0).output_line(gemini_line, context("gemini-x"))
    assert role == "output" and line["response"]["body"]["model"] == "gemini-x"
    assert set(gemini_line) == {"key", "response"}


@pytest.mark.parametrize("module", [anthropic, bedrock, gemini])
def test_each_translation_is_a_table_keyed_by_endpoint(module: Any) -> None:
    assert set(module.REQUESTS) == set(module.RESULTS) == {CHAT_ENDPOINT}


def test_an_endpoint_a_table_does_not_hold_is_the_400_it_always_was() -> None:
    assert translation({CHAT_ENDPOINT: 1}, CHAT_ENDPOINT, "unused {endpoint}") == 1
    with pytest.raises(GatewayError) as caught:
        translation({CHAT_ENDPOINT: 1, EMBEDDINGS_ENDPOINT: 2}, "/v1/x", "X runs {endpoints} only, not {endpoint!r}.")
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, "endpoint", "unsupported_endpoint")
    assert caught.value.message == "X runs '/v1/chat/completions' and '/v1/embeddings' only, not '/v1/x'."


def refusal(adapter: Any, request: BatchRequest) -> str:
    with pytest.raises(GatewayError) as caught:
        adapter.create_batch(Credentials("key"), request)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, "endpoint", "unsupported_endpoint")
    return caught.value.message


def batch_request(endpoint: str) -> BatchRequest:
    file = FileRecord(
        id="file-1",
        owner="o",
        provider="p",
        filename="in.jsonl",
        bytes=1,
        purpose="batch",
        created_at=1,
        provider_file_id="files/abc",
        blob_key="files/file-1",
        request_count=1,
    )
    return BatchRequest(
        batch_id="batch_1",
        input_file=file,
        open_input=lambda: iter([b""]),
        endpoint=endpoint,
        completion_window="24h",
        metadata=None,
        output_expires_after_seconds=None,
        extras={},
    )


def test_each_provider_refuses_an_endpoint_in_its_own_words() -> None:
    request = batch_request("/v1/embeddings")
    assert refusal(AnthropicAdapter("http://127.0.0.1:1", timeout=1.0), request) == (
        "Anthropic batches run '/v1/chat/completions' only, not '/v1/embeddings'."
    )
    assert refusal(GeminiAdapter("http://127.0.0.1:1", timeout=1.0), request) == (
        "Gemini batches run '/v1/chat/completions' only, not '/v1/embeddings'."
    )
    bedrock_adapter = BedrockAdapter(bucket=None, role_arn=None, min_records=1, client=lambda service, region: None)
    assert refusal(bedrock_adapter, request) == "Bedrock batches run '/v1/chat/completions' only."
    assert refusal(CompatAdapter(cast(Any, None)), batch_request("/v1/responses")) == (
        "openai-compatible batches run /v1/chat/completions and /v1/embeddings, not '/v1/responses'."
    )


def test_an_input_line_calling_another_endpoint_is_the_400_it_always_was() -> None:
    lines = b'{"custom_id": "a", "url": "/v1/chat/completions", "body": {}}\n'
    lines += b'{"custom_id": "b", "url": "/v1/embeddings", "body": {}}\n'
    read = table_requests(io.BytesIO(lines), "Gemini", gemini.REQUESTS)
    custom_id, translate, body = next(read)
    assert (custom_id, translate, body) == ("a", gemini.chat_to_request, {})
    with pytest.raises(GatewayError) as caught:
        next(read)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, "file", "unsupported_endpoint")
    assert caught.value.message == "custom_id 'b': Gemini runs '/v1/chat/completions' only, not '/v1/embeddings'."
