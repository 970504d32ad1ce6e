"""Files: upload, list, retrieve, delete, content — the same for every provider."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple, cast

from batchbridge.domain import ids, validation
from batchbridge.domain.clock import Clocked, seconds
from batchbridge.domain.errors import GatewayError, bad_request, not_found, not_yet
from batchbridge.domain.jsonl import BatchInputChecker, BatchInputSummary, LineCounter, convert_each
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH
from batchbridge.domain.ports import (
    BlobStore,
    Caller,
    ConvertedUpload,
    ConvertsUploads,
    Page,
    ProviderAdapter,
    ProviderFile,
    ProviderRegistry,
    RecordStore,
    UploadRequest,
)
from batchbridge.domain.records import FileRecord, blob_expiry_days
from batchbridge.domain.streams import reader

logger = logging.getLogger(__name__)
COUNT_CHUNK_BYTES = 1024 * 1024  # what the line count of a file the gateway does not judge reads at a time
FILE_NOT_READY_RETRY_SECONDS = 10  # what a large Upload's file asks its users to wait before asking again
DOWNLOAD_URL_SECONDS = 300  # long enough to start a download, short enough to be no standing link


def find_file(
    records: RecordStore,
    caller: Caller,
    file_id: str,
    provider: str | None,
    *,
    now: int,
    param: str | None = None,
) -> FileRecord:
    """The caller's file, or 404 — for a malformed ID, another owner's file, a contradicting provider, or a file
    past its ``expires_at`` (expired is absent, whenever its record and bytes are actually removed)."""
    record = records.get_file(file_id) if ids.is_file_id(file_id) else None
    if (
        record is None
        or record.owner != caller.owner
        or (provider is not None and provider != record.provider)
        or is_expired(record, now)
    ):
        raise not_found("file", file_id, param=param)
    return record.seen_at(now)


def require_processed(record: FileRecord, *, param: str | None = None) -> None:
    """A file not usable (yet): still being processed (a large Upload's) is a 409 the SDKs retry after a while
    (``batches.create`` right after ``upload_file_chunked`` then goes through once the file is made); failed, a
    400."""
    if record.status == "uploaded":
        raise not_yet(
            f"File {record.id!r} is still being processed; retry when its status is 'processed'.",
            retry_after_seconds=FILE_NOT_READY_RETRY_SECONDS,
            param=param,
            code="file_not_ready",
        )
    if record.status == "error":
        raise bad_request(
            f"File {record.id!r} could not be processed: {record.status_details or 'no reason was recorded'}",
            param=param,
            code="file_processing_failed",
        )


def _endpoint_name(params: dict[str, Any]) -> str | None:
    """The openai-compatible endpoint a file was uploaded for (the adapter checked it names one)."""
    name = params.get("endpoint_name")
    return name if isinstance(name, str) and name else None


def forget_blob(blobs: BlobStore, key: str) -> None:
    """Remove an object nothing will reference, on the way out of a failure or a job: best effort."""
    try:
        blobs.delete(key)
    except Exception:  # the original error matters more; the object is unreferenced either way
        logger.warning("could not delete blob %s", key, exc_info=True)


def own_blob_keys(record: FileRecord) -> tuple[str, ...]:
    """The keys the gateway writes a file's bytes under: an upload's, or a batch's output or error file's."""
    keys: tuple[str, ...] = (f"files/{record.id}",)
    if record.source_batch_id is not None:
        keys += tuple(f"batches/{record.source_batch_id}/{role}.jsonl" for role in ("output", "error"))
    return keys


def _expiry(
    adapter: ProviderAdapter, upstream: ProviderFile | None, purpose: str, created_at: int, expires_after: int | None
) -> int | None:
    """When a file whose provider named no expiry expires: ``expires_after`` past ``created_at``; or, for a file kept
    by the gateway only (``upstream`` None), as the provider would have expired it (an adapter's optional
    ``default_file_lifetime(purpose)``: OpenAI's batch files, 30 days); else never."""
    lifetime = expires_after
    default_lifetime = getattr(adapter, "default_file_lifetime", None)  # (hasattr: wrappers forward it)
    if lifetime is None and upstream is None and default_lifetime is not None:
        lifetime = default_lifetime(purpose)
    return created_at + lifetime if lifetime else None


def is_expired(record: FileRecord, now: int) -> bool:
    return record.expires_at is not None and record.expires_at <= now


class CheckedInput(NamedTuple):
    """What the gateway read of an upload in its one pass over the lines: the batch-input check's summary, the
    lines converted for the provider, and how many requests a batch file the gateway does not judge holds (its
    lines, counted; each None where it does not apply)."""

    summary: BatchInputSummary | None
    converted: ConvertedUpload | None
    counted: int | None = None

    @property
    def request_count(self) -> int | None:
        return self.summary.request_count if self.summary is not None else self.counted


@dataclass
class FileService(Clocked):
    records: RecordStore
    blobs: BlobStore
    providers: ProviderRegistry
    clock: Callable[[], int]  # nanoseconds since the epoch
    inline_max_bytes: int = 4 * 1024 * 1024  # content above this is served through a download URL
    # the most requests a batch input file may hold (BATCHBRIDGE_MAX_REQUESTS_PER_BATCH): a batch beyond its
    # provider's job limits is split into jobs, so the provider's per-job limit is no upload limit
    max_requests_per_batch: int = DEFAULT_MAX_REQUESTS_PER_BATCH

    def create(
        self,
        caller: Caller,
        provider: str,
        *,
        stream: BinaryIO,
        size: int,
        filename: str,
        content_type: str,
        params: dict[str, Any],
        file_id: str | None = None,
        store: Callable[[FileRecord], None] | None = None,
    ) -> FileRecord:
        """A file from the client's (seekable) upload: checked (and in the same pass converted, for a provider that
        takes it converted), sent to the provider, kept in our bucket (once its lifetime is known: one tagged PUT),
        then recorded (``store``: how; put_file by default). ``file_id``: the ID it gets (a new one by default)."""
        purpose, _, _ = self._check_params(provider, size, params)
        validation.bounded(content_type, "file", validation.MAX_CONTENT_TYPE_CHARS)  # the file part's Content-Type
        file_id = file_id or ids.new_file_id()
        blob_key = f"files/{file_id}"

        def reopen() -> BinaryIO:
            stream.seek(0)
            return stream

        def keep(expire_days: int | None) -> None:
            self.blobs.put(blob_key, reopen(), content_type, expire_days)

        with self.checked_input(provider, purpose, stream) as checked:
            return self._register(
                keep,
                caller,
                provider,
                file_id,
                blob_key,
                reopen,
                size,
                validation.filename(filename),
                content_type,
                params,
                checked,
                store=store,
            )

    def create_from_blob(
        self,
        caller: Caller,
        provider: str,
        *,
        file_id: str,
        blob_key: str,
        size: int,
        filename: str,
        content_type: str,
        params: dict[str, Any],
        checked: CheckedInput,
        store: Callable[[FileRecord], None] | None = None,
    ) -> FileRecord:
        """A file whose bytes are already in our bucket (an assembled upload, checked and converted while
        assembled: ``checked``): sent to the provider (as converted, else streamed from the bucket), then recorded
        (``store``: how; put_file by default). The blob is removed if that fails. (Such a file came through the
        Uploads API: a batch file may be as large as an Upload.)"""
        self._check_params(provider, size, params, uploaded_in_parts=True)

        def reopen() -> BinaryIO:
            return reader(self.blobs.open(blob_key))

        expires_after = validation.expires_after(params.get("expires_after"), "expires_after")

        def keep(expire_days: int | None) -> None:
            if expire_days != blob_expiry_days(expires_after):  # written with the upload's own expiry
                self.blobs.set_expiry(blob_key, expire_days)

        return self._register(
            keep,
            caller,
            provider,
            file_id,
            blob_key,
            reopen,
            size,
            filename,
            content_type,
            params,
            checked,
            store=store,
            uploaded_in_parts=True,
        )

    @contextlib.contextmanager
    def checked_input(self, provider: str, purpose: str, stream: BinaryIO) -> Iterator[CheckedInput]:
        """The batch-input check a file of ``purpose`` gets at ``provider``, and, in the same pass over its lines
        (each parsed once), their conversion for a provider that takes them converted: a 400 naming the first line
        the check refuses; the conversion's own error is held for the adapter to raise (``ConvertedUpload``).
        What the conversion spooled is kept until the block ends. A batch file whose provider judges its lines
        (OpenAI) is read through only to count them."""
        adapter = self.providers.get(provider)
        if purpose != "batch":
            yield CheckedInput(None, None)
            return
        if adapter.judges_lines:
            counter = LineCounter()
            for _ in counter.counted(iter(lambda: stream.read(COUNT_CHUNK_BYTES), b"")):
                pass
            yield CheckedInput(None, None, counter.count)
            return
        checker = BatchInputChecker(
            self.max_requests_per_batch,
            require_model=adapter.lines_need_model,
            max_custom_id_chars=adapter.custom_id_max_chars,
        )
        if not hasattr(adapter, "line_conversion"):  # (see ConvertsUploads)
            for _ in checker.lines(stream):
                pass
            yield CheckedInput(checker.summary(), None)
            return
        conversion = cast(ConvertsUploads, adapter).line_conversion()
        try:
            error = convert_each(checker.lines(stream), conversion.add, conversion.finish)
            yield CheckedInput(checker.summary(), ConvertedUpload(conversion, error))
        finally:
            conversion.close()

    def _check_params(
        self, provider: str, size: int, params: dict[str, Any], *, uploaded_in_parts: bool = False
    ) -> tuple[str, int | None, ProviderAdapter]:
        purpose = validation.one_of(validation.required_string(params, "purpose"), validation.FILE_PURPOSES, "purpose")
        expires_after = validation.expires_after(params.get("expires_after"), "expires_after")
        validation.file_size(size, purpose, uploaded_in_parts=uploaded_in_parts)
        return purpose, expires_after, self.providers.get(provider)

    def _register(
        self,
        keep: Callable[[int | None], None],
        caller: Caller,
        provider: str,
        file_id: str,
        blob_key: str,
        reopen: Callable[[], BinaryIO],
        size: int,
        filename: str,
        content_type: str,
        params: dict[str, Any],
        checked: CheckedInput,
        *,
        store: Callable[[FileRecord], None] | None = None,
        uploaded_in_parts: bool = False,
    ) -> FileRecord:
        purpose, expires_after, adapter = self._check_params(
            provider, size, params, uploaded_in_parts=uploaded_in_parts
        )
        summary = checked.summary
        created_ns = self.clock()
        created_at = seconds(created_ns)
        try:
            upstream = adapter.upload_file(
                caller.credentials,
                UploadRequest(
                    file_id=file_id,
                    stream=reopen(),
                    size=size,
                    filename=filename,
                    content_type=content_type,
                    purpose=purpose,
                    expires_after_seconds=expires_after,
                    extras=params,
                    converted=checked.converted,
                ),
            )
        except BaseException:
            forget_blob(self.blobs, blob_key)
            raise
        upstream_expiry = upstream.expires_at if upstream is not None else None
        if upstream is not None and upstream.expires_at is not None and upstream.created_at:
            # the provider's lifetime counted from our created_at: a second ticking over between its clock and ours
            # must not make expires_at - created_at differ from the expires_after asked for
            upstream_expiry = created_at + (upstream.expires_at - upstream.created_at)
        record = FileRecord(
            id=file_id,
            owner=caller.owner,
            provider=provider,
            provider_file_id=upstream.id if upstream is not None else None,
            provider_region=upstream.region if upstream is not None else None,
            staged_bucket=upstream.staged_bucket if upstream is not None else None,
            staged_key=upstream.staged_key if upstream is not None else None,
            filename=filename,
            bytes=size,
            purpose=purpose,
            created_at=created_at,
            created_ns=created_ns,
            expires_at=upstream_expiry
            if upstream_expiry is not None
            else _expiry(adapter, upstream, purpose, created_at, expires_after),
            blob_key=blob_key,
            content_type=content_type,
            line_url=summary.url if summary else None,
            request_count=checked.request_count,
            endpoint_name=_endpoint_name(params),
            model=summary.model if summary else None,
        )
        try:
            # Our bytes live as long as the record (the provider's default lifetime when the client gave none:
            # OpenAI's batch files), removed by the bucket's rule for their tag.
            keep(blob_expiry_days(record.expires_at - created_at if record.expires_at is not None else None))
            (store or self.records.put_file)(record)
        except BaseException:
            # Nothing half-written: without our record the provider's copy would be unreachable.
            if upstream is not None:
                with contextlib.suppress(Exception):
                    adapter.delete_file(caller.credentials, record)
            forget_blob(self.blobs, blob_key)
            raise
        return record

    def retrieve(self, caller: Caller, file_id: str, provider: str | None) -> FileRecord:
        return find_file(self.records, caller, file_id, provider, now=self.now())

    def list(self, caller: Caller, provider: str | None, params: dict[str, Any]) -> Page[FileRecord]:
        limit = validation.limit(params.get("limit"), default=10_000, maximum=10_000)
        order = validation.order(params.get("order"))
        purpose = params.get("purpose") or None
        if purpose is not None and not isinstance(purpose, str):
            raise bad_request("Invalid 'purpose': expected a string.", param="purpose", code="invalid_type")
        after = self._cursor(caller, params.get("after"))

        now = self.now()

        def keep(record: FileRecord) -> bool:
            return (
                (provider is None or record.provider == provider)
                and (purpose is None or record.purpose == purpose)
                and not is_expired(record, now)
            )

        page = self.records.list_files(caller.owner, order=order, after=after, limit=limit, keep=keep)
        page.items = [record.seen_at(now) for record in page.items]
        return page

    def delete(self, caller: Caller, file_id: str, provider: str | None) -> FileRecord:
        record = find_file(self.records, caller, file_id, provider, now=self.now())
        if record.provider_file_id is not None:
            adapter = self.providers.get(record.provider)
            try:
                adapter.delete_file(caller.credentials, record)
            except GatewayError as exc:
                if exc.status != 404:  # already gone upstream: still ours to delete
                    raise
        self.records.delete_file(record, self.now())
        if record.blob_key:
            if record.blob_key in own_blob_keys(record):
                forget_blob(self.blobs, record.blob_key)
            else:  # not a key the gateway writes for this file: whatever a record says, nothing else is deleted
                logger.warning("file %s: blob %r is not its own; left alone", record.id, record.blob_key)
        return record

    def content_url(self, caller: Caller, file_id: str, provider: str | None) -> str | None:
        """A short-lived download URL for content we hold that is over ``inline_max_bytes``; None: serve inline."""
        record = find_file(self.records, caller, file_id, provider, now=self.now())
        require_processed(record)
        if record.blob_key is None or record.bytes <= self.inline_max_bytes:
            return None
        return self.blobs.download_url(record.blob_key, filename=record.filename, expires_seconds=DOWNLOAD_URL_SECONDS)

    def content(self, caller: Caller, file_id: str, provider: str | None) -> tuple[FileRecord, Iterator[bytes]]:
        record = find_file(self.records, caller, file_id, provider, now=self.now())
        require_processed(record)
        if record.blob_key:
            return record, self.blobs.open(record.blob_key)
        if record.provider_file_id is None:
            raise not_found("file content", file_id)
        adapter = self.providers.get(record.provider)
        return record, adapter.open_file_content(caller.credentials, record.provider_file_id)

    def _cursor(self, caller: Caller, after: Any) -> FileRecord | None:
        if after is None or after == "":
            return None
        if not isinstance(after, str):
            raise bad_request("Invalid 'after': expected a file ID.", param="after", code="invalid_type")
        # A deleted file still serves as a cursor: the auto-pager may be holding its ID.
        record = self.records.get_file(after, include_deleted=True) if ids.is_file_id(after) else None
        if record is None or record.owner != caller.owner:
            raise bad_request(
                f"Invalid 'after': no file {after!r} to continue from.", param="after", code="invalid_cursor"
            )
        return record
