"""Provider ``openai-compatible``: durable batches the gateway runs itself against any endpoint speaking OpenAI's
``/chat/completions`` and ``/embeddings`` (vLLM, Ollama, Groq, Together, …), which have no batch API of their own.

``files.create`` keeps the JSONL in our bucket only. The batches themselves are the executor's
(``domain.executor``: planning, the chunk worker, cancel, expiry, the stored answers), which the composition root
builds and hands to this adapter; the adapter is the provider face of it — which endpoint a file or batch goes to,
as the API's 400s say. ``send_target`` maps an endpoint's configuration to the executor's ``SendTarget``, and
``HttpSender`` is how the executor sends one request there (through an ``Upstream`` per endpoint, as every httpx
adapter reaches its provider): honouring 429 Retry-After, waiting out 5xx, and sending a request again only when it
surely never arrived, or once when its answer was lost.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import httpx

from batchbridge.config import Settings
from batchbridge.domain import compat
from batchbridge.domain.compat import CompatEndpoint
from batchbridge.domain.endpoints import translation
from batchbridge.domain.errors import bad_request
from batchbridge.domain.executor import MAX_SENDS_UNANSWERED, BatchExecutor, SendTarget, views
from batchbridge.domain.jsonl import MAX_CUSTOM_ID_CHARS
from batchbridge.domain.lifecycle import ENDED_CANCELLED, ENDED_COMPLETED, ENDED_EXPIRED, Observation
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH, JobLimits
from batchbridge.domain.ports import (
    BatchRequest,
    Credentials,
    ProviderBatch,
    ResultContext,
    ResultItem,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec, unsupported_provider
from batchbridge.domain.records import FileRecord
from batchbridge.providers import http, registry
from batchbridge.providers.held_files import GatewayHeldFiles
from batchbridge.providers.upstream import Upstream

logger = logging.getLogger(__name__)
PROVIDER: Final = compat.PROVIDER
ATTEMPTS: Final = 6  # per request: 429s and 5xx are waited out, well inside a worker's run
MAX_RETRY_AFTER_SECONDS: Final = 60.0
JSON_BODY: Final = {"content-type": "application/json"}
# A batch's endpoint not in compat.ENDPOINT_PATHS (the template of endpoints.translation; they are named unquoted).
UNSUPPORTED_ENDPOINT: Final = (
    f"openai-compatible batches run {' and '.join(compat.ENDPOINT_PATHS)}, not {{endpoint!r}}."
)
__all__ = [
    "ATTEMPTS",
    "MAX_RETRY_AFTER_SECONDS",
    "MAX_SENDS_UNANSWERED",
    "PROVIDER",
    "SPEC",
    "CompatAdapter",
    "HttpSender",
    "build",
    "send_target",
    "send_targets",
]

# The provider, as the registry and the services know it (see providers.registry). Its batches are the executor's,
# which reports OpenAI's own states; an endpoint takes the key its configuration names (no provider key).
SPEC: Final = ProviderSpec(
    name=PROVIDER,
    keeps_results=True,  # the executor's stored answers (release_results)
    states={
        "in_progress": Observation("in_progress"),
        "cancelling": Observation("cancelling"),
        "completed": ENDED_COMPLETED,
        "expired": ENDED_EXPIRED,
        "cancelled": ENDED_CANCELLED,
        "failed": Observation("failed"),
    },
    create_reads_input=True,  # see ProviderSpec.create_reads_input
)


def build(settings: Settings, parts: registry.Parts) -> CompatAdapter:
    """The executor's provider face, over the endpoints the settings configure; a gateway given no executor (the
    composition root builds it: its store, blobs, chunk queue and sender) does not offer the provider."""
    if parts.executor is None:
        raise unsupported_provider(PROVIDER)
    adapter = CompatAdapter(parts.executor(), settings.compat_endpoints)
    adapter.job_limits = registry.job_limits(settings, SPEC)  # the executor runs a whole batch as one job
    return adapter


def send_target(endpoint: CompatEndpoint) -> SendTarget:
    """Where the executor sends an endpoint's requests, and how fast."""
    return SendTarget(
        name=endpoint.name,
        base_url=endpoint.base_url,
        timeout_seconds=endpoint.timeout_seconds,
        max_concurrency=endpoint.max_concurrency,
        requests_per_minute=endpoint.requests_per_minute,
        key_variable=endpoint.api_key_env,
    )


def send_targets(endpoints: Mapping[str, CompatEndpoint]) -> dict[str, SendTarget]:
    return {name: send_target(endpoint) for name, endpoint in endpoints.items()}


class CompatAdapter(GatewayHeldFiles):
    name = PROVIDER
    spec = SPEC
    max_batch_requests = 50_000
    job_limits: JobLimits = JobLimits(DEFAULT_MAX_REQUESTS_PER_BATCH)  # (build sets the settings')
    results_may_omit = False  # ``results`` yields every request: those never run as unrun lines
    lines_need_model = True
    custom_id_max_chars: int | None = MAX_CUSTOM_ID_CHARS
    judges_lines = False

    def __init__(self, executor: BatchExecutor, endpoints: Mapping[str, CompatEndpoint] | None = None) -> None:
        """``executor``: what runs the batches; ``endpoints``: by name, those they may run against (the executor's
        targets are made of the same configuration)."""
        self._executor = executor
        self._endpoints: Mapping[str, CompatEndpoint] = endpoints or {}

    # files: the gateway's copy is the only one
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> None:
        if request.extras.get("endpoint_name") is not None:
            self._endpoint(request.extras)  # a name that is not configured is a 400 now, not at batch time
        return None

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        input_file = request.input_file
        if input_file is None or input_file.blob_key is None or request.open_input is None:
            raise bad_request(
                "openai-compatible batches need an input file uploaded to this gateway.", param="input_file_id"
            )
        path = translation(compat.ENDPOINT_PATHS, request.endpoint, UNSUPPORTED_ENDPOINT)
        endpoint = self._endpoint(_named_for(request.extras, input_file))
        state = self._executor.start(request.batch_id, input_file.blob_key, path, endpoint.name)
        report = views.report(state)
        report.model = input_file.model
        return report

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return views.report(self._executor.state(provider_batch_id))

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return views.report(self._executor.cancel(provider_batch_id))

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        state = self._executor.find(request.batch_id)  # we are the provider: its ID is ours
        return None if state is None else views.report(state)

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[ResultItem]:
        """Every request of the ended batch, in input order: its stored answer, or (never run: cancelled or
        expired) an UnrunResult."""
        return self._executor.results(provider_batch_id)

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        """A stored answer: the endpoint's own line, whichever endpoint."""
        return views.output_line(raw, custom_id=context.custom_id, line_id=context.line_id)

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        self._executor.release(provider_batch_id)

    # helpers
    def _endpoint(self, extras: dict[str, Any]) -> CompatEndpoint:
        name = extras.get("endpoint_name")
        if name is None or name == "":
            if len(self._endpoints) == 1:
                return next(iter(self._endpoints.values()))
            raise bad_request(
                "Name the endpoint: extra_body {'endpoint_name': ...}, one of "
                f"{', '.join(sorted(self._endpoints)) or '(none configured: BATCHBRIDGE_COMPAT_ENDPOINTS)'}.",
                param="endpoint_name",
                code="missing_endpoint_name",
            )
        endpoint = self._endpoints.get(name) if isinstance(name, str) else None
        if endpoint is None:
            raise bad_request(
                f"No OpenAI-compatible endpoint named {name!r}; configured: "
                f"{', '.join(sorted(self._endpoints)) or 'none (BATCHBRIDGE_COMPAT_ENDPOINTS)'}.",
                param="endpoint_name",
                code="unknown_endpoint",
            )
        return endpoint


class HttpSender:
    """The executor's ``RequestSender`` for OpenAI-compatible endpoints: a POST to the target through an
    ``Upstream`` of its own (one pooled client, its timeout the target's), with the key its ``key_variable`` names
    when it has one; the retries are this sender's (see the module), not ``http.call``'s."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        key_of: Callable[[str], str | None] = lambda variable: os.environ.get(variable) or None,
    ) -> None:
        """``key_of``: an endpoint's key by the name its api_key_env (the target's ``key_variable``) gives."""
        self._key_of = key_of
        self._transport = transport
        self._upstreams: dict[str, Upstream] = {}
        self._upstreams_lock = threading.Lock()

    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        """(``RequestSender.send``) The endpoint's answer as an output line; 401 and 403 say nothing of the key."""
        upstream = self._upstream(target)
        key = self._key_of(target.key_variable) if target.key_variable else None
        credentials = Credentials(api_key=key or "")  # read at each send: a rotated key is used at once
        sent = 0  # sends that may have reached the endpoint: a generation it may charge for
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                response = upstream.send("POST", path, credentials, headers=JSON_BODY, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never reached it
                if not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return views.failed_line(custom_id, f"The endpoint could not be reached ({type(exc).__name__}).")
            except httpx.TransportError as exc:
                # Sent, and no answer read (a read timeout, a dropped connection): the endpoint may be generating
                # it still. One more send at most, never a blind series of paid generations.
                sent += 1
                if sent < MAX_SENDS_UNANSWERED and not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return views.failed_line(
                    custom_id, f"The endpoint did not answer ({type(exc).__name__}) after {sent} sends."
                )
            if response.status_code in http.RETRY_STATUSES and not last:
                http.sleep(_retry_after(response) or http.retry_delay(attempt, None) or 0.0)
                continue
            try:
                answer: Any = response.json()
            except ValueError:
                answer = {"error": {"message": response.text[:2000], "type": "upstream_error"}}
            if response.status_code in (401, 403):
                # the key is the operator's (api_key_env), and the endpoint's text may quote it: not the tenant's
                logger.warning("endpoint %s refused its key (HTTP %d): %s", target.name, response.status_code, answer)
                answer = {
                    "error": {
                        "message": "The endpoint refused the gateway's credentials for it "
                        f"(HTTP {response.status_code}); the gateway's operator can see why in its logs.",
                        "type": "upstream_error",
                        "param": None,
                        "code": "provider_auth_failed",
                    }
                }
            return views.answer_line(
                line_id="",
                custom_id=custom_id,
                status=response.status_code,
                body=answer,
                request_id=response.headers.get("x-request-id"),
                error=None,
            )
        raise AssertionError("unreachable")

    def _upstream(self, target: SendTarget) -> Upstream:
        with self._upstreams_lock:
            upstream = self._upstreams.get(target.name)
            if upstream is None:
                upstream = Upstream(
                    SPEC, target.base_url, timeout=target.timeout_seconds, transport=self._transport, auth=_bearer
                )
                self._upstreams[target.name] = upstream
            return upstream


def _bearer(credentials: Credentials) -> dict[str, str]:
    """The endpoint's key as a bearer token; an endpoint without one is sent no Authorization header."""
    return {"authorization": f"Bearer {credentials.api_key}"} if credentials.api_key else {}


def _named_for(extras: dict[str, Any], input_file: FileRecord) -> dict[str, Any]:
    """The batch's endpoint: the one it names, else the one its file was uploaded for; both, they must agree."""
    named, uploaded_for = extras.get("endpoint_name"), input_file.endpoint_name
    if named in (None, ""):
        return extras | {"endpoint_name": uploaded_for}
    if uploaded_for is not None and named != uploaded_for:
        raise bad_request(
            f"File {input_file.id!r} was uploaded for endpoint {uploaded_for!r}, not {named!r}.",
            param="endpoint_name",
            code="endpoint_mismatch",
        )
    return extras


def _retry_after(response: httpx.Response) -> float | None:
    """The endpoint's Retry-After, up to a minute: a worker can wait that long."""
    seconds = http.retry_after(response)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)
