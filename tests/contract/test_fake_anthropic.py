"""Contract tests: the fake Anthropic upstream (tests/fakes/anthropic_upstream.py) driven by the official SDK.

If the fake drifts from what the real SDK sends/parses, or from Anthropic's Message Batches API reference, these
fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.types import TextBlock, ThinkingBlock, ToolUseBlock
from anthropic.types.messages import (
    MessageBatchCanceledResult,
    MessageBatchErroredResult,
    MessageBatchExpiredResult,
    MessageBatchSucceededResult,
)

from tests.fakes.anthropic_upstream import FakeAnthropicState, create_app
from tests.fakes.server import LOOPBACK_TLS, running_server

API_KEY = "sk-ant-test"
OTHER_KEY = "sk-ant-other"
VERSION = "2023-06-01"
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
BATCH_KEYS = {
    "id",
    "type",
    "processing_status",
    "request_counts",
    "created_at",
    "expires_at",
    "ended_at",
    "cancel_initiated_at",
    "archived_at",
    "results_url",
}


@dataclass
class Fake:
    base_url: str
    state: FakeAnthropicState

    def client(self, api_key: str = API_KEY, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("http_client", anthropic.DefaultHttpxClient(verify=LOOPBACK_TLS))
        return anthropic.Anthropic(api_key=api_key, base_url=self.base_url, **kwargs)

    def raw(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """A plain HTTP call (no SDK), with ``x-api-key`` + ``anthropic-version`` unless ``headers`` says
        otherwise (a header given as "" is left out)."""
        sent = {"x-api-key": API_KEY, "anthropic-version": VERSION, **(headers or {})}
        sent = {k: v for k, v in sent.items() if v}
        return httpx.request(method, self.base_url + path, headers=sent, timeout=10, verify=LOOPBACK_TLS, **kwargs)


@pytest.fixture
def fake() -> Iterator[Fake]:
    app = create_app()
    with running_server(app) as base:
        yield Fake(base, app.state.fake)


@pytest.fixture
def client(fake: Fake) -> Iterator[anthropic.Anthropic]:
    c = fake.client()
    yield c
    c.close()


def req(custom_id: str, content: Any, *, model: str = "claude-sonnet-4-5", **params: Any) -> Any:
    """One batch request item (typed ``Any`` so it fits the SDK's TypedDict params)."""
    return {
        "custom_id": custom_id,
        "params": {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}], **params},
    }


def parse_ts(value: str) -> datetime:
    assert TS_RE.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_error(exc: anthropic.APIStatusError, status: int, type_: str, message: str | None = None) -> None:
    assert exc.status_code == status
    body = exc.body
    assert isinstance(body, dict)
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert body["error"]["type"] == type_
    assert exc.type == type_
    assert body["request_id"] == exc.request_id
    assert re.fullmatch(r"req_[A-Za-z0-9]{24}", body["request_id"])
    if message is not None:
        assert body["error"]["message"] == message


# ---------------------------------------------------------------------------------------------------------
# create / retrieve / results


def test_create_batch_shape_and_headers(fake: Fake, client: anthropic.Anthropic) -> None:
    raw = client.messages.batches.with_raw_response.create(requests=[req("a", "hello"), req("b", "bye")])
    body = raw.http_response.json()
    assert set(body) == BATCH_KEYS
    assert re.fullmatch(r"msgbatch_[A-Za-z0-9]{24}", body["id"])
    assert body["type"] == "message_batch"
    assert body["processing_status"] == "in_progress"
    assert body["request_counts"] == {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    created = parse_ts(body["created_at"])
    assert parse_ts(body["expires_at"]) - created == timedelta(hours=24)
    for key in ("ended_at", "cancel_initiated_at", "archived_at", "results_url"):
        assert body[key] is None
    assert re.fullmatch(r"req_[A-Za-z0-9]{24}", raw.http_response.headers["request-id"])
    batch = raw.parse()
    assert batch.id == body["id"]
    assert batch.created_at == created

    post = fake.state.requests[-1]
    assert (post.method, post.path) == ("POST", "/v1/messages/batches")
    assert post.headers["anthropic-version"]
    assert post.headers["authorization"] == f"Bearer {API_KEY}"  # what the SDK 2.x sends for api_key
    assert post.headers["content-type"] == "application/json"
    assert post.json() == {"requests": [req("a", "hello"), req("b", "bye")]}
    assert fake.state.batch_ids(API_KEY) == [batch.id]


def test_lifecycle_and_typed_results(fake: Fake, client: anthropic.Anthropic) -> None:
    tool = {"name": "lookup", "description": "look it up", "input_schema": {"type": "object"}}
    requests = [
        req("plain", "hello there world"),
        req(
            "blocks",
            [{"type": "text", "text": "first "}, {"type": "image", "source": {}}, {"type": "text", "text": "second"}],
            system="be terse",
        ),
        req("bad-model", "hi", model="invalid-model-x"),
        req("tooly", "please use a tool now", tools=[tool]),
        req("tools_no_trigger", "just talk", tools=[tool]),
        {
            "custom_id": "multi_turn",
            "params": {
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": "one"},
                    {"role": "assistant", "content": "two"},
                    {"role": "user", "content": "three four"},
                ],
            },
        },
    ]
    batch = client.messages.batches.create(requests=requests)

    ended = client.messages.batches.retrieve(batch.id)  # one GET = one step: in_progress -> ended
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 5,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.results_url == f"{fake.base_url}/v1/messages/batches/{batch.id}/results"
    assert ended.cancel_initiated_at is None
    again = client.messages.batches.with_raw_response.retrieve(batch.id).http_response.json()
    assert again["processing_status"] == "ended"
    assert TS_RE.fullmatch(again["ended_at"])

    results = list(client.messages.batches.results(batch.id))
    by_id = {r.custom_id: r.result for r in results}
    assert [r.custom_id for r in results] == [r["custom_id"] for r in reversed(requests)]  # not request order
    get = fake.state.requests[-1]
    assert get.path == f"/v1/messages/batches/{batch.id}/results"
    assert get.headers["accept"] == "application/binary"

    plain = by_id["plain"]
    assert isinstance(plain, MessageBatchSucceededResult)
    msg = plain.message
    assert re.fullmatch(r"msg_[A-Za-z0-9]{24}", msg.id)
    assert (msg.type, msg.role, msg.model) == ("message", "assistant", "claude-sonnet-4-5")
    assert isinstance(msg.content[0], TextBlock)
    assert msg.content[0].text == "echo: hello there world"
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)
    assert msg.usage.input_tokens == 3
    assert msg.usage.output_tokens == 4
    assert (msg.usage.cache_creation_input_tokens, msg.usage.cache_read_input_tokens) == (0, 0)

    blocks = by_id["blocks"]
    assert isinstance(blocks, MessageBatchSucceededResult)
    assert isinstance(blocks.message.content[0], TextBlock)
    assert blocks.message.content[0].text == "echo: first second"
    assert blocks.message.usage.input_tokens == 4  # "be terse" + "first second"

    bad = by_id["bad-model"]
    assert isinstance(bad, MessageBatchErroredResult)
    assert bad.error.type == "error"
    assert bad.error.error.type == "invalid_request_error"
    assert bad.error.error.message == "model: invalid-model-x not found"
    assert bad.error.request_id is not None and bad.error.request_id.startswith("req_")

    tooly = by_id["tooly"]
    assert isinstance(tooly, MessageBatchSucceededResult)
    assert tooly.message.stop_reason == "tool_use"
    block = tooly.message.content[0]
    assert isinstance(block, ToolUseBlock)
    assert re.fullmatch(r"toolu_[A-Za-z0-9]{24}", block.id)
    assert (block.name, block.input) == ("lookup", {"echo": "please use a tool now"})

    no_trigger = by_id["tools_no_trigger"]
    assert isinstance(no_trigger, MessageBatchSucceededResult)
    assert no_trigger.message.stop_reason == "end_turn"
    assert isinstance(no_trigger.message.content[0], TextBlock)
    assert no_trigger.message.content[0].text == "echo: just talk"

    multi = by_id["multi_turn"]
    assert isinstance(multi, MessageBatchSucceededResult)
    assert multi.message.model == "claude-haiku-4-5"
    assert isinstance(multi.message.content[0], TextBlock)
    assert multi.message.content[0].text == "echo: three four"
    assert multi.message.usage.input_tokens == 4


MOVIE: dict[str, Any] = {
    "type": "object",
    "properties": {"categories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}},
    "required": ["categories", "summary"],
    "additionalProperties": False,
}


def test_structured_outputs_forced_tools_and_thinking(client: anthropic.Anthropic) -> None:
    """What the gateway's translations send for response_format and reasoning_effort, answered as the Messages API
    answers it, and read by the SDK's own types."""
    answer_tool = {"name": "answer", "input_schema": MOVIE}
    requests = [
        req("native", "a heist movie", output_config={"format": {"type": "json_schema", "schema": MOVIE}}),
        req("forced", "a love story", tools=[answer_tool], tool_choice={"type": "tool", "name": "answer"}),
        req(
            "open",
            "anything",
            tools=[{"name": "j", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "j"},
        ),
        req("thinks", "why", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024}),
        req("adaptive", "why", thinking={"type": "adaptive"}, output_config={"effort": "low"}),
        req("small-budget", "why", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 512}),
        req("budget-over-max", "why", max_tokens=1024, thinking={"type": "enabled", "budget_tokens": 1024}),
        req(
            "thinking-forced",
            "why",
            max_tokens=3000,
            thinking={"type": "adaptive"},
            tools=[answer_tool],
            tool_choice={"type": "tool", "name": "answer"},
        ),
        req("thinking-cold", "why", temperature=0.2, thinking={"type": "adaptive"}),
        req("open-format", "x", output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}),
    ]
    batch = client.messages.batches.create(requests=requests)
    client.messages.batches.retrieve(batch.id)
    by_id = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}

    native = by_id["native"]
    assert isinstance(native, MessageBatchSucceededResult)
    [text] = native.message.content
    assert isinstance(text, TextBlock) and native.message.stop_reason == "end_turn"
    assert json.loads(text.text) == {"categories": ["a heist movie"], "summary": "a heist movie"}
    jsonschema.validate(json.loads(text.text), MOVIE)

    forced = by_id["forced"]
    assert isinstance(forced, MessageBatchSucceededResult)
    [call] = forced.message.content
    assert isinstance(call, ToolUseBlock) and forced.message.stop_reason == "tool_use"
    assert call.name == "answer"
    jsonschema.validate(call.input, MOVIE)
    opened = by_id["open"]
    assert isinstance(opened, MessageBatchSucceededResult) and isinstance(opened.message.content[0], ToolUseBlock)
    assert opened.message.content[0].input == {"echo": "anything"}

    for custom_id in ("thinks", "adaptive"):
        thinks = by_id[custom_id]
        assert isinstance(thinks, MessageBatchSucceededResult)
        thought, answer = thinks.message.content
        assert isinstance(thought, ThinkingBlock) and isinstance(answer, TextBlock)
        assert answer.text == "echo: why"
        details = thinks.message.usage.output_tokens_details
        assert details is not None and details.thinking_tokens == 3  # "Thinking about: why"
        assert thinks.message.usage.output_tokens == 3 + 2

    for custom_id, message in (
        ("small-budget", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        ("budget-over-max", "`max_tokens` must be greater than `thinking.budget_tokens`."),
        ("thinking-forced", "Thinking may not be enabled when tool_choice forces tool use."),
        ("thinking-cold", "`temperature` may only be set to 1 when thinking is enabled."),
        (
            "open-format",
            "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
        ),
    ):
        refused = by_id[custom_id]
        assert isinstance(refused, MessageBatchErroredResult), custom_id
        assert (refused.error.error.type, refused.error.error.message) == ("invalid_request_error", message)


def test_results_raw_jsonl(fake: Fake, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("x1", "alpha"), req("x2", "beta", model="invalid-m")])
    fake.state.run_to_end(batch.id)
    resp = fake.raw("GET", f"/v1/messages/batches/{batch.id}/results", headers={"accept": "application/binary"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/binary"
    assert re.fullmatch(r"req_[A-Za-z0-9]{24}", resp.headers["request-id"])
    assert resp.content.endswith(b"\n")
    lines = [json.loads(line) for line in resp.content.decode().splitlines()]
    assert [set(line) for line in lines] == [{"custom_id", "result"}] * 2
    assert [line["custom_id"] for line in lines] == ["x2", "x1"]
    assert lines[0]["result"]["type"] == "errored"
    err = lines[0]["result"]["error"]
    assert set(err) == {"type", "error", "request_id"}
    assert err["error"] == {"type": "invalid_request_error", "message": "model: invalid-m not found"}
    ok = lines[1]["result"]
    assert set(ok) == {"type", "message"}
    assert set(ok["message"]) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert ok["message"]["content"] == [{"type": "text", "text": "echo: alpha"}]
    assert ok["message"]["usage"] == {
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_results_before_end(fake: Fake, client: anthropic.Anthropic) -> None:
    fake.state.step_batches_on_retrieve = False
    batch = client.messages.batches.create(requests=[req("a", "hi")])
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    with pytest.raises(anthropic.AnthropicError, match="No `results_url` for the given batch"):
        client.messages.batches.results(batch.id)
    resp = fake.raw("GET", f"/v1/messages/batches/{batch.id}/results")
    assert resp.status_code == 404
    body = resp.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert body["request_id"] == resp.headers["request-id"]

    # programmatic stepping
    stepped = fake.state.advance(batch.id)
    assert stepped["processing_status"] == "ended"
    assert stepped["request_counts"]["succeeded"] == 1
    assert fake.state.advance(batch.id) == stepped  # no-op once ended
    [line] = list(client.messages.batches.results(batch.id))
    assert isinstance(line.result, MessageBatchSucceededResult)
    assert isinstance(line.result.message.content[0], TextBlock)
    assert line.result.message.content[0].text == "echo: hi"


# ---------------------------------------------------------------------------------------------------------
# cancel / expire / delete


def test_cancel(fake: Fake, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("a", "one"), req("b", "two"), req("c", "three")])
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None and canceling.cancel_initiated_at >= batch.created_at
    assert canceling.ended_at is None and canceling.results_url is None
    assert canceling.request_counts.processing == 3
    assert client.messages.batches.cancel(batch.id) == canceling  # canceling again: unchanged

    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.cancel_initiated_at == canceling.cancel_initiated_at
    assert ended.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 0,
        "errored": 0,
        "canceled": 3,
        "expired": 0,
    }
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["a", "b", "c"]
    assert all(isinstance(r.result, MessageBatchCanceledResult) for r in results)
    assert all(r.result.type == "canceled" for r in results)

    # cancel after the end: the batch is answered unchanged
    assert client.messages.batches.cancel(batch.id) == ended


def test_expire(fake: Fake, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("a", "one"), req("b", "two")])
    expired = fake.state.expire(batch.id)
    assert expired["processing_status"] == "ended"
    assert expired["request_counts"] == {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 2}
    assert TS_RE.fullmatch(expired["ended_at"])
    assert expired["results_url"] == f"{fake.base_url}/v1/messages/batches/{batch.id}/results"
    results = list(client.messages.batches.results(batch.id))
    assert [r.custom_id for r in results] == ["b", "a"]
    assert all(isinstance(r.result, MessageBatchExpiredResult) for r in results)
    assert fake.state.expire(batch.id) == expired  # no-op once ended


def test_delete(fake: Fake, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[req("a", "one")])
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.batches.delete(batch.id)
    assert_error(exc.value, 400, "invalid_request_error")
    assert "in_progress" in str(exc.value.api_message)

    client.messages.batches.cancel(batch.id)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)  # canceling has not ended yet
    client.messages.batches.retrieve(batch.id)

    raw = client.messages.batches.with_raw_response.delete(batch.id).http_response.json()
    assert raw == {"id": batch.id, "type": "message_batch_deleted"}
    assert fake.state.batch_ids(API_KEY) == []
    with pytest.raises(anthropic.NotFoundError) as nf:
        client.messages.batches.retrieve(batch.id)
    assert_error(nf.value, 404, "not_found_error")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.delete(batch.id)

    other = client.messages.batches.create(requests=[req("a", "one")])
    fake.state.run_to_end(other.id)
    deleted = client.messages.batches.delete(other.id)
    assert (deleted.id, deleted.type) == (other.id, "message_batch_deleted")


# ---------------------------------------------------------------------------------------------------------
# list / pagination / isolation


def test_list_pagination(fake: Fake, client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=[req("a", f"n{i}")]).id for i in range(5)]
    newest_first = list(reversed(ids))

    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == newest_first[:2]
    assert (first.has_more, first.first_id, first.last_id) == (True, newest_first[0], newest_first[1])
    assert [b.id for b in first] == newest_first  # auto-pagination over 3 pages
    after_ids = [r.query.get("after_id") for r in fake.state.requests if r.path == "/v1/messages/batches"]
    assert after_ids[-3:] == [None, newest_first[1], newest_first[3]]
    assert [r.query.get("limit") for r in fake.state.requests[-3:]] == ["2", "2", "2"]

    raw = fake.raw("GET", "/v1/messages/batches", params={"after_id": newest_first[3], "limit": "2"}).json()
    assert set(raw) == {"data", "has_more", "first_id", "last_id"}
    assert [b["id"] for b in raw["data"]] == [newest_first[4]]
    assert (raw["has_more"], raw["first_id"], raw["last_id"]) == (False, newest_first[4], newest_first[4])
    assert set(raw["data"][0]) == BATCH_KEYS

    default = fake.raw("GET", "/v1/messages/batches").json()
    assert [b["id"] for b in default["data"]] == newest_first and default["has_more"] is False

    # backward paging with before_id: the page just newer than the cursor
    back = client.messages.batches.list(before_id=newest_first[4], limit=2)
    assert [b.id for b in back.data] == newest_first[2:4]
    assert back.has_more is True
    assert [b.id for b in back] == newest_first[2:4] + newest_first[0:2]

    empty = fake.raw("GET", "/v1/messages/batches", params={"after_id": newest_first[4]}).json()
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}

    for bad in ("0", "1001", "x"):
        with pytest.raises(anthropic.BadRequestError) as exc:
            client.messages.batches.list(limit=bad)  # type: ignore[arg-type]
        assert_error(exc.value, 400, "invalid_request_error")
    assert client.messages.batches.list(limit=1000).data[0].id == newest_first[0]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.list(after_id="msgbatch_doesnotexist")


def test_per_key_isolation(fake: Fake, client: anthropic.Anthropic) -> None:
    mine = client.messages.batches.create(requests=[req("a", "mine")])
    with fake.client(OTHER_KEY) as other:
        theirs = other.messages.batches.create(requests=[req("a", "theirs")])
        assert [b.id for b in other.messages.batches.list()] == [theirs.id]
        for call in (
            lambda: other.messages.batches.retrieve(mine.id),
            lambda: other.messages.batches.cancel(mine.id),
            lambda: other.messages.batches.delete(mine.id),
            lambda: list(other.messages.batches.results(mine.id)),
        ):
            with pytest.raises(anthropic.NotFoundError) as exc:
                call()
            assert_error(exc.value, 404, "not_found_error", f"message batch {mine.id} not found")
        resp = fake.raw("GET", f"/v1/messages/batches/{mine.id}/results", headers={"x-api-key": OTHER_KEY})
        assert resp.status_code == 404
        [line] = list(other.messages.batches.results(theirs.id))
        assert isinstance(line.result, MessageBatchSucceededResult)
        assert isinstance(line.result.message.content[0], TextBlock)
        assert line.result.message.content[0].text == "echo: theirs"
    assert [b.id for b in client.messages.batches.list()] == [mine.id]
    assert fake.state.batch_ids(API_KEY) == [mine.id]
    assert fake.state.batch_ids(OTHER_KEY) == [theirs.id]


# ---------------------------------------------------------------------------------------------------------
# headers / auth


def test_auth_and_version_headers(fake: Fake) -> None:
    no_key = fake.raw("GET", "/v1/messages/batches", headers={"x-api-key": ""})
    assert no_key.status_code == 401
    assert no_key.json()["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    assert no_key.json()["request_id"] == no_key.headers["request-id"]

    no_version = fake.raw("GET", "/v1/messages/batches", headers={"anthropic-version": ""})
    assert no_version.status_code == 400
    assert no_version.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }

    assert fake.raw("GET", "/v1/messages/batches").status_code == 200  # x-api-key only
    bearer = fake.raw("GET", "/v1/messages/batches", headers={"x-api-key": "", "authorization": f"Bearer {API_KEY}"})
    assert bearer.status_code == 200

    # strict mode: only x-api-key counts; the SDK then needs the header explicitly
    fake.state.accept_bearer = False
    with fake.client() as sdk, pytest.raises(anthropic.AuthenticationError) as exc:
        sdk.messages.batches.list()
    assert_error(exc.value, 401, "authentication_error", "x-api-key header is required")
    with fake.client(default_headers={"x-api-key": API_KEY}) as sdk:
        assert sdk.messages.batches.list().data == []
    assert fake.state.requests[-1].headers["x-api-key"] == API_KEY

    # restricting keys and versions
    fake.state.api_keys = {API_KEY}
    with fake.client(OTHER_KEY, default_headers={"x-api-key": OTHER_KEY}) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as exc:
            sdk.messages.batches.list()
        assert_error(exc.value, 401, "authentication_error", "invalid x-api-key")
    fake.state.accepted_versions = {VERSION}
    assert fake.raw("GET", "/v1/messages/batches").status_code == 200
    old = fake.raw("GET", "/v1/messages/batches", headers={"anthropic-version": "1999-01-01"})
    assert old.status_code == 400
    assert old.json()["error"]["message"] == "anthropic-version: invalid version '1999-01-01'"


def test_unknown_routes_and_bad_json(fake: Fake) -> None:
    resp = fake.raw("GET", "/v1/nope")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "not_found_error"
    assert resp.json()["request_id"] == resp.headers["request-id"]
    bad = fake.raw("POST", "/v1/messages/batches", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"


def test_beta_batches_client(fake: Fake, client: anthropic.Anthropic) -> None:
    """The SDK's beta batch client works against the same endpoints. (The reference says it appends
    ``?beta=true`` and a default ``anthropic-beta``; SDK 2.14 sends neither unless ``betas`` is given.)"""
    batch = client.beta.messages.batches.create(
        requests=[req("b1", "beta hello")],
        betas=["message-batches-2024-09-24"],
    )
    post = fake.state.requests[-1]
    assert (post.method, post.path) == ("POST", "/v1/messages/batches")
    assert post.headers["anthropic-beta"] == "message-batches-2024-09-24"
    assert client.beta.messages.batches.retrieve(batch.id).processing_status == "ended"
    [line] = list(client.beta.messages.batches.results(batch.id))
    assert line.custom_id == "b1"
    assert line.result.type == "succeeded"


# ---------------------------------------------------------------------------------------------------------
# validation


VALIDATION_CASES: list[tuple[Any, str | None]] = [
    ([], "requests: List should have at least 1 item after validation, not 0"),
    (
        [req("ok", "x"), req("ok2", "x"), req("fine", "x"), req("bad id!", "x")],
        "requests.3.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
    ),
    ([req("x" * 65, "x")], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"),
    (
        [req("dup", "x"), req("dup", "y")],
        "requests.1.custom_id: Duplicate custom_id 'dup' (also used by requests.0); custom_id must be unique "
        "within a batch",
    ),
    ([{"custom_id": "a", "params": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}], None),
    ([req("a", "x", max_tokens=0)], "requests.0.params.max_tokens: Input should be greater than or equal to 1"),
    ([req("a", "x", max_tokens="5")], "requests.0.params.max_tokens: Input should be a valid integer"),
    (
        [{"custom_id": "a", "params": {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}}],
        "requests.0.params.model: Field required",
    ),
    (
        [{"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": []}}],
        "requests.0.params.messages: List should have at least 1 item after validation, not 0",
    ),
    (
        [
            {
                "custom_id": "a",
                "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            }
        ],
        "requests.0.params.messages.0.role: Input should be 'user' or 'assistant'",
    ),
    ([req("a", "x", stream=True)], "requests.0.params.stream: streaming is not supported for batch requests"),
    ([req("a", "x", temperature=1.5)], "requests.0.params.temperature: Input should be a number between 0 and 1"),
    ([{"custom_id": "a"}], "requests.0.params: Field required"),
    ([{"params": req("a", "x")["params"]}], "requests.0.custom_id: Field required"),
]


@pytest.mark.parametrize(("requests", "message"), VALIDATION_CASES)
def test_create_validation(
    fake: Fake, client: anthropic.Anthropic, requests: list[dict[str, Any]], message: str | None
) -> None:
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    expected = message or "requests.0.params.max_tokens: Field required"
    assert_error(exc.value, 400, "invalid_request_error", expected)
    assert fake.state.batch_ids(API_KEY) == []


def test_create_validation_outside_the_sdk_types(fake: Fake) -> None:
    missing = fake.raw("POST", "/v1/messages/batches", json={})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "requests: Field required"
    extra = fake.raw("POST", "/v1/messages/batches", json={"requests": [req("a", "x")], "foo": 1})
    assert extra.json()["error"]["message"] == "foo: Extra inputs are not permitted"
    too_many = fake.raw("POST", "/v1/messages/batches", json={"requests": [req(f"r{i}", "x") for i in range(100_001)]})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["message"] == (
        "requests: List should have at most 100000 items after validation, not 100001"
    )
    ok = fake.raw("POST", "/v1/messages/batches", json={"requests": [req("A-z_09" + "x" * 58, "x")]})
    assert ok.status_code == 200
    assert ok.json()["request_counts"]["processing"] == 1


def test_body_size_cap(fake: Fake, client: anthropic.Anthropic) -> None:
    fake.state.max_body_bytes = 1000
    with pytest.raises(anthropic.ContentTooLargeError) as exc:
        client.messages.batches.create(requests=[req("a", "x" * 2000)])
    assert_error(exc.value, 413, "request_too_large")
    assert client.messages.batches.create(requests=[req("a", "small")]).request_counts.processing == 1


# ---------------------------------------------------------------------------------------------------------
# injection / delay


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (504, anthropic.GatewayTimeoutError, "timeout_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_injected_errors_map_to_sdk_exceptions(
    fake: Fake, client: anthropic.Anthropic, status: int, exc_type: type[anthropic.APIStatusError], error_type: str
) -> None:
    fake.state.inject(status, path_contains="/v1/messages/batches", method="POST")
    with pytest.raises(exc_type) as exc:
        client.messages.batches.create(requests=[req("a", "x")])
    assert_error(exc.value, status, error_type)
    if status >= 500:
        assert isinstance(exc.value, anthropic.InternalServerError)
    # one-shot: the next call is handled normally
    assert client.messages.batches.create(requests=[req("a", "x")]).processing_status == "in_progress"
    assert len(fake.state.batch_ids(API_KEY)) == 1


def test_injection_matching_custom_body_and_retries(fake: Fake) -> None:
    with fake.client(max_retries=2) as retrying:
        fake.state.inject(529, times=2, path_contains="/batches", method="GET", headers={"retry-after-ms": "1"})
        batch = retrying.messages.batches.create(requests=[req("a", "x")])  # POST: not matched
        assert retrying.messages.batches.retrieve(batch.id).processing_status == "ended"
        gets = [r for r in fake.state.requests if r.method == "GET"]
        assert [r.headers["x-stainless-retry-count"] for r in gets] == ["0", "1", "2"]
        assert fake.state.injections == []

    custom = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}, "request_id": "req_x"}
    fake.state.inject(429, custom, path_contains="/results")
    resp = fake.raw("GET", "/v1/messages/batches/whatever/results")
    assert (resp.status_code, resp.json()) == (429, custom)
    assert resp.headers["request-id"].startswith("req_")
    with pytest.raises(ValueError):
        fake.state.inject(500, times=0)


def test_delay_causes_client_timeout(fake: Fake) -> None:
    fake.state.delay_seconds = 1.0
    with fake.client(timeout=0.2) as slow, pytest.raises(anthropic.APITimeoutError):
        slow.messages.batches.list()
