"""The OpenAI Uploads API: a file sent in parts (each within the Lambda payload limit), assembled in our bucket
and then registered as a normal file of the chosen provider — checked, converted and forwarded as a direct upload
is, its lines checked and converted as they are assembled (a small one is joined in memory and goes the direct
upload's way).

Nothing of it outruns API Gateway's 29 s: an upload up to SYNC_COMPLETE_MAX_BYTES is completed within the request;
a larger one is accepted at once — the upload ``completed``, its file ``uploaded`` (not yet usable) — and made by
the ``complete_upload`` job, which sets the file ``processed``, or ``error`` naming what is wrong. Every in-progress
state is a lease: a completing claim (COMPLETING_LEASE_SECONDS) whose function was killed is taken over by the
client's retry, which makes the same file (its ID derives from the upload's); a file whose job did not finish
within PROCESSING_LEASE_SECONDS reads ``error``, and stays so."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Final

from batchbridge.domain import ids, validation
from batchbridge.domain.clock import Clocked, seconds
from batchbridge.domain.errors import GatewayError, bad_request, conflict, not_found, not_yet
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH
from batchbridge.domain.ports import BlobStore, Caller, Job, ProviderRegistry, RecordStore, Vault, WorkQueue
from batchbridge.domain.records import (
    PROCESSING_UNFINISHED,
    UPLOAD_TTL_SECONDS,
    FileRecord,
    UploadPartRecord,
    UploadRecord,
    blob_expiry_days,
)
from batchbridge.domain.services.files import FileService, find_file, forget_blob
from batchbridge.domain.streams import reader

logger = logging.getLogger(__name__)
MAX_PART_BYTES: Final = 64 * 1024 * 1024  # OpenAI's part limit (behind Lambda, the request limit comes first)
MAX_UPLOAD_BYTES: Final = validation.MAX_UPLOAD_BYTES  # OpenAI's limit for a whole Upload
MD5_HEX: Final = re.compile(r"^[0-9a-fA-F]{32}\Z")
# An upload up to this size is joined in memory and handled as a direct files.create; a larger one is assembled
# in the bucket and streamed from there (memory stays flat whatever the size).
HELD_UPLOAD_BYTES: Final = 8 * 1024 * 1024
# The largest upload completed within the request: the measured bound of what completes well inside 20 s at the
# UploadsCompleteFunction's memory, whichever the provider (see the README's Large files). A larger one is
# completed by the complete_upload job.
SYNC_COMPLETE_MAX_BYTES: Final = validation.SYNC_WORK_MAX_BYTES
# A completing claim's lease: longer than the API function holding it can run (29 s), so once it lapses its
# function is gone and a retry may take over. At most 60 s: what the SDKs wait for as Retry-After.
COMPLETING_LEASE_SECONDS: Final = 60
# How long an accepted file may stay "uploaded": its job's wait in the queue, one run (at most JOB_RUN_SECONDS,
# the work queue's function's timeout) and a retry. Past it the file reads "error"; a job that runs later leaves
# it so.
PROCESSING_LEASE_SECONDS: Final = 900
JOB_RUN_SECONDS: Final = 600  # a retry is queued only while a whole run still fits in the lease
PROCESSING_RETRY_SECONDS: Final = 30  # a job stopped by something passing (a provider's 5xx) runs again after this
COMPLETE_UPLOAD_JOB: Final = Job.COMPLETE_UPLOAD


def find_upload(records: RecordStore, caller: Caller, upload_id: str, provider: str | None) -> UploadRecord:
    record = records.get_upload(upload_id) if ids.is_upload_id(upload_id) else None
    if record is None or record.owner != caller.owner or (provider is not None and provider != record.provider):
        raise not_found("upload", upload_id)
    return record


def upload_file_id(upload_id: str) -> str:
    """The ID of the file an upload becomes: derived, so a completion redone after its function died (or a job run
    twice) makes the same file, never two."""
    return ids.derived_file_id(upload_id, "file")


def part_blob_key(upload_id: str, part_id: str) -> str:
    return f"uploads/{upload_id}/{part_id}"


class _Lapsed(Exception):
    """The file's lease ran out (or it was deleted) while its job made it: what the job made is not kept."""


@dataclass
class UploadService(Clocked):
    records: RecordStore
    blobs: BlobStore
    files: FileService
    clock: Callable[[], int]  # nanoseconds since the epoch
    vault: Vault  # seals the caller's credentials for the complete_upload job
    queue: WorkQueue

    @classmethod
    def for_jobs(
        cls,
        records: RecordStore,
        blobs: BlobStore,
        providers: ProviderRegistry,
        vault: Vault,
        queue: WorkQueue,
        clock: Callable[[], int],
        max_requests_per_batch: int = DEFAULT_MAX_REQUESTS_PER_BATCH,
    ) -> UploadService:
        """The service as the complete_upload job uses it (the job runner has no FileService of its own)."""
        files = FileService(records, blobs, providers, clock, max_requests_per_batch=max_requests_per_batch)
        return cls(records, blobs, files, clock, vault, queue)

    def create(self, caller: Caller, provider: str, params: dict[str, Any]) -> UploadRecord:
        filename = validation.filename(validation.required_string(params, "filename"))
        purpose = validation.one_of(validation.required_string(params, "purpose"), validation.FILE_PURPOSES, "purpose")
        mime_type = validation.bounded(
            validation.required_string(params, "mime_type"), "mime_type", validation.MAX_CONTENT_TYPE_CHARS
        )
        size = params.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise bad_request("'bytes' must be a positive integer: the size of the whole file.", param="bytes")
        if size > MAX_UPLOAD_BYTES:
            raise GatewayError(
                413, f"An upload holds at most {MAX_UPLOAD_BYTES} bytes.", param="bytes", code="file_too_large"
            )
        validation.file_size(size, purpose, uploaded_in_parts=True)
        validation.expires_after(params.get("expires_after"), "expires_after")
        self.files.providers.check(provider)
        now = self.now()
        record = UploadRecord(
            id=ids.new_upload_id(),
            owner=caller.owner,
            provider=provider,
            filename=filename,
            bytes=size,
            purpose=purpose,
            mime_type=mime_type,
            created_at=now,
            expires_at=now + UPLOAD_TTL_SECONDS,
            params=validation.stored_params(
                {k: v for k, v in params.items() if k not in ("filename", "bytes", "mime_type")}
            ),
        )
        self.records.put_upload(record)
        return record

    def add_part(
        self, caller: Caller, upload_id: str, provider: str | None, *, stream: BinaryIO, size: int
    ) -> UploadPartRecord:
        record = find_upload(self.records, caller, upload_id, provider)
        self._require_pending(record, "add a part to")
        if size < 1:
            raise bad_request("The part is empty: send its bytes in the 'data' field.", param="data")
        if size > MAX_PART_BYTES:
            raise GatewayError(413, f"A part is {size} bytes; parts are at most {MAX_PART_BYTES} bytes.", param="data")
        part_id = ids.new_part_id()
        blob_key = part_blob_key(upload_id, part_id)
        self.blobs.put(blob_key, stream, "application/octet-stream")
        part = UploadPartRecord(id=part_id, upload_id=upload_id, bytes=size, created_at=self.now(), blob_key=blob_key)
        self.records.put_upload_part(part)
        return part

    def complete(
        self, caller: Caller, upload_id: str, provider: str | None, params: dict[str, Any]
    ) -> tuple[UploadRecord, FileRecord]:
        """The upload made one file: within the request when small, else accepted (the file ``uploaded``) and made
        by the complete_upload job. A retry naming the same parts gets the same answer."""
        part_ids = _part_ids(params.get("part_ids"))
        md5 = _md5(params.get("md5"))
        for _ in range(2):  # once more when another request wrote first: answer from what it left
            record = find_upload(self.records, caller, upload_id, provider)
            if record.status == "completed":  # a retry, after a 504 say
                return record, self._completed_file(caller, record, part_ids)
            claimed = self._claim(caller, record, part_ids, md5)
            if claimed is not None:
                break
        else:
            raise conflict(f"Upload {upload_id!r} is being completed or cancelled by another request.")
        lapsed = self._lapsed_file(record)
        if lapsed is not None:  # a claim whose function died after making the file: only its record is left to write
            completed = self._completed(replace(claimed, part_ids=record.part_ids, md5=record.md5), lapsed)
            if record.part_ids != part_ids:
                raise conflict(f"Cannot complete upload {upload_id!r}: it was completed with other parts.")
            return completed, lapsed
        try:
            file = self._make(caller, claimed)
        except Exception:
            # Refused (a part, a line, the MD5, the provider): pending again, to be completed again. A function
            # killed mid-work runs no handler: its claim lapses with its lease instead.
            released = replace(
                claimed,
                status="pending",
                completing_until=None,
                part_ids=None,
                md5=None,
                sealed_credentials=None,
                version=claimed.version + 1,
            )
            self.records.update_upload(released)
            raise
        return self._completed(claimed, file), file

    def cancel(self, caller: Caller, upload_id: str, provider: str | None) -> UploadRecord:
        record = find_upload(self.records, caller, upload_id, provider)
        self._require_pending(record, "cancel")
        cancelled = replace(record, status="cancelled", version=record.version + 1)
        if not self.records.update_upload(cancelled):
            raise conflict(f"Upload {upload_id!r} is being completed or cancelled by another request.")
        # Its parts' bytes are left to the bucket's lifecycle rule on uploads/ (no list of them is kept:
        # parts may arrive in parallel).
        return cancelled

    def process(self, upload_id: str) -> FileRecord | None:
        """The complete_upload job: an accepted upload's file made as a synchronous complete makes it (assembled,
        MD5- and line-checked, sent to the provider), then ``processed``; what is wrong with it makes it ``error``
        naming it, with nothing of it kept. One run at a time (a claim on the file); none past its lease."""
        upload = self.records.get_upload(upload_id)
        if upload is None or upload.status != "completed" or upload.file_id is None:
            return None
        file = self.records.get_file(upload.file_id)
        if file is None:  # deleted before its job ran
            return self._settle(upload, None)
        if file.status != "uploaded":  # made or failed already
            return file
        if self.now() >= (file.processing_until or 0):
            # Readers have seen it "error" since its lease ran out; what a run that died wrote goes.
            forget_blob(self.blobs, f"files/{file.id}")
            return self._settle(upload, self._fail(file, PROCESSING_UNFINISHED))
        if file.processing_claimed:  # another run is at it (or died: its lease decides)
            return file
        claimed = replace(file, processing_claimed=True, version=file.version + 1)
        if not self.records.update_file(claimed):
            return None
        return self._run(upload, claimed)

    def _require_pending(self, record: UploadRecord, action: str) -> None:
        now = self.now()
        status = record.status_at(now)
        if record.status == "completing" and status == "pending":
            if now < _lease_end(record):
                raise conflict(f"Cannot {action} upload {record.id!r}: it is being completed.")
            # What the interrupted completion made may already be a file: only a complete may settle it.
            raise conflict(
                f"Cannot {action} upload {record.id!r}: its completion was interrupted; complete it again to finish."
            )
        if status != "pending":
            raise conflict(f"Cannot {action} upload {record.id!r}: its status is {status!r}.")

    def _claim(self, caller: Caller, record: UploadRecord, part_ids: list[str], md5: str | None) -> UploadRecord | None:
        """The upload claimed for this complete, for COMPLETING_LEASE_SECONDS; one whose claim lapsed is taken
        over. A large one's claim carries what its job needs: the parts, the MD5, the caller's sealed credentials.
        None: another request (a complete, a cancel) wrote the upload first."""
        now = self.now()
        status = record.status_at(now)
        lease_end = _lease_end(record)
        if record.status == "completing" and status == "pending" and now < lease_end:
            # another request holds the claim: ask again once its lease ends (the SDKs wait for Retry-After)
            raise not_yet(
                f"Upload {record.id!r} is being completed by another request; retry in {lease_end - now} s.",
                retry_after_seconds=lease_end - now,
                code="upload_in_progress",
            )
        if status != "pending":
            raise conflict(f"Cannot complete upload {record.id!r}: its status is {status!r}.")
        # sealed before the claim is written: a vault that fails leaves nothing claimed
        sealed = self.vault.seal(caller.credentials, record.id) if record.bytes > SYNC_COMPLETE_MAX_BYTES else None
        claimed = replace(
            record,
            status="completing",
            completing_until=now + COMPLETING_LEASE_SECONDS,
            part_ids=part_ids,
            md5=md5,
            sealed_credentials=sealed,
            version=record.version + 1,
        )
        if not self.records.update_upload(claimed):  # another complete or a cancel got there first
            return None
        return claimed

    def _lapsed_file(self, record: UploadRecord) -> FileRecord | None:
        """The file a lapsed claim made (its function died before writing the upload), when it got that far."""
        if record.status != "completing" or record.part_ids is None:
            return None
        file = self.records.get_file(upload_file_id(record.id))
        return file if file is not None and file.status == "processed" else None

    def _completed_file(self, caller: Caller, record: UploadRecord, part_ids: list[str]) -> FileRecord:
        """A completed upload's file, for a retry naming the parts it was completed with."""
        if record.file_id is None or record.part_ids != part_ids:
            raise conflict(f"Cannot complete upload {record.id!r}: its status is 'completed'.")
        try:
            file = find_file(self.records, caller, record.file_id, None, now=self.now())
        except GatewayError as exc:
            raise conflict(
                f"Upload {record.id!r} was completed, but its file {record.file_id!r} is gone (deleted or expired)."
            ) from exc
        if file.status == "uploaded" and not file.processing_claimed:
            self.queue.send(COMPLETE_UPLOAD_JOB, record.id)  # its job may have died with the function sending it
        return file

    def _make(self, caller: Caller, claimed: UploadRecord) -> FileRecord:
        """The claimed upload's file: made now when small, else accepted for its job (checked cheaply first)."""
        parts = self._parts(claimed)
        if claimed.bytes > SYNC_COMPLETE_MAX_BYTES:
            return self._accept(claimed)
        return self._register(caller, claimed, parts, self.records.put_file)

    def _accept(self, claimed: UploadRecord) -> FileRecord:
        """A large upload's file as OpenAI shows one not yet usable: ``uploaded``, for PROCESSING_LEASE_SECONDS."""
        created_ns = self.clock()
        created_at = seconds(created_ns)
        expires_after = validation.expires_after(claimed.params.get("expires_after"), "expires_after")
        file_id = upload_file_id(claimed.id)
        accepted = FileRecord(
            id=file_id,
            owner=claimed.owner,
            provider=claimed.provider,
            filename=claimed.filename,
            bytes=claimed.bytes,
            purpose=claimed.purpose,
            created_at=created_at,
            created_ns=created_ns,
            expires_at=created_at + expires_after if expires_after else None,
            status="uploaded",
            blob_key=f"files/{file_id}",
            content_type=claimed.mime_type,
            processing_until=created_at + PROCESSING_LEASE_SECONDS,
            version=1,
        )
        # Written before the upload says "completed" (a retry then finds it); no job runs on it before that.
        self.records.put_file(accepted)
        return accepted

    def _completed(self, claimed: UploadRecord, file: FileRecord) -> UploadRecord:
        completed = replace(
            claimed, status="completed", file_id=file.id, completing_until=None, version=claimed.version + 1
        )
        if not self.records.update_upload(completed):
            # Only a complete that took over after this claim lapsed writes meanwhile, and it finds this file.
            logger.warning("upload %s: completed as %s, but another complete took it over", claimed.id, file.id)
        if file.status == "uploaded":
            self.queue.send(COMPLETE_UPLOAD_JOB, claimed.id)
        else:
            self._delete_parts(completed)
        return completed

    def _parts(self, record: UploadRecord) -> list[UploadPartRecord]:
        """The parts the claim names, in order: each checked to belong to the upload, all adding up to its
        bytes."""
        part_ids = record.part_ids or []
        parts = self.records.get_upload_parts(part_ids)
        for index, part_id in enumerate(part_ids):
            part = parts.get(part_id)
            if part is None or part.upload_id != record.id:
                raise bad_request(
                    f"part_ids[{index}]: no part {part_id!r} was added to upload {record.id!r}.",
                    param="part_ids",
                    code="unknown_part",
                )
        total = sum(parts[part_id].bytes for part_id in part_ids)
        if total != record.bytes:
            raise bad_request(
                f"The parts named add up to {total} bytes, but the upload was created for {record.bytes} bytes.",
                param="part_ids",
                code="bytes_mismatch",
            )
        return [parts[part_id] for part_id in part_ids]

    def _delete_parts(self, record: UploadRecord) -> None:
        """The file holds the bytes now (or failed): the parts go; the lifecycle rule catches what this misses."""
        for part_id in record.part_ids or []:
            forget_blob(self.blobs, part_blob_key(record.id, part_id))

    def _register(
        self,
        caller: Caller,
        record: UploadRecord,
        parts: list[UploadPartRecord],
        store: Callable[[FileRecord], None],
    ) -> FileRecord:
        """The parts made into the upload's file (``store`` writes its record): held in memory when small, else
        assembled in the bucket."""
        if record.bytes <= HELD_UPLOAD_BYTES:
            return self._register_held(caller, record, parts, store)
        return self._register_assembled(caller, record, parts, store)

    def _register_held(
        self,
        caller: Caller,
        record: UploadRecord,
        parts: list[UploadPartRecord],
        store: Callable[[FileRecord], None],
    ) -> FileRecord:
        """A small upload's parts joined in memory, then handled as a direct files.create: checked, sent to the
        provider and kept in our bucket once, with its lifetime known (no object written, read back and
        re-tagged)."""
        held = io.BytesIO()
        for part in parts:
            for chunk in self.blobs.open(part.blob_key):
                held.write(chunk)
        _check_md5(hashlib.md5(held.getbuffer(), usedforsecurity=False).hexdigest(), record.md5)
        held.seek(0)
        return self.files.create(
            caller,
            record.provider,
            stream=held,
            size=record.bytes,
            filename=record.filename,
            content_type=record.mime_type,
            params=record.params,
            file_id=upload_file_id(record.id),
            store=store,
        )

    def _register_assembled(
        self,
        caller: Caller,
        record: UploadRecord,
        parts: list[UploadPartRecord],
        store: Callable[[FileRecord], None],
    ) -> FileRecord:
        """A large upload's parts written as one object while hashed, checked and converted (one pass over its
        lines), then sent to the provider (as converted, else streamed from the bucket), and registered."""
        file_id = upload_file_id(record.id)
        blob_key = f"files/{file_id}"
        expires_after = validation.expires_after(record.params.get("expires_after"), "expires_after")
        writer = self.blobs.writer(blob_key, record.mime_type, blob_expiry_days(expires_after))
        digest = hashlib.md5(usedforsecurity=False)

        def chunks() -> Iterator[bytes]:
            for part in parts:
                for chunk in self.blobs.open(part.blob_key):
                    digest.update(chunk)
                    writer.write(chunk)
                    yield chunk

        with contextlib.ExitStack() as spooled:  # the converted lines, until the provider has them
            try:
                stream = chunks()
                # Held until every chunk is written: the reader closes the chunks when it goes, and a provider
                # whose lines the gateway does not check (or a file of another purpose) reads none of them.
                lines = reader(stream)
                checked = spooled.enter_context(self.files.checked_input(record.provider, record.purpose, lines))
                for _ in stream:  # whatever the check did not need to read is still written
                    pass
                lines.close()
                _check_md5(digest.hexdigest(), record.md5)
                writer.complete()
            except BaseException:
                writer.abort()
                raise
            return self.files.create_from_blob(
                caller,
                record.provider,
                file_id=file_id,
                blob_key=blob_key,
                size=record.bytes,
                filename=record.filename,
                content_type=record.mime_type,
                params=record.params,
                checked=checked,
                store=store,
            )

    # the complete_upload job's steps
    def _run(self, upload: UploadRecord, claimed: FileRecord) -> FileRecord | None:
        """One claimed run: the file made and stored ``processed``; ``error`` for what is wrong with it; released
        and queued again for what may pass."""
        try:
            caller = Caller(upload.owner, self.vault.open(upload.sealed_credentials or "", upload.id))
            made = self._register(caller, upload, self._parts(upload), lambda built: self._store_made(claimed, built))
        except _Lapsed:  # what it made is removed already (FileService drops a file it could not record)
            return self._settle(upload, self._fail(claimed, PROCESSING_UNFINISHED))
        except GatewayError as exc:
            if _passing(exc):
                return self._retry_later(upload, claimed, exc.message)
            return self._settle(upload, self._fail(claimed, exc.message))
        except Exception as exc:
            logger.warning("upload %s: its file could not be made yet", upload.id, exc_info=True)
            return self._retry_later(upload, claimed, type(exc).__name__)
        return self._settle(upload, made)

    def _store_made(self, claimed: FileRecord, built: FileRecord) -> None:
        """The made file's record, written over the claimed one (its creation time kept) while its lease holds."""
        if self.now() >= (claimed.processing_until or 0):
            raise _Lapsed  # readers have seen it "error": it must not turn "processed" now
        made = replace(built, created_at=claimed.created_at, created_ns=claimed.created_ns, version=claimed.version + 1)
        if not self.records.update_file(made):
            raise _Lapsed  # deleted meanwhile

    def _fail(self, file: FileRecord, details: str) -> FileRecord | None:
        failed = replace(
            file,
            status="error",
            status_details=details,
            processing_until=None,
            processing_claimed=False,
            version=file.version + 1,
        )
        return failed if self.records.update_file(failed) else None

    def _retry_later(self, upload: UploadRecord, claimed: FileRecord, reason: str) -> FileRecord | None:
        """The claim released and the job queued again, while its lease leaves room for another run."""
        if self.now() + PROCESSING_RETRY_SECONDS + JOB_RUN_SECONDS < (claimed.processing_until or 0):
            released = replace(claimed, processing_claimed=False, version=claimed.version + 1)
            if self.records.update_file(released):
                self.queue.send(COMPLETE_UPLOAD_JOB, upload.id, delay_seconds=PROCESSING_RETRY_SECONDS)
                return released
        return self._settle(upload, self._fail(claimed, f"Processing failed ({reason}); upload the file again."))

    def _settle(self, upload: UploadRecord, file: FileRecord | None) -> FileRecord | None:
        """The job is over (the file made or failed): the parts and the sealed credentials are not needed now."""
        self._delete_parts(upload)
        if upload.sealed_credentials:
            self.records.update_upload(replace(upload, sealed_credentials=None, version=upload.version + 1))
        return file


def _lease_end(record: UploadRecord) -> int:
    """When a completing claim lapses (claims from before leases held for the upload's hour)."""
    return record.completing_until or record.expires_at


def _passing(exc: GatewayError) -> bool:
    """A failure another run may not meet (the provider's 5xx, a rate limit), unlike what is wrong with the file."""
    return exc.status >= 500 or exc.status in (408, 409, 429)


def _md5(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not MD5_HEX.match(value)):
        raise bad_request("'md5' must be the file's MD5 checksum as 32 hex digits.", param="md5")
    return value.lower() if value else None


def _check_md5(actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected:
        raise bad_request(f"The parts' MD5 is {actual}, not the {expected} given.", param="md5", code="md5_mismatch")


def _part_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise bad_request("'part_ids' must be a non-empty list of part IDs, in file order.", param="part_ids")
    seen: set[str] = set()
    for index, part_id in enumerate(value):
        if not isinstance(part_id, str) or not ids.is_part_id(part_id):
            raise bad_request(
                f"part_ids[{index}]: {part_id!r} is not a part ID.", param="part_ids", code="unknown_part"
            )
        if part_id in seen:
            raise bad_request(f"part_ids[{index}]: {part_id!r} is named twice.", param="part_ids")
        seen.add(part_id)
    return list(value)
