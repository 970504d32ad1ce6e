"""Bedrock's on-demand runs on the executor: its targets made from their names, the routing sender, a run started
from lines, and the runtime sender's retry rules (never more than MAX_SENDS_UNANSWERED sends without an answer)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from batchbridge.domain.executor import MAX_SENDS_UNANSWERED, SendTarget, parse_chunk_ref
from batchbridge.domain.executor.routing import RoutingSender, Targets
from batchbridge.domain.ports import UnrunResult
from batchbridge.domain.translate.bedrock import RESULTS
from batchbridge.providers import bedrock_on_demand
from batchbridge.providers.bedrock_runtime import ATTEMPTS, BedrockRuntimeSender
from tests.unit.test_executor import ENDPOINT, World

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def test_targets_are_made_from_their_names() -> None:
    targets = Targets({"local": ENDPOINT}, {bedrock_on_demand.TARGET_KIND: bedrock_on_demand.send_target})
    name = bedrock_on_demand.target_name("us-west-2", "arn:aws:bedrock:us-west-2:1:inference-profile/us.x")
    target = targets[name]
    assert (target.sender, target.region, target.name) == ("bedrock-runtime", "us-west-2", name)
    assert targets[bedrock_on_demand.target_name(None, MODEL)].region is None
    assert targets.get("local") is ENDPOINT and list(targets) == ["local"]
    assert targets.get("bedrock-runtime/us-west-2/") is None and targets.get("other/x/y") is None


class Recording:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        self.sent.append(custom_id)
        return bedrock_on_demand.answer(custom_id, {"echo": body}, "req")


def test_the_routing_sender_builds_each_sender_on_its_first_send() -> None:
    built: list[str] = []
    recording = Recording()

    def make() -> Recording:
        built.append("bedrock")
        return recording

    routing = RoutingSender({"bedrock-runtime": make})
    target = bedrock_on_demand.send_target(bedrock_on_demand.target_name(None, MODEL))
    assert target is not None and built == []
    routing.send(target, MODEL, "r1", {})
    routing.send(target, MODEL, "r2", {})
    assert built == ["bedrock"] and recording.sent == ["r1", "r2"]
    with pytest.raises(LookupError):
        routing.send(ENDPOINT, "chat/completions", "x", {})  # no http sender given


class MemoryWriter:
    """A MultipartWriter into test_executor's MemoryBlobs (which has none of its own)."""

    def __init__(self, blobs: dict[str, bytes], key: str) -> None:
        self.blobs, self.key, self.parts = blobs, key, [b""]

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def complete(self) -> None:
        self.blobs[self.key] = b"".join(self.parts)

    def abort(self) -> None:
        self.parts = []


def test_a_run_started_from_lines_keeps_its_own_copy_and_reads_back_as_records() -> None:
    world = World()
    world.blobs.writer = lambda key, content_type, expire_days=None: MemoryWriter(world.blobs.blobs, key)  # type: ignore[attr-defined]
    name = bedrock_on_demand.target_name("eu-west-1", MODEL)
    target = bedrock_on_demand.send_target(name)
    assert target is not None
    world.executor.targets = {name: target}
    world.executor._sender = Recording()  # type: ignore[attr-defined]
    staged = b"".join(json.dumps({"recordId": f"r{n:010d}", "modelInput": {"n": n}}).encode() + b"\n" for n in range(3))
    run = bedrock_on_demand.run_id("batch_1", None)
    state = world.executor.start_lines(run, bedrock_on_demand.request_lines([staged[:10], staged[10:]]), MODEL, name)
    assert state.total == 3 and world.queue.sent == [("chunk", "batch_1#0")]
    copy = world.blobs.blobs["compat/batch_1/input.jsonl"]
    assert [json.loads(line) for line in copy.splitlines()] == [
        {"custom_id": f"r{n:010d}", "body": {"n": n}} for n in range(3)
    ]
    _, ref = world.queue.sent.pop()
    world.executor.run_chunk(*parse_chunk_ref(ref))
    reported = bedrock_on_demand.report(world.executor.state(run))
    assert (reported.raw_status, reported.model, reported.job_kind) == ("Completed", MODEL, "on_demand")
    results = list(world.executor.results(run))
    assert [custom_id for custom_id, _ in results] == [f"r{n:010d}" for n in range(3)]
    _, stored = results[0]
    assert not isinstance(stored, UnrunResult)
    assert stored["response"]["body"] == {"recordId": "r0000000000", "modelOutput": {"echo": {"n": 0}}}


def test_a_stored_answer_reads_as_the_job_s_record_would() -> None:
    from batchbridge.domain.ports import ResultContext

    context = ResultContext("/v1/chat/completions", MODEL, 1, "req-1", "batch_req_1")
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    answered = bedrock_on_demand.answer("r1", message, "req")
    translation = RESULTS["/v1/chat/completions"]
    assert bedrock_on_demand.output_line(answered, context, translation) == translation(
        {"recordId": "r1", "modelOutput": message}, context
    )
    refused = bedrock_on_demand.refusal("r1", 424, "ModelErrorException", "boom", "req")
    role, line = bedrock_on_demand.output_line(refused, context, translation)
    assert role == "error" and line["response"]["status_code"] == 424 and line["custom_id"] == "req-1"


class StubClient:
    """bedrock-runtime's client, its answers scripted: an exception to raise, or a body to answer."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []

    def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        step = self.script.pop(0) if self.script else {"ok": True}
        if isinstance(step, Exception):
            raise step
        return {"body": io.BytesIO(json.dumps(step).encode()), "ResponseMetadata": {"RequestId": "rid"}}


def error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} said"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeModel",
    )


def sender_of(client: StubClient, made: list[dict[str, Any]] | None = None) -> BedrockRuntimeSender:
    def make(service: str, **kwargs: Any) -> StubClient:
        if made is not None:
            made.append({"service": service, **kwargs})
        return client

    return BedrockRuntimeSender(make)


TARGET = bedrock_on_demand.send_target(bedrock_on_demand.target_name("us-west-2", MODEL))


def test_the_body_goes_as_it_is_and_the_answer_is_a_record() -> None:
    assert TARGET is not None
    client, made = StubClient({"content": []}), []  # type: ignore[var-annotated]
    line = sender_of(client, made).send(TARGET, MODEL, "r1", {"b": [1, "x"]})
    assert client.calls == [
        {"modelId": MODEL, "body": b'{"b":[1,"x"]}', "contentType": "application/json", "accept": "application/json"}
    ]
    assert line["response"] == {
        "status_code": 200,
        "request_id": "rid",
        "body": {"recordId": "r1", "modelOutput": {"content": []}},
    }
    (config,) = made
    assert config["service"] == "bedrock-runtime" and config["region_name"] == "us-west-2"
    assert config["config"].retries == {"mode": "standard", "total_max_attempts": 1}  # the sender's own retries
    assert config["config"].read_timeout == bedrock_on_demand.TIMEOUT_SECONDS


def test_throttling_is_retried_and_a_refusal_is_an_error_record(no_retry_waits: list[float]) -> None:
    assert TARGET is not None
    client = StubClient(error("ThrottlingException", 429), error("ServiceUnavailableException", 503), {"x": 1})
    assert sender_of(client).send(TARGET, MODEL, "r1", {})["response"]["status_code"] == 200
    assert len(client.calls) == 3 and len(no_retry_waits) == 2
    refused = sender_of(StubClient(error("ValidationException", 400))).send(TARGET, MODEL, "r2", {})
    assert refused["response"]["status_code"] == 400
    assert refused["response"]["body"]["error"] == {
        "errorCode": "ValidationException",
        "errorMessage": "ValidationException said",
    }
    throttled = StubClient(*[error("ThrottlingException", 429)] * ATTEMPTS)
    assert sender_of(throttled).send(TARGET, MODEL, "r3", {})["response"]["status_code"] == 429
    assert len(throttled.calls) == ATTEMPTS


def test_an_unanswered_send_is_sent_once_more_at_most_and_an_unreached_one_again(no_retry_waits: list[float]) -> None:
    assert TARGET is not None
    timeouts = StubClient(*[ReadTimeoutError(endpoint_url="https://bedrock-runtime")] * ATTEMPTS)
    line = sender_of(timeouts).send(TARGET, MODEL, "r1", {})
    assert len(timeouts.calls) == MAX_SENDS_UNANSWERED and line["error"]["code"] == "request_failed"
    assert f"after {MAX_SENDS_UNANSWERED} sends" in line["error"]["message"]
    unreached = StubClient(EndpointConnectionError(endpoint_url="https://x"), EndpointConnectionError(endpoint_url="x"))
    assert sender_of(unreached).send(TARGET, MODEL, "r2", {})["response"]["status_code"] == 200
    assert len(unreached.calls) == 3


def test_access_denied_says_nothing_of_the_account() -> None:
    assert TARGET is not None
    denied = ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform this",
            },
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "InvokeModel",
    )
    line = sender_of(StubClient(denied)).send(TARGET, MODEL, "r1", {})
    assert "123456789012" not in json.dumps(line) and line["response"]["status_code"] == 403
