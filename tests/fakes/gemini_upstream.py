"""In-memory fake of the Google Gemini API (generativelanguage v1beta): Files API with resumable uploads and the
Batch API with long-running operations, for the gateway's tests.

Wire facts follow the Gemini API's Batch and Files reference (generativelanguage v1beta).
``tests/contract/test_fake_gemini.py`` drives this fake with the official ``google-genai`` SDK so it stays honest.

Usage::

    app = create_app()
    fake: FakeGeminiState = app.state.fake
    with running_server(app) as base:            # tests/fakes/server.py
        client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=base))

Behaviour summary:

* Every request is recorded in ``fake.requests`` (method, path, lower-cased headers, query, body).
  ``fake.inject(status, body=None, *, path_contains="", times=1, method=None, headers=None)`` answers the next
  matching request(s) with that status and body (default: the Google error body for the status).
* Auth: ``x-goog-api-key`` header or ``key`` query parameter on every ``/v1beta``, ``/download/v1beta`` and
  upload-start request (missing: 403 ``PERMISSION_DENIED``; not in ``fake.api_keys`` when that is set: 400
  ``INVALID_ARGUMENT`` with ErrorInfo reason ``API_KEY_INVALID``). Upload-session requests (``?upload_id=``) are
  authorised by the session itself, as the SDK does not resend the key there. Files and batches are scoped per
  key: another key's objects answer 404 exactly like unknown ones.
* Errors: ``{"error": {"code", "message", "status"}}`` (+ ``details`` for key errors).
* Resumable upload: ``POST /upload/v1beta/files`` with ``X-Goog-Upload-Protocol: resumable`` and
  ``X-Goog-Upload-Command: start`` answers 200 with an empty body and ``x-goog-upload-url``; chunks go to that URL
  with ``X-Goog-Upload-Command: upload`` (``x-goog-upload-status: active``) and the last with ``upload, finalize``
  (``x-goog-upload-status: final``, body ``{"file": File}``). ``query`` and ``cancel`` commands are supported.
* A batch moves one step on each ``GET /v1beta/batches/{id}`` (``step_batches_on_get``), or with
  ``advance(name)`` / ``run_to_end(name)``: ``PENDING -> RUNNING -> SUCCEEDED``; after ``:cancel`` the next step
  is ``CANCELLED`` (``done: true``, no ``response``). A terminal batch never changes.
* On success every input line gets one output line, in input order, in a GENERATED file ``files/batch-…`` owned by
  the same key (downloadable via ``GET /v1beta/files/{id}:download?alt=media`` or ``/download/v1beta/…``):
  ``{"key", "response": GenerateContentResponse}`` with text ``"echo: <last user text>"``; a line whose model
  starts with ``invalid-`` or whose contents contain ``FAIL`` gives ``{"key", "error": {"code": 400, "message",
  "status": "INVALID_ARGUMENT"}}``; one whose contents contain ``BLOCK`` gets a response without candidates and
  with ``promptFeedback.blockReason: SAFETY`` (a blocked prompt). Inline-request batches get ``inlinedResponses``.
* A request's ``generationConfig`` shapes its response as Gemini's would: ``candidateCount`` n gives n candidates
  (``index`` 0..n-1); ``responseMimeType: application/json`` makes the text JSON, ``{"echo": <last user text>}``
  without a schema, else an instance of ``responseJsonSchema`` (JSON Schema as Gemini takes it: ``$ref``s, recursive
  ones too, ``anyOf``, ``const``, enums of any type, type lists, ``prefixItems``; ``_JsonSchemaInstance``) or of
  ``responseSchema`` (the first ``enum`` value or the echo for a string, the ``minimum`` or 0 for numbers, true,
  ``minItems`` (at least one) items, every property in ``propertyOrdering`` order). A ``responseSchema`` is checked
  as Gemini checks it: an unknown field, an OBJECT without properties, an ARRAY without items, a ``required`` name
  that is no property is an INVALID_ARGUMENT error line; so are a ``$ref`` of a ``responseJsonSchema`` that points
  nowhere, both schema fields at once, and either without the JSON MIME type.
  ``thinkingConfig`` with a ``thinkingLevel`` or a non-zero ``thinkingBudget`` (both:
  an error line) reports ``thoughtsTokenCount`` THOUGHT_TOKENS (in ``totalTokenCount``), and with
  ``includeThoughts`` a ``thought: true`` part first. ``responseLogprobs`` adds ``logprobsResult`` (one chosen
  candidate per word of the text, ``logprobs`` k top candidates each) and ``avgLogprobs``.
* Paths are served under both ``/v1beta`` and ``/v1`` (``fake.api_versions``): google-genai 3.x defaults to
  ``api_version="v1"`` for the Gemini API, so the SDK calls ``/v1/...`` and ``/upload/v1/files`` unless pinned.
* Lists (files and batches) are newest first; ``pageToken`` is opaque; an empty list is ``{}`` (proto3).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tests.fakes.server import dropped_midway

__all__ = [
    "BATCH_TYPE",
    "FakeGeminiState",
    "GeminiAPIError",
    "Injection",
    "RecordedRequest",
    "create_app",
    "default_error_body",
    "error_body",
    "rfc3339_ns",
    "simulate_line",
]

JSONDict = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
BATCH_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
FILE_TTL_NS = 48 * 3600 * 10**9
FILES_PAGE_DEFAULT, FILES_PAGE_MAX = 10, 100
BATCHES_PAGE_DEFAULT, BATCHES_PAGE_MAX = 50, 1000
RESULTS_MIME = "application/jsonl"
TERMINAL = {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
_KEYED_PATH_RE = re.compile(r"^/(upload/|download/)?v1[a-z0-9]*/")
_FILE_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")

STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}

_LOWER_ALNUM = string.ascii_lowercase + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(n))


def rfc3339_ns(ns: int) -> str:
    """RFC 3339, UTC, nanosecond precision: ``2026-08-20T20:08:31.015405218Z``."""
    secs, frac = divmod(ns, 10**9)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")


def error_body(code: int, message: str, status: str | None = None, details: list[JSONDict] | None = None) -> JSONDict:
    """A Google API error body (wire reference 4.1)."""
    err: JSONDict = {"code": code, "message": message, "status": status or status_name(code)}
    if details:
        err["details"] = details
    return {"error": err}


def default_error_body(code: int) -> JSONDict:
    return error_body(code, _DEFAULT_MESSAGES.get(code, f"Injected error (HTTP {code})."))


class GeminiAPIError(Exception):
    """Raised inside handlers; rendered as ``code`` + a Google error body."""

    def __init__(self, code: int, message: str, status: str | None = None, details: list[JSONDict] | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status or status_name(code), details

    def body(self) -> JSONDict:
        return error_body(self.code, self.message, self.status, self.details)


def _bad(message: str) -> GeminiAPIError:
    return GeminiAPIError(400, message, "INVALID_ARGUMENT")


def _not_found(what: str) -> GeminiAPIError:
    return GeminiAPIError(404, f"{what} not found (or permission denied).", "NOT_FOUND")


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
    body: JSONDict | None
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
    data: bytes
    mime_type: str
    display_name: str | None
    source: str  # UPLOADED | GENERATED
    create_ns: int
    seq: int

    @property
    def name(self) -> str:
        return f"files/{self.id}"

    def to_json(self, base: str) -> JSONDict:
        out: JSONDict = {"name": self.name}
        if self.display_name:
            out["displayName"] = self.display_name
        out.update(
            {
                "mimeType": self.mime_type,
                "sizeBytes": str(len(self.data)),
                "createTime": rfc3339_ns(self.create_ns),
                "updateTime": rfc3339_ns(self.create_ns),
                "expirationTime": rfc3339_ns(self.create_ns + FILE_TTL_NS),
                "sha256Hash": base64.b64encode(hashlib.sha256(self.data).hexdigest().encode()).decode(),
                "uri": f"{base}/v1beta/{self.name}",
            }
        )
        if self.source == "GENERATED":
            out["downloadUri"] = f"{base}/download/v1beta/{self.name}:download?alt=media"
        out["state"] = "ACTIVE"
        out["source"] = self.source
        return out


@dataclass
class UploadSession:
    owner: str
    file_id: str | None
    display_name: str | None
    mime_type: str
    declared_size: int | None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class StoredBatch:
    id: str
    owner: str
    model: str  # "models/..."
    display_name: str | None
    input_config: JSONDict
    lines: list[JSONDict]  # {"key"?: str, "request": GenerateContentRequest}, input order
    inline: bool
    create_ns: int
    seq: int
    priority: int = 0
    state: str = "BATCH_STATE_PENDING"
    cancel_requested: bool = False
    update_ns: int = 0
    end_ns: int | None = None
    output: JSONDict | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    def to_operation(self) -> JSONDict:
        meta: JSONDict = {"@type": BATCH_TYPE, "model": self.model}
        if self.display_name:
            meta["displayName"] = self.display_name
        meta["inputConfig"] = self.input_config
        if self.output is not None:
            meta["output"] = self.output
        meta["createTime"] = rfc3339_ns(self.create_ns)
        meta["updateTime"] = rfc3339_ns(self.update_ns or self.create_ns)
        if self.end_ns is not None:
            meta["endTime"] = rfc3339_ns(self.end_ns)
        stats = {k: str(v) for k, v in self.stats.items() if v}
        if stats:
            meta["batchStats"] = stats
        meta["state"] = self.state
        meta["name"] = self.name
        if self.priority:
            meta["priority"] = str(self.priority)
        op: JSONDict = {"name": self.name, "metadata": meta}
        if self.state in TERMINAL:
            op["done"] = True
            if self.state == "BATCH_STATE_SUCCEEDED" and self.output is not None:
                op["response"] = {"@type": BATCH_OUTPUT_TYPE, **self.output}
        return op


# ---------------------------------------------------------------------------------------------------------
# simulation


def _content_text(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and "text" in p)


def _words(text: str) -> int:
    return max(1, len(text.split()))


def simulate_line(request: Any, model: str) -> JSONDict:
    """``{"response": GenerateContentResponse}`` or ``{"error": Status}`` for one GenerateContentRequest."""
    if not isinstance(request, dict):
        return {"error": {"code": 400, "message": "request must be an object", "status": "INVALID_ARGUMENT"}}
    line_model = request.get("model") or model
    line_model = line_model if str(line_model).startswith("models/") else f"models/{line_model}"
    contents = request.get("contents")
    if line_model.startswith("models/invalid-"):
        msg = f"{line_model} is not found for API version v1beta, or is not supported for generateContent."
        return {"error": {"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}}
    if not isinstance(contents, list) or not contents:
        msg = "* GenerateContentRequest.contents: contents is not specified\n"
        return {"error": {"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}}
    texts = [_content_text(c) for c in contents]
    system = _content_text(request.get("systemInstruction") or request.get("system_instruction"))
    if any("FAIL" in t for t in [*texts, system]):
        msg = "Request contains an invalid argument (the request text contains FAIL)."
        return {"error": {"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}}
    prompt_tokens = _words(" ".join([system, *texts]))
    if any("BLOCK" in t for t in [*texts, system]):  # a blocked prompt: no candidates, only feedback
        blocked = {
            "promptFeedback": {
                "blockReason": "SAFETY",
                "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
            },
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            "modelVersion": line_model.removeprefix("models/"),
            "responseId": _rand(22),
        }
        return {"response": blocked}
    user = [_content_text(c) for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    config = _get(request, "generationConfig", "generation_config")
    config = config if isinstance(config, dict) else {}
    try:
        reply = _reply(config, user[-1] if user else "")
        thoughts, include_thoughts = _thinking(config)
    except GeminiAPIError as exc:
        return {"error": exc.body()["error"]}
    count = _get(config, "candidateCount", "candidate_count") or 1
    candidates = [_candidate(reply, i, config, include_thoughts) for i in range(int(count))]
    out_tokens = _words(reply) * len(candidates)
    usage: JSONDict = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": out_tokens,
        "totalTokenCount": prompt_tokens + out_tokens + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    response = {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": line_model.removeprefix("models/"),
        "responseId": _rand(22),
    }
    return {"response": response}


THOUGHT_TOKENS = 7  # what a thinking request reports in thoughtsTokenCount
# Gemini's Schema (generativelanguage v1beta); each multi-word field in its snake_case spelling as well
_SCHEMA_FIELDS_CAMEL = (
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
)
_SCHEMA_FIELDS = {*_SCHEMA_FIELDS_CAMEL, *(re.sub("([A-Z])", r"_\1", f).lower() for f in _SCHEMA_FIELDS_CAMEL)}
_SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}


def _invalid(message: str) -> GeminiAPIError:
    return GeminiAPIError(400, message, "INVALID_ARGUMENT")


def _reply(config: JSONDict, text: str) -> str:
    """The candidate text: the echo, or JSON when the MIME type asks for it (checked as Gemini checks it)."""
    mime = _get(config, "responseMimeType", "response_mime_type")
    schema = _get(config, "responseSchema", "response_schema")
    json_schema = _get(config, "responseJsonSchema", "response_json_schema")
    if schema is not None and json_schema is not None:
        raise _invalid(
            "* GenerateContentRequest.generation_config: only one of response_schema and response_json_schema "
            "may be set\n"
        )
    for given, field_name in ((schema, "response_schema"), (json_schema, "response_json_schema")):
        if given is not None and mime != "application/json":
            raise _invalid(
                f"* GenerateContentRequest.generation_config.response_mime_type: {field_name} needs a compatible "
                "response_mime_type (application/json)\n"
            )
    if mime != "application/json":
        return "echo: " + text
    if json_schema is not None:
        return json.dumps(
            _JsonSchemaInstance(json_schema, text).of(json_schema, "generation_config.response_json_schema")
        )
    if schema is None:
        return json.dumps({"echo": text})
    return json.dumps(_instance(schema, text, "generation_config.response_schema"))


class _JsonSchemaInstance:
    """A value of a JSON Schema (``responseJsonSchema``), as Gemini's JSON Schema support reads one: local ``$ref``s
    (recursive ones too) into ``$defs``/``definitions``, ``anyOf``/``oneOf`` (the first member that is not null),
    ``const``, ``enum`` of any type (the first value), a type list (its first type besides null), objects (every
    property, in ``propertyOrdering`` else the schema's order), arrays (``prefixItems`` then ``items`` up to
    ``minItems``, at least one item until RECURSION_DEPTH subschemas deep), strings (the echo), numbers (``minimum``,
    one above ``exclusiveMinimum``, else 0). A schema that is not an object or boolean, or a ``$ref`` that points
    nowhere, is Gemini's INVALID_ARGUMENT."""

    RECURSION_DEPTH = 8  # past it, arrays hold only their minItems: a recursive schema's answer ends
    MAX_DEPTH = 64

    def __init__(self, root: Any, text: str) -> None:
        self.root, self.text = root, text

    def of(self, schema: Any, at: str, depth: int = 0) -> Any:
        if depth > self.MAX_DEPTH:
            raise _invalid(f"* GenerateContentRequest.{at}: schema nests too deeply\n")
        if isinstance(schema, bool):
            return self.text
        if not isinstance(schema, dict):
            raise _invalid(f"Invalid JSON payload received. Invalid value at '{at}': expected a JSON Schema object.")
        ref = schema.get("$ref")
        if ref is not None:
            return self.of(self._resolve(ref, at), f"{at}.$ref", depth + 1)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        members = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(members, list) and members:
            chosen = next((m for m in members if not (isinstance(m, dict) and m.get("type") == "null")), members[0])
            return self.of(chosen, f"{at}.anyOf", depth + 1)
        return self._typed(schema, at, depth)

    def _typed(self, schema: JSONDict, at: str, depth: int) -> Any:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            properties = schema.get("properties") or {}
            order = schema.get("propertyOrdering") or list(properties)
            return {name: self.of(properties[name], f"{at}.properties.{name}", depth + 1) for name in order}
        if kind == "array":
            return self._array(schema, at, depth)
        if kind in ("integer", "number"):
            low = schema.get("minimum")
            if low is None and schema.get("exclusiveMinimum") is not None:
                low = schema["exclusiveMinimum"] + 1
            value = low if low is not None else 0
            return int(value) if kind == "integer" else float(value)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.text  # a string, or a schema that says no type

    def _array(self, schema: JSONDict, at: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        values = [self.of(item, f"{at}.prefixItems[{i}]", depth + 1) for i, item in enumerate(prefix)]
        least = int(schema.get("minItems") or 0)
        wanted = least if depth > self.RECURSION_DEPTH else max(least, 1)
        items = schema.get("items")
        if items is False or (items is None and prefix):
            return values
        while len(values) < wanted:
            values.append(self.of(items if items is not None else True, f"{at}.items", depth + 1))
        return values

    def _resolve(self, ref: Any, at: str) -> Any:
        node = self.root
        if isinstance(ref, str) and ref.startswith("#"):
            for token in [t for t in ref[1:].split("/") if t]:
                token = token.replace("~1", "/").replace("~0", "~")
                node = node.get(token) if isinstance(node, dict) else None
        else:
            node = None
        if node is None:
            raise _invalid(f"* GenerateContentRequest.{at}.$ref: {ref!r} could not be resolved\n")
        return node


def _instance(schema: Any, text: str, at: str) -> Any:
    """A value of a Gemini Schema; a schema Gemini would refuse raises its INVALID_ARGUMENT."""
    if not isinstance(schema, dict):
        raise _invalid(f"Invalid JSON payload received. Invalid value at '{at}': expected a Schema object.")
    unknown = next((k for k in schema if k not in _SCHEMA_FIELDS), None)
    if unknown is not None:
        raise _invalid(f"Invalid JSON payload received. Unknown name \"{unknown}\" at '{at}': Cannot find field.")
    any_of = _get(schema, "anyOf", "any_of")
    if any_of:
        return _instance(any_of[0], text, f"{at}.any_of[0]")
    kind = str(schema.get("type", "")).upper()
    if kind not in _SCHEMA_TYPES:
        raise _invalid(
            f"Invalid JSON payload received. Invalid value at '{at}.type' "
            f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {json.dumps(schema.get('type'))}"
        )
    if kind == "OBJECT":
        return _object_instance(schema, text, at)
    if kind == "ARRAY":
        items = schema.get("items")
        if items is None:
            raise _invalid(f"* GenerateContentRequest.{at}.items: missing field.\n")
        count = max(int(_get(schema, "minItems", "min_items") or 1), 1)
        maximum = _get(schema, "maxItems", "max_items")
        count = min(count, int(maximum)) if maximum is not None else count
        return [_instance(items, text, f"{at}.items") for _ in range(count)]
    return _scalar(schema, kind, text)


def _object_instance(schema: JSONDict, text: str, at: str) -> JSONDict:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise _invalid(f"* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type\n")
    for i, name in enumerate(schema.get("required") or []):
        if name not in properties:
            raise _invalid(f"* GenerateContentRequest.{at}.required[{i}]: property is not defined\n")
    order = _get(schema, "propertyOrdering", "property_ordering") or list(properties)
    return {name: _instance(properties[name], text, f"{at}.properties[{name}].value") for name in order}


def _scalar(schema: JSONDict, kind: str, text: str) -> Any:
    if kind == "STRING":
        enum = schema.get("enum")
        return enum[0] if enum else text
    if kind in ("INTEGER", "NUMBER"):
        low = schema.get("minimum")
        value = low if low is not None else 0
        return int(value) if kind == "INTEGER" else float(value)
    return True if kind == "BOOLEAN" else None


def _thinking(config: JSONDict) -> tuple[int, bool]:
    """(thoughtsTokenCount, whether thought parts are shown) of a generationConfig's thinkingConfig."""
    thinking = _get(config, "thinkingConfig", "thinking_config")
    if not isinstance(thinking, dict):
        return 0, False
    level = _get(thinking, "thinkingLevel", "thinking_level")
    budget = _get(thinking, "thinkingBudget", "thinking_budget")
    if level is not None and budget is not None:
        raise _invalid(
            "* GenerateContentRequest.generation_config.thinking_config: thinking_level and thinking_budget "
            "cannot both be set\n"
        )
    thinks = level is not None or (budget is not None and int(budget) != 0)
    return (THOUGHT_TOKENS if thinks else 0), thinks and bool(_get(thinking, "includeThoughts", "include_thoughts"))


def _candidate(reply: str, index: int, config: JSONDict, include_thoughts: bool) -> JSONDict:
    parts: list[JSONDict] = [{"text": "Thinking it over.", "thought": True}] if include_thoughts else []
    parts.append({"text": reply})
    candidate: JSONDict = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": index}
    if _get(config, "responseLogprobs", "response_logprobs"):
        top = int(_get(config, "logprobs") or 0)
        words = reply.split() or [reply]
        chosen = [{"token": w, "tokenId": n, "logProbability": -0.25 * (n % 3)} for n, w in enumerate(words)]
        candidate["logprobsResult"] = {
            "topCandidates": [
                {"candidates": [{**c, "logProbability": c["logProbability"] - k} for k in range(top)]} for c in chosen
            ],
            "chosenCandidates": chosen,
        }
        candidate["avgLogprobs"] = sum(c["logProbability"] for c in chosen) / len(chosen)
    return candidate


def _jsonl(lines: list[JSONDict]) -> bytes:
    return b"".join(json.dumps(x, separators=(",", ":")).encode() + b"\n" for x in lines)


def _get(d: Any, *names: str) -> Any:
    """First present of ``names`` (camelCase and snake_case spellings) in dict ``d``."""
    if not isinstance(d, dict):
        return None
    for n in names:
        if n in d:
            return d[n]
    return None


# ---------------------------------------------------------------------------------------------------------
# state


class FakeGeminiState:
    """All state of one fake; reachable as ``app.state.fake``. Thread-safe."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.injections: list[Injection] = []
        self.step_batches_on_get: bool = True
        # the next N media downloads break off half-way (the connection drops mid-body)
        self.cut_downloads: int = 0
        self.api_keys: set[str] | None = None  # None: any non-empty key is valid
        self.clock: Callable[[], int] = time.time_ns  # nanoseconds since the epoch
        self.base_url: str = "https://generativelanguage.googleapis.com"
        # google-genai 3.x defaults to api_version "v1" (wire reference: v1beta); both are served.
        self.api_versions: set[str] = {"v1", "v1beta"}
        self._lock = threading.RLock()
        self._seq = 0
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, UploadSession] = {}
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
        """Answer the next ``times`` matching requests with ``status`` and ``body`` (default: the Google error
        body for that status, e.g. 429 ``RESOURCE_EXHAUSTED``). Injected answers skip auth and handling."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self.injections.append(Injection(status, body, path_contains, times, method, dict(headers or {})))

    def take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for inj in self.injections:
                if inj.matches(method, path):
                    inj.times -= 1
                    if inj.times <= 0:
                        self.injections.remove(inj)
                    return inj
        return None

    def advance(self, name: str) -> JSONDict:
        """Move batch ``name`` (``batches/{id}`` or ``{id}``) one lifecycle step; returns its Operation."""
        with self._lock:
            b = self._batches[name.removeprefix("batches/")]
            self._step(b)
            return b.to_operation()

    def run_to_end(self, name: str) -> JSONDict:
        """Advance a batch until it is terminal; returns its Operation."""
        with self._lock:
            b = self._batches[name.removeprefix("batches/")]
            for _ in range(3):
                if b.state in TERMINAL:
                    break
                self._step(b)
            return b.to_operation()

    def expire(self, name: str) -> JSONDict:
        """A batch that is not terminal ends ``BATCH_STATE_EXPIRED`` (48 h passed)."""
        with self._lock:
            b = self._batches[name.removeprefix("batches/")]
            if b.state not in TERMINAL:
                self._finish(b, "BATCH_STATE_EXPIRED")
            return b.to_operation()

    def operation(self, name: str) -> JSONDict:
        with self._lock:
            return self._batches[name.removeprefix("batches/")].to_operation()

    def batch_names(self, api_key: str) -> list[str]:
        """``batches/{id}`` names of ``api_key``'s (not deleted) batches, in creation order."""
        with self._lock:
            return [b.name for b in sorted(self._batches.values(), key=lambda b: b.seq) if b.owner == api_key]

    def file_names(self, api_key: str) -> list[str]:
        with self._lock:
            return [f.name for f in sorted(self._files.values(), key=lambda f: f.seq) if f.owner == api_key]

    def file_bytes(self, name: str) -> bytes:
        with self._lock:
            return bytes(self._files[name.removeprefix("files/")].data)

    # -- files -----------------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_file(
        self, owner: str, data: bytes, mime: str, display_name: str | None, source: str, file_id: str | None = None
    ) -> StoredFile:
        with self._lock:
            if file_id is None:
                file_id = ("batch-" if source == "GENERATED" else "") + _rand(12)
            if file_id in self._files:
                raise GeminiAPIError(409, f"File files/{file_id} already exists.", "ALREADY_EXISTS")
            f = StoredFile(file_id, owner, data, mime, display_name, source, self.clock(), self._next_seq())
            self._files[file_id] = f
            return f

    def get_file(self, owner: str, file_id: str) -> StoredFile:
        with self._lock:
            f = self._files.get(file_id)
            if f is None or f.owner != owner:
                raise GeminiAPIError(
                    403,
                    f"You do not have permission to access the File {file_id} or it may not exist.",
                    "PERMISSION_DENIED",
                )
            return f

    def delete_file(self, owner: str, file_id: str) -> None:
        with self._lock:
            self.get_file(owner, file_id)
            del self._files[file_id]

    # -- batches ---------------------------------------------------------------------------------------

    def get_batch(self, owner: str, batch_id: str) -> StoredBatch:
        with self._lock:
            b = self._batches.get(batch_id)
            if b is None or b.owner != owner:
                raise _not_found(f"Batch batches/{batch_id}")
            return b

    def _step(self, b: StoredBatch) -> None:
        if b.state in TERMINAL:
            return
        if b.cancel_requested:
            self._finish(b, "BATCH_STATE_CANCELLED")
        elif b.state == "BATCH_STATE_PENDING":
            b.state = "BATCH_STATE_RUNNING"
            b.update_ns = self.clock()
        else:
            self._succeed(b)

    def _finish(self, b: StoredBatch, state: str) -> None:
        b.state = state
        b.update_ns = b.end_ns = self.clock()
        b.stats = {"requestCount": len(b.lines)}

    def _succeed(self, b: StoredBatch) -> None:
        results = []
        for line in b.lines:
            res = simulate_line(line.get("request"), b.model)
            results.append((line, res))
        ok = sum(1 for _, r in results if "response" in r)
        if b.inline:
            items = []
            for line, res in results:
                item = dict(res)
                if "metadata" in line:
                    item["metadata"] = line["metadata"]
                items.append(item)
            b.output = {"inlinedResponses": {"inlinedResponses": items}}
        else:
            out_lines = [({"key": line["key"]} if "key" in line else {}) | res for line, res in results]
            f = self.add_file(b.owner, _jsonl(out_lines), RESULTS_MIME, f"{b.name}-results", "GENERATED")
            b.output = {"responsesFile": f.name}
        b.state = "BATCH_STATE_SUCCEEDED"
        b.update_ns = b.end_ns = self.clock()
        b.stats = {"requestCount": len(b.lines), "successfulRequestCount": ok, "failedRequestCount": len(b.lines) - ok}

    def create_batch(self, owner: str, model: str, payload: Any) -> StoredBatch:
        batch = _get(payload, "batch")
        if not isinstance(batch, dict):
            raise _bad('Invalid JSON payload: the request body must be {"batch": GenerateContentBatch}.')
        input_config = _get(batch, "inputConfig", "input_config")
        if not isinstance(input_config, dict):
            raise _bad("* GenerateContentBatch.input_config: input_config is required")
        file_name = _get(input_config, "fileName", "file_name")
        inline_reqs = _get(_get(input_config, "requests"), "requests")
        if (file_name is None) == (inline_reqs is None):
            raise _bad("* GenerateContentBatch.input_config: exactly one of file_name or requests must be set")
        priority_raw = _get(batch, "priority") or 0
        try:
            priority = int(priority_raw)
        except (TypeError, ValueError):
            raise _bad(f"Invalid value at 'batch.priority' (TYPE_INT64), \"{priority_raw}\"") from None
        lines: list[JSONDict] = []
        with self._lock:
            if file_name is not None:
                if not isinstance(file_name, str) or not file_name.startswith("files/"):
                    raise _bad(f"* GenerateContentBatch.input_config.file_name: invalid file name {file_name!r}")
                f = self.get_file(owner, file_name.removeprefix("files/"))
                for n, raw in enumerate(f.data.decode("utf-8", "replace").splitlines(), start=1):
                    if not raw.strip():
                        continue
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        raise _bad(f"Input file {file_name} line {n} is not valid JSON.") from None
                    if not isinstance(obj, dict):
                        raise _bad(f"Input file {file_name} line {n} is not a JSON object.")
                    lines.append(obj if "request" in obj else {"request": obj})
                if not lines:
                    raise _bad(f"Input file {file_name} contains no requests.")
                input_config = {"fileName": file_name}
            else:
                if not isinstance(inline_reqs, list) or not inline_reqs:
                    raise _bad("* GenerateContentBatch.input_config.requests.requests: must not be empty")
                for item in inline_reqs:
                    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
                        raise _bad("* GenerateContentBatch.input_config.requests.requests[].request is required")
                    lines.append(item)
            now = self.clock()
            b = StoredBatch(
                id=_rand(40),
                owner=owner,
                model=model,
                display_name=_get(batch, "displayName", "display_name"),
                input_config=input_config,
                lines=lines,
                inline=file_name is None,
                create_ns=now,
                seq=self._next_seq(),
                priority=priority,
                stats={"requestCount": len(lines), "pendingRequestCount": len(lines)},
            )
            self._batches[b.id] = b
            return b


# ---------------------------------------------------------------------------------------------------------
# paging


def _page(items: list[Any], query: Any, default: int, maximum: int) -> tuple[list[Any], str | None]:
    raw = query.get("pageSize")
    size = default
    if raw is not None:
        try:
            size = int(raw)
        except ValueError:
            raise _bad(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from None
        if size < 0:
            raise _bad("page_size must not be negative")
        size = min(size or default, maximum)
    start = 0
    token = query.get("pageToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
        except ValueError:
            raise _bad("Invalid page token.") from None
    page = items[start : start + size]
    nxt = start + size
    return page, (base64.urlsafe_b64encode(str(nxt).encode()).decode().rstrip("=") if nxt < len(items) else None)


# ---------------------------------------------------------------------------------------------------------
# ASGI gate: record, inject, authenticate


class _Gate:
    def __init__(self, app: ASGIApp, state: FakeGeminiState) -> None:
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

        injection = self.state.take_injection(method, path)
        if injection is not None:
            inj_body = injection.body if injection.body is not None else default_error_body(injection.status)
            await JSONResponse(inj_body, status_code=injection.status, headers=injection.headers)(scope, receive, send)
            return

        needs_key = bool(_KEYED_PATH_RE.match(path)) and not (path.startswith("/upload/") and "upload_id" in query)
        if needs_key:
            key = headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip()
            err: GeminiAPIError | None = None
            if not key:
                err = GeminiAPIError(
                    403,
                    "Method doesn't allow unregistered callers (callers without established identity). "
                    "Please use API Key or other form of API consumer identity to call this API.",
                    "PERMISSION_DENIED",
                )
            elif self.state.api_keys is not None and key not in self.state.api_keys:
                info = {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
                err = GeminiAPIError(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", [info])
            if err is not None:
                await JSONResponse(err.body(), status_code=err.code)(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = key

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---------------------------------------------------------------------------------------------------------
# app


def create_app() -> FastAPI:
    """A fresh fake Gemini upstream (``/v1beta``, ``/upload/v1beta``, ``/download/v1beta``); state on
    ``app.state.fake``."""
    state = FakeGeminiState()
    app = FastAPI(title="fake Gemini upstream", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state
    app.add_middleware(_Gate, state=state)

    @app.exception_handler(GeminiAPIError)
    async def _gemini_error(request: Request, exc: GeminiAPIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return JSONResponse(error_body(404, f"Not found: {request.method} {request.url.path}"), status_code=404)
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)

    def owner(request: Request) -> str:
        state.base_url = base(request)
        return str(request.state.api_key)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def check_version(version: str) -> None:
        if version not in state.api_versions:
            raise GeminiAPIError(404, f"API version {version} is not served by this fake.", "NOT_FOUND")

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise _bad("Invalid JSON payload received.") from None

    # -- uploads -----------------------------------------------------------------------------------------

    @app.post("/upload/{version}/files")
    async def upload(version: str, request: Request) -> Response:
        check_version(version)
        h = request.headers
        command = [c.strip().lower() for c in h.get("x-goog-upload-command", "").split(",") if c.strip()]
        upload_id = request.query_params.get("upload_id")
        if upload_id is None:
            if h.get("x-goog-upload-protocol", "").lower() != "resumable" or command != ["start"]:
                raise _bad("Only the resumable upload protocol (X-Goog-Upload-Command: start) is supported.")
            key = owner(request)
            meta = _get(await json_body(request), "file") or {}
            name = _get(meta, "name")
            file_id = None
            if name:
                file_id = str(name).removeprefix("files/")
                if not _FILE_ID_RE.fullmatch(file_id):
                    raise _bad(f"* File.name: invalid file name {name!r}")
            size_raw = h.get("x-goog-upload-header-content-length") or _get(meta, "sizeBytes", "size_bytes")
            try:
                size = int(size_raw) if size_raw is not None else None
            except ValueError:
                raise _bad("X-Goog-Upload-Header-Content-Length must be an integer.") from None
            mime = h.get("x-goog-upload-header-content-type") or _get(meta, "mimeType", "mime_type")
            session = UploadSession(
                key, file_id, _get(meta, "displayName", "display_name"), mime or "application/octet-stream", size
            )
            sid = _rand(48)
            with state._lock:
                state._uploads[sid] = session
            url = f"{base(request)}/upload/{version}/files?upload_id={sid}&upload_protocol=resumable"
            return Response(
                b"",
                headers={
                    "x-goog-upload-url": url,
                    "x-goog-upload-status": "active",
                    "x-goog-upload-chunk-granularity": str(8 * 1024 * 1024),
                    "x-goog-upload-control-url": url,
                },
            )
        with state._lock:
            session = state._uploads.get(upload_id)
        if session is None:
            raise _not_found(f"Upload session {upload_id}")
        if "query" in command:
            return Response(
                b"", headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(len(session.data))}
            )
        if "cancel" in command:
            with state._lock:
                state._uploads.pop(upload_id, None)
            return Response(b"", headers={"x-goog-upload-status": "cancelled"})
        if "upload" not in command and "finalize" not in command:
            raise _bad(f"Unsupported X-Goog-Upload-Command {h.get('x-goog-upload-command')!r}.")
        chunk = await request.body()
        offset_raw = h.get("x-goog-upload-offset", str(len(session.data)))
        if not offset_raw.isdigit() or int(offset_raw) != len(session.data):
            raise _bad(f"X-Goog-Upload-Offset {offset_raw} does not match the {len(session.data)} bytes received.")
        session.data.extend(chunk)
        if "finalize" not in command:
            return Response(b"", headers={"x-goog-upload-status": "active"})
        if session.declared_size is not None and session.declared_size != len(session.data):
            raise _bad(f"Upload size {len(session.data)} does not match the declared size {session.declared_size}.")
        with state._lock:
            state._uploads.pop(upload_id, None)
            f = state.add_file(
                session.owner, bytes(session.data), session.mime_type, session.display_name, "UPLOADED", session.file_id
            )
        return JSONResponse({"file": f.to_json(base(request))}, headers={"x-goog-upload-status": "final"})

    # -- files -------------------------------------------------------------------------------------------

    @app.get("/{version}/files")
    async def list_files(version: str, request: Request) -> JSONResponse:
        check_version(version)
        key = owner(request)
        with state._lock:
            items = sorted((f for f in state._files.values() if f.owner == key), key=lambda f: f.seq, reverse=True)
        page, nxt = _page(items, request.query_params, FILES_PAGE_DEFAULT, FILES_PAGE_MAX)
        out: JSONDict = {}
        if page:
            out["files"] = [f.to_json(base(request)) for f in page]
        if nxt:
            out["nextPageToken"] = nxt
        return JSONResponse(out)

    def download(request: Request, rest: str) -> Response:
        file_id = rest.removesuffix(":download")
        f = state.get_file(owner(request), file_id)
        if f.source != "GENERATED":
            raise _bad(f"File {f.name} is not downloadable: only generated files can be downloaded.")
        if request.query_params.get("alt") != "media":
            return JSONResponse(f.to_json(base(request)))
        with state._lock:
            cut = state.cut_downloads > 0
            if cut:
                state.cut_downloads -= 1
        if not cut:
            return Response(f.data, media_type=f.mime_type)
        return dropped_midway(bytes(f.data), f.mime_type)

    @app.get("/{version}/files/{rest}")
    async def get_file(version: str, rest: str, request: Request) -> Response:
        check_version(version)
        if rest.endswith(":download"):
            return download(request, rest)
        return JSONResponse(state.get_file(owner(request), rest).to_json(base(request)))

    @app.get("/download/{version}/files/{rest}")
    async def download_file(version: str, rest: str, request: Request) -> Response:
        check_version(version)
        if not rest.endswith(":download"):
            raise _not_found(f"Path {request.url.path}")
        return download(request, rest)

    @app.delete("/{version}/files/{file_id}")
    async def delete_file(version: str, file_id: str, request: Request) -> JSONResponse:
        check_version(version)
        state.delete_file(owner(request), file_id)
        return JSONResponse({})

    # -- batches -----------------------------------------------------------------------------------------

    @app.post("/{version}/models/{rest}")
    async def model_method(version: str, rest: str, request: Request) -> JSONResponse:
        check_version(version)
        model, _, verb = rest.partition(":")
        if verb != "batchGenerateContent":
            raise _not_found(f"Method models/{rest}")
        key = owner(request)
        b = state.create_batch(key, f"models/{model}", await json_body(request))
        return JSONResponse(b.to_operation())

    @app.get("/{version}/batches")
    async def list_batches(version: str, request: Request) -> JSONResponse:
        check_version(version)
        key = owner(request)
        with state._lock:
            items = sorted((b for b in state._batches.values() if b.owner == key), key=lambda b: b.seq, reverse=True)
            page, nxt = _page(items, request.query_params, BATCHES_PAGE_DEFAULT, BATCHES_PAGE_MAX)
            out: JSONDict = {}
            if page:
                out["operations"] = [b.to_operation() for b in page]
        if nxt:
            out["nextPageToken"] = nxt
        return JSONResponse(out)

    @app.get("/{version}/batches/{batch_id}")
    async def get_batch(version: str, batch_id: str, request: Request) -> JSONResponse:
        check_version(version)
        with state._lock:
            b = state.get_batch(owner(request), batch_id)
            if state.step_batches_on_get:
                state._step(b)
            return JSONResponse(b.to_operation())

    @app.post("/{version}/batches/{rest}")
    async def batch_method(version: str, rest: str, request: Request) -> JSONResponse:
        check_version(version)
        batch_id, _, verb = rest.partition(":")
        if verb != "cancel":
            raise _not_found(f"Method batches/{rest}")
        with state._lock:
            b = state.get_batch(owner(request), batch_id)
            if b.state not in TERMINAL:
                b.cancel_requested = True
                b.update_ns = state.clock()
        return JSONResponse({})

    @app.delete("/{version}/batches/{batch_id}")
    async def delete_batch(version: str, batch_id: str, request: Request) -> JSONResponse:
        check_version(version)
        with state._lock:
            state.get_batch(owner(request), batch_id)
            del state._batches[batch_id]
        return JSONResponse({})

    return app
