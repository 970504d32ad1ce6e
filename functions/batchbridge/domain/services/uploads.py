"""The OpenAI Uploads API: a file sent in parts (each within the Lambda payload limit), assembled in our bucket
and then registered as a normal file of the chosen provider — checked, converted and forwarded as a direct upload
is, streamed from the bucket (a small one is joined in memory and goes the direct upload's way)."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Final

from batchbridge.domain import ids, validation
from batchbridge.domain.errors import GatewayError, bad_request, conflict, not_found
from batchbridge.domain.ports import BlobStore, RecordStore
from batchbridge.domain.records import UPLOAD_TTL_SECONDS, FileRecord, UploadPartRecord, UploadRecord, blob_expiry_days
from batchbridge.domain.services.files import Caller, FileService
from batchbridge.domain.streams import reader

logger = logging.getLogger(__name__)
MAX_PART_BYTES: Final = 64 * 1024 * 1024  # OpenAI's part limit (behind Lambda, the request limit comes first)
MAX_UPLOAD_BYTES: Final = 8 * 1024 * 1024 * 1024  # OpenAI's limit for a whole Upload
MD5_HEX: Final = re.compile(r"^[0-9a-fA-F]{32}\Z")
# An upload up to this size is joined in memory and handled as a direct files.create; a larger one is assembled
# in the bucket and streamed from there (memory stays flat whatever the size).
HELD_UPLOAD_BYTES: Final = 8 * 1024 * 1024


def find_upload(records: RecordStore, caller: Caller, upload_id: str, provider: str | None) -> UploadRecord:
    record = records.get_upload(upload_id) if ids.is_upload_id(upload_id) else None
    if record is None or record.owner != caller.owner or (provider is not None and provider != record.provider):
        raise not_found("upload", upload_id)
    return record


@dataclass
class UploadService:
    records: RecordStore
    blobs: BlobStore
    files: FileService
    clock: Callable[[], int]  # nanoseconds since the epoch

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
        validation.file_size(size, purpose)
        validation.expires_after(params.get("expires_after"), "expires_after")
        self.files.providers.check(provider)
        now = self.clock() // 1_000_000_000
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
        blob_key = f"uploads/{upload_id}/{part_id}"
        self.blobs.put(blob_key, stream, "application/octet-stream")
        part = UploadPartRecord(
            id=part_id, upload_id=upload_id, bytes=size, created_at=self.clock() // 1_000_000_000, blob_key=blob_key
        )
        self.records.put_upload_part(part)
        return part

    def complete(
        self, caller: Caller, upload_id: str, provider: str | None, params: dict[str, Any]
    ) -> tuple[UploadRecord, FileRecord]:
        part_ids = _part_ids(params.get("part_ids"))
        md5 = params.get("md5")
        if md5 is not None and (not isinstance(md5, str) or not MD5_HEX.match(md5)):
            raise bad_request("'md5' must be the file's MD5 checksum as 32 hex digits.", param="md5")
        record = find_upload(self.records, caller, upload_id, provider)
        self._require_pending(record, "complete")
        claimed = replace(record, status="completing", version=record.version + 1)
        if not self.records.update_upload(claimed):  # another complete or a cancel got there first
            raise conflict(f"Upload {upload_id!r} is being completed or cancelled by another request.")
        try:
            file = self._assemble(caller, claimed, part_ids, md5.lower() if md5 else None)
        except BaseException:
            self.records.update_upload(replace(claimed, status="pending", version=claimed.version + 1))
            raise
        completed = replace(claimed, status="completed", file_id=file.id, version=claimed.version + 1)
        if not self.records.update_upload(completed):
            logger.error("upload %s: completed as %s, but its record could not say so", upload_id, file.id)
        return completed, file

    def cancel(self, caller: Caller, upload_id: str, provider: str | None) -> UploadRecord:
        record = find_upload(self.records, caller, upload_id, provider)
        self._require_pending(record, "cancel")
        cancelled = replace(record, status="cancelled", version=record.version + 1)
        if not self.records.update_upload(cancelled):
            raise conflict(f"Upload {upload_id!r} is being completed or cancelled by another request.")
        # Its parts' bytes are left to the bucket's lifecycle rule on uploads/ (no list of them is kept:
        # parts may arrive in parallel).
        return cancelled

    def now(self) -> int:
        return self.clock() // 1_000_000_000

    def _require_pending(self, record: UploadRecord, action: str) -> None:
        status = record.status_at(self.now())
        if record.status == "completing" and status == "pending":
            raise conflict(f"Cannot {action} upload {record.id!r}: it is being completed.")
        if status != "pending":
            raise conflict(f"Cannot {action} upload {record.id!r}: its status is {status!r}.")

    def _assemble(self, caller: Caller, record: UploadRecord, part_ids: list[str], md5: str | None) -> FileRecord:
        """The parts, in the order named (each checked to belong to the upload, all adding up to its bytes), made
        into a file: held in memory when small, else assembled in the bucket."""
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
        ordered = [parts[part_id] for part_id in part_ids]
        if total <= HELD_UPLOAD_BYTES:
            file = self._register_held(caller, record, ordered, total, md5)
        else:
            file = self._register_assembled(caller, record, ordered, total, md5)
        for part_id in part_ids:  # the file holds the bytes now; the lifecycle rule catches what this misses
            try:
                self.blobs.delete(parts[part_id].blob_key)
            except Exception:
                logger.warning("could not delete part %s", part_id, exc_info=True)
        return file

    def _register_held(
        self, caller: Caller, record: UploadRecord, parts: list[UploadPartRecord], total: int, md5: str | None
    ) -> FileRecord:
        """A small upload's parts joined in memory, then handled as a direct files.create: checked, sent to the
        provider and kept in our bucket once, with its lifetime known (no object written, read back and
        re-tagged)."""
        held = io.BytesIO()
        for part in parts:
            for chunk in self.blobs.open(part.blob_key):
                held.write(chunk)
        _check_md5(hashlib.md5(held.getbuffer(), usedforsecurity=False).hexdigest(), md5)
        held.seek(0)
        return self.files.create(
            caller,
            record.provider,
            stream=held,
            size=total,
            filename=record.filename,
            content_type=record.mime_type,
            params=record.params,
        )

    def _register_assembled(
        self, caller: Caller, record: UploadRecord, parts: list[UploadPartRecord], total: int, md5: str | None
    ) -> FileRecord:
        """A large upload's parts written as one object while hashed and checked, then sent to the provider
        streamed from the bucket, and registered."""
        file_id = ids.new_file_id()
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

        try:
            stream = chunks()
            summary = self.files.check_input(record.provider, record.purpose, reader(stream))
            for _ in stream:  # whatever the check did not need to read is still written
                pass
            _check_md5(digest.hexdigest(), md5)
            writer.complete()
        except BaseException:
            writer.abort()
            raise
        return self.files.create_from_blob(
            caller,
            record.provider,
            file_id=file_id,
            blob_key=blob_key,
            size=total,
            filename=record.filename,
            content_type=record.mime_type,
            params=record.params,
            summary=summary,
        )


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
