"""In-memory fake of the Anthropic Message Batches API (upstream #2), for the gateway's tests.

Wire facts follow Anthropic's Message Batches API reference. ``tests/contract/test_fake_anthropic.py``
drives this fake with the official ``anthropic`` SDK so it stays honest.

Usage::

    app = create_app()
    fake: FakeAnthropicState = app.state.fake
    with running_server(app) as base:            # tests/fakes/server.py
        client = anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0)

Behaviour summary:

* Every request is recorded in ``fake.requests`` (method, path, lower-cased headers, query, body).
* ``fake.delay_seconds`` delays every answer; ``fake.inject(...)`` answers the next matching request(s)
  with an error status instead of handling them. Every answer (injected ones too) carries a ``request-id``
  header; error bodies are ``{"type": "error", "error": {"type", "message"}, "request_id"}``.
* Every ``/v1`` path needs ``x-api-key`` (401 ``authentication_error``; ``Authorization: Bearer <key>``, the
  documented alternative and what the anthropic SDK 2.x sends for ``api_key``, counts too unless
  ``fake.accept_bearer = False``) and ``anthropic-version`` (400 ``invalid_request_error``; any value unless
  ``fake.accepted_versions`` is set). Objects are scoped per key (another key's ids answer 404 exactly like
  unknown ids). Bodies larger than ``max_body_bytes`` (256 MB) answer 413 ``request_too_large``.
* A batch moves one step on each ``GET /v1/messages/batches/{id}`` (``step_batches_on_retrieve``), or
  programmatically with ``advance(batch_id)`` / ``run_to_end(batch_id)`` / ``expire(batch_id)``:
  ``in_progress -> ended`` or ``in_progress -> canceling -> ended``. Request counts other than
  ``processing`` stay 0 until the batch ends; the results exist only once it has ended. Note that the
  SDK's ``messages.batches.results(id)`` itself retrieves the batch first (and so steps it).
* Per-request results are deterministic: ``params.model`` starting with ``invalid-`` gives an ``errored``
  result (``invalid_request_error``); otherwise ``succeeded`` with a Message whose content is
  ``"echo: <last user message text>"`` (or, when ``tools`` are given and that text contains
  ``"use a tool"``, a ``tool_use`` block for the first tool with input ``{"echo": <text>}``). As the Messages API
  answers them: ``output_config.format`` (a JSON schema) -> a text block of JSON matching the schema;
  ``tool_choice: {"type": "tool", "name"}`` -> a ``tool_use`` block for that tool whose input matches its
  ``input_schema`` (stop_reason ``tool_use``); ``thinking`` enabled or adaptive -> a ``thinking`` block first, its
  tokens in ``usage.output_tokens`` and ``usage.output_tokens_details.thinking_tokens`` (values from
  ``tests/fakes/structured.py``). What the API refuses of such params is an ``errored`` result
  (``invalid_request_error``): a thinking budget below 1024 or not below ``max_tokens``, thinking with a temperature
  other than 1 or a forced tool, a format schema with an object not closed by ``additionalProperties: false``.
  A cancel ends every request ``canceled``; ``expire`` ends every request ``expired``.
* The results JSONL lists requests in reverse request order (the real API does not keep request order).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tests.fakes.server import dropped_midway
from tests.fakes.structured import instance_of, open_object_nodes

__all__ = [
    "AnthropicAPIError",
    "FakeAnthropicState",
    "Injection",
    "RecordedRequest",
    "create_app",
    "default_error_body",
    "error_body",
    "rfc3339",
]

JSONDict = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BATCH_MAX_REQUESTS = 100_000
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID_RE = re.compile(CUSTOM_ID_PATTERN)
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 1000
BATCH_EXPIRY = timedelta(hours=24)
MAX_BODY_BYTES = 256 * 1024 * 1024  # Batch API request-size cap (wire reference 2.1)
RESULTS_MEDIA_TYPE = "application/binary"

# wire reference 2.1: HTTP status <-> error.type
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_request_error": "Injected invalid request error.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit (injected by the fake).",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out.",
    "overloaded_error": "Overloaded",
}

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _new_request_id() -> str:
    return "req_" + _rand(24)


def rfc3339(dt: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: ``2024-08-20T18:37:24.100435Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(type_: str, message: str, request_id: str | None = None) -> JSONDict:
    """An Anthropic error body (wire reference 2.1)."""
    return {
        "type": "error",
        "error": {"type": type_, "message": message},
        "request_id": request_id or _new_request_id(),
    }


def default_error_body(status: int, request_id: str | None = None) -> JSONDict:
    """The body ``inject`` uses when none is given: the Anthropic error for ``status``."""
    type_ = error_type_for(status)
    message = _DEFAULT_MESSAGES.get(type_, f"Injected error (HTTP {status}).")
    return error_body(type_, message, request_id)


class AnthropicAPIError(Exception):
    """Raised inside handlers; rendered as ``status`` + an Anthropic error body."""

    def __init__(self, status: int, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_ or error_type_for(status)
        self.message = message


def _bad_request(message: str) -> AnthropicAPIError:
    return AnthropicAPIError(400, message, "invalid_request_error")


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Injection:
    status: int
    body: JSONDict | None  # None: default_error_body(status) with the answer's request id
    path_contains: str
    times: int
    method: str | None
    headers: dict[str, str]

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains in path


@dataclass
class StoredBatch:
    id: str
    owner: str
    requests: list[JSONDict]  # validated {"custom_id", "params"} items, request order
    created_at: datetime
    expires_at: datetime
    seq: int
    processing_status: str = "in_progress"
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    archived_at: datetime | None = None
    results: list[JSONDict] | None = None  # MessageBatchIndividualResponse lines, request order
    request_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self, base_url: str) -> JSONDict:
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": dict(self.request_counts),
            "ended_at": rfc3339(self.ended_at) if self.ended_at else None,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
            "archived_at": rfc3339(self.archived_at) if self.archived_at else None,
            "cancel_initiated_at": rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at else None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


def _counts(processing: int = 0, **final: int) -> dict[str, int]:
    counts = {"processing": processing, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    counts.update(final)
    return counts


# ---------------------------------------------------------------------------------------------------------
# request validation and simulation


def validate_batch_body(payload: Any) -> list[JSONDict]:
    """Validate a ``POST /v1/messages/batches`` body; returns the requests or raises a 400 naming the field."""
    if not isinstance(payload, dict):
        raise _bad_request("Input should be a valid dictionary")
    for key in payload:
        if key != "requests":
            raise _bad_request(f"{key}: Extra inputs are not permitted")
    if "requests" not in payload:
        raise _bad_request("requests: Field required")
    reqs = payload["requests"]
    if not isinstance(reqs, list):
        raise _bad_request("requests: Input should be a valid list")
    if not reqs:
        raise _bad_request("requests: List should have at least 1 item after validation, not 0")
    if len(reqs) > BATCH_MAX_REQUESTS:
        raise _bad_request(
            f"requests: List should have at most {BATCH_MAX_REQUESTS} items after validation, not {len(reqs)}"
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(reqs):
        where = f"requests.{i}"
        if not isinstance(item, dict):
            raise _bad_request(f"{where}: Input should be a valid dictionary")
        for key in item:
            if key not in ("custom_id", "params"):
                raise _bad_request(f"{where}.{key}: Extra inputs are not permitted")
        custom_id = item.get("custom_id")
        if custom_id is None:
            raise _bad_request(f"{where}.custom_id: Field required")
        if not isinstance(custom_id, str):
            raise _bad_request(f"{where}.custom_id: Input should be a valid string")
        if not _CUSTOM_ID_RE.fullmatch(custom_id):
            raise _bad_request(f"{where}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'")
        if custom_id in seen:
            raise _bad_request(
                f"{where}.custom_id: Duplicate custom_id '{custom_id}' (also used by requests.{seen[custom_id]}); "
                "custom_id must be unique within a batch"
            )
        seen[custom_id] = i
        if "params" not in item:
            raise _bad_request(f"{where}.params: Field required")
        _validate_params(item["params"], f"{where}.params")
    return [{"custom_id": item["custom_id"], "params": item["params"]} for item in reqs]


def _validate_params(params: Any, where: str) -> None:
    if not isinstance(params, dict):
        raise _bad_request(f"{where}: Input should be a valid dictionary")
    for name in ("model", "max_tokens", "messages"):
        if name not in params:
            raise _bad_request(f"{where}.{name}: Field required")
    if not isinstance(params["model"], str) or not params["model"]:
        raise _bad_request(f"{where}.model: Input should be a valid, non-empty string")
    max_tokens = params["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise _bad_request(f"{where}.max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad_request(f"{where}.max_tokens: Input should be greater than or equal to 1")
    messages = params["messages"]
    if not isinstance(messages, list):
        raise _bad_request(f"{where}.messages: Input should be a valid list")
    if not messages:
        raise _bad_request(f"{where}.messages: List should have at least 1 item after validation, not 0")
    for j, m in enumerate(messages):
        mw = f"{where}.messages.{j}"
        if not isinstance(m, dict):
            raise _bad_request(f"{mw}: Input should be a valid dictionary")
        if m.get("role") not in ("user", "assistant"):
            raise _bad_request(f"{mw}.role: Input should be 'user' or 'assistant'")
        if "content" not in m:
            raise _bad_request(f"{mw}.content: Field required")
        if not isinstance(m["content"], (str, list)):
            raise _bad_request(f"{mw}.content: Input should be a valid string or a list of content blocks")
    if params.get("stream"):
        raise _bad_request(f"{where}.stream: streaming is not supported for batch requests")
    temperature = params.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1
    ):
        raise _bad_request(f"{where}.temperature: Input should be a number between 0 and 1")
    tools = params.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad_request(f"{where}.tools: Input should be a valid list")
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise _bad_request(f"{where}.tools.{k}.name: Field required")


def text_of(content: Any) -> str:
    """Text of a message ``content``: the string itself, or the concatenated ``text`` blocks of an array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _system_text(system: Any) -> str:
    return text_of(system) if system is not None else ""


def _params_problem(params: JSONDict) -> str | None:
    """What the Messages API refuses of params that pass the batch's shape checks (an ``errored`` result):
    extended thinking's budget and companions, and a structured-output schema with an open object."""
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= params["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        if params.get("temperature") not in (None, 1):
            return "`temperature` may only be set to 1 when thinking is enabled."
        if (params.get("tool_choice") or {}).get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
    output_format = (params.get("output_config") or {}).get("format")
    if isinstance(output_format, dict):
        open_nodes = open_object_nodes(output_format.get("schema"))
        if open_nodes:
            return (
                "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false"
            )
    return None


def answer_blocks(params: JSONDict, text: str) -> tuple[list[JSONDict], str]:
    """The content blocks (after any thinking) and stop reason of a processed request: JSON text for
    ``output_config.format``, the named tool's call for a forced ``tool_choice``, the first tool's call when the text
    asks for one, else an echo."""
    tools = params.get("tools")
    tool_choice = params.get("tool_choice") or {}
    output_format = (params.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        answer = json.dumps(instance_of(output_format.get("schema"), text), separators=(",", ":"))
        return [{"type": "text", "text": answer}], "end_turn"
    if tool_choice.get("type") == "tool" and isinstance(tools, list):
        tool = next((t for t in tools if t.get("name") == tool_choice.get("name")), tools[0])
        tool_input = instance_of(tool.get("input_schema"), text)
        return [{"type": "tool_use", "id": "toolu_" + _rand(24), "name": tool["name"], "input": tool_input}], "tool_use"
    if isinstance(tools, list) and tools and "use a tool" in text:
        return [
            {"type": "tool_use", "id": "toolu_" + _rand(24), "name": tools[0]["name"], "input": {"echo": text}}
        ], "tool_use"
    return [{"type": "text", "text": "echo: " + text}], "end_turn"


def simulate_result(params: JSONDict) -> JSONDict:
    """The deterministic ``result`` object of one request that got processed."""
    model = str(params["model"])
    if model.startswith("invalid-"):
        return {
            "type": "errored",
            "error": error_body("invalid_request_error", f"model: {model} not found"),
        }
    problem = _params_problem(params)
    if problem is not None:
        return {"type": "errored", "error": error_body("invalid_request_error", problem)}
    messages = [m for m in params["messages"] if isinstance(m, dict)]
    user_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    text = user_texts[-1] if user_texts else ""
    input_tokens = _words(
        " ".join([_system_text(params.get("system")), *(text_of(m.get("content")) for m in messages)])
    )
    content, stop_reason = answer_blocks(params, text)
    output_tokens = sum(
        _words(json.dumps(block.get("input")) if "input" in block else block["text"]) for block in content
    )
    usage: JSONDict = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    add_thinking(params, text, content, usage, "sig_" + _rand(24))
    return {
        "type": "succeeded",
        "message": {
            "id": "msg_" + _rand(24),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        },
    }


def add_thinking(params: JSONDict, text: str, content: list[JSONDict], usage: JSONDict, signature: str) -> None:
    """A request with ``thinking`` enabled or adaptive: a thinking block first in ``content``, its tokens counted in
    ``usage`` (output_tokens and output_tokens_details.thinking_tokens)."""
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        thought = "Thinking about: " + text
        content.insert(0, {"type": "thinking", "thinking": thought, "signature": signature})
        usage["output_tokens"] += _words(thought)
        usage["output_tokens_details"] = {"thinking_tokens": _words(thought)}


def _jsonl(lines: list[JSONDict]) -> bytes:
    return b"".join(json.dumps(x, separators=(",", ":")).encode("utf-8") + b"\n" for x in lines)


# ---------------------------------------------------------------------------------------------------------
# state


class FakeAnthropicState:
    """All state of one fake; reachable as ``app.state.fake``. Thread-safe (tests drive it from another
    thread than the server's event loop)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay_seconds: float = 0.0
        self.step_batches_on_retrieve: bool = True
        # None: any non-empty x-api-key is valid. A set: only those keys (others answer 401).
        self.api_keys: set[str] | None = None
        # Wire reference 2.1: ``x-api-key`` is the auth header, ``Authorization: Bearer`` the alternative; the
        # installed anthropic SDK (2.x) sends ``api_key`` as a Bearer token. False: only ``x-api-key`` counts.
        self.accept_bearer: bool = True
        # None: any non-empty ``anthropic-version`` is accepted (the SDK 2.x sends 2026-10-21, the reference
        # documents 2023-06-01). A set: only those versions (others answer 400).
        self.accepted_versions: set[str] | None = None
        self.max_body_bytes: int = MAX_BODY_BYTES
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # base URL used in results_url when a batch is serialised outside a request (advance() etc.);
        # updated from every request the fake serves
        self.base_url: str = "https://api.anthropic.com"
        self.injections: list[Injection] = []
        # the next N results downloads break off half-way (the connection drops mid-body)
        self.cut_results: int = 0
        self._lock = threading.RLock()
        self._seq = 0
        self._batches: dict[str, StoredBatch] = {}
        self._deleted: dict[str, StoredBatch] = {}  # kept so a pagination cursor survives deletion

    # -- test controls ---------------------------------------------------------------------------------

    def inject(
        self,
        status: int,
        body: JSONDict | None = None,
        *,
        path_contains: str = "",
        times: int = 1,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path contains ``path_contains`` (and, if given, whose
        method is ``method``) with ``status`` and ``body`` (default: the Anthropic error body for that status,
        e.g. 429 ``rate_limit_error``, 529 ``overloaded_error``), plus ``headers`` (e.g. ``{"retry-after": "0"}``).
        Injected answers skip auth and handling."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self.injections.append(
                Injection(
                    status=status,
                    body=body,
                    path_contains=path_contains,
                    times=times,
                    method=method,
                    headers=dict(headers or {}),
                )
            )

    def take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for inj in self.injections:
                if inj.matches(method, path):
                    inj.times -= 1
                    if inj.times <= 0:
                        self.injections.remove(inj)
                    return inj
        return None

    def advance(self, batch_id: str) -> JSONDict:
        """Move one batch one lifecycle step (no-op once ended); returns its MessageBatch JSON."""
        with self._lock:
            batch = self._batches[batch_id]
            self._step(batch)
            return batch.to_json(self.base_url)

    def run_to_end(self, batch_id: str) -> JSONDict:
        """Advance a batch until it has ended; returns its MessageBatch JSON."""
        with self._lock:
            batch = self._batches[batch_id]
            for _ in range(3):
                if batch.processing_status == "ended":
                    break
                self._step(batch)
            return batch.to_json(self.base_url)

    def expire(self, batch_id: str) -> JSONDict:
        """Let the 24 h window of a batch that has not ended pass: it ends with every request ``expired``."""
        with self._lock:
            batch = self._batches[batch_id]
            if batch.processing_status != "ended":
                self._end(batch, [{"type": "expired"} for _ in batch.requests])
            return batch.to_json(self.base_url)

    def batch_json(self, batch_id: str) -> JSONDict:
        with self._lock:
            return self._batches[batch_id].to_json(self.base_url)

    def batch_ids(self, api_key: str) -> list[str]:
        """Ids of the (not deleted) batches of ``api_key``, in creation order."""
        with self._lock:
            return [b.id for b in self._batches.values() if b.owner == api_key]

    # -- used by the app -------------------------------------------------------------------------------

    def add_batch(self, owner: str, requests: list[JSONDict]) -> StoredBatch:
        with self._lock:
            now = self.clock()
            self._seq += 1
            b = StoredBatch(
                id="msgbatch_" + _rand(24),
                owner=owner,
                requests=requests,
                created_at=now,
                expires_at=now + BATCH_EXPIRY,
                seq=self._seq,
                request_counts=_counts(len(requests)),
            )
            self._batches[b.id] = b
            return b

    def get_batch(self, owner: str, batch_id: str) -> StoredBatch:
        with self._lock:
            b = self._batches.get(batch_id)
            if b is None or b.owner != owner:
                raise AnthropicAPIError(404, f"message batch {batch_id} not found", "not_found_error")
            return b

    def retrieve_batch(self, owner: str, batch_id: str) -> StoredBatch:
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if self.step_batches_on_retrieve:
                self._step(b)
            return b

    def cancel_batch(self, owner: str, batch_id: str) -> StoredBatch:
        """``in_progress -> canceling``; a batch already canceling or ended is answered unchanged."""
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if b.processing_status == "in_progress":
                b.processing_status = "canceling"
                b.cancel_initiated_at = self.clock()
            return b

    def delete_batch(self, owner: str, batch_id: str) -> None:
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if b.processing_status != "ended":
                raise _bad_request(
                    f"Message batch {batch_id} cannot be deleted while processing_status is "
                    f"'{b.processing_status}'; cancel it and wait for it to end first."
                )
            del self._batches[batch_id]
            self._deleted[batch_id] = b

    def results_of(self, owner: str, batch_id: str) -> bytes:
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if b.processing_status != "ended" or b.results is None:
                raise AnthropicAPIError(
                    404,
                    f"Results for message batch {batch_id} are not available: "
                    f"processing_status is '{b.processing_status}'.",
                    "not_found_error",
                )
            return _jsonl(list(reversed(b.results)))

    def list_batches(
        self, owner: str, after_id: str | None, before_id: str | None, limit: int
    ) -> tuple[list[StoredBatch], bool]:
        """Newest first. ``after_id``: the page after that cursor (older); ``before_id``: the page just
        before it (newer). ``has_more`` tells whether more items lie beyond the page in the paging direction."""
        with self._lock:
            items = sorted((b for b in self._batches.values() if b.owner == owner), key=lambda b: b.seq, reverse=True)
            if after_id is not None:
                cursor = self._cursor(owner, after_id, "after_id")
                items = [b for b in items if b.seq < cursor.seq]
                return items[:limit], len(items) > limit
            if before_id is not None:
                cursor = self._cursor(owner, before_id, "before_id")
                items = [b for b in items if b.seq > cursor.seq]
                return items[-limit:], len(items) > limit
            return items[:limit], len(items) > limit

    def _cursor(self, owner: str, batch_id: str, name: str) -> StoredBatch:
        b = self._batches.get(batch_id) or self._deleted.get(batch_id)
        if b is None or b.owner != owner:
            raise _bad_request(f"{name}: no message batch with id '{batch_id}'")
        return b

    # -- lifecycle -------------------------------------------------------------------------------------

    def _step(self, b: StoredBatch) -> None:
        if b.processing_status == "in_progress":
            self._end(b, [simulate_result(r["params"]) for r in b.requests])
        elif b.processing_status == "canceling":
            self._end(b, [{"type": "canceled"} for _ in b.requests])

    def _end(self, b: StoredBatch, results: list[JSONDict]) -> None:
        b.results = [{"custom_id": r["custom_id"], "result": res} for r, res in zip(b.requests, results, strict=True)]
        tally = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for res in results:
            tally[res["type"]] += 1
        b.request_counts = _counts(0, **tally)
        b.processing_status = "ended"
        b.ended_at = self.clock()


# ---------------------------------------------------------------------------------------------------------
# request parsing helpers


def _parse_limit(value: str | None) -> int:
    if value is None:
        return LIST_LIMIT_DEFAULT
    try:
        n = int(value)
    except ValueError:
        raise _bad_request("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if n < 1:
        raise _bad_request("limit: Input should be greater than or equal to 1")
    if n > LIST_LIMIT_MAX:
        raise _bad_request(f"limit: Input should be less than or equal to {LIST_LIMIT_MAX}")
    return n


def _page_body(items: list[JSONDict], has_more: bool) -> JSONDict:
    return {
        "data": items,
        "has_more": has_more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


# ---------------------------------------------------------------------------------------------------------
# ASGI gate: record, delay, inject, authenticate


def _api_key(headers: dict[str, str], accept_bearer: bool) -> str:
    """The caller's key: ``x-api-key``, else (if allowed) the token of ``Authorization: Bearer``."""
    key = headers.get("x-api-key", "").strip()
    if key or not accept_bearer:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class _Gate:
    """Outermost middleware: records each request (with its body), applies ``delay_seconds``, injections,
    the body-size cap and the header checks, and stamps a ``request-id`` on every answer."""

    def __init__(self, app: ASGIApp, state: FakeAnthropicState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers: dict[str, str] = {}
        for raw_k, raw_v in scope.get("headers", []):
            k, v = raw_k.decode("latin-1").lower(), raw_v.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        method, path = scope["method"], scope["path"]
        with self.state._lock:
            self.state.requests.append(RecordedRequest(method, path, headers, query, body))

        request_id = _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"request-id", request_id.encode("latin-1"))]
            await send(message)

        async def fail(status: int, type_: str, text: str) -> None:
            await JSONResponse(error_body(type_, text, request_id), status_code=status)(scope, receive, send_with_id)

        if self.state.delay_seconds > 0:
            await asyncio.sleep(self.state.delay_seconds)

        injection = self.state.take_injection(method, path)
        if injection is not None:
            inj_body = (
                injection.body if injection.body is not None else default_error_body(injection.status, request_id)
            )
            response = JSONResponse(inj_body, status_code=injection.status, headers=injection.headers)
            await response(scope, receive, send_with_id)
            return

        if path.startswith("/v1"):
            key = _api_key(headers, self.state.accept_bearer)
            if not key:
                await fail(401, "authentication_error", "x-api-key header is required")
                return
            if self.state.api_keys is not None and key not in self.state.api_keys:
                await fail(401, "authentication_error", "invalid x-api-key")
                return
            version = headers.get("anthropic-version", "").strip()
            if not version:
                await fail(400, "invalid_request_error", "anthropic-version: header is required")
                return
            accepted = self.state.accepted_versions
            if accepted is not None and version not in accepted:
                await fail(400, "invalid_request_error", f"anthropic-version: invalid version '{version}'")
                return
            if len(body) > self.state.max_body_bytes:
                await fail(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
                return
            scope["state"]["api_key"] = key

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_id)


# ---------------------------------------------------------------------------------------------------------
# app


def create_app() -> FastAPI:
    """A fresh fake Anthropic upstream; paths under ``/v1``; state on ``app.state.fake``."""
    state = FakeAnthropicState()
    app = FastAPI(title="fake Anthropic upstream", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state
    app.add_middleware(_Gate, state=state)

    def _error_response(request: Request, status: int, type_: str, message: str) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        return JSONResponse(error_body(type_, message, request_id), status_code=status)

    @app.exception_handler(AnthropicAPIError)
    async def _anthropic_error(request: Request, exc: AnthropicAPIError) -> JSONResponse:
        return _error_response(request, exc.status, exc.type, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error_response(request, 404, "not_found_error", f"Not found: {request.method} {request.url.path}")
        if exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}"
            return _error_response(request, 405, "invalid_request_error", message)
        return _error_response(request, exc.status_code, error_type_for(exc.status_code), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(request, 400, "invalid_request_error", f"Invalid request: {exc.errors()!r}")

    def owner(request: Request) -> str:
        state.base_url = str(request.base_url).rstrip("/")
        return str(request.state.api_key)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post("/v1/messages/batches")
    async def create_batch(request: Request) -> JSONResponse:
        key = owner(request)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            raise _bad_request("There was an error parsing the body of your request: it is not valid JSON.") from None
        b = state.add_batch(key, validate_batch_body(payload))
        return JSONResponse(b.to_json(base(request)))

    @app.get("/v1/messages/batches")
    async def list_batches(request: Request) -> JSONResponse:
        key = owner(request)
        q = request.query_params
        limit = _parse_limit(q.get("limit"))
        after_id, before_id = q.get("after_id"), q.get("before_id")
        if after_id is not None and before_id is not None:
            raise _bad_request("Only one of after_id and before_id may be given.")
        items, has_more = state.list_batches(key, after_id, before_id, limit)
        return JSONResponse(_page_body([b.to_json(base(request)) for b in items], has_more))

    @app.get("/v1/messages/batches/{batch_id}")
    async def retrieve_batch(batch_id: str, request: Request) -> JSONResponse:
        with state._lock:
            b = state.retrieve_batch(owner(request), batch_id)
            return JSONResponse(b.to_json(base(request)))

    @app.post("/v1/messages/batches/{batch_id}/cancel")
    async def cancel_batch(batch_id: str, request: Request) -> JSONResponse:
        with state._lock:
            b = state.cancel_batch(owner(request), batch_id)
            return JSONResponse(b.to_json(base(request)))

    @app.delete("/v1/messages/batches/{batch_id}")
    async def delete_batch(batch_id: str, request: Request) -> JSONResponse:
        state.delete_batch(owner(request), batch_id)
        return JSONResponse({"id": batch_id, "type": "message_batch_deleted"})

    @app.get("/v1/messages/batches/{batch_id}/results")
    async def batch_results(batch_id: str, request: Request) -> Response:
        body = state.results_of(owner(request), batch_id)
        with state._lock:
            cut = state.cut_results > 0
            if cut:
                state.cut_results -= 1
        if not cut:
            return Response(body, media_type=RESULTS_MEDIA_TYPE)

        return dropped_midway(body, RESULTS_MEDIA_TYPE)

    return app
