"""Google Gemini Batch API behind the OpenAI Files and Batch API.

Uploads are converted line by line into Gemini batch lines (``{"key": custom_id, "request":
GenerateContentRequest}``), spooled, and sent with Google's resumable upload protocol; the gateway keeps the
original bytes (Gemini never lets an uploaded file be downloaded). Batches are long-running operations
(``models/{model}:batchGenerateContent``), read from their ``metadata``; results are the generated responses file,
converted by the finalizer. The bearer key goes upstream as ``x-goog-api-key``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

import httpx

from batchbridge.config import Settings
from batchbridge.domain import codec
from batchbridge.domain.endpoints import translation
from batchbridge.domain.errors import GatewayError, bad_request, not_found, provider_status
from batchbridge.domain.jsonl import MAX_CUSTOM_ID_CHARS, iter_lines, line_translation, parsed_lines
from batchbridge.domain.lifecycle import ENDED_CANCELLED, ENDED_COMPLETED, ENDED_EXPIRED, Observation
from batchbridge.domain.output_lines import bad_response
from batchbridge.domain.parts import JobLimits, JobPart
from batchbridge.domain.ports import (
    FIND_SLACK_SECONDS,
    BatchRequest,
    Credentials,
    ProviderBatch,
    ProviderFile,
    ResultContext,
    UnreadableResult,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import FileRecord, ProviderJob
from batchbridge.domain.translate.gemini import REQUESTS, RESULTS
from batchbridge.providers import registry
from batchbridge.providers.upstream import Paging, Upstream, json_object, upstream_error

logger = logging.getLogger(__name__)
PROVIDER: Final = "gemini"
DEFAULT_VERSION: Final = "v1beta"  # the Batch API lives in v1beta
UPLOAD_MIME: Final = "application/jsonl"
CHUNK_BYTES: Final = 8 * 1024 * 1024  # the google-genai SDK's chunk; a multiple of Google's 256 KiB granularity
SPOOL_BYTES: Final = 8 * 1024 * 1024
# Once a spool is on disk, it is written in writes this large, not 8 KiB ones: a spool is written a line at a
# time, and the default buffer's system calls cost a third of its CPU.
SPOOL_WRITE_BYTES: Final = 1024 * 1024
RESULT_LINE_BYTES: Final = 64 * 1024 * 1024
BATCH_WINDOW_SECONDS: Final = 48 * 3600  # Gemini expires a batch not finished within 48 h
MODEL_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
RESOURCE_NAME: Final = re.compile(r"^(files|batches)/[A-Za-z0-9_-]{1,128}\Z")
FIND_PAGE: Final = 100
OBJECT: Final = "a JSON object"  # what an answer lacks when it is not one (a 502)
# A create that failed with one of these may have reached Gemini (no answer was read): a part's file stays for the
# batch find_batch may find
UNANSWERED: Final = frozenset({"provider_timeout", "provider_unreachable"})
VERSION_SEGMENT: Final = re.compile(r"^v\d+[a-z0-9]*\Z")
HTTP_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
}

# The provider, as the registry and the services know it (see providers.registry).
SPEC: Final = ProviderSpec(
    name=PROVIDER,
    states={
        "PENDING": Observation("validating"),
        "RUNNING": Observation("in_progress"),
        "SUCCEEDED": ENDED_COMPLETED,
        "FAILED": Observation("failed"),
        "CANCELLING": Observation("cancelling"),
        "CANCELLED": ENDED_CANCELLED,
        "EXPIRED": ENDED_EXPIRED,
    },
    state_prefixes=("BATCH_STATE_", "JOB_STATE_"),  # both spellings
    create_reads_input=True,  # see ProviderSpec.create_reads_input
)


def build(settings: Settings, parts: registry.Parts) -> GeminiAdapter:
    adapter = GeminiAdapter(registry.base_url(settings, SPEC), timeout=settings.upstream_timeout_seconds)
    adapter.job_limits = registry.job_limits(settings, SPEC)
    return adapter


def split_base_url(base_url: str) -> tuple[str, str]:
    """(root, API version) of a configured base URL; a trailing ``/v1beta`` (or ``/v1``) names the version."""
    root = base_url.rstrip("/")
    head, _, last = root.rpartition("/")
    if VERSION_SEGMENT.match(last) and urlsplit(root).path.strip("/") == last:
        return head, last
    return root, DEFAULT_VERSION


class GeminiAdapter:
    name = "gemini"
    spec = SPEC
    max_batch_requests = 50_000  # Gemini states none; the OpenAI surface we offer holds 50,000
    job_limits: JobLimits = SPEC.setup.job_limits or JobLimits(50_000)  # (build sets the settings')
    results_may_omit = True  # cancelled and expired batches have no responses file
    lines_need_model = False  # the model goes in the batch URL; a line may leave it out
    custom_id_max_chars: int | None = MAX_CUSTOM_ID_CHARS
    judges_lines = False

    def __init__(self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        root, self._version = split_base_url(base_url)
        self._upstream = Upstream(
            SPEC,
            root,
            timeout=timeout,
            transport=transport,
            auth=_auth,
            errors=gemini_error,
            bad_response=_bad_response,
            empty_is_object=True,
        )

    # files
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        if request.purpose != "batch":
            raise bad_request("Gemini files are batch input files: use purpose 'batch'.", param="purpose")
        with request.converted_lines(GeminiLines, self.line_conversion) as converted:
            if not self.job_limits.fits(0, request.size):
                # Larger than one job may be (Gemini's file limit): its lines are checked, and its batch is split
                # into parts, each converted and uploaded when it starts (``create_batch``); the gateway's copy is
                # the file's only one.
                return None
            size = converted.target.seek(0, io.SEEK_END)
            converted.target.seek(0)
            file = self._upload(credentials, converted.target, size, request.filename)
        return ProviderFile(
            id=_resource(file.get("name"), "files"),
            bytes=request.size,  # the user's bytes, which files.content returns
            created_at=_unix(file.get("createTime")) or 0,
            filename=request.filename,
            purpose="batch",
            expires_at=_unix(file.get("expirationTime")),
        )

    def line_conversion(self) -> GeminiLines:
        return GeminiLines(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, buffering=SPOOL_WRITE_BYTES))

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile:
        body = self._json(f"{self._version}/{_resource(provider_file_id, 'files')}", credentials)
        return ProviderFile(
            id=str(body.get("name")),
            bytes=_int(body.get("sizeBytes")),
            created_at=_unix(body.get("createTime")) or 0,
            filename=str(body.get("displayName") or ""),
            purpose="batch",
            expires_at=_unix(body.get("expirationTime")),
        )

    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        provider_file_id = file.provider_file_id
        if provider_file_id is None:
            return
        try:
            self._upstream.delete(f"{self._version}/{_resource(provider_file_id, 'files')}", credentials)
        except GatewayError as exc:
            # Gemini deletes uploads after 48 h and then answers 403 ("... or it may not exist"): gone is deleted.
            if exc.status not in (403, 404):
                raise
            logger.info("gemini file %s already gone (HTTP %d)", provider_file_id, exc.status)

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]:
        raise not_found("file", provider_file_id)  # uploaded Gemini files cannot be downloaded; we keep the bytes

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        model_id, custom_ids = self._plan(request)
        assert request.input_file is not None
        if request.part is not None:
            return self._create_part(credentials, request, request.part, model_id).as_created(model_id, custom_ids)
        operation = self._create(credentials, request, model_id, request.input_file.provider_file_id)
        return _operation(operation).as_created(model_id, custom_ids)

    def _create(
        self, credentials: Credentials, request: BatchRequest, model_id: str, file_name: str | None
    ) -> dict[str, Any]:
        body = {"batch": {"displayName": display_name(request), "inputConfig": {"fileName": file_name}}}
        path = f"{self._version}/models/{quote(model_id, safe='')}:batchGenerateContent"
        # a create that may have happened is never sent again (find_batch finds it by its displayName)
        return self._upstream.post_json(path, credentials, json_object, what=OBJECT, retry_safe=False, json=body)

    def _create_part(
        self, credentials: Credentials, request: BatchRequest, part: JobPart, model_id: str
    ) -> ProviderBatch:
        """A job of the part's requests: its lines converted and uploaded as a Gemini file of their own, the batch
        created on it (named for the part). The file goes when the batch is final (``release_part_input``), or now
        when Gemini answered the create with a refusal."""
        assert request.open_part is not None  # (_plan checked it)
        filename = part_filename(request.batch_id, part)
        with contextlib.closing(self.line_conversion()) as converted:
            for line in parsed_lines(request.open_part()):
                converted.add(line)
            size = converted.target.seek(0, io.SEEK_END)
            converted.target.seek(0)
            file_name = _resource(self._upload(credentials, converted.target, size, filename).get("name"), "files")
        try:
            operation = self._create(credentials, request, model_id, file_name)
        except GatewayError as exc:
            if exc.code not in UNANSWERED:  # no batch reads it
                with contextlib.suppress(GatewayError):
                    self._upstream.delete(f"{self._version}/{file_name}", credentials)
            raise
        report = _operation(operation)
        report.input_location = file_name
        return report

    def release_part_input(self, credentials: Credentials, job: ProviderJob) -> None:
        """The Gemini file a part's job was created on (``create_batch`` made it), deleted once the batch is final;
        gone already is deleted. A job of no part ran on the file the user uploaded, which is left alone."""
        if job.part is None or not job.input_location:
            return
        try:
            self._upstream.delete(f"{self._version}/{_resource(job.input_location, 'files')}", credentials)
        except GatewayError as exc:
            if exc.status not in (403, 404):  # (see delete_file)
                raise

    def release_unused_part_input(self, credentials: Credentials, request: BatchRequest, created_at: int) -> None:
        """The Gemini file an unanswered create of ``request``'s part uploaded (``create_batch``: the part's file
        goes before the batch's create) deleted, once no batch of the part turned up (``find_batch``): told by its
        display name among the files made since ``created_at``; gone already is deleted."""
        if request.part is None:
            return
        filename = part_filename(request.batch_id, request.part)
        since = created_at - FIND_SLACK_SECONDS
        listed = self._upstream.pages(f"{self._version}/files", credentials, FILE_PAGING, since=since)
        for name in [str(file.get("name")) for file in listed if file.get("displayName") == filename]:
            try:
                self._upstream.delete(f"{self._version}/{_resource(name, 'files')}", credentials)
            except GatewayError as exc:
                if exc.status not in (403, 404):  # (see delete_file)
                    raise

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        # The batch's displayName is our ID (and a part's number). Lists are newest first: page back past the
        # create's time.
        model_id, custom_ids = self._plan(request)
        since = created_at - FIND_SLACK_SECONDS
        name = display_name(request)
        for operation in self._upstream.pages(f"{self._version}/batches", credentials, PAGING, since=since):
            metadata = _metadata(operation)
            if metadata.get("displayName") == name:
                report = _operation(operation)
                if request.part is not None:  # the part's own file, which release_part_input deletes
                    report.input_location = _input_file(metadata)
                return report.as_created(model_id, custom_ids)
        return None

    def _plan(self, request: BatchRequest) -> tuple[str, dict[str, str]]:
        """A batch's model and its requests' custom_ids (in input order: the part's, for a part), checked as a
        create needs them."""
        input_file = request.input_file
        open_lines = _lines_opener(request)
        if input_file is None or open_lines is None:
            raise bad_request(
                "Gemini batches need an input file uploaded with provider 'gemini' (inline requests are for "
                "provider 'anthropic').",
                param="input_file_id",
            )
        translation(REQUESTS, request.endpoint, "Gemini batches run {endpoints} only, not {endpoint!r}.")
        custom_ids: dict[str, str] = {}
        unnamed: str | None = None  # the first line that names no model
        for raw in iter_lines(open_lines()):
            line = codec.loads(raw)
            custom_ids[line["custom_id"]] = line["custom_id"]
            if unnamed is None and not line["body"].get("model"):
                unnamed = line["custom_id"]
        model = request.extras.get("model")
        if model is None or model == "":
            if input_file.model is None:
                first = unnamed or next(iter(custom_ids))
                raise bad_request(
                    f"custom_id {first!r}: no model to run it with. Name it in extra_body {{'model': ...}} "
                    "or in body.model of every line.",
                    param="model",
                    code="missing_model",
                )
            model = input_file.model
        if not isinstance(model, str):
            raise bad_request("'model' must be a string.", param="model", code="invalid_type")
        model_id = model.removeprefix("models/")
        if not MODEL_NAME.match(model_id):
            raise bad_request(f"{model!r} is not a Gemini model name.", param="model", code="invalid_model")
        if input_file.model is not None and input_file.model.removeprefix("models/") != model_id:
            raise bad_request(
                f"model {model!r} does not match the file's lines, which use {input_file.model!r}; "
                "a Gemini batch runs one model.",
                param="model",
                code="model_mismatch",
            )
        return model_id, custom_ids

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return _operation(self._operation_json(credentials, provider_batch_id))

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        name = _resource(provider_batch_id, "batches")
        try:
            # cancelling twice cancels once: safe to send again; its answer says nothing
            self._upstream.post(f"{self._version}/{name}:cancel", credentials, retry_safe=True, json={})
        except GatewayError as exc:
            if exc.status not in (400, 409):  # FAILED_PRECONDITION: it ended first; its state tells the rest
                raise
        return self.get_batch(credentials, provider_batch_id)

    def results(
        self, credentials: Credentials, provider_batch_id: str
    ) -> Iterator[tuple[str | None, dict[str, Any] | UnreadableResult]]:
        operation = self._operation_json(credentials, provider_batch_id)
        metadata = _metadata(operation)
        output = _output(operation)
        inlined = output.get("inlinedResponses")
        if isinstance(inlined, dict):
            return _inlined(inlined.get("inlinedResponses"))
        responses_file = output.get("responsesFile")
        state = _state(operation)
        if not responses_file:
            if state.endswith("SUCCEEDED"):  # results not there (yet): never finalize them as unrun
                raise _incomplete("a succeeded batch without a responses file")
            return iter(())  # cancelled or expired before any result: every request is accounted as not run
        stats = metadata.get("batchStats") or {}
        expected = _int(stats.get("requestCount")) or sum(
            _int(stats.get(name)) for name in ("successfulRequestCount", "failedRequestCount")
        )
        return self._result_lines(credentials, _resource(responses_file, "files"), expected, state)

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """The responses file stays at Gemini under its own retention; the gateway keeps no copy of it."""

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        """A line of the responses file (or an inline result); ``context.model`` is the batch's, as Gemini reports
        it (the line's own ``modelVersion`` comes first)."""
        return RESULTS[context.endpoint](raw, context)

    # transport
    def _json(self, path: str, credentials: Credentials) -> dict[str, Any]:
        return self._upstream.get_json(path, credentials, json_object, what=OBJECT)

    def _operation_json(self, credentials: Credentials, provider_batch_id: str) -> dict[str, Any]:
        return self._json(f"{self._version}/{_resource(provider_batch_id, 'batches')}", credentials)

    def _upload(self, credentials: Credentials, data: IO[bytes], size: int, filename: str) -> dict[str, Any]:
        """Google's resumable upload: start a session, then send the bytes in chunks, the last one finalizing."""
        headers = {
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(size),
            "x-goog-upload-header-content-type": UPLOAD_MIME,
        }
        meta = {"file": {"displayName": filename[:512], "mimeType": UPLOAD_MIME}}
        # neither the start nor a chunk is sent again: a repeated start is a second session, a chunk's offset moves on
        started = self._upstream.post(
            f"upload/{self._version}/files", credentials, retry_safe=False, headers=headers, json=meta
        )
        session_url = started.headers.get("x-goog-upload-url")
        if not session_url:
            raise _bad_response("an upload start without an x-goog-upload-url header")
        offset = 0
        while True:
            chunk = data.read(CHUNK_BYTES)
            last = offset + len(chunk) >= size
            chunk_headers = {
                "x-goog-upload-command": "upload, finalize" if last else "upload",
                "x-goog-upload-offset": str(offset),
                "content-type": UPLOAD_MIME,
            }
            sent = self._upstream.post(session_url, credentials, retry_safe=False, headers=chunk_headers, content=chunk)
            offset += len(chunk)
            status = sent.headers.get("x-goog-upload-status", "")
            if last:
                try:
                    file = sent.json().get("file")
                except (ValueError, AttributeError):
                    file = None
                if status.lower() != "final" or not isinstance(file, dict):
                    raise _bad_response("an upload that did not finalize into a file")
                return file
            if status.lower() not in ("", "active"):
                raise _bad_response(f"upload status {status!r} before the last chunk")

    def _result_lines(
        self, credentials: Credentials, file_name: str, expected: int, state: str
    ) -> Iterator[tuple[str | None, dict[str, Any] | UnreadableResult]]:
        file_id = file_name.removeprefix("files/")
        query = "?alt=media"
        paths = (f"{self._version}/files/{file_id}:download", f"download/{self._version}/files/{file_id}:download")
        response: httpx.Response | None = None
        for index, path in enumerate(paths):  # the SDK's path, then the one in Google's REST guide
            try:
                # (errors read as OpenAI-shaped bodies here, as they always were, not as gemini_error reads them)
                response = self._upstream.download(path + query, credentials, errors=partial(upstream_error, PROVIDER))
                if response.status_code != 200:  # a redirect or an empty answer is no results file
                    response.close()
                    raise _bad_response(f"HTTP {response.status_code} for the responses file {file_name}")
                break
            except GatewayError as exc:
                if not 400 <= exc.status < 500 or index == len(paths) - 1:
                    raise
        assert response is not None
        count = 0
        try:
            for raw in iter_lines(response.iter_bytes(64 * 1024), max_line_bytes=RESULT_LINE_BYTES):
                count += 1
                try:
                    line = codec.loads(raw)
                except ValueError:
                    line = None
                if not isinstance(line, dict):
                    # Kept in place (positions match lines without a key); the finalizer makes it an error line.
                    logger.warning("unreadable line %d in %s", count, file_name)
                    yield None, UnreadableResult(f"line {count} of the responses file is not a JSON object")
                    continue
                key = line.get("key")
                # Lines come in input order: one without a key is matched by its position.
                yield (str(key) if isinstance(key, str) and key else None), line
        finally:
            response.close()
        if state.endswith("SUCCEEDED") and (count < expected or count == 0):
            raise _incomplete(f"a responses file of {count} lines for {expected or 'its'} requests")


def display_name(request: BatchRequest) -> str:
    """The displayName of a batch's Gemini batch, by which find_batch knows it: the gateway batch's ID, and for a
    part (one of the jobs a large batch is split into) its number."""
    if request.part is None:
        return request.batch_id
    return f"{request.batch_id}/part-{request.part.number}"


def part_filename(batch_id: str, part: JobPart) -> str:
    """The display name of the Gemini file a part's job runs on (``create_batch`` uploads it), by which
    ``release_unused_part_input`` knows it."""
    return f"{batch_id}-part-{part.number}.jsonl"


def _lines_opener(request: BatchRequest) -> Callable[[], Iterator[bytes]] | None:
    """How the create reads the lines it runs: the part's (from the gateway's copy), or, without a part, the input
    file's (which Gemini holds converted: it must have been uploaded there); None when there is no such copy."""
    if request.part is not None:
        return request.open_part
    if request.input_file is None or request.input_file.provider_file_id is None:
        return None
    return request.open_input


def _input_file(metadata: dict[str, Any]) -> str | None:
    """The file a listed batch was created on (its ``inputConfig.fileName``)."""
    config = metadata.get("inputConfig")
    name = config.get("fileName") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else None


def _auth(credentials: Credentials) -> dict[str, str]:
    return {"x-goog-api-key": credentials.api_key}


def gemini_error(response: httpx.Response) -> GatewayError:
    """A Google error body (``{"error": {"code", "message", "status"}}``) as an OpenAI-shaped error, status kept."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    status = provider_status(response.status_code)
    kind = HTTP_TYPES.get(status, "upstream_error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("status")
        code = code.lower() if isinstance(code, str) else None
        if _reason(error) == "API_KEY_INVALID":  # Gemini says 400; OpenAI clients expect 401 for a bad key
            status, kind, code = 401, "authentication_error", "invalid_api_key"
        return GatewayError(status, f"Gemini: {error['message']}", type=kind, code=code)
    return GatewayError(
        status,
        f"The gemini provider answered HTTP {response.status_code}.",
        type="upstream_error",
        code="provider_error",
    )


def _reason(error: dict[str, Any]) -> str | None:
    """The ErrorInfo reason in a Google error's details (e.g. API_KEY_INVALID)."""
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
            return str(detail["reason"])
    return None


def _incomplete(problem: str) -> GatewayError:
    return GatewayError(
        502,
        f"The gemini provider returned {problem}; finalizing again later.",
        type="upstream_error",
        code="provider_incomplete_results",
    )


_bad_response: Final = partial(bad_response, PROVIDER)  # the 502 of an answer of Gemini's the gateway cannot read


class GeminiLines:
    """OpenAI batch lines (each checked as JSONL) -> Gemini batch lines, one at a time, into ``target``; a 400
    naming a custom_id. (The upload's ``LineConversion``.)"""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self._model: str | None = None  # the first that names one: a batch runs one model
        self._first_with_model = ""

    def add(self, line: dict[str, Any]) -> None:
        custom_id = line["custom_id"]
        to_request = line_translation(line, "Gemini", REQUESTS)
        body = line["body"]
        line_model = body.get("model")
        if line_model:
            if self._model is None:
                self._model, self._first_with_model = line_model, custom_id
            elif line_model != self._model:
                raise bad_request(
                    f"custom_id {custom_id!r}: model {line_model!r} differs from {self._model!r} "
                    f"(custom_id {self._first_with_model!r}); a Gemini batch runs one model.",
                    param="file",
                    code="model_mismatch",
                )
        self.target.write(codec.dumps_line({"key": custom_id, "request": to_request(body, custom_id=custom_id)}))

    def finish(self) -> None:
        return None  # each line was written as it came

    def close(self) -> None:
        self.target.close()


def _inlined(items: Any) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Inline results (``{"response" | "error", "metadata": {"key"}}``) as file-style lines."""
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        metadata = item.get("metadata")
        key = metadata.get("key") if isinstance(metadata, dict) else None
        line = {name: item[name] for name in ("response", "error") if name in item}
        yield (str(key) if isinstance(key, str) and key else None), line


def _operations(page: dict[str, Any]) -> list[dict[str, Any]]:
    """A page's batches (long-running operations); what is not an object reads as an empty one (it matches
    nothing and tells no time)."""
    operations = page.get("operations") or []
    if not isinstance(operations, list):
        raise _bad_response("a batch list without a list of operations")
    return [operation if isinstance(operation, dict) else {} for operation in operations]


PAGING: Final = Paging(
    size_param="pageSize",
    size=FIND_PAGE,
    token_param="pageToken",
    items=_operations,
    what=OBJECT,
    next_token=lambda page, _: page.get("nextPageToken") or None,
    created=lambda operation: _unix(_metadata(operation).get("createTime")),
)


def _files(page: dict[str, Any]) -> list[dict[str, Any]]:
    """A page's files; what is not an object reads as an empty one (it matches nothing and tells no time)."""
    files = page.get("files") or []
    if not isinstance(files, list):
        raise _bad_response("a file list without a list of files")
    return [file if isinstance(file, dict) else {} for file in files]


FILE_PAGING: Final = Paging(
    size_param="pageSize",
    size=FIND_PAGE,
    token_param="pageToken",
    items=_files,
    what=OBJECT,
    next_token=lambda page, _: page.get("nextPageToken") or None,
    created=lambda file: _unix(file.get("createTime")),
)


def _resource(name: Any, collection: str) -> str:
    """A Gemini resource name (``files/abc``), checked before it becomes part of a URL path."""
    text = str(name or "")
    if "/" not in text:
        text = f"{collection}/{text}"
    if not RESOURCE_NAME.match(text) or not text.startswith(collection + "/"):
        raise _bad_response(f"an unusable {collection} resource name {name!r}")
    return text


def _metadata(operation: dict[str, Any]) -> dict[str, Any]:
    """The GenerateContentBatch of an Operation (``metadata``); a bare batch object is taken as it is."""
    metadata = operation.get("metadata")
    if isinstance(metadata, dict):
        return metadata
    return operation if "state" in operation else {}


def _output(operation: dict[str, Any]) -> dict[str, Any]:
    for candidate in (_metadata(operation).get("output"), operation.get("response"), operation.get("output")):
        if isinstance(candidate, dict) and (candidate.get("responsesFile") or candidate.get("inlinedResponses")):
            return candidate
    return {}


def _state(operation: dict[str, Any]) -> str:
    state = _metadata(operation).get("state")
    if isinstance(state, str) and state and not state.endswith("UNSPECIFIED"):
        return state
    if operation.get("done"):
        return "BATCH_STATE_FAILED" if operation.get("error") else "BATCH_STATE_SUCCEEDED"
    return "BATCH_STATE_PENDING"


def _operation(operation: dict[str, Any]) -> ProviderBatch:
    metadata = _metadata(operation)
    name = operation.get("name") or metadata.get("name")
    state = _state(operation)
    timestamps: dict[str, int] = {}
    created = _unix(metadata.get("createTime"))
    if created is not None:
        timestamps["expires_at"] = created + BATCH_WINDOW_SECONDS
    ended = _unix(metadata.get("endTime"))
    if ended is None and operation.get("done"):
        ended = _unix(metadata.get("updateTime"))
    if ended is not None:
        finished = (
            ("failed_at",)
            if state.endswith("FAILED")
            else (
                "finalizing_at",
                "completed_at",
                "cancelled_at",
                "expired_at",
            )
        )
        for stamp in finished:
            timestamps[stamp] = ended
    counts = None
    stats = metadata.get("batchStats")
    if isinstance(stats, dict) and stats.get("requestCount") is not None:
        counts = {
            "total": _int(stats.get("requestCount")),
            "completed": _int(stats.get("successfulRequestCount")),
            "failed": _int(stats.get("failedRequestCount")),
        }
    errors = None
    error = operation.get("error")
    if state.endswith("FAILED"):
        message = error.get("message") if isinstance(error, dict) else None
        code = error.get("status") if isinstance(error, dict) else None
        errors = {
            "object": "list",
            "data": [
                {
                    "code": str(code).lower() if isinstance(code, str) and code else "gemini_batch_failed",
                    "message": f"Gemini: {message}" if isinstance(message, str) and message else "The batch failed.",
                }
            ],
        }
    model = metadata.get("model")
    return ProviderBatch(
        id=_resource(name, "batches"),
        raw_status=state,
        timestamps=timestamps,
        request_counts=counts,
        errors=errors,
        model=str(model).removeprefix("models/") if isinstance(model, str) and model else None,
    )


def _int(value: Any) -> int:
    """An int64 as Gemini sends it (a JSON string; absent when zero)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return 0


RFC3339: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z")


def _unix(value: Any) -> int | None:
    """Unix seconds of an RFC 3339 timestamp with 0 to 9 fractional digits (Gemini sends nanoseconds)."""
    if not isinstance(value, str):
        return None
    match = RFC3339.match(value.strip())
    if match is None:
        return None
    zone = "+00:00" if match.group(4) in ("Z", "z") else match.group(4)
    stamp = f"{match.group(1)}T{match.group(2)}{zone}"
    return int(datetime.fromisoformat(stamp).astimezone(UTC).timestamp())
