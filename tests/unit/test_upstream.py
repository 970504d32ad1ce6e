"""The adapters' one upstream client: retry safety as each call declares it, error bodies, JSON objects, paging,
and the single sends of a caller that retries on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.ports import Credentials
from batchbridge.providers.upstream import Paging, Upstream, json_object

KEY = Credentials(api_key="sk-test")
Handler = Callable[[httpx.Request], httpx.Response]


class Recorded:
    """A MockTransport answering from ``handler``, keeping every request it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._answer)
        self._handler = handler

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._handler(request)


def answers(*responses: httpx.Response) -> Handler:
    """Copies of the responses in turn, of the last one again when they run out (a streamed one: itself)."""
    queue = list(responses)

    def answer(_: httpx.Request) -> httpx.Response:
        response = queue.pop(0) if len(queue) > 1 else queue[0]
        try:
            return httpx.Response(response.status_code, headers=response.headers, content=response.content)
        except httpx.ResponseNotRead:
            return response

    return answer


def upstream(handler: Handler, **options: Any) -> tuple[Upstream, Recorded]:
    recorded = Recorded(handler)
    options.setdefault("auth", lambda credentials: {"authorization": f"Bearer {credentials.api_key}"})
    built = Upstream("openai", "http://upstream.test/v1/", timeout=5.0, transport=recorded.transport, **options)
    return built, recorded


BUSY = httpx.Response(503, json={"error": {"message": "busy", "type": "server_error"}})
OK = httpx.Response(200, json={"id": "x"})


def test_a_post_not_declared_safe_is_sent_once(no_retry_waits: list[float]) -> None:
    client, recorded = upstream(answers(BUSY, OK))
    with pytest.raises(GatewayError) as caught:
        client.post("batches", KEY, retry_safe=False, json={})
    assert caught.value.status == 503 and len(recorded.requests) == 1 and no_retry_waits == []


def test_a_post_declared_safe_is_retried(no_retry_waits: list[float]) -> None:
    client, recorded = upstream(answers(BUSY, BUSY, OK))
    assert client.post("batches/b/cancel", KEY, retry_safe=True).json() == {"id": "x"}
    assert len(recorded.requests) == 3 and len(no_retry_waits) == 2


@pytest.mark.parametrize("method", ["get", "delete", "download"])
def test_reads_and_deletes_are_retried_at_most_twice(method: str) -> None:
    client, recorded = upstream(answers(BUSY))
    with pytest.raises(GatewayError) as caught:
        getattr(client, method)("files/f", KEY)
    assert caught.value.status == 503 and caught.value.message == "OpenAI: busy"
    assert len(recorded.requests) == 3


def test_an_unsafe_post_that_cannot_connect_is_not_sent_again() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, recorded = upstream(refuse)
    with pytest.raises(GatewayError) as caught:
        client.post("batches", KEY, retry_safe=False, json={})
    assert (caught.value.status, caught.value.code) == (502, "provider_unreachable")
    assert "at http://upstream.test/v1/batches" in caught.value.message and len(recorded.requests) == 1


def test_calls_carry_the_credentials_and_their_own_headers_under_the_base_url() -> None:
    client, recorded = upstream(answers(OK))
    client.get("batches", KEY, params={"limit": 2}, headers={"content-type": "application/json"})
    client.post("https://uploads.test/session?id=1", KEY, retry_safe=False, content=b"x")
    first, second = recorded.requests
    assert str(first.url) == "http://upstream.test/v1/batches?limit=2"
    assert first.headers["authorization"] == "Bearer sk-test" and first.headers["content-type"] == "application/json"
    assert (
        str(second.url) == "https://uploads.test/session?id=1" and second.headers["authorization"] == "Bearer sk-test"
    )


def test_the_client_is_built_on_first_use() -> None:
    client, _ = upstream(answers(OK))
    assert "client" not in vars(client)
    client.get("files", KEY)
    assert "client" in vars(client)


def test_an_openai_shaped_error_is_kept() -> None:
    body = {"error": {"message": "No such batch", "type": "invalid_request_error", "param": "id", "code": "nope"}}
    client, _ = upstream(answers(httpx.Response(404, json=body)))
    with pytest.raises(GatewayError) as caught:
        client.get("batches/b", KEY)
    error = caught.value
    assert (error.status, error.message, error.type, error.param, error.code) == (
        404,
        "No such batch",
        "invalid_request_error",
        "id",
        "nope",
    )


def test_an_error_without_a_body_names_the_provider_and_its_status() -> None:
    client, _ = upstream(answers(httpx.Response(500, text="<html>oops</html>")))
    with pytest.raises(GatewayError) as caught:
        client.get("batches/b", KEY)
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    assert caught.value.message == "The openai provider answered HTTP 500."


def test_a_provider_reads_its_own_error_bodies_and_a_call_may_read_them_otherwise() -> None:
    def mine(response: httpx.Response) -> GatewayError:
        return GatewayError(response.status_code, "mine", code="mine")

    client, _ = upstream(answers(httpx.Response(400, json={"error": {"message": "theirs"}})), errors=mine)
    with pytest.raises(GatewayError) as caught:
        client.get("x", KEY)
    assert caught.value.message == "mine"
    with pytest.raises(GatewayError) as caught:
        client.download("x", KEY, errors=lambda response: GatewayError(418, "for this call"))
    assert (caught.value.status, caught.value.message) == (418, "for this call")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"object": "without an id"}),  # parse fails: KeyError
        httpx.Response(200, json={"id": 7}),  # parse fails: TypeError
        httpx.Response(200),
    ],
)
def test_an_answer_that_is_not_the_object_asked_for_is_a_502(response: httpx.Response) -> None:
    def parse(body: dict[str, Any]) -> str:
        if not isinstance(body["id"], str):
            raise TypeError("id is not a string")
        return body["id"]

    client, _ = upstream(answers(response))
    with pytest.raises(GatewayError) as caught:
        client.get_json("batches/b", KEY, parse, what="a valid batch object")
    error = caught.value
    assert (error.status, error.type, error.code) == (502, "upstream_error", "provider_bad_response")
    assert error.message == "The openai provider answered HTTP 200 without a valid batch object."


def test_a_provider_may_word_the_502_and_read_an_empty_answer_as_an_object() -> None:
    def returned(problem: str) -> GatewayError:
        return GatewayError(502, f"The gemini provider returned {problem}.", code="provider_bad_response")

    client, _ = upstream(
        answers(httpx.Response(200), httpx.Response(200, json=[])), bad_response=returned, empty_is_object=True
    )
    assert client.get_json("x", KEY, json_object, what="a JSON object") == {}
    with pytest.raises(GatewayError) as caught:
        client.post_json("x", KEY, json_object, what="a JSON object", retry_safe=False)
    assert caught.value.message == "The gemini provider returned HTTP 200 without a JSON object."


def test_a_download_streams_the_answer() -> None:
    client, _ = upstream(answers(httpx.Response(200, content=iter([b"a" * 10, b"b" * 10]))))
    response = client.download("files/f/content", KEY)
    try:
        assert not response.is_stream_consumed
        assert b"".join(response.iter_bytes()) == b"a" * 10 + b"b" * 10
    finally:
        response.close()


# paging: a list of items, newest first, each with a creation time; a page's next token is its last item's id
def listed(ids: range, *, created: Callable[[int], int | None]) -> dict[str, Any]:
    return {"data": [{"id": str(n), "created_at": created(n)} for n in ids], "has_more": ids.stop < 10}


PAGING = Paging(
    size_param="limit",
    size=3,
    token_param="after",
    items=lambda page: page["data"],
    what="a valid page object",
    next_token=lambda page, items: items[-1]["id"] if page["has_more"] else None,
    created=lambda item: item["created_at"],
)


def paged(created: Callable[[int], int | None]) -> Handler:
    """Ten items (ids 0 to 9, newest first), three a page."""

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        start = int(after) + 1 if after is not None else 0
        return httpx.Response(200, json=listed(range(start, min(start + 3, 10)), created=created))

    return handler


def test_paging_stops_at_the_first_page_reaching_back_before_the_cutoff() -> None:
    client, recorded = upstream(paged(lambda n: 1000 - n))  # item n was created at 1000 - n
    items = [item["id"] for item in client.pages("batches", KEY, PAGING, since=996)]
    assert items == [str(n) for n in range(6)]  # the second page holds item 5, created at 995: the last read
    assert [request.url.params.get("after") for request in recorded.requests] == [None, "2"]
    assert all(request.url.params["limit"] == "3" for request in recorded.requests)


def test_paging_reads_to_the_last_page_when_nothing_is_older_or_nothing_tells_its_time() -> None:
    for created in (lambda n: 1000, lambda n: None):
        client, recorded = upstream(paged(created))
        assert [item["id"] for item in client.pages("batches", KEY, PAGING, since=996)] == [str(n) for n in range(10)]
        assert len(recorded.requests) == 4


def test_paging_stops_when_the_caller_has_found_what_it_looked_for() -> None:
    client, recorded = upstream(paged(lambda n: 1000))
    assert next(item for item in client.pages("batches", KEY, PAGING, since=0) if item["id"] == "4")
    assert len(recorded.requests) == 2


def test_paging_stops_at_an_empty_page_even_if_more_are_promised() -> None:
    client, recorded = upstream(answers(httpx.Response(200, json={"data": [], "has_more": True})))
    assert list(client.pages("batches", KEY, PAGING, since=0)) == []
    assert len(recorded.requests) == 1


def test_a_page_that_is_not_one_is_a_502() -> None:
    client, _ = upstream(answers(httpx.Response(200, json={"object": "list"})))
    with pytest.raises(GatewayError) as caught:
        list(client.pages("batches", KEY, PAGING, since=0))
    assert caught.value.code == "provider_bad_response"
    assert caught.value.message == "The openai provider answered HTTP 200 without a valid page object."


def test_a_page_read_is_retried(no_retry_waits: list[float]) -> None:
    client, recorded = upstream(answers(BUSY, httpx.Response(200, json={"data": [], "has_more": False})))
    assert list(client.pages("batches", KEY, PAGING, since=0)) == []
    assert len(recorded.requests) == 2 and len(no_retry_waits) == 1


# send: one attempt, for a caller whose retries and error answers are its own (the executor's sender)
def test_a_send_is_one_attempt_and_answers_an_error_status_as_it_came(no_retry_waits: list[float]) -> None:
    client, recorded = upstream(answers(BUSY, OK))
    response = client.send("POST", "chat/completions", KEY, json={})
    assert response.status_code == 503 and response.json() == {"error": {"message": "busy", "type": "server_error"}}
    assert len(recorded.requests) == 1 and no_retry_waits == []


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_a_send_that_fails_raises_httpx_own_exception(failure: type[httpx.TransportError]) -> None:
    """Not a GatewayError: whether the request may have arrived is for the caller to judge by the exception."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("no answer", request=request)

    client, recorded = upstream(fail)
    with pytest.raises(failure):
        client.send("POST", "chat/completions", KEY, json={})
    assert len(recorded.requests) == 1


def test_a_send_carries_its_headers_then_the_credentials_which_it_cannot_replace() -> None:
    client, recorded = upstream(answers(OK))
    client.send("POST", "chat/completions", KEY, headers={"content-type": "application/json"}, json={"a": 1})
    client.send("POST", "chat/completions", KEY, headers={"authorization": "Bearer sk-other"}, content=b"{}")
    first, second = recorded.requests
    assert str(first.url) == "http://upstream.test/v1/chat/completions" and first.content == b'{"a":1}'
    sent = [name for name, _ in first.headers.multi_items()]
    assert sent.index("content-type") < sent.index("authorization")
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer sk-test"


def test_threads_asking_for_the_client_at_once_share_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchbridge.providers import upstream as upstream_module

    built: list[httpx.Client] = []
    real = upstream_module.make_client

    def slow_make_client(*args: Any) -> httpx.Client:
        time.sleep(0.05)  # long enough for every thread to be asking meanwhile
        built.append(real(*args))
        return built[-1]

    monkeypatch.setattr(upstream_module, "make_client", slow_make_client)
    client, _ = upstream(answers(OK))
    start = threading.Barrier(8)

    def ask(_: int) -> httpx.Client:
        start.wait()
        return client.client

    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = set(pool.map(ask, range(8)))
    assert len(built) == 1 and clients == {built[0]}
