"""Anthropic Message Batches behind the OpenAI Batch API (inline requests, or our own batch files).

Anthropic takes no input files: a file-based batch is sent as inline requests translated from the
gateway's copy of the OpenAI JSONL, streamed so memory holds one line at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import httpx

from batchbridge.config import Settings
from batchbridge.domain import codec
from batchbridge.domain.custom_ids import provider_ids
from batchbridge.domain.endpoints import translation
from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.jsonl import MAX_CUSTOM_ID_CHARS, iter_lines, line_translation, table_requests
from batchbridge.domain.lifecycle import ENDED_COMPLETED, Observation
from batchbridge.domain.parts import JobLimits
from batchbridge.domain.ports import (
    FIND_SLACK_SECONDS,
    BatchRequest,
    Credentials,
    ProviderBatch,
    ProviderFile,
    ResultContext,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.services.batch_writes import NOT_IDENTIFIABLE
from batchbridge.domain.translate.anthropic import REQUESTS, RESULTS
from batchbridge.providers import registry
from batchbridge.providers.held_files import GatewayHeldFiles
from batchbridge.providers.upstream import Paging, Upstream

PROVIDER: Final = "anthropic"
API_VERSION: Final = "2023-06-01"
CUSTOM_ID: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}\Z")
MAX_REQUESTS: Final = 100_000
FIND_PAGE: Final = 100  # batches listed per page when looking for what a create may have left
BATCH: Final = "a valid message batch"  # what an answer lacks when it is not one (a 502)
JSON: Final = {"content-type": "application/json"}

# The provider, as the registry and the services know it (see providers.registry).
SPEC: Final = ProviderSpec(
    name=PROVIDER,
    states={
        "in_progress": Observation("in_progress"),
        "canceling": Observation("cancelling"),
        "ended": ENDED_COMPLETED,  # or cancelled, or expired: see ended_says_how
    },
    ended_says_how=False,  # after a cancel "ended" is a cancellation; with every request expired, an expiry
    create_reads_input=True,  # see ProviderSpec.create_reads_input
)


def build(settings: Settings, parts: registry.Parts) -> AnthropicAdapter:
    adapter = AnthropicAdapter(registry.base_url(settings, SPEC), timeout=settings.upstream_timeout_seconds)
    adapter.job_limits = registry.job_limits(settings, SPEC)
    return adapter


class AnthropicAdapter(GatewayHeldFiles):
    name = "anthropic"
    spec = SPEC
    max_batch_requests = MAX_REQUESTS
    job_limits: JobLimits = SPEC.setup.job_limits or JobLimits(MAX_REQUESTS)  # (build sets the settings')
    results_may_omit = False  # every request has a result line (canceled and expired ones too)
    lines_need_model = True
    custom_id_max_chars: int | None = MAX_CUSTOM_ID_CHARS
    judges_lines = False

    def __init__(self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self._upstream = Upstream(SPEC, base_url, timeout=timeout, transport=transport, auth=_headers)

    # files: the gateway's copy is the only one (Anthropic batches take no input file)
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        if request.purpose == "batch":
            with request.converted_lines(AnthropicParams, AnthropicParams):
                pass  # every line translated: an upload fails on a line Anthropic cannot take, not a later batch
        return None

    def line_conversion(self) -> AnthropicParams:
        return AnthropicParams()

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        translation(REQUESTS, request.endpoint, "Anthropic batches run {endpoints} only, not {endpoint!r}.")
        # the requests sent: inline ones, or the lines of the input (those of the part this job runs, with one)
        open_input = request.open_input if request.part is None else request.open_part
        if request.input_file is None:
            requests: Callable[[], Iterator[tuple[str, dict[str, Any]]]] = _inline(request.extras.get("requests"))
        elif open_input is not None:

            def requests() -> Iterator[tuple[str, dict[str, Any]]]:
                return _requests_from_lines(open_input())
        else:
            raise bad_request("The input file has no stored content.", param="input_file_id")
        originals = [custom_id for custom_id, _ in requests()]  # a full pass: every error before sending
        if not originals:
            raise bad_request("A batch needs at least one request.", param="requests", code="empty_batch")
        if len(originals) > MAX_REQUESTS:
            raise bad_request(
                f"The batch has {len(originals)} requests; Anthropic takes at most {MAX_REQUESTS}.",
                param="requests",
                code="too_many_requests",
            )
        sent_ids, back = provider_ids(originals, CUSTOM_ID)
        models = {params.get("model") for _, params in requests()} if request.input_file is None else set()

        def body() -> Iterator[bytes]:
            yield b'{"requests":['
            for index, ((_, params), custom_id) in enumerate(zip(requests(), sent_ids, strict=True)):
                yield (b"," if index else b"") + codec.dumps({"custom_id": custom_id, "params": params})
            yield b"]}"

        # a create that may have happened is never sent again (find_batch tells whether it did)
        report = self._upstream.post_json(
            "v1/messages/batches",
            credentials,
            _message_batch,
            what=BATCH,
            retry_safe=False,
            headers=JSON,
            content=body(),
        )
        report.custom_id_map = back or None
        if report.model is None and len(models) == 1:
            report.model = str(next(iter(models)))
        return report

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        path = f"v1/messages/batches/{provider_batch_id}"
        return self._upstream.get_json(path, credentials, _message_batch, what=BATCH, headers=JSON)

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        path = f"v1/messages/batches/{provider_batch_id}/cancel"  # cancelling twice cancels once: safe to send again
        return self._upstream.post_json(path, credentials, _message_batch, what=BATCH, retry_safe=True, headers=JSON)

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        """Never a batch: a Message Batch carries nothing of ours (no metadata, no name; custom_ids show only in
        results), so an unanswered create cannot be told apart from the account's other batches, and guessing by
        time and size could adopt someone else's. What can be told is that there is none: None when no batch of
        the request's size was created since ``created_at`` (the create made nothing: sending it again makes no
        second batch); else a 409 NOT_IDENTIFIABLE (one may be it: the caller gives up on it, saying so)."""
        count = self._request_count(request)
        since = created_at - FIND_SLACK_SECONDS
        if count is not None:
            listed = self._upstream.pages("v1/messages/batches", credentials, PAGING, since=since)
            if not any(_may_be(body, count, since) for body in listed):
                return None
        raise GatewayError(
            409,
            f"Anthropic holds a batch of this size created since {since}, and a Message Batch carries nothing to "
            "tell whether it is this one.",
            type="upstream_error",
            code=NOT_IDENTIFIABLE,
        )

    @staticmethod
    def _request_count(request: BatchRequest) -> int | None:
        """How many requests the create sends (None when unknown: inline requests that are not at hand)."""
        if request.part is not None:
            return request.part.count
        if request.input_file is None:
            requests = request.extras.get("requests")
            return len(requests) if isinstance(requests, list) else None
        if request.input_file.request_count is not None:
            return request.input_file.request_count
        if request.open_input is None:
            return None
        return sum(1 for _ in _requests_from_lines(request.open_input()))

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return _result_lines(self._upstream.download(f"v1/messages/batches/{provider_batch_id}/results", credentials))

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        return RESULTS[context.endpoint](raw, context)

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """The results stay at Anthropic under its own retention (29 days); the gateway keeps no copy of them."""


def _headers(credentials: Credentials) -> dict[str, str]:
    return {"x-api-key": credentials.api_key, "anthropic-version": API_VERSION}


def _listed(page: dict[str, Any]) -> list[dict[str, Any]]:
    data = page["data"]
    if not isinstance(data, list) or not all(
        isinstance(body, dict) and isinstance(body.get("id"), str) for body in data
    ):
        raise TypeError("list data is not a list of message batches")
    return data


def _unix(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _listed_at(body: dict[str, Any]) -> int | None:
    try:
        return _unix(body.get("created_at"))
    except ValueError:
        return None


def _may_be(body: dict[str, Any], count: int, since: int) -> bool:
    """A listed Message Batch may be the create's: of its size, and not known to be older than ``since``."""
    at = _listed_at(body)
    return (at is None or at >= since) and _total(body) == count


def _total(body: dict[str, Any]) -> int | None:
    """How many requests a listed Message Batch holds (its counts always add up to them)."""
    counts = body.get("request_counts")
    if not isinstance(counts, dict):
        return None
    try:
        return sum(int(counts.get(key) or 0) for key in ("processing", "succeeded", "errored", "canceled", "expired"))
    except (TypeError, ValueError):
        return None


PAGING: Final = Paging(
    size_param="limit",
    size=FIND_PAGE,
    token_param="after_id",
    items=_listed,
    what="a list of message batches",
    next_token=lambda page, data: str(data[-1]["id"]) if page.get("has_more") else None,
    created=_listed_at,
)


def _message_batch(body: dict[str, Any]) -> ProviderBatch:
    counts = body["request_counts"]
    number = {key: int(counts.get(key) or 0) for key in ("processing", "succeeded", "errored", "canceled", "expired")}
    total = sum(number.values())
    ended = body["processing_status"] == "ended"
    timestamps: dict[str, int] = {}
    for ours, theirs in (
        ("in_progress_at", "created_at"),
        ("expires_at", "expires_at"),
        ("cancelling_at", "cancel_initiated_at"),
    ):
        stamp = _unix(body.get(theirs))
        if stamp is not None:
            timestamps[ours] = stamp
    ended_at = _unix(body.get("ended_at"))
    if ended_at is not None:
        for name in ("finalizing_at", "completed_at", "cancelled_at", "expired_at"):
            timestamps[name] = ended_at
    return ProviderBatch(
        id=body["id"],
        raw_status=str(body["processing_status"]),
        timestamps=timestamps,
        # Anthropic's per-outcome counts stay 0 until the batch ends: until then only the total is known.
        request_counts={
            "total": total,
            "completed": number["succeeded"],
            "failed": number["errored"] + number["canceled"] + number["expired"],
        },
        all_expired=ended and total > 0 and number["expired"] == total,
    )


def _inline(requests: Any) -> Callable[[], Iterator[tuple[str, dict[str, Any]]]]:
    """Inline requests as sent (Anthropic Messages params), checked the way Anthropic checks them."""
    if not isinstance(requests, list):
        raise bad_request("'requests' must be a list of {custom_id, params}.", param="requests", code="invalid_type")
    seen: set[str] = set()
    for index, item in enumerate(requests):
        where = f"requests[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str) or not item["custom_id"]:
            raise bad_request(f"{where}: needs a non-empty string 'custom_id'.", param=f"{where}.custom_id")
        custom_id = item["custom_id"]
        if len(custom_id) > MAX_CUSTOM_ID_CHARS:
            raise bad_request(
                f"{where}: custom_id is {len(custom_id)} characters long; at most {MAX_CUSTOM_ID_CHARS} are accepted.",
                param=f"{where}.custom_id",
                code="invalid_custom_id",
            )
        if custom_id in seen:
            raise bad_request(
                f"{where}: duplicate custom_id {custom_id!r}.", param=f"{where}.custom_id", code="duplicate_custom_id"
            )
        seen.add(custom_id)
        params = item.get("params")
        if not isinstance(params, dict):
            raise bad_request(f"custom_id {custom_id!r}: 'params' must be an object.", param=f"{where}.params")
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise bad_request(f"custom_id {custom_id!r}: params.model is required.", param=f"{where}.params.model")
        max_tokens = params.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise bad_request(
                f"custom_id {custom_id!r}: params.max_tokens is required (an integer of at least 1).",
                param=f"{where}.params.max_tokens",
                code="missing_max_tokens",
            )
        if not isinstance(params.get("messages"), list) or not params["messages"]:
            raise bad_request(
                f"custom_id {custom_id!r}: params.messages must be a non-empty list.", param=f"{where}.params.messages"
            )
        unknown = set(item) - {"custom_id", "params"}
        if unknown:
            raise bad_request(
                f"custom_id {custom_id!r}: unknown field(s) {', '.join(sorted(unknown))} beside custom_id and params.",
                param=f"{where}.{sorted(unknown)[0]}",
            )
        try:
            json.dumps(params, allow_nan=False)
            codec.dumps(params)  # what sends them: integers beyond 64 bits it cannot write
        except (ValueError, TypeError):
            raise bad_request(
                f"custom_id {custom_id!r}: params hold a number JSON cannot carry here (NaN, Infinity, or an integer "
                "beyond 64 bits).",
                param=f"{where}.params",
            ) from None
        if params.get("stream"):
            raise bad_request(
                f"custom_id {custom_id!r}: streaming is not available in a batch.", param=f"{where}.params.stream"
            )
    checked: list[dict[str, Any]] = requests

    def replay() -> Iterator[tuple[str, dict[str, Any]]]:
        return ((item["custom_id"], item["params"]) for item in checked)

    return replay


class AnthropicParams:
    """OpenAI batch lines (each checked as JSONL), each translated into Anthropic params and let go: what a batch
    sends is translated again from the gateway's copy of the file when it is created. (The upload's
    ``LineConversion``: a 400 naming the custom_id of a line Anthropic cannot take.)"""

    def add(self, line: dict[str, Any]) -> None:
        line_translation(line, "Anthropic", REQUESTS)(line["body"], custom_id=line["custom_id"])

    def finish(self) -> None:
        return None

    def close(self) -> None:
        return None


def _requests_from_lines(chunks: Iterator[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(custom_id, Anthropic params) for each line of an OpenAI batch file (already checked as JSONL)."""
    for custom_id, to_params, body in table_requests(chunks, "Anthropic", REQUESTS):
        yield custom_id, to_params(body, custom_id=custom_id)


def _result_lines(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        for raw in iter_lines(response.iter_bytes(64 * 1024)):
            line = codec.loads(raw)
            yield str(line["custom_id"]), line
    finally:
        response.close()
