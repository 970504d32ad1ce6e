"""OpenAI upstream over httpx: the Files and Batch API as OpenAI itself serves it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Final

import httpx

from batchbridge.config import Settings
from batchbridge.domain import output_lines
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.lifecycle import ENDED_CANCELLED, ENDED_COMPLETED, ENDED_EXPIRED, Observation
from batchbridge.domain.parts import JobLimits, JobPart
from batchbridge.domain.ports import (
    FIND_SLACK_SECONDS,
    BatchRequest,
    Credentials,
    ProviderBatch,
    ProviderFile,
    RawResultFile,
    RawResultLine,
    ResultContext,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import BATCH_TIMESTAMPS, FileRecord, ProviderJob
from batchbridge.domain.streams import reader
from batchbridge.providers import registry
from batchbridge.providers.upstream import Paging, Upstream

logger = logging.getLogger(__name__)
PROVIDER: Final = "openai"
CHUNK_BYTES: Final = 64 * 1024
# The gateway's batch ID, carried in the provider batch's metadata so an unanswered create can be found again
# (users never see it: they see their own metadata, kept in our record). OpenAI allows 16 pairs; a user's 16
# leave no room, and such a batch cannot be found.
BATCH_ID_TAG: Final = "batchbridge_batch_id"
# A part of a gateway batch (one of the jobs a batch beyond OpenAI's job limits is split into) carries this tag
# instead: the batch ID and the part's number (``part_tag``), one pair as the whole batch's tag is
PART_TAG: Final = "batchbridge_batch_part"
# A create that failed with one of these may have reached OpenAI (no answer was read): the part's file stays for the
# batch find_batch may find (none found: release_unused_part_input removes it)
UNANSWERED: Final = frozenset({"provider_timeout", "provider_unreachable"})
METADATA_MAX_PAIRS: Final = 16
# How long OpenAI keeps a batch file uploaded without expires_after (its default): a batch file the gateway keeps
# alone (larger than one job) lives as long
BATCH_FILE_LIFETIME_SECONDS: Final = 30 * 86_400
FIND_PAGE: Final = 100
FILE: Final = "a valid file object"  # what an answer lacks when it is not one (a 502)
BATCH: Final = "a valid batch object"

# The provider, as the registry and the services know it (see providers.registry).
SPEC: Final = ProviderSpec(
    name=PROVIDER,
    states={
        "validating": Observation("validating"),
        "in_progress": Observation("in_progress"),
        "finalizing": Observation("finalizing"),  # OpenAI is still writing its output
        "cancelling": Observation("cancelling"),
        "completed": ENDED_COMPLETED,
        "expired": ENDED_EXPIRED,
        "cancelled": ENDED_CANCELLED,
        "failed": Observation("failed"),
    },
    queue_full_codes=frozenset({"token_limit_exceeded"}),
)


def build(settings: Settings, parts: registry.Parts) -> OpenAIAdapter:
    adapter = OpenAIAdapter(registry.base_url(settings, SPEC), timeout=settings.upstream_timeout_seconds)
    adapter.job_limits = registry.job_limits(settings, SPEC)
    return adapter


class OpenAIAdapter:
    name = PROVIDER
    spec = SPEC
    max_batch_requests = 50_000
    job_limits: JobLimits = SPEC.setup.job_limits or JobLimits(50_000)  # (build sets the settings')
    results_may_omit = False
    lines_need_model = True
    custom_id_max_chars: int | None = None  # OpenAI judges its own batch files
    judges_lines = True

    def __init__(self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self._upstream = Upstream(SPEC, base_url, timeout=timeout, transport=transport, auth=_auth)

    # files
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        """The file sent to OpenAI as it is; a batch file larger than one job may be (``job_limits.max_bytes``;
        OpenAI would refuse its batch) is not: the gateway's copy is its only one, and its batch is split into
        parts, each sent as a file of its own when it starts (``create_batch``)."""
        if request.purpose == "batch" and not self.job_limits.fits(0, request.size):
            return None
        return self._send_file(credentials, request)

    def default_file_lifetime(self, purpose: str) -> int | None:
        """How long OpenAI keeps a file of ``purpose`` uploaded without ``expires_after``: a batch file 30 days, any
        other until deleted (the lifetime of a batch file the gateway keeps alone, ``upload_file``)."""
        return BATCH_FILE_LIFETIME_SECONDS if purpose == "batch" else None

    def _send_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile:
        data = {"purpose": request.purpose}
        if request.expires_after_seconds is not None:
            data["expires_after[anchor]"] = "created_at"
            data["expires_after[seconds]"] = str(request.expires_after_seconds)
        return self._upstream.post_json(
            "files",
            credentials,
            _file,
            what=FILE,
            retry_safe=False,  # a second upload would be a second file
            data=data,
            files={"file": (request.filename, request.stream, request.content_type)},
        )

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile:
        return self._upstream.get_json(f"files/{provider_file_id}", credentials, _file, what=FILE)

    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        if file.provider_file_id is not None:
            self._upstream.delete(f"files/{file.provider_file_id}", credentials)

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]:
        return _stream(self._upstream.download(f"files/{provider_file_id}/content", credentials))

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        if request.part is not None:
            return self._create_part(credentials, request, request.part)
        if request.input_file is None or request.input_file.provider_file_id is None:
            raise GatewayError(
                400, "OpenAI batches need an input file uploaded for provider 'openai'.", param="input_file_id"
            )
        return self._create(credentials, request, request.input_file.provider_file_id)

    def _create_part(self, credentials: Credentials, request: BatchRequest, part: JobPart) -> ProviderBatch:
        """A job of the part's requests: its lines (as uploaded, from the gateway's copy) sent as an OpenAI file of
        their own, the batch created on it. The file goes when the batch is final (``release_part_input``), or now
        when OpenAI answered the create with a refusal."""
        if request.open_part is None:
            raise GatewayError(400, "The input file has no stored content.", param="input_file_id")
        filename = part_filename(request.batch_id, part)
        upload = UploadRequest(
            file_id=filename,
            stream=reader(request.open_part()),
            size=part.length,
            filename=filename,
            content_type="application/jsonl",
            purpose="batch",
            expires_after_seconds=None,
            extras={},
        )
        try:
            part_file = self._send_file(credentials, upload)
        finally:
            upload.stream.close()
        try:
            return self._create(credentials, request, part_file.id)
        except GatewayError as exc:
            if exc.code not in UNANSWERED:  # no batch reads it
                with contextlib.suppress(GatewayError):
                    self._upstream.delete(f"files/{part_file.id}", credentials)
            raise

    def release_part_input(self, credentials: Credentials, job: ProviderJob) -> None:
        """The OpenAI file a part's job was created on (``create_batch`` made it), deleted once the batch is final;
        gone already is deleted. A job of no part ran on the user's own file, which is left alone."""
        if job.part is None or not job.input_location:
            return
        try:
            self._upstream.delete(f"files/{job.input_location}", credentials)
        except GatewayError as exc:
            if exc.status != 404:
                raise

    def release_unused_part_input(self, credentials: Credentials, request: BatchRequest, created_at: int) -> None:
        """The OpenAI file an unanswered create of ``request``'s part sent (``create_batch``: the part's file goes
        before the batch's create) deleted, once no batch of the part turned up (``find_batch``): told by its name
        among the files made since ``created_at``."""
        if request.part is None:
            return
        filename = part_filename(request.batch_id, request.part)
        listed = self._upstream.pages("files", credentials, PAGING, since=created_at - FIND_SLACK_SECONDS)
        for file_id in [str(body["id"]) for body in listed if body.get("filename") == filename]:
            try:
                self._upstream.delete(f"files/{file_id}", credentials)
            except GatewayError as exc:
                if exc.status != 404:
                    raise

    def _create(self, credentials: Credentials, request: BatchRequest, input_file_id: str) -> ProviderBatch:
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": request.endpoint,
            "completion_window": request.completion_window,
        }
        metadata = dict(request.metadata or {})
        if len(metadata) < METADATA_MAX_PAIRS:
            if request.part is None:
                metadata[BATCH_ID_TAG] = request.batch_id
            else:
                metadata[PART_TAG] = part_tag(request.batch_id, request.part)
        if metadata:
            body["metadata"] = metadata
        if request.output_expires_after_seconds is not None:
            body["output_expires_after"] = {
                "anchor": "created_at",
                "seconds": request.output_expires_after_seconds,
            }
        # a create that may have happened is never sent again (find_batch finds it)
        return self._upstream.post_json("batches", credentials, _batch, what=BATCH, retry_safe=False, json=body)

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return self._upstream.get_json(f"batches/{provider_batch_id}", credentials, _batch, what=BATCH)

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        path = f"batches/{provider_batch_id}/cancel"  # cancelling twice cancels once: safe to send again
        return self._upstream.post_json(path, credentials, _batch, what=BATCH, retry_safe=True)

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        # Lists are newest first: page back until batches older than the create (and some slack) show up.
        listed = self._upstream.pages("batches", credentials, PAGING, since=created_at - FIND_SLACK_SECONDS)
        key, value = (
            (BATCH_ID_TAG, request.batch_id)
            if request.part is None
            else (PART_TAG, part_tag(request.batch_id, request.part))
        )
        for body in listed:
            metadata = body.get("metadata")
            if isinstance(metadata, dict) and metadata.get(key) == value:
                return _batch(body)
        return None

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[RawResultFile | RawResultLine]:
        """OpenAI's results are OpenAI batch output lines already (its reports say ``writes_result_lines``): its
        output file, then its error file, each announced (RawResultFile) and then streamed a chunk at a time as its
        raw lines (RawResultLine, byte for byte: each stays in the file OpenAI put it in). A file OpenAI wrote none
        of, or one gone there (404: expired, deleted), is left out; any other failure propagates (the finalizer runs
        again)."""
        files = self._upstream.get_json(f"batches/{provider_batch_id}", credentials, _result_files, what=BATCH)
        for role, file_id in files:
            if file_id is None:
                continue
            try:
                upstream = self.get_file(credentials, file_id)
            except GatewayError as exc:
                if exc.status != 404:
                    raise
                logger.warning("batch %s: its %s file is gone at OpenAI", provider_batch_id, role)
                continue
            yield RawResultFile(role, upstream)
            for data in _raw_lines(self.open_file_content(credentials, file_id)):
                yield RawResultLine(role, data)

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        """OpenAI's results come raw (``results`` gives no line to convert): a line in OpenAI's shape is its own."""
        return output_lines.placed(raw, context.line_id, context.custom_id)

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """The gateway keeps nothing for OpenAI's results. OpenAI's own files stay until they expire there, or until
        the user deletes the gateway's copy (whose record names OpenAI's file)."""


def part_filename(batch_id: str, part: JobPart) -> str:
    """The name of the OpenAI file a part's job runs on (``create_batch`` sends it)."""
    return f"{batch_id}-part-{part.number}.jsonl"


def part_tag(batch_id: str, part: JobPart) -> str:
    """What a part's job carries as its ``PART_TAG``: the gateway batch's ID and the part's number."""
    return f"{batch_id}/{part.number}"


def _auth(credentials: Credentials) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {credentials.api_key}"}
    if credentials.organization:
        headers["OpenAI-Organization"] = credentials.organization
    if credentials.project:
        headers["OpenAI-Project"] = credentials.project
    return headers


def _raw_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a file read in chunks, each as its bytes, its line ending included (the last one's, if the file
    has none at its end, absent): one line held at a time."""
    parts: list[bytes] = []  # the line being read, across chunks
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            parts.append(chunk[start : end + 1])
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts = []
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield b"".join(parts)


def _stream(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(CHUNK_BYTES)
    finally:
        response.close()


def _file(body: dict[str, Any]) -> ProviderFile:
    return ProviderFile(
        id=body["id"],
        bytes=int(body.get("bytes") or 0),
        created_at=int(body["created_at"]),
        filename=str(body.get("filename") or body["id"]),
        purpose=str(body.get("purpose") or "batch"),
        expires_at=int(body["expires_at"]) if body.get("expires_at") is not None else None,
    )


def _errors(errors: Any) -> dict[str, Any] | None:
    # OpenAI serialises absent BatchError fields as null; its schema types them without null.
    if not isinstance(errors, dict) or not errors.get("data"):
        return None
    data = [{k: v for k, v in item.items() if v is not None} for item in errors["data"] if isinstance(item, dict)]
    return {"object": "list", "data": data}


def _listed(page: dict[str, Any]) -> list[dict[str, Any]]:
    data = page["data"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise TypeError("list data is not a list of objects")
    return data


PAGING: Final = Paging(
    size_param="limit",
    size=FIND_PAGE,
    token_param="after",
    items=_listed,
    what="a valid page object",
    next_token=lambda page, data: str(data[-1]["id"]) if page.get("has_more") else None,
    created=lambda body: int(body.get("created_at") or 0),
)


def _result_files(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The result files an OpenAI batch names, by role: its output file, then its error file (those it has)."""
    named = (("output", body.get("output_file_id")), ("error", body.get("error_file_id")))
    return [(role, str(file_id)) for role, file_id in named if file_id]


def _batch(body: dict[str, Any]) -> ProviderBatch:
    counts = body.get("request_counts")
    if not isinstance(body["status"], str):
        raise TypeError("batch status is not a string")
    return ProviderBatch(
        id=body["id"],
        raw_status=body["status"],
        timestamps={name: int(body[name]) for name in BATCH_TIMESTAMPS if body.get(name) is not None},
        request_counts={key: int(counts.get(key) or 0) for key in ("total", "completed", "failed")}
        if isinstance(counts, dict)
        else None,
        errors=_errors(body.get("errors")),
        writes_result_lines=True,
        input_location=body.get("input_file_id") or None,
        output_locations=[file_id for _, file_id in _result_files(body)] or None,
        model=body.get("model") or None,
        usage=body.get("usage") or None,
    )
