"""The executor's sender for openai-compatible endpoints, on the adapters' Upstream: what an endpoint receives (its
URL, the key it is configured with, the JSON body, the endpoint's own timeout) and what comes back as a line."""

from __future__ import annotations

import json
from typing import Any

import httpx

from batchbridge.domain.compat import CompatEndpoint
from batchbridge.domain.executor import SendTarget
from batchbridge.providers.compat import HttpSender, send_target


def target(name: str, base_url: str, **settings: Any) -> SendTarget:
    """Where the executor sends an endpoint's requests, as the endpoint's configuration gives it."""
    return send_target(CompatEndpoint(name, base_url, **settings))


BODY = {"model": "llama3", "messages": [{"role": "user", "content": "héllo"}]}


def sender(answer: httpx.Response, keys: dict[str, str]) -> tuple[HttpSender, list[httpx.Request]]:
    received: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return HttpSender(transport=httpx.MockTransport(handle), key_of=keys.get), received


def test_a_request_goes_to_the_endpoint_with_its_key_and_its_own_timeout() -> None:
    ok = httpx.Response(200, json={"id": "chatcmpl-1"}, headers={"x-request-id": "req_1"})
    send, received = sender(ok, {"VLLM_KEY": "sk-endpoint"})
    endpoint = target("vllm", "http://vllm.test/v1", api_key_env="VLLM_KEY", timeout_seconds=42.0)
    line = send.send(endpoint, "chat/completions", "req-1", BODY)
    (request,) = received
    assert (request.method, str(request.url)) == ("POST", "http://vllm.test/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-endpoint"
    assert request.headers["content-type"] == "application/json" and json.loads(request.content) == BODY
    assert request.extensions["timeout"] == {"connect": 10.0, "read": 42.0, "write": 42.0, "pool": 42.0}
    assert line["custom_id"] == "req-1" and line["error"] is None
    assert line["response"] == {"status_code": 200, "request_id": "req_1", "body": {"id": "chatcmpl-1"}}


def test_an_endpoint_without_a_key_is_sent_none() -> None:
    send, received = sender(httpx.Response(200, json={}), {})
    send.send(target("open", "http://open.test/v1"), "embeddings", "a", {"input": "x"})
    send.send(target("unset", "http://unset.test/v1", api_key_env="UNSET_KEY"), "embeddings", "b", {})
    assert [str(request.url) for request in received] == [
        "http://open.test/v1/embeddings",
        "http://unset.test/v1/embeddings",
    ]
    assert all("authorization" not in request.headers for request in received)


def test_an_error_answer_is_the_line_and_is_not_sent_again(no_retry_waits: list[float]) -> None:
    error: dict[str, Any] = {"error": {"message": "bad model", "type": "invalid_request_error", "param": "model"}}
    send, received = sender(httpx.Response(400, json=error), {})
    line = send.send(target("vllm", "http://vllm.test/v1"), "chat/completions", "req-1", BODY)
    assert line["response"]["status_code"] == 400 and line["response"]["body"] == error
    assert len(received) == 1 and no_retry_waits == []
