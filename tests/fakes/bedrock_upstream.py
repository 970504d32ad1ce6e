"""In-memory fake of the Amazon Bedrock control plane's batch inference API (model invocation jobs), for the
gateway's tests.

Wire facts follow the Bedrock API reference (botocore's bedrock service model) and AWS's batch inference guide.
``tests/contract/test_fake_bedrock.py`` drives this fake with boto3's ``bedrock`` client so it stays honest.

The fake reads job input from and writes job output to S3 with ``boto3.client("s3")`` (overridable through
``fake.s3_client_factory``); in the tests that is moto's in-process mock, so run the fake inside
``moto.mock_aws()`` with the buckets created. The fake itself never mocks anything.

Usage::

    app = create_app()
    fake: FakeBedrockState = app.state.fake
    with mock_aws(), running_server(app) as base:        # tests/fakes/server.py
        bedrock = boto3.client("bedrock", endpoint_url=base, region_name="us-east-1")

Behaviour summary:

* Operations (rest-json): ``POST /model-invocation-job`` (create), ``GET /model-invocation-job/{jobIdentifier}``
  (get), ``GET /model-invocation-jobs`` (list), ``POST /model-invocation-job/{jobIdentifier}/stop`` (stop).
  ``jobIdentifier`` is the full job ARN (botocore percent-encodes it, ``/`` included, so the fake decodes the raw
  path segment) or the bare 12-character job id.
* Every request is recorded in ``fake.requests`` (method, decoded path, raw path, lower-cased headers, query,
  body). Every answer carries ``x-amzn-RequestId``. Errors are the HTTP status of the code (ValidationException,
  ConflictException, ServiceQuotaExceededException 400; AccessDeniedException 403; ResourceNotFoundException 404;
  ThrottlingException 429; InternalServerException 500; ServiceUnavailableException 503) with header
  ``x-amzn-ErrorType: <Code>`` and body ``{"message": ...}``.
* ``fake.inject(status, code, message, ...)`` answers the next matching request(s) with that error instead of
  handling them. A request without an ``Authorization`` header answers 403 ``MissingAuthenticationTokenException``
  unless ``fake.require_auth = False`` (signatures are not checked).
* Create validates per wire reference 3.3 (AWS-style ``N validation error(s) detected: Value ... at 'field'
  failed to satisfy constraint: ...`` messages). ``clientRequestToken`` is idempotent: the same token with the
  same parameters returns the same ``jobArn`` without a new job; with different parameters it answers
  ``ConflictException``. Job names are unique (a second job with a used name and another token answers
  ``ConflictException``; the fake's choice, disable with ``fake.unique_job_names = False``).
* A job moves one lifecycle step on each GET (``step_jobs_on_get``), or programmatically with ``advance(job_id)``
  / ``run_to_end(job_id)``; ``fail(job_id, message)`` and ``expire(job_id)`` end it early:
  ``Submitted -> Validating -> Scheduled -> InProgress -> Completed | PartiallyCompleted``; a stopped job goes
  ``Stopping -> Stopped``. The step out of ``Validating`` reads the input from S3: a missing bucket / object / no
  ``.jsonl`` under a prefix, a line that is not a JSON object, no records at all, or fewer records than
  ``fake.min_records`` (when > 0) make the job ``Failed`` with a ``message`` (never an HTTP error at create);
  otherwise ``totalRecordCount`` becomes known. The step into ``Completed`` re-reads the input and writes the
  output (below). Stop on a non-final job -> ``Stopping``; stop on a final job -> ``ValidationException``.
  ``Stopped`` writes only ``manifest.json.out`` (processedRecordCount 0, no ``.out`` files); ``Expired`` and
  ``Failed`` write nothing.
* Per-record results are deterministic. ``modelInput`` with ``"partial_marker": true`` is left unprocessed (not
  written; the job ends ``PartiallyCompleted``); with ``"force_error": true`` (or a ``modelInput`` that is not an
  object) -> an error line ``{"recordId", "modelInput", "error": {"errorCode": 400, "errorMessage":
  "Malformed input request"}}``; otherwise ``{"recordId", "modelInput", "modelOutput"}`` where ``modelOutput`` is
  the model family's native InvokeModel response (family by ``modelId``, after an ARN's last ``/`` and an
  optional region prefix such as ``us.``): ``anthropic.`` -> an Anthropic Message with text
  ``"echo: <last user text>"`` (or what the Anthropic fake answers a structured-output format, a forced tool or
  thinking); ``amazon.nova`` -> a Nova ``output.message`` (a ``toolUse`` block for the tool
  ``toolConfig.toolChoice.tool`` forces, its input matching the tool's ``inputSchema.json``, stopReason
  ``tool_use``); ``meta.llama`` -> ``generation``
  echoing the last ``user<|end_header_id|>`` turn; ``mistral.`` -> ``outputs[0].text`` echoing the last
  ``[INST] ... [/INST]`` block; other families -> ``{"fake": "unsimulated", "modelId": ...}``.
* Output objects: ``{outputS3Uri}/{jobId}/{inputFileName}.out`` (one per input ``.jsonl``, lines in REVERSED
  input order: Bedrock does not keep input order) and ``{outputS3Uri}/{jobId}/manifest.json.out``
  (``totalRecordCount, processedRecordCount, successRecordCount, errorRecordCount, inputTokenCount,
  outputTokenCount``). Token counts are whitespace word counts (at least 1).
* ``fake.most_running`` records the most jobs that ran at once (created and not yet in a final status), for tests
  of the concurrent-job quota; ``fake.running()`` counts those running now. List's ``statusEquals`` keeps the jobs
  in that one status (a value outside the status enum is a ``ValidationException``).
* Fake's choices where the reference is UNCONFIRMED: ``timeoutDurationInHours`` defaults to 168 and is always
  reported; ``jobExpirationTime`` = submitTime + timeout; list ``maxResults`` defaults to 100.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tests.fakes.anthropic_upstream import add_thinking, answer_blocks
from tests.fakes.structured import instance_of

__all__ = [
    "ERROR_STATUS",
    "FINAL_STATUSES",
    "BedrockError",
    "FakeBedrockState",
    "Injection",
    "RecordedRequest",
    "create_app",
    "model_output",
]

JSONDict = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# wire reference 3.2 (error shapes and their HTTP status)
ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "ConflictException": 400,
    "ServiceQuotaExceededException": 400,
    "SerializationException": 400,
    "AccessDeniedException": 403,
    "MissingAuthenticationTokenException": 403,
    "ResourceNotFoundException": 404,
    "UnknownOperationException": 404,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

STATUSES: tuple[str, ...] = (
    "Submitted",
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "PartiallyCompleted",
    "Expired",
    "Validating",
    "Scheduled",
)
FINAL_STATUSES = frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})
NEXT_STATUS: dict[str, str] = {"Submitted": "Validating", "Validating": "Scheduled", "Scheduled": "InProgress"}

# patterns and limits from botocore's bedrock service-2.json (wire reference 3.3)
JOB_NAME_PATTERN = r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}"
ROLE_ARN_PATTERN = r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"
TOKEN_PATTERN = r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}"
MODEL_ID_PATTERN = (
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-:]{1,63}/"
    r"[a-z0-9]{12}$)|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)$)|([0-9]{12}:(inference-profile|"
    r"application-inference-profile)/[a-zA-Z0-9-:.]+$)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)"
)
S3_URI_PATTERN = r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
ACCOUNT_PATTERN = r"[0-9]{12}"
KMS_KEY_PATTERN = (
    r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))"
    r"|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)"
)
TAG_PATTERN = r"[a-zA-Z0-9\s._:/=+@-]*"
JOB_IDENTIFIER_PATTERN = r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})"
TIMEOUT_MIN_HOURS = 24
TIMEOUT_MAX_HOURS = 168
TIMEOUT_DEFAULT_HOURS = 168
LIST_MAX_RESULTS = 1000
LIST_DEFAULT_RESULTS = 100
INVOCATION_TYPES = ("InvokeModel", "Converse")

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MALFORMED_INPUT = "Malformed input request"

_JOB_ID_ALPHABET = string.ascii_lowercase + string.digits
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")


def _iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2024-05-01T12:00:00.123Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _new_request_id() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _jsonl(lines: list[JSONDict]) -> bytes:
    return b"".join(json.dumps(x, separators=(",", ":")).encode("utf-8") + b"\n" for x in lines)


class BedrockError(Exception):
    """Raised inside handlers; rendered as the code's HTTP status + ``x-amzn-ErrorType`` + ``{"message"}``."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else ERROR_STATUS.get(code, 400)


def _error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": code})


def _default_message(code: str) -> str:
    return {
        "ThrottlingException": "Too many requests, please wait before trying again.",
        "InternalServerException": "Internal server error (injected by the fake).",
        "ServiceUnavailableException": "Service unavailable (injected by the fake).",
        "AccessDeniedException": "You don't have access to this operation (injected by the fake).",
    }.get(code, f"Injected {code}.")


@dataclass
class RecordedRequest:
    """One request as the fake received it (``path`` percent-decoded, ``raw_path`` as sent)."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes = b""
    raw_path: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Injection:
    status: int
    code: str
    message: str
    path_contains: str
    times: int
    method: str | None

    def matches(self, method: str, path: str, raw_path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains in path or self.path_contains in raw_path


@dataclass
class StoredJob:
    job_id: str
    job_arn: str
    job_name: str
    model_id: str
    role_arn: str
    client_request_token: str | None
    input_data_config: JSONDict
    output_data_config: JSONDict
    vpc_config: JSONDict | None
    timeout_hours: int
    model_invocation_type: str | None
    tags: list[JSONDict] | None
    submit_time: datetime
    seq: int
    request_fingerprint: str
    status: str = "Submitted"
    last_modified_time: datetime | None = None
    end_time: datetime | None = None
    message: str | None = None
    counts: dict[str, int] | None = None  # totalRecordCount etc., once known
    output_keys: list[str] = field(default_factory=list)  # S3 keys written (bucket = output bucket)

    def to_json(self) -> JSONDict:
        out: JSONDict = {
            "jobArn": self.job_arn,
            "jobName": self.job_name,
            "modelId": self.model_id,
        }
        if self.client_request_token is not None:
            out["clientRequestToken"] = self.client_request_token
        out["roleArn"] = self.role_arn
        out["status"] = self.status
        if self.message is not None:
            out["message"] = self.message
        out["submitTime"] = _iso(self.submit_time)
        out["lastModifiedTime"] = _iso(self.last_modified_time or self.submit_time)
        if self.end_time is not None:
            out["endTime"] = _iso(self.end_time)
        out["inputDataConfig"] = json.loads(json.dumps(self.input_data_config))
        out["outputDataConfig"] = json.loads(json.dumps(self.output_data_config))
        if self.vpc_config is not None:
            out["vpcConfig"] = json.loads(json.dumps(self.vpc_config))
        out["timeoutDurationInHours"] = self.timeout_hours
        out["jobExpirationTime"] = _iso(self.submit_time + timedelta(hours=self.timeout_hours))
        if self.model_invocation_type is not None:
            out["modelInvocationType"] = self.model_invocation_type
        if self.counts is not None:
            out.update(self.counts)
        return out

    @property
    def input_uri(self) -> str:
        return str(self.input_data_config["s3InputDataConfig"]["s3Uri"])

    @property
    def output_uri(self) -> str:
        return str(self.output_data_config["s3OutputDataConfig"]["s3Uri"])


# ---------------------------------------------------------------------------------------------------------
# per-record simulation


def _family(model_id: str) -> str | None:
    """``anthropic`` / ``nova`` / ``llama`` / ``mistral`` / None, after an ARN prefix and a region prefix."""
    name = model_id.rsplit("/", 1)[-1]
    prefixes = {"anthropic.": "anthropic", "amazon.nova": "nova", "meta.llama": "llama", "mistral.": "mistral"}
    candidates = [name]
    if "." in name:
        candidates.append(name.split(".", 1)[1])  # inference profile, e.g. "us.anthropic.claude-..."
    for candidate in candidates:
        for prefix, family in prefixes.items():
            if candidate.startswith(prefix):
                return family
    return None


def _block_text(content: Any, *, typed: bool) -> str:
    """Text of a message ``content``: a string, or text blocks (``{"type": "text", "text"}`` when ``typed``,
    Nova's ``{"text"}`` otherwise)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and (block.get("type") == "text" if typed else "text" in block)
        )
    return ""


def _last_user_text(messages: Any, *, typed: bool) -> str:
    if not isinstance(messages, list):
        return ""
    texts = [
        _block_text(m.get("content"), typed=typed) for m in messages if isinstance(m, dict) and m.get("role") == "user"
    ]
    return texts[-1] if texts else ""


def _all_text(messages: Any, system: Any, *, typed: bool) -> str:
    parts = [_block_text(system, typed=typed)] if system is not None else []
    if isinstance(messages, list):
        parts += [_block_text(m.get("content"), typed=typed) for m in messages if isinstance(m, dict)]
    return " ".join(parts)


def _llama_user_text(prompt: str) -> str:
    header = "user<|end_header_id|>"
    at = prompt.rfind(header)
    if at < 0:
        return prompt.strip()
    rest = prompt[at + len(header) :]
    end = rest.find("<|eot_id|>")
    return (rest if end < 0 else rest[:end]).strip()


def _mistral_user_text(prompt: str) -> str:
    blocks = re.findall(r"\[INST\](.*?)\[/INST\]", prompt, flags=re.DOTALL)
    return blocks[-1].strip() if blocks else prompt.strip()


def _nova_answer(model_input: JSONDict, text: str, seed: str) -> tuple[list[JSONDict], str]:
    """Nova's content blocks and stopReason: the forced tool's call (``toolConfig.toolChoice.tool``), its input
    matching the tool's ``inputSchema.json``; else an echo."""
    config = model_input.get("toolConfig")
    forced = ((config.get("toolChoice") or {}).get("tool") or {}).get("name") if isinstance(config, dict) else None
    specs = [t.get("toolSpec") or {} for t in config.get("tools") or []] if isinstance(config, dict) else []
    spec = next((s for s in specs if s.get("name") == forced), None)
    if spec is None:
        return [{"text": "echo: " + text}], "end_turn"
    tool_input = instance_of((spec.get("inputSchema") or {}).get("json"), text)
    tool_use_id = "tooluse_" + hashlib.sha256(f"{seed}|{text}".encode()).hexdigest()[:22]
    return [{"toolUse": {"toolUseId": tool_use_id, "name": spec["name"], "input": tool_input}}], "tool_use"


def model_output(model_id: str, model_input: JSONDict, seed: str = "") -> tuple[JSONDict, int, int]:
    """The deterministic ``modelOutput`` for one record; returns (output, input tokens, output tokens)."""
    family = _family(model_id)
    if family == "anthropic":
        text = _last_user_text(model_input.get("messages"), typed=True)
        content, stop_reason = answer_blocks(model_input, text)  # as the Anthropic fake answers the same body
        p = _tokens(_all_text(model_input.get("messages"), model_input.get("system"), typed=True))
        c = sum(_tokens(json.dumps(b["input"]) if "input" in b else b["text"]) for b in content)
        digest = hashlib.sha256(f"{seed}|{model_id}|{json.dumps(model_input, sort_keys=True)}".encode()).hexdigest()
        usage: JSONDict = {"input_tokens": p, "output_tokens": c}
        add_thinking(model_input, text, content, usage, "sig_" + digest[24:48])  # as the Messages API answers it
        return (
            {
                "id": "msg_bdrk_" + digest[:24],
                "type": "message",
                "role": "assistant",
                "model": model_id,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": usage,
            },
            p,
            usage["output_tokens"],
        )
    if family == "nova":
        text = _last_user_text(model_input.get("messages"), typed=False)
        blocks, stop_reason = _nova_answer(model_input, text, seed)
        p = _tokens(_all_text(model_input.get("messages"), model_input.get("system"), typed=False))
        c = sum(_tokens(json.dumps(b["toolUse"]["input"]) if "toolUse" in b else b["text"]) for b in blocks)
        return (
            {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop_reason,
                "usage": {"inputTokens": p, "outputTokens": c, "totalTokens": p + c},
            },
            p,
            c,
        )
    prompt = model_input.get("prompt")
    prompt_text = prompt if isinstance(prompt, str) else ""
    if family == "llama":
        reply = "echo: " + _llama_user_text(prompt_text)
        p, c = _tokens(prompt_text), _tokens(reply)
        return (
            {"generation": reply, "prompt_token_count": p, "generation_token_count": c, "stop_reason": "stop"},
            p,
            c,
        )
    if family == "mistral":
        reply = "echo: " + _mistral_user_text(prompt_text)
        p, c = _tokens(prompt_text), _tokens(reply)
        return {"outputs": [{"text": reply, "stop_reason": "stop"}]}, p, c
    return {"fake": "unsimulated", "modelId": model_id}, 0, 0


# ---------------------------------------------------------------------------------------------------------
# S3 input / output


class _InputError(Exception):
    """The job's input cannot be used; the message becomes the Failed job's ``message``."""


def _split_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _client_error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class _InputFile:
    key: str
    name: str
    records: list[JSONDict]


def _parse_records(content: bytes, uri: str) -> list[JSONDict]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise _InputError(f"The input file {uri} is not valid UTF-8.") from None
    records: list[JSONDict] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            raise _InputError(f"Line {number} of the input file {uri} is not valid JSON.") from None
        if not isinstance(obj, dict):
            raise _InputError(f"Line {number} of the input file {uri} is not a JSON object.")
        records.append(obj)
    return records


def _read_input(s3: Any, uri: str) -> list[_InputFile]:
    """Every input ``.jsonl`` of a job: the object at ``uri`` if it exists, else every ``.jsonl`` under it."""
    bucket, key = _split_s3_uri(uri)
    not_found = (
        f"Unable to access the input S3 location {uri}: the bucket or object does not exist, "
        "or the service role cannot read it."
    )
    try:
        keys: list[str] = []
        if key and not key.endswith("/"):
            try:
                s3.head_object(Bucket=bucket, Key=key)
                keys = [key]
            except ClientError as exc:
                if _client_error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
        if not keys:
            prefix = key.rstrip("/") + "/" if key else ""
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys += [str(o["Key"]) for o in page.get("Contents", []) if str(o["Key"]).endswith(".jsonl")]
            if not keys:
                raise _InputError(not_found)
        elif not key.endswith(".jsonl"):
            raise _InputError(f"The input file {uri} must have the .jsonl extension.")
        files: list[_InputFile] = []
        for k in sorted(keys):
            content = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
            files.append(_InputFile(k, k.rsplit("/", 1)[-1], _parse_records(content, f"s3://{bucket}/{k}")))
        return files
    except ClientError as exc:
        if _client_error_code(exc) in ("NoSuchBucket", "NoSuchKey", "404", "NotFound", "AccessDenied", "403"):
            raise _InputError(not_found) from None
        raise _InputError(f"Unable to read the input S3 location {uri}: {exc}") from None
    except BotoCoreError as exc:
        raise _InputError(f"Unable to read the input S3 location {uri}: {exc}") from None


def _output_prefix(output_uri: str, job_id: str) -> tuple[str, str]:
    bucket, key = _split_s3_uri(output_uri)
    base = key.rstrip("/")
    return bucket, (f"{base}/{job_id}/" if base else f"{job_id}/")


# ---------------------------------------------------------------------------------------------------------
# state


class FakeBedrockState:
    """All state of one fake; reachable as ``app.state.fake``. Thread-safe (tests drive it from another thread
    than the server's)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay_seconds: float = 0.0
        self.step_jobs_on_get: bool = True
        self.min_records: int = 0
        self.require_auth: bool = True
        self.unique_job_names: bool = True
        self.account_id: str = DEFAULT_ACCOUNT_ID
        self.region: str = DEFAULT_REGION  # used when the request's SigV4 credential scope names none
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.s3_client_factory: Callable[[], Any] = lambda: boto3.client("s3")
        self.injections: list[Injection] = []
        self._lock = threading.RLock()
        self._seq = 0
        self._jobs: dict[str, StoredJob] = {}
        self._by_token: dict[str, str] = {}
        self.most_running = 0  # the most jobs running at once (created, not final)

    # -- test controls ---------------------------------------------------------------------------------

    def inject(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        path_contains: str = "",
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose (decoded or raw) path contains ``path_contains`` (and, if
        given, whose method is ``method``) with HTTP ``status``, ``x-amzn-ErrorType: code`` and
        ``{"message": message}`` (default: a plausible message for the code). Injected answers skip handling."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self.injections.append(
                Injection(status, code, message or _default_message(code), path_contains, times, method)
            )

    def take_injection(self, method: str, path: str, raw_path: str) -> Injection | None:
        with self._lock:
            for inj in self.injections:
                if inj.matches(method, path, raw_path):
                    inj.times -= 1
                    if inj.times <= 0:
                        self.injections.remove(inj)
                    return inj
        return None

    def running(self) -> int:
        """How many jobs run now: created and not in a final status."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if job.status not in FINAL_STATUSES)

    def job_ids(self) -> list[str]:
        """Ids (last ARN segment) of every job, oldest first."""
        with self._lock:
            return [j.job_id for j in sorted(self._jobs.values(), key=lambda j: j.seq)]

    def job_json(self, job_id: str) -> JSONDict:
        """A job's GetModelInvocationJob body, without stepping it. Accepts the id or the ARN."""
        with self._lock:
            return self._lookup(job_id).to_json()

    def output_keys(self, job_id: str) -> list[str]:
        """S3 keys (in the output bucket) this job wrote, ``.out`` files first, then the manifest."""
        with self._lock:
            return list(self._lookup(job_id).output_keys)

    def advance(self, job_id: str) -> JSONDict:
        """Move a job one lifecycle step (no-op when final); returns its Get body."""
        with self._lock:
            job = self._lookup(job_id)
            self._step(job)
            return job.to_json()

    def run_to_end(self, job_id: str) -> JSONDict:
        """Step a job until it is final; returns its Get body."""
        with self._lock:
            job = self._lookup(job_id)
            for _ in range(10):
                if job.status in FINAL_STATUSES:
                    break
                self._step(job)
            return job.to_json()

    def fail(self, job_id: str, message: str) -> JSONDict:
        """End a non-final job as ``Failed`` with ``message``; returns its Get body."""
        with self._lock:
            job = self._lookup(job_id)
            if job.status not in FINAL_STATUSES:
                self._end(job, "Failed", message)
            return job.to_json()

    def expire(self, job_id: str) -> JSONDict:
        """Let a non-final job's timeout pass before it ran: ``Expired``, nothing written; returns its Get body."""
        with self._lock:
            job = self._lookup(job_id)
            if job.status not in FINAL_STATUSES:
                self._end(job, "Expired", None)
            return job.to_json()

    # -- used by the app -------------------------------------------------------------------------------

    def _lookup(self, identifier: str) -> StoredJob:
        job = self._jobs.get(identifier.rsplit("/", 1)[-1])
        if job is None:
            raise KeyError(identifier)
        return job

    def find(self, identifier: str) -> StoredJob:
        """A job by ARN or bare id; ResourceNotFoundException otherwise (ValidationException when malformed)."""
        if not re.fullmatch(JOB_IDENTIFIER_PATTERN, identifier):
            raise BedrockError(
                "ValidationException",
                _constraint_message(
                    [
                        _violation(
                            identifier,
                            "jobIdentifier",
                            f"Member must satisfy regular expression pattern: {JOB_IDENTIFIER_PATTERN}",
                        )
                    ]
                ),
            )
        with self._lock:
            job = self._jobs.get(identifier.rsplit("/", 1)[-1])
            if job is None or (identifier.startswith("arn:") and identifier != job.job_arn):
                raise BedrockError("ResourceNotFoundException", f"Model invocation job {identifier} not found.")
            return job

    def create_job(self, payload: JSONDict, region: str) -> JSONDict:
        _validate_create(payload)
        fingerprint = json.dumps({k: v for k, v in payload.items() if k != "clientRequestToken"}, sort_keys=True)
        token = payload.get("clientRequestToken")
        with self._lock:
            if token is not None and token in self._by_token:
                existing = self._jobs[self._by_token[token]]
                if existing.request_fingerprint != fingerprint:
                    raise BedrockError(
                        "ConflictException",
                        f"The clientRequestToken {token} was already used with different request parameters.",
                    )
                return {"jobArn": existing.job_arn}
            name = str(payload["jobName"])
            if self.unique_job_names and any(j.job_name == name for j in self._jobs.values()):
                raise BedrockError("ConflictException", f"A model invocation job with name {name} already exists.")
            job_id = "".join(secrets.choice(_JOB_ID_ALPHABET) for _ in range(12))
            while job_id in self._jobs:
                job_id = "".join(secrets.choice(_JOB_ID_ALPHABET) for _ in range(12))
            self._seq += 1
            now = self.clock()
            timeout = payload.get("timeoutDurationInHours")
            job = StoredJob(
                job_id=job_id,
                job_arn=f"arn:aws:bedrock:{region}:{self.account_id}:model-invocation-job/{job_id}",
                job_name=name,
                model_id=str(payload["modelId"]),
                role_arn=str(payload["roleArn"]),
                client_request_token=token,
                input_data_config=payload["inputDataConfig"],
                output_data_config=payload["outputDataConfig"],
                vpc_config=payload.get("vpcConfig"),
                timeout_hours=int(timeout) if timeout is not None else TIMEOUT_DEFAULT_HOURS,
                model_invocation_type=payload.get("modelInvocationType"),
                tags=payload.get("tags"),
                submit_time=now,
                seq=self._seq,
                request_fingerprint=fingerprint,
                last_modified_time=now,
            )
            self._jobs[job_id] = job
            if token is not None:
                self._by_token[token] = job_id
            self.most_running = max(self.most_running, self.running())
            return {"jobArn": job.job_arn}

    def get_job(self, identifier: str) -> JSONDict:
        with self._lock:
            job = self.find(identifier)
            if self.step_jobs_on_get:
                self._step(job)
            return job.to_json()

    def stop_job(self, identifier: str) -> None:
        with self._lock:
            job = self.find(identifier)
            if job.status in FINAL_STATUSES:
                raise BedrockError(
                    "ValidationException",
                    f"The model invocation job {job.job_arn} is in status {job.status} and cannot be stopped.",
                )
            if job.status != "Stopping":
                job.status = "Stopping"
                job.last_modified_time = self.clock()

    def list_jobs(self, query: dict[str, str]) -> JSONDict:
        violations: list[str] = []
        status = query.get("statusEquals")
        if status is not None and status not in STATUSES:
            violations.append(
                _violation(status, "statusEquals", f"Member must satisfy enum value set: {list(STATUSES)}")
            )
        name = query.get("nameContains")
        if name is not None:
            violations += _string_violations(name, "nameContains", 1, 63, JOB_NAME_PATTERN)
        max_results = LIST_DEFAULT_RESULTS
        if "maxResults" in query:
            try:
                max_results = int(query["maxResults"])
            except ValueError:
                raise BedrockError("ValidationException", "maxResults must be an integer.") from None
            if not 1 <= max_results <= LIST_MAX_RESULTS:
                violations.append(
                    _violation(max_results, "maxResults", f"Member must have value between 1 and {LIST_MAX_RESULTS}")
                )
        sort_by = query.get("sortBy", "CreationTime")
        if sort_by != "CreationTime":
            violations.append(_violation(sort_by, "sortBy", "Member must satisfy enum value set: [CreationTime]"))
        order = query.get("sortOrder", "Descending")
        if order not in ("Ascending", "Descending"):
            violations.append(
                _violation(order, "sortOrder", "Member must satisfy enum value set: [Ascending, Descending]")
            )
        after = _parse_time(query.get("submitTimeAfter"), "submitTimeAfter")
        before = _parse_time(query.get("submitTimeBefore"), "submitTimeBefore")
        if violations:
            raise BedrockError("ValidationException", _constraint_message(violations))
        cursor = _decode_token(query.get("nextToken"))
        descending = order == "Descending"
        with self._lock:
            jobs = [
                j
                for j in self._jobs.values()
                if (status is None or j.status == status)
                and (name is None or name in j.job_name)
                and (after is None or j.submit_time > after)
                and (before is None or j.submit_time < before)
            ]
            jobs.sort(key=lambda j: (j.submit_time, j.seq), reverse=descending)
            if cursor is not None:
                jobs = [j for j in jobs if (j.seq < cursor if descending else j.seq > cursor)]
            page = jobs[:max_results]
            out: JSONDict = {"invocationJobSummaries": [j.to_json() for j in page]}
            if len(jobs) > max_results:
                out["nextToken"] = _encode_token(page[-1].seq)
            return out

    # -- lifecycle -------------------------------------------------------------------------------------

    def _end(self, job: StoredJob, status: str, message: str | None) -> None:
        now = self.clock()
        job.status = status
        job.message = message
        job.end_time = now
        job.last_modified_time = now

    def _step(self, job: StoredJob) -> None:
        if job.status in FINAL_STATUSES:
            return
        now = self.clock()
        if job.status == "Stopping":
            if job.counts is not None:
                total = job.counts["totalRecordCount"]
            else:  # stopped before validation: count what is there, if anything
                try:
                    total = sum(len(f.records) for f in _read_input(self.s3_client_factory(), job.input_uri))
                except _InputError:
                    total = 0
            try:
                self._write_outputs(job, [], total, 0, 0, 0)
            except _InputError as exc:
                self._end(job, "Failed", str(exc))
                return
            if job.counts is not None:
                job.counts.update(processedRecordCount=0, successRecordCount=0, errorRecordCount=0)
            self._end(job, "Stopped", None)
            return
        if job.status == "Validating":
            try:
                files = _read_input(self.s3_client_factory(), job.input_uri)
            except _InputError as exc:
                self._end(job, "Failed", str(exc))
                return
            total = sum(len(f.records) for f in files)
            if total == 0:
                self._end(job, "Failed", f"The input location {job.input_uri} contains no records.")
                return
            if self.min_records > 0 and total < self.min_records:
                self._end(
                    job,
                    "Failed",
                    f"Batch job {job.job_arn} contains less records ({total}) than the required minimum of: "
                    f"{self.min_records}",
                )
                return
            job.counts = {
                "totalRecordCount": total,
                "processedRecordCount": 0,
                "successRecordCount": 0,
                "errorRecordCount": 0,
            }
        if job.status in NEXT_STATUS:
            job.status = NEXT_STATUS[job.status]
            job.last_modified_time = now
            return
        if job.status == "InProgress":
            self._process(job)

    def _process(self, job: StoredJob) -> None:
        try:
            files = _read_input(self.s3_client_factory(), job.input_uri)
        except _InputError as exc:
            self._end(job, "Failed", str(exc))
            return
        outputs: list[tuple[str, list[JSONDict]]] = []
        total = processed = success = errors = input_tokens = output_tokens = 0
        for f in files:
            lines: list[JSONDict] = []
            for index, record in enumerate(f.records):
                total += 1
                record_id = record.get("recordId")
                if not isinstance(record_id, str) or not record_id:
                    record_id = f"{index + 1:011d}"
                model_input = record.get("modelInput")
                if isinstance(model_input, dict) and model_input.get("partial_marker") is True:
                    continue
                processed += 1
                if not isinstance(model_input, dict) or model_input.get("force_error") is True:
                    errors += 1
                    lines.append(
                        {
                            "recordId": record_id,
                            "modelInput": model_input,
                            "error": {"errorCode": 400, "errorMessage": MALFORMED_INPUT},
                        }
                    )
                    continue
                output, p, c = model_output(job.model_id, model_input, seed=f"{job.job_id}/{record_id}")
                success += 1
                input_tokens += p
                output_tokens += c
                lines.append({"recordId": record_id, "modelInput": model_input, "modelOutput": output})
            lines.reverse()  # deterministic shuffle: Bedrock does not keep input order
            outputs.append((f.name, lines))
        try:
            self._write_outputs(job, outputs, total, processed, success, errors, input_tokens, output_tokens)
        except _InputError as exc:
            self._end(job, "Failed", str(exc))
            return
        job.counts = {
            "totalRecordCount": total,
            "processedRecordCount": processed,
            "successRecordCount": success,
            "errorRecordCount": errors,
        }
        self._end(job, "Completed" if processed == total else "PartiallyCompleted", None)

    def _write_outputs(
        self,
        job: StoredJob,
        outputs: list[tuple[str, list[JSONDict]]],
        total: int,
        processed: int,
        success: int,
        errors: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        bucket, prefix = _output_prefix(job.output_uri, job.job_id)
        manifest = {
            "totalRecordCount": total,
            "processedRecordCount": processed,
            "successRecordCount": success,
            "errorRecordCount": errors,
            "inputTokenCount": input_tokens,
            "outputTokenCount": output_tokens,
        }
        objects = [(prefix + name + ".out", _jsonl(lines)) for name, lines in outputs]
        objects.append((prefix + "manifest.json.out", json.dumps(manifest).encode("utf-8")))
        s3 = self.s3_client_factory()
        try:
            for key, content in objects:
                s3.put_object(Bucket=bucket, Key=key, Body=content)
        except (ClientError, BotoCoreError) as exc:
            raise _InputError(f"Unable to write to the output S3 location {job.output_uri}: {exc}") from None
        job.output_keys = [key for key, _ in objects]


# ---------------------------------------------------------------------------------------------------------
# request validation


def _violation(value: Any, member: str, constraint: str) -> str:
    shown = "null" if value is None else str(value)
    return f"Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"


def _constraint_message(violations: list[str]) -> str:
    n = len(violations)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(violations)


def _string_violations(
    value: Any, member: str, min_len: int, max_len: int, pattern: str | None, *, required: bool = False
) -> list[str]:
    if value is None:
        return [_violation(None, member, "Member must not be null")] if required else []
    if not isinstance(value, str):
        return [_violation(value, member, "Member must be a string")]
    out: list[str] = []
    if len(value) < min_len:
        out.append(_violation(value, member, f"Member must have length greater than or equal to {min_len}"))
    if len(value) > max_len:
        out.append(_violation(value, member, f"Member must have length less than or equal to {max_len}"))
    if pattern is not None and value and not re.fullmatch(pattern, value):
        out.append(_violation(value, member, f"Member must satisfy regular expression pattern: {pattern}"))
    return out


def _data_config_violations(value: Any, member: str, inner: str, *, output: bool) -> list[str]:
    if value is None:
        return [_violation(None, member, "Member must not be null")]
    if not isinstance(value, dict):
        return [_violation(value, member, "Member must be a structure")]
    if set(value) != {inner}:
        return [_violation(json.dumps(value), member, f"Member must set exactly one of: [{inner}]")]
    config = value[inner]
    path = f"{member}.{inner}"
    if not isinstance(config, dict):
        return [_violation(config, path, "Member must be a structure")]
    out = _string_violations(config.get("s3Uri"), f"{path}.s3Uri", 1, 1024, S3_URI_PATTERN, required=True)
    out += _string_violations(config.get("s3BucketOwner"), f"{path}.s3BucketOwner", 12, 12, ACCOUNT_PATTERN)
    if output:
        out += _string_violations(
            config.get("s3EncryptionKeyId"), f"{path}.s3EncryptionKeyId", 1, 2048, KMS_KEY_PATTERN
        )
    else:
        fmt = config.get("s3InputFormat")
        if fmt is not None and fmt != "JSONL":
            out.append(_violation(fmt, f"{path}.s3InputFormat", "Member must satisfy enum value set: [JSONL]"))
    return out


def _validate_create(payload: JSONDict) -> None:
    v: list[str] = []
    v += _string_violations(payload.get("jobName"), "jobName", 1, 63, JOB_NAME_PATTERN, required=True)
    v += _string_violations(payload.get("roleArn"), "roleArn", 0, 2048, ROLE_ARN_PATTERN, required=True)
    v += _string_violations(payload.get("clientRequestToken"), "clientRequestToken", 1, 256, TOKEN_PATTERN)
    v += _string_violations(payload.get("modelId"), "modelId", 1, 2048, MODEL_ID_PATTERN, required=True)
    v += _data_config_violations(payload.get("inputDataConfig"), "inputDataConfig", "s3InputDataConfig", output=False)
    v += _data_config_violations(payload.get("outputDataConfig"), "outputDataConfig", "s3OutputDataConfig", output=True)
    vpc = payload.get("vpcConfig")
    if vpc is not None:
        if not isinstance(vpc, dict):
            v.append(_violation(vpc, "vpcConfig", "Member must be a structure"))
        else:
            for member, hi in (("subnetIds", 16), ("securityGroupIds", 5)):
                ids = vpc.get(member)
                if not isinstance(ids, list) or not 1 <= len(ids) <= hi:
                    v.append(_violation(ids, f"vpcConfig.{member}", f"Member must have length between 1 and {hi}"))
    timeout = payload.get("timeoutDurationInHours")
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            v.append(_violation(timeout, "timeoutDurationInHours", "Member must be an integer"))
        elif timeout < TIMEOUT_MIN_HOURS:
            v.append(
                _violation(
                    timeout,
                    "timeoutDurationInHours",
                    f"Member must have value greater than or equal to {TIMEOUT_MIN_HOURS}",
                )
            )
        elif timeout > TIMEOUT_MAX_HOURS:
            v.append(
                _violation(
                    timeout,
                    "timeoutDurationInHours",
                    f"Member must have value less than or equal to {TIMEOUT_MAX_HOURS}",
                )
            )
    invocation_type = payload.get("modelInvocationType")
    if invocation_type is not None and invocation_type not in INVOCATION_TYPES:
        v.append(
            _violation(
                invocation_type, "modelInvocationType", f"Member must satisfy enum value set: {list(INVOCATION_TYPES)}"
            )
        )
    tags = payload.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > 200:
            v.append(_violation(tags, "tags", "Member must have length less than or equal to 200"))
        else:
            for i, tag in enumerate(tags):
                if not isinstance(tag, dict):
                    v.append(_violation(tag, f"tags.{i + 1}.member", "Member must be a structure"))
                    continue
                v += _string_violations(tag.get("key"), f"tags.{i + 1}.member.key", 1, 128, TAG_PATTERN, required=True)
                v += _string_violations(
                    tag.get("value"), f"tags.{i + 1}.member.value", 0, 256, TAG_PATTERN, required=True
                )
    if v:
        raise BedrockError("ValidationException", _constraint_message(v))


def _parse_time(value: str | None, member: str) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            raise BedrockError("ValidationException", f"Invalid timestamp for '{member}': {value!r}.") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode()


def _decode_token(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(value["after"])
    except (ValueError, KeyError, TypeError):
        raise BedrockError("ValidationException", "The provided nextToken is invalid.") from None


def _region_of(headers: dict[str, str], default: str) -> str:
    match = _CREDENTIAL_REGION.search(headers.get("authorization", ""))
    return match.group(1) if match else default


def _job_identifier(raw_path: str, path: str, *, stop: bool) -> str | None:
    """The decoded ``{jobIdentifier}`` of ``/model-invocation-job/{jobIdentifier}[/stop]``, or None."""
    segments = raw_path.split("/")
    if stop and len(segments) == 4 and segments[3] == "stop":
        return unquote(segments[2])
    if not stop and len(segments) == 3:
        return unquote(segments[2])
    # a client that did not percent-encode the ARN's "/": fall back on the decoded path
    rest = path[len("/model-invocation-job/") :]
    if stop:
        return rest[: -len("/stop")] if rest.endswith("/stop") else None
    return rest or None


# ---------------------------------------------------------------------------------------------------------
# ASGI gate: record, delay, inject, authenticate


class _Gate:
    """Outermost middleware: records each request (with its body), applies ``delay_seconds``, injections and the
    auth-header check, and stamps ``x-amzn-RequestId`` on every answer."""

    def __init__(self, app: ASGIApp, state: FakeBedrockState) -> None:
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
        raw = scope.get("raw_path")
        raw_path = raw.decode("latin-1").split("?", 1)[0] if isinstance(raw, bytes) else path
        with self.state._lock:
            self.state.requests.append(RecordedRequest(method, path, headers, query, body, raw_path))

        request_id = _new_request_id()
        state_dict = scope.setdefault("state", {})
        state_dict["raw_path"] = raw_path
        state_dict["region"] = _region_of(headers, self.state.region)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-amzn-RequestId", request_id.encode("latin-1"))]
            await send(message)

        if self.state.delay_seconds > 0:
            await asyncio.sleep(self.state.delay_seconds)

        injection = self.state.take_injection(method, path, raw_path)
        if injection is not None:
            await _error_response(injection.status, injection.code, injection.message)(scope, receive, send_with_id)
            return

        if self.state.require_auth and not headers.get("authorization", "").strip():
            response = _error_response(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
            await response(scope, receive, send_with_id)
            return

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
    """A fresh fake Bedrock control plane (model invocation jobs); state on ``app.state.fake``."""
    state = FakeBedrockState()
    app = FastAPI(title="fake Amazon Bedrock control plane", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = state
    app.add_middleware(_Gate, state=state)

    @app.exception_handler(BedrockError)
    async def _bedrock_error(request: Request, exc: BedrockError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            return _error_response(
                404, "UnknownOperationException", f"No operation matches {request.method} {request.url.path}"
            )
        return _error_response(exc.status_code, "ValidationException", str(exc.detail))

    def raw_path(request: Request) -> str:
        return str(request.scope.get("state", {}).get("raw_path", request.url.path))

    @app.post("/model-invocation-job")
    async def create_job(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            raise BedrockError("SerializationException", "The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise BedrockError("SerializationException", "The request body must be a JSON object.")
        region = str(request.scope.get("state", {}).get("region", state.region))
        return JSONResponse(await run_in_threadpool(state.create_job, payload, region))

    @app.get("/model-invocation-jobs")
    async def list_jobs(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(state.list_jobs, dict(request.query_params)))

    @app.get("/model-invocation-job/{rest:path}")
    async def get_job(rest: str, request: Request) -> JSONResponse:
        identifier = _job_identifier(raw_path(request), request.url.path, stop=False)
        if identifier is None:
            raise BedrockError("UnknownOperationException", f"No operation matches GET {request.url.path}")
        return JSONResponse(await run_in_threadpool(state.get_job, identifier))

    @app.post("/model-invocation-job/{rest:path}")
    async def stop_job(rest: str, request: Request) -> Response:
        identifier = _job_identifier(raw_path(request), request.url.path, stop=True)
        if identifier is None:
            raise BedrockError("UnknownOperationException", f"No operation matches POST {request.url.path}")
        await run_in_threadpool(state.stop_job, identifier)
        return JSONResponse({})

    return app
