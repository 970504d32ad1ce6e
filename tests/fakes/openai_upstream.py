"""In-memory fake of the OpenAI Files + Batch API (upstream #1), for the gateway's tests.

Wire facts follow OpenAI's API reference and the OpenAPI schemas in
tests/contract/spec/openai-files-batches.openapi.json. ``tests/contract/test_fake_openai.py`` drives this
fake with the official ``openai`` SDK so it stays honest.

Usage::

    app = create_app()
    fake: FakeOpenAIState = app.state.fake
    with running_server(app) as base:            # tests/fakes/server.py
        client = openai.OpenAI(base_url=base + "/v1", api_key="sk-test")

Behaviour summary:

* Every request is recorded in ``fake.requests`` (method, path, lower-cased headers, query, body).
* A file's content is sent in chunks (``CONTENT_CHUNK_BYTES``), as a large one comes from OpenAI;
  ``fake.set_file_content(file_id, content)`` makes a file's bytes whatever a test needs (a result file as OpenAI
  might have written it).
* ``fake.delay_seconds`` delays every answer; ``fake.inject(...)`` answers the next matching request(s)
  with an error status instead of handling them.
* Every ``/v1`` path needs ``Authorization: Bearer <key>``; objects are scoped per key (another key's ids
  answer 404 exactly like unknown ids).
* Batches move one lifecycle step on each ``GET /v1/batches/{id}`` (``step_batches_on_retrieve``), or
  programmatically with ``advance(batch_id)`` / ``advance_all()`` / ``expire(batch_id)``:
  ``validating -> in_progress -> finalizing -> completed`` (or ``validating -> failed`` for a bad input
  file; ``cancelling -> cancelled`` after a cancel). Requests are "executed" on the
  ``in_progress -> finalizing`` step; the output / error files are written when the batch ends.
* Per-line results are deterministic: a body whose ``model`` starts with ``invalid-`` yields an HTTP 404
  ``model_not_found`` line in the error file; other lines succeed (``/v1/chat/completions``: a
  ``chat.completion`` whose content is ``"echo: <last user message text>"``; ``/v1/embeddings``: an
  embedding list; ``/v1/completions`` and ``/v1/responses``: minimal echo objects of those types; other
  endpoints: a placeholder body ``{"object": "fake.unsimulated", ...}``, the fake does not model them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import string
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "BATCH_ENDPOINTS",
    "FILE_CREATE_PURPOSES",
    "FakeOpenAIState",
    "Injection",
    "OpenAIError",
    "RecordedRequest",
    "create_app",
    "error_body",
]

JSONDict = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# wire reference 1.2 (create purposes) and 1.5 (batch endpoints)
FILE_CREATE_PURPOSES: tuple[str, ...] = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_ENDPOINTS: tuple[str, ...] = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
EXPIRES_AFTER_MIN = 3600
EXPIRES_AFTER_MAX = 2_592_000
BATCH_FILE_DEFAULT_TTL = 30 * 86400
BATCH_COMPLETION_WINDOW_SECONDS = 86400
CONTENT_CHUNK_BYTES = 64 * 1024  # a file's content is sent in chunks of this size
FILES_LIMIT_MAX = 10_000
BATCHES_LIMIT_DEFAULT = 20
BATCHES_LIMIT_MAX = 100
BATCH_MAX_REQUESTS = 50_000
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512

CANCELLABLE_STATUSES = frozenset({"validating", "in_progress", "finalizing"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
# serialisation order of the Batch timestamps (spec example order)
BATCH_TIMESTAMP_KEYS: tuple[str, ...] = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _hex(n: int) -> str:
    return secrets.token_hex((n + 1) // 2)[:n]


def error_body(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> JSONDict:
    """An OpenAI error body: all four keys always present (wire reference 1.1)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def default_error_body(status: int) -> JSONDict:
    """The body ``inject`` uses when none is given: a plausible OpenAI error for ``status``."""
    if status == 401:
        return error_body("Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")
    if status == 429:
        return error_body(
            "Rate limit reached for requests (injected by the fake).", "requests", None, "rate_limit_exceeded"
        )
    if status >= 500:
        return error_body("The server had an error while processing your request. Sorry about that!", "server_error")
    return error_body(f"Injected error (HTTP {status}).", "invalid_request_error")


class OpenAIError(Exception):
    """Raised inside handlers; rendered as ``status`` + an OpenAI error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, param, code)


def _bad_request(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


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
    body: JSONDict
    path_contains: str
    times: int
    method: str | None
    headers: dict[str, str]

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains in path


@dataclass
class StoredFile:
    id: str
    owner: str
    content: bytes
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    seq: int

    def to_json(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class StoredBatch:
    id: str
    owner: str
    endpoint: str
    input_file_id: str
    input_content: bytes  # snapshot of the input file taken at create time
    completion_window: str
    created_at: int
    metadata: dict[str, str] | None
    output_expires_after: int | None
    model: str | None
    seq: int
    status: str = "validating"
    timestamps: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(BATCH_TIMESTAMP_KEYS))
    request_counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    usage: JSONDict = field(default_factory=lambda: _batch_usage(0, 0))
    errors: JSONDict | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    lines: list[JSONDict] | None = None  # validated input lines
    results: list[tuple[JSONDict, bool]] | None = None  # (output line, succeeded), once executed

    def to_json(self) -> JSONDict:
        out: JSONDict = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
        }
        if self.model is not None:
            out["model"] = self.model
        out.update(
            {
                "errors": self.errors,
                "input_file_id": self.input_file_id,
                "completion_window": self.completion_window,
                "status": self.status,
                "output_file_id": self.output_file_id,
                "error_file_id": self.error_file_id,
                "created_at": self.created_at,
            }
        )
        out.update(self.timestamps)
        out["request_counts"] = dict(self.request_counts)
        out["usage"] = json.loads(json.dumps(self.usage))
        out["metadata"] = dict(self.metadata) if self.metadata is not None else None
        return out


def _batch_usage(input_tokens: int, output_tokens: int) -> JSONDict:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


# ---------------------------------------------------------------------------------------------------------
# batch input validation and request simulation


def _batch_error(code: str, message: str, line: int | None) -> JSONDict:
    return {"code": code, "message": message, "param": None, "line": line}


def token_limit_error(model: str) -> JSONDict:
    """The BatchError with which OpenAI fails a batch during validation when the organization's queue of enqueued
    tokens for ``model`` is full (its "queue full": the same batch may be submitted again later)."""
    return _batch_error(
        "token_limit_exceeded",
        f"Enqueued token limit reached for {model} in organization org-x. Limit: 90,000 enqueued tokens. "
        "Please try submitting your requests again later.",
        None,
    )


def parse_batch_input(content: bytes, endpoint: str) -> tuple[list[JSONDict], list[JSONDict]]:
    """Validate a batch input JSONL file; returns (lines, errors). ``errors`` are BatchError objects.

    Codes: ``invalid_json_line``, ``duplicate_custom_id``, ``url_mismatch`` (wire reference 1.7, secondary
    sources), ``empty_file``, ``too_many_tasks``; ``invalid_request`` (our choice) for a JSON object that is
    not a BatchRequestInput (missing/ill-typed ``custom_id``, ``method`` other than POST, ``body`` not an
    object).
    """
    errors: list[JSONDict] = []
    lines: list[JSONDict] = []
    seen: set[str] = set()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [], [_batch_error("invalid_json_line", "The input file is not valid UTF-8.", None)]
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            errors.append(_batch_error("invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        if not isinstance(obj, dict):
            errors.append(_batch_error("invalid_json_line", "This line is not a JSON object.", number))
            continue
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(_batch_error("invalid_request", "Missing or invalid 'custom_id' (string).", number))
            continue
        if obj.get("method") != "POST":
            errors.append(_batch_error("invalid_request", "The 'method' of a batch request must be 'POST'.", number))
            continue
        if not isinstance(obj.get("body"), dict):
            errors.append(_batch_error("invalid_request", "Missing or invalid 'body' (object).", number))
            continue
        if obj.get("url") != endpoint:
            errors.append(
                _batch_error(
                    "url_mismatch",
                    f"The provided URL {obj.get('url')!r} does not match the batch endpoint {endpoint!r}.",
                    number,
                )
            )
            continue
        if custom_id in seen:
            errors.append(
                _batch_error(
                    "duplicate_custom_id",
                    "The custom_id for this request is a duplicate of another request. "
                    "The custom_id parameter must be unique for each request in a batch.",
                    number,
                )
            )
            continue
        seen.add(custom_id)
        lines.append(obj)
    if not errors and not lines:
        errors.append(_batch_error("empty_file", "The batch input file is empty.", None))
    if len(lines) > BATCH_MAX_REQUESTS:
        errors.append(
            _batch_error("too_many_tasks", f"The batch input file has more than {BATCH_MAX_REQUESTS} requests.", None)
        )
    return lines, errors


def _lenient_lines(content: bytes) -> list[JSONDict]:
    """Lines that carry a custom_id, without further validation (for cancel/expire of unvalidated input)."""
    out: list[JSONDict] = []
    for raw in content.decode("utf-8", errors="replace").split("\n"):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("custom_id"), str):
            out.append(obj)
    return out


def _first_model(content: bytes) -> str | None:
    for obj in _lenient_lines(content):
        body = obj.get("body")
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return str(body["model"])
    return None


def _text_of(content: Any) -> str:
    """Text of a chat message ``content`` (string or array of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    while len(digest) < dims:
        digest += hashlib.sha256(digest).digest()
    return [round((b - 128) / 128, 6) for b in digest[:dims]]


def _simulate(endpoint: str, body: JSONDict, now: int) -> tuple[JSONDict, int, int]:
    """A 200 response body for one request; returns (body, input tokens, output tokens)."""
    model = str(body.get("model"))
    if endpoint == "/v1/chat/completions":
        raw_messages = body.get("messages")
        messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
        user_texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        reply = "echo: " + (user_texts[-1] if user_texts else "")
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
            reply = json.dumps({"echo": user_texts[-1] if user_texts else ""})  # JSON mode answers JSON
        prompt_tokens = sum(_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)) or 1
        completion_tokens = _tokens(reply)
        return (
            {
                "id": "chatcmpl-" + _rand(29),
                "object": "chat.completion",
                "created": now,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            prompt_tokens,
            completion_tokens,
        )
    if endpoint == "/v1/embeddings":
        raw_input = body.get("input")
        inputs = raw_input if isinstance(raw_input, list) else [raw_input]
        texts = [x if isinstance(x, str) else json.dumps(x) for x in inputs]
        dims = body.get("dimensions")
        n_dims = dims if isinstance(dims, int) and 1 <= dims <= 256 else 8
        prompt_tokens = sum(_tokens(t) for t in texts)
        return (
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": _embedding(t, n_dims)} for i, t in enumerate(texts)
                ],
                "model": model,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            },
            prompt_tokens,
            0,
        )
    if endpoint == "/v1/completions":
        prompt = body.get("prompt")
        text = "echo: " + (prompt if isinstance(prompt, str) else json.dumps(prompt))
        p, c = _tokens(str(prompt)), _tokens(text)
        return (
            {
                "id": "cmpl-" + _rand(29),
                "object": "text_completion",
                "created": now,
                "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            },
            p,
            c,
        )
    if endpoint == "/v1/responses":
        raw = body.get("input")
        if isinstance(raw, list):
            users = [_text_of(m.get("content")) for m in raw if isinstance(m, dict) and m.get("role") == "user"]
            prompt = users[-1] if users else ""
        else:
            prompt = raw if isinstance(raw, str) else ""
        text = "echo: " + prompt
        p, c = _tokens(prompt), _tokens(text)
        return (
            {
                "id": "resp_" + _hex(48),
                "object": "response",
                "created_at": now,
                "status": "completed",
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": "msg_" + _hex(48),
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                ],
                "usage": {
                    "input_tokens": p,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": c,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": p + c,
                },
            },
            p,
            c,
        )
    return {"object": "fake.unsimulated", "endpoint": endpoint, "model": model}, 0, 0


def _run_line(endpoint: str, line: JSONDict, now: int) -> tuple[JSONDict, bool, int, int]:
    """Execute one input line; returns (BatchRequestOutput line, succeeded, input tokens, output tokens)."""
    body: JSONDict = line["body"]
    model = body.get("model")
    out: JSONDict = {"id": "batch_req_" + _hex(32), "custom_id": line["custom_id"]}
    request_id = "req_" + _hex(32)
    if not isinstance(model, str) or not model:
        out["response"] = {
            "status_code": 400,
            "request_id": request_id,
            "body": error_body("you must provide a model parameter", "invalid_request_error", None, None),
        }
        out["error"] = None
        return out, False, 0, 0
    if model.startswith("invalid-"):
        out["response"] = {
            "status_code": 404,
            "request_id": request_id,
            "body": error_body(
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model",
                "model_not_found",
            ),
        }
        out["error"] = None
        return out, False, 0, 0
    resp, p, c = _simulate(endpoint, body, now)
    out["response"] = {"status_code": 200, "request_id": request_id, "body": resp}
    out["error"] = None
    return out, True, p, c


def _unrun_line(line: JSONDict, code: str, message: str) -> JSONDict:
    return {
        "id": "batch_req_" + _hex(32),
        "custom_id": line["custom_id"],
        "response": None,
        "error": {"code": code, "message": message},
    }


def _jsonl(lines: list[JSONDict]) -> bytes:
    return b"".join(json.dumps(x, separators=(",", ":")).encode("utf-8") + b"\n" for x in lines)


# ---------------------------------------------------------------------------------------------------------
# state


class FakeOpenAIState:
    """All state of one fake; reachable as ``app.state.fake``. Thread-safe (tests drive it from another
    thread than the server's event loop)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay_seconds: float = 0.0
        self.step_batches_on_retrieve: bool = True
        # None: any non-empty bearer key is valid. A set: only those keys (others answer 401).
        self.api_keys: set[str] | None = None
        self.clock: Callable[[], int] = lambda: int(time.time())
        self.injections: list[Injection] = []
        # The errors with which the next batches leaving validation fail (each entry used by one batch, in order;
        # see ``fail_validation``)
        self.validation_failures: list[list[JSONDict]] = []
        self._lock = threading.RLock()
        self._seq = 0
        self._files: dict[str, StoredFile] = {}
        self._deleted_files: dict[str, StoredFile] = {}  # kept so an `after` cursor survives deletion
        self._batches: dict[str, StoredBatch] = {}

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
        method is ``method``) with ``status`` and ``body`` (default: an OpenAI error body for that status),
        plus ``headers`` (e.g. ``{"retry-after-ms": "10"}``). Injected answers skip auth and handling."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self.injections.append(
                Injection(
                    status=status,
                    body=body if body is not None else default_error_body(status),
                    path_contains=path_contains,
                    times=times,
                    method=method,
                    headers=dict(headers or {}),
                )
            )

    def fail_validation(self, *errors: JSONDict, times: int = 1) -> None:
        """Make the next ``times`` batches that leave ``validating`` fail with ``errors`` (BatchError objects, e.g.
        ``token_limit_error``) whatever their input holds, as OpenAI fails a batch it will not take now."""
        with self._lock:
            self.validation_failures.extend([list(errors)] * times)

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
        """Move one batch one lifecycle step (no-op on a terminal batch); returns its Batch JSON."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise KeyError(batch_id)
            self._step(batch)
            return batch.to_json()

    def advance_all(self) -> None:
        """Move every non-terminal batch (of every key) one step."""
        with self._lock:
            for batch in list(self._batches.values()):
                self._step(batch)

    def run_to_end(self, batch_id: str) -> JSONDict:
        """Advance a batch until it is terminal; returns its Batch JSON."""
        with self._lock:
            for _ in range(10):
                if self._batches[batch_id].status in TERMINAL_STATUSES:
                    break
                self._step(self._batches[batch_id])
            return self._batches[batch_id].to_json()

    def expire(self, batch_id: str) -> JSONDict:
        """Let the completion window of a non-terminal batch pass: status ``expired`` (``expired_at``);
        executed work is kept, unrun requests go to the error file with ``batch_expired``."""
        with self._lock:
            batch = self._batches[batch_id]
            if batch.status not in TERMINAL_STATUSES:
                self._finish(
                    batch,
                    "expired",
                    "expired_at",
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                )
            return batch.to_json()

    def batch_json(self, batch_id: str) -> JSONDict:
        with self._lock:
            return self._batches[batch_id].to_json()

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id].content

    def set_file_content(self, file_id: str, content: bytes) -> None:
        """Make a file's bytes ``content`` (e.g. a batch's result file, as OpenAI might have written it)."""
        with self._lock:
            self._files[file_id].content = content

    def file_ids(self, api_key: str) -> list[str]:
        with self._lock:
            return [f.id for f in self._files.values() if f.owner == api_key]

    def batch_ids(self, api_key: str) -> list[str]:
        with self._lock:
            return [b.id for b in self._batches.values() if b.owner == api_key]

    # -- used by the app -------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_file(
        self, owner: str, content: bytes, filename: str, purpose: str, expires_after_seconds: int | None
    ) -> StoredFile:
        with self._lock:
            now = self.clock()
            if expires_after_seconds is not None:
                expires_at: int | None = now + expires_after_seconds
            elif purpose == "batch":
                expires_at = now + BATCH_FILE_DEFAULT_TTL
            else:
                expires_at = None
            f = StoredFile(
                id="file-" + _rand(24),
                owner=owner,
                content=content,
                created_at=now,
                expires_at=expires_at,
                filename=filename,
                purpose=purpose,
                seq=self._next_seq(),
            )
            self._files[f.id] = f
            return f

    def get_file(self, owner: str, file_id: str) -> StoredFile:
        with self._lock:
            f = self._files.get(file_id)
            if f is None or f.owner != owner:
                raise OpenAIError(404, f"No such File object: {file_id}", param="id")
            return f

    def delete_file(self, owner: str, file_id: str) -> None:
        with self._lock:
            f = self.get_file(owner, file_id)
            del self._files[file_id]
            self._deleted_files[file_id] = f

    def list_files(
        self, owner: str, purpose: str | None, order: str, after: str | None, limit: int
    ) -> tuple[list[StoredFile], bool]:
        with self._lock:
            items = [f for f in self._files.values() if f.owner == owner and (purpose is None or f.purpose == purpose)]
            desc = order == "desc"
            items.sort(key=lambda f: (f.created_at, f.seq), reverse=desc)
            if after is not None:
                cursor = self._files.get(after) or self._deleted_files.get(after)
                if cursor is None or cursor.owner != owner:
                    raise _bad_request(f"Invalid 'after': no file with id {after!r}.", param="after")
                ck = (cursor.created_at, cursor.seq)
                items = [f for f in items if ((f.created_at, f.seq) < ck if desc else (f.created_at, f.seq) > ck)]
            return items[:limit], len(items) > limit

    def add_batch(
        self,
        owner: str,
        *,
        input_file: StoredFile,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        output_expires_after: int | None,
    ) -> StoredBatch:
        with self._lock:
            now = self.clock()
            b = StoredBatch(
                id="batch_" + _hex(32),
                owner=owner,
                endpoint=endpoint,
                input_file_id=input_file.id,
                input_content=input_file.content,
                completion_window=completion_window,
                created_at=now,
                metadata=metadata,
                output_expires_after=output_expires_after,
                model=_first_model(input_file.content),
                seq=self._next_seq(),
            )
            b.timestamps["expires_at"] = now + BATCH_COMPLETION_WINDOW_SECONDS
            self._batches[b.id] = b
            return b

    def get_batch(self, owner: str, batch_id: str) -> StoredBatch:
        with self._lock:
            b = self._batches.get(batch_id)
            if b is None or b.owner != owner:
                raise OpenAIError(404, f"No batch found with id '{batch_id}'.")
            return b

    def retrieve_batch(self, owner: str, batch_id: str) -> JSONDict:
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if self.step_batches_on_retrieve:
                self._step(b)
            return b.to_json()

    def cancel_batch(self, owner: str, batch_id: str) -> JSONDict:
        with self._lock:
            b = self.get_batch(owner, batch_id)
            if b.status not in CANCELLABLE_STATUSES:
                raise OpenAIError(409, f"Cannot cancel a batch with status '{b.status}'.")
            b.status = "cancelling"
            b.timestamps["cancelling_at"] = self.clock()
            return b.to_json()

    def list_batches(self, owner: str, after: str | None, limit: int) -> tuple[list[StoredBatch], bool]:
        with self._lock:
            items = sorted(
                (b for b in self._batches.values() if b.owner == owner),
                key=lambda b: (b.created_at, b.seq),
                reverse=True,
            )
            if after is not None:
                cursor = self._batches.get(after)
                if cursor is None or cursor.owner != owner:
                    raise _bad_request(f"Invalid 'after': no batch with id {after!r}.", param="after")
                ck = (cursor.created_at, cursor.seq)
                items = [b for b in items if (b.created_at, b.seq) < ck]
            return items[:limit], len(items) > limit

    # -- lifecycle -------------------------------------------------------------------------------------

    def _step(self, b: StoredBatch) -> None:
        now = self.clock()
        if b.status == "validating":
            lines, errors = parse_batch_input(b.input_content, b.endpoint)
            if self.validation_failures:
                errors = self.validation_failures.pop(0)
            if errors:
                b.status = "failed"
                b.timestamps["failed_at"] = now
                b.errors = {"object": "list", "data": errors}
                return
            b.lines = lines
            b.status = "in_progress"
            b.timestamps["in_progress_at"] = now
            b.request_counts = {"total": len(lines), "completed": 0, "failed": 0}
        elif b.status == "in_progress":
            self._execute(b, now)
            b.status = "finalizing"
            b.timestamps["finalizing_at"] = now
        elif b.status == "finalizing":
            self._write_result_files(b, [])
            b.status = "completed"
            b.timestamps["completed_at"] = now
        elif b.status == "cancelling":
            self._finish(
                b,
                "cancelled",
                "cancelled_at",
                "batch_cancelled",
                "This request was not executed because the batch was cancelled.",
            )

    def _execute(self, b: StoredBatch, now: int) -> None:
        assert b.lines is not None
        results: list[tuple[JSONDict, bool]] = []
        input_tokens = output_tokens = 0
        for line in b.lines:
            out, ok, p, c = _run_line(b.endpoint, line, now)
            results.append((out, ok))
            input_tokens += p
            output_tokens += c
        b.results = results
        ok_count = sum(1 for _, ok in results if ok)
        b.request_counts = {"total": len(results), "completed": ok_count, "failed": len(results) - ok_count}
        b.usage = _batch_usage(input_tokens, output_tokens)

    def _finish(self, b: StoredBatch, status: str, stamp: str, unrun_code: str, unrun_message: str) -> None:
        """End a batch early (cancel / expiry): keep executed results, list unrun requests as errors."""
        unrun: list[JSONDict] = []
        if b.results is None:
            if b.lines is None:
                lines, errors = parse_batch_input(b.input_content, b.endpoint)
                b.lines = lines if not errors else _lenient_lines(b.input_content)
                b.request_counts = {"total": len(b.lines), "completed": 0, "failed": 0}
            unrun = [_unrun_line(line, unrun_code, unrun_message) for line in b.lines]
        self._write_result_files(b, unrun)
        b.status = status
        b.timestamps[stamp] = self.clock()

    def _write_result_files(self, b: StoredBatch, extra_errors: list[JSONDict]) -> None:
        results = b.results or []
        ok_lines = [out for out, ok in results if ok]
        err_lines = [out for out, ok in results if not ok] + extra_errors
        if ok_lines:
            b.output_file_id = self.add_file(
                b.owner, _jsonl(ok_lines), f"{b.id}_output.jsonl", "batch_output", b.output_expires_after
            ).id
        if err_lines:
            b.error_file_id = self.add_file(
                b.owner, _jsonl(err_lines), f"{b.id}_error.jsonl", "batch_output", b.output_expires_after
            ).id


# ---------------------------------------------------------------------------------------------------------
# request parsing helpers


def _parse_int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise _bad_request(
            f"Invalid '{name}': expected an integer, but got {value!r} instead.", param=name, code="invalid_type"
        ) from None
    if not lo <= n <= hi:
        raise _bad_request(
            f"Invalid '{name}': integer {n} is out of range; it must be between {lo} and {hi}.",
            param=name,
            code="integer_out_of_range" if n > hi else "integer_below_min_value",
        )
    return n


def _parse_expires_after(anchor: Any, seconds: Any, prefix: str) -> int | None:
    """Validate an ``expires_after`` pair; returns the seconds or None when absent."""
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise _bad_request(
            f"Missing required parameter: '{prefix}.anchor'.",
            param=f"{prefix}.anchor",
            code="missing_required_parameter",
        )
    if seconds is None:
        raise _bad_request(
            f"Missing required parameter: '{prefix}.seconds'.",
            param=f"{prefix}.seconds",
            code="missing_required_parameter",
        )
    if anchor != "created_at":
        raise _bad_request(
            f"Invalid value for '{prefix}.anchor': {anchor!r}. Supported values are: 'created_at'.",
            param=f"{prefix}.anchor",
            code="invalid_value",
        )
    if isinstance(seconds, bool):
        seconds = None
    try:
        n = int(seconds) if isinstance(seconds, (int, str)) else None
    except ValueError:
        n = None
    if n is None:
        raise _bad_request(
            f"Invalid '{prefix}.seconds': expected an integer.", param=f"{prefix}.seconds", code="invalid_type"
        )
    if not EXPIRES_AFTER_MIN <= n <= EXPIRES_AFTER_MAX:
        raise _bad_request(
            f"Invalid '{prefix}.seconds': {n} must be between {EXPIRES_AFTER_MIN} and {EXPIRES_AFTER_MAX}.",
            param=f"{prefix}.seconds",
            code="invalid_value",
        )
    return n


def _validate_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad_request("Invalid type for 'metadata': expected an object.", param="metadata", code="invalid_type")
    if len(value) > METADATA_MAX_PAIRS:
        raise _bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_MAX_PAIRS} properties, but got {len(value)} instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for k, v in value.items():
        if len(k) > METADATA_KEY_MAX:
            raise _bad_request(
                f"Invalid 'metadata': key {k[:20]!r}... is longer than {METADATA_KEY_MAX} characters.",
                param="metadata",
                code="invalid_value",
            )
        if not isinstance(v, str):
            raise _bad_request(
                f"Invalid type for 'metadata.{k}': expected a string.", param=f"metadata.{k}", code="invalid_type"
            )
        if len(v) > METADATA_VALUE_MAX:
            raise _bad_request(
                f"Invalid 'metadata.{k}': string too long. Expected a string with maximum "
                f"length {METADATA_VALUE_MAX}, but got a string with length {len(v)} instead.",
                param=f"metadata.{k}",
                code="string_above_max_length",
            )
    return {str(k): str(v) for k, v in value.items()}


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _list_body(items: list[JSONDict], has_more: bool) -> JSONDict:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


# ---------------------------------------------------------------------------------------------------------
# ASGI gate: record, delay, inject, authenticate


class _Gate:
    """Outermost middleware: records each request (with its body), applies ``delay_seconds`` and
    injections, enforces bearer auth, and stamps an ``x-request-id`` on every answer."""

    def __init__(self, app: ASGIApp, state: FakeOpenAIState) -> None:
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

        request_id = "req_" + _hex(32)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        if self.state.delay_seconds > 0:
            await asyncio.sleep(self.state.delay_seconds)

        injection = self.state.take_injection(method, path)
        if injection is not None:
            response: Response = JSONResponse(injection.body, status_code=injection.status, headers=injection.headers)
            await response(scope, receive, send_with_id)
            return

        if path.startswith("/v1"):
            key = _bearer(headers)
            if key is None or (self.state.api_keys is not None and key not in self.state.api_keys):
                auth_message = (
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    if key is None
                    else "Incorrect API key provided."
                )
                response = JSONResponse(
                    error_body(auth_message, "invalid_request_error", None, "invalid_api_key"),
                    status_code=401,
                )
                await response(scope, receive, send_with_id)
                return
            scope.setdefault("state", {})["api_key"] = key

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
    """A fresh fake OpenAI upstream; paths under ``/v1``; state on ``app.state.fake``."""
    state = FakeOpenAIState()
    app = FastAPI(title="fake OpenAI upstream", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state
    app.add_middleware(_Gate, state=state)

    @app.exception_handler(OpenAIError)
    async def _openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            message = f"Invalid URL ({request.method} {request.url.path})"
        else:
            message = str(exc.detail)
        return JSONResponse(error_body(message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"Invalid request: {exc.errors()!r}"), status_code=400)

    def owner(request: Request) -> str:
        return str(request.state.api_key)

    # -- files -------------------------------------------------------------------------------------------

    @app.post("/v1/files")
    async def create_file(request: Request) -> JSONResponse:
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart
            raise _bad_request(f"Could not parse multipart form: {exc}") from None
        upload = form.get("file")
        purpose = form.get("purpose")
        if upload is None:
            raise _bad_request("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        if not isinstance(upload, UploadFile):
            raise _bad_request(
                "Invalid 'file': expected a file upload, not a string.", param="file", code="invalid_type"
            )
        if purpose is None:
            raise _bad_request(
                "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter"
            )
        if not isinstance(purpose, str) or purpose not in FILE_CREATE_PURPOSES:
            shown = purpose if isinstance(purpose, str) else "<file>"
            raise _bad_request(
                f"'{shown}' is not one of {list(FILE_CREATE_PURPOSES)} - 'purpose'",
                param="purpose",
                code="invalid_value",
            )
        anchor = form.get("expires_after[anchor]")
        seconds = form.get("expires_after[seconds]")
        if isinstance(anchor, UploadFile) or isinstance(seconds, UploadFile):
            raise _bad_request("Invalid 'expires_after'.", param="expires_after", code="invalid_type")
        ttl = _parse_expires_after(anchor, seconds, "expires_after")
        content = await upload.read()
        f = state.add_file(owner(request), content, upload.filename or "file", purpose, ttl)
        return JSONResponse(f.to_json())

    @app.get("/v1/files")
    async def list_files(request: Request) -> JSONResponse:
        q = request.query_params
        limit = _parse_int(q.get("limit"), "limit", FILES_LIMIT_MAX, 1, FILES_LIMIT_MAX)
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise _bad_request(
                f"Invalid value for 'order': {order!r}. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        items, has_more = state.list_files(owner(request), q.get("purpose"), order, q.get("after"), limit)
        return JSONResponse(_list_body([f.to_json() for f in items], has_more))

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str, request: Request) -> JSONResponse:
        return JSONResponse(state.get_file(owner(request), file_id).to_json())

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str, request: Request) -> JSONResponse:
        state.delete_file(owner(request), file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str, request: Request) -> Response:
        content = state.get_file(owner(request), file_id).content

        async def chunks() -> AsyncIterator[bytes]:  # sent a chunk at a time, as a large file comes from OpenAI
            for start in range(0, len(content), CONTENT_CHUNK_BYTES):
                yield content[start : start + CONTENT_CHUNK_BYTES]

        return StreamingResponse(
            chunks(), media_type="application/octet-stream", headers={"content-length": str(len(content))}
        )

    # -- batches -----------------------------------------------------------------------------------------

    @app.post("/v1/batches")
    async def create_batch(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            raise _bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
                "not valid JSON.)"
            ) from None
        if not isinstance(payload, dict):
            raise _bad_request("The request body must be a JSON object.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if name not in payload:
                raise _bad_request(
                    f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
                )
            if not isinstance(payload[name], str):
                raise _bad_request(f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type")
        endpoint = payload["endpoint"]
        if endpoint not in BATCH_ENDPOINTS:
            raise _bad_request(
                f"Invalid value for 'endpoint': {endpoint!r}. Supported values are: "
                + ", ".join(f"'{e}'" for e in BATCH_ENDPOINTS)
                + ".",
                param="endpoint",
                code="invalid_value",
            )
        if payload["completion_window"] != "24h":
            raise _bad_request(
                f"Invalid value for 'completion_window': {payload['completion_window']!r}. "
                "Supported values are: '24h'.",
                param="completion_window",
                code="invalid_value",
            )
        metadata = _validate_metadata(payload.get("metadata"))
        oea = payload.get("output_expires_after")
        if oea is not None and not isinstance(oea, dict):
            raise _bad_request(
                "Invalid type for 'output_expires_after': expected an object.",
                param="output_expires_after",
                code="invalid_type",
            )
        output_ttl = (
            _parse_expires_after((oea or {}).get("anchor"), (oea or {}).get("seconds"), "output_expires_after")
            if oea is not None
            else None
        )
        key = owner(request)
        try:
            input_file = state.get_file(key, payload["input_file_id"])
        except OpenAIError:
            raise _bad_request(
                f"Invalid 'input_file_id': no such file {payload['input_file_id']!r}.",
                param="input_file_id",
                code="invalid_value",
            ) from None
        if input_file.purpose != "batch":
            raise _bad_request(
                f"Invalid 'input_file_id': file {input_file.id} has purpose "
                f"'{input_file.purpose}'; batch input files must have purpose 'batch'.",
                param="input_file_id",
                code="invalid_value",
            )
        b = state.add_batch(
            key,
            input_file=input_file,
            endpoint=endpoint,
            completion_window=payload["completion_window"],
            metadata=metadata,
            output_expires_after=output_ttl,
        )
        return JSONResponse(b.to_json())

    @app.get("/v1/batches")
    async def list_batches(request: Request) -> JSONResponse:
        q = request.query_params
        limit = _parse_int(q.get("limit"), "limit", BATCHES_LIMIT_DEFAULT, 1, BATCHES_LIMIT_MAX)
        items, has_more = state.list_batches(owner(request), q.get("after"), limit)
        return JSONResponse(_list_body([b.to_json() for b in items], has_more))

    @app.get("/v1/batches/{batch_id}")
    async def retrieve_batch(batch_id: str, request: Request) -> JSONResponse:
        return JSONResponse(state.retrieve_batch(owner(request), batch_id))

    @app.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(batch_id: str, request: Request) -> JSONResponse:
        return JSONResponse(state.cancel_batch(owner(request), batch_id))

    return app
