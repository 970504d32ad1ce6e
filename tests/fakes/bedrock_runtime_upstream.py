"""In-memory fake of Amazon Bedrock's runtime ``InvokeModel``, for the gateway's on-demand runs of small Bedrock
batches.

Wire facts follow botocore's ``bedrock-runtime`` service model (apiVersion 2023-09-30, rest-json, signing name
``bedrock``): ``POST /model/{modelId}/invoke`` with the model's native request body (the ``modelInput`` of a batch
record) and headers ``Content-Type`` / ``Accept``; the answer is the model's native response body (what a batch job
writes as ``modelOutput``), ``Content-Type: application/json``, with ``x-amzn-RequestId`` and the
``X-Amzn-Bedrock-Input-Token-Count`` / ``-Output-Token-Count`` / ``-Invocation-Latency`` headers. Errors are the
HTTP status of the code (ValidationException and ServiceQuotaExceededException 400, AccessDeniedException 403,
ResourceNotFoundException 404, ModelTimeoutException 408, ModelErrorException 424 (with ``originalStatusCode`` and
``resourceName``), ThrottlingException and ModelNotReadyException 429, InternalServerException 500,
ServiceUnavailableException 503) with header ``x-amzn-ErrorType: <Code>`` and body ``{"message": ...}``.
``tests/contract/test_fake_bedrock_runtime.py`` drives it with boto3's ``bedrock-runtime`` client.

Behaviour:

* The answer is ``bedrock_upstream.model_output`` of the body, by the model's family (the batch fake's records'
  ``modelOutput``, the same deterministic text): an Anthropic Message for ``anthropic.*``, Nova's ``output``, …
* A body with ``"force_error": true`` (or one that is not a JSON object) is a ValidationException "Malformed input
  request", as the batch fake writes it an error record.
* ``fake.inject(code, times=1, when=None)`` answers the next ``times`` invocations (those ``when(body)`` accepts)
  with that error; ``fake.throttle(times)`` is ``inject("ThrottlingException", times)``.
* ``fake.delay_seconds`` holds each answer; ``fake.before(body)`` runs first (a test cancels mid-run from it).
* Every invocation is recorded (``fake.invocations``: model ID, region of its signature, body, headers);
  ``fake.peak`` is the most invocations in flight at once. A request without ``Authorization`` is a 403
  ``MissingAuthenticationTokenException`` (signatures are not checked).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from tests.fakes.bedrock_upstream import MALFORMED_INPUT, model_output

JSONDict = dict[str, Any]
DEFAULT_REGION = "us-east-1"
ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")


@dataclass
class Invocation:
    model_id: str
    region: str
    body: Any  # the JSON the request carried (None when it was not JSON)
    headers: dict[str, str]


@dataclass
class _Injection:
    code: str
    message: str
    times: int
    when: Callable[[Any], bool] | None


@dataclass
class FakeBedrockRuntime:
    invocations: list[Invocation] = field(default_factory=list)
    delay_seconds: float = 0.0
    require_auth: bool = True
    before: Callable[[Any], None] = lambda body: None
    peak: int = 0
    _in_flight: int = 0
    _injections: list[_Injection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(
        self, code: str, message: str | None = None, *, times: int = 1, when: Callable[[Any], bool] | None = None
    ) -> None:
        with self._lock:
            self._injections.append(_Injection(code, message or f"{code} (injected by the fake).", times, when))

    def throttle(self, times: int = 1) -> None:
        self.inject("ThrottlingException", "Too many requests, please wait before trying again.", times=times)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [invocation.body for invocation in self.invocations]

    def _injected(self, body: Any) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.times > 0 and (injection.when is None or injection.when(body)):
                    injection.times -= 1
                    return injection
        return None

    def invoke(self, model_id: str, headers: dict[str, str], raw: bytes) -> Response:
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        authorization = headers.get("authorization", "")
        found = _CREDENTIAL_REGION.search(authorization)
        with self._lock:
            self.invocations.append(Invocation(model_id, found.group(1) if found else DEFAULT_REGION, body, headers))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            self.before(body)
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            if self.require_auth and not authorization.strip():
                return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
            injection = self._injected(body)
            if injection is not None:
                return _error(ERROR_STATUS.get(injection.code, 400), injection.code, injection.message)
            if not isinstance(body, dict) or body.get("force_error") is True:
                return _error(400, "ValidationException", MALFORMED_INPUT)
            started = time.monotonic()
            output, input_tokens, output_tokens = model_output(model_id, body)
            return JSONResponse(
                output,
                headers={
                    "x-amzn-RequestId": _request_id(),
                    "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
                    "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
                    "X-Amzn-Bedrock-Invocation-Latency": str(int((time.monotonic() - started) * 1000)),
                },
            )
        finally:
            with self._lock:
                self._in_flight -= 1


def _request_id() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _error(status: int, code: str, message: str) -> JSONResponse:
    body: JSONDict = {"message": message}
    if code == "ModelErrorException":
        body |= {"originalStatusCode": 500, "resourceName": "fake-model"}
    return JSONResponse(body, status_code=status, headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": _request_id()})


def create_app() -> FastAPI:
    """A fresh fake Bedrock runtime; its state on ``app.state.fake``."""
    fake = FakeBedrockRuntime()
    app = FastAPI(title="fake Amazon Bedrock runtime", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake

    @app.post("/model/{rest:path}")
    async def invoke(rest: str, request: Request) -> Response:
        model_id, slash, operation = rest.rpartition("/")
        if not slash or operation != "invoke" or not model_id:
            return _error(404, "UnknownOperationException", f"No operation matches POST {request.url.path}")
        headers = {name.lower(): value for name, value in request.headers.items()}
        raw = await request.body()
        return await run_in_threadpool(fake.invoke, model_id, headers, raw)  # answers overlap, as Bedrock's do

    return app
