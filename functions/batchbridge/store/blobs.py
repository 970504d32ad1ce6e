"""Blobs in the gateway's S3 bucket: the original bytes of every uploaded file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from batchbridge.aws import EXPIRY_TAG as EXPIRY_TAG  # the store's tag: schema and the tests read it here too
from batchbridge.aws import tagging
from batchbridge.domain.errors import GatewayError

CHUNK_BYTES: Final = 64 * 1024
PART_BYTES: Final = 8 * 1024 * 1024  # above S3's 5 MiB minimum part size
# Sized on purpose: boto3's default (10 threads x 8 MB) would hold ~80 MB per upload in flight.
TRANSFER: Final = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
    use_threads=True,
)
TRANSFER.max_in_memory_upload_chunks = 2  # s3transfer reads 10 chunks ahead otherwise, whatever the concurrency


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        """``client``: an S3 client, or a callable making one on first use (functions that never touch S3
        never pay for creating it: cold start)."""
        self._make = client if callable(client) and not hasattr(client, "get_object") else None
        self._made = None if self._make is not None else client
        self._lock = threading.Lock()  # boto3's default session must not make clients from two threads at once
        self._bucket = bucket

    @property
    def _client(self) -> Any:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    assert self._make is not None
                    self._made = self._make()
        return self._made

    def put(self, key: str, stream: BinaryIO, content_type: str, expire_days: int | None = None) -> None:
        extra = {"ContentType": content_type} | tagging(expire_days)
        size = _remaining(stream)
        if size is not None and size < TRANSFER.multipart_threshold:
            # Small and seekable (every request body): one PUT, without a transfer manager and its threads.
            self._client.put_object(Bucket=self._bucket, Key=key, Body=stream.read(size), **extra)
            return
        self._client.upload_fileobj(_KeepOpen(stream), self._bucket, key, ExtraArgs=extra, Config=TRANSFER)

    def open(self, key: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                # The record outlived its bytes (e.g. removed by a lifecycle rule): say so, don't crash.
                raise GatewayError(404, "The content of this file is no longer stored.", code="content_gone") from None
            raise
        return _chunks(body)

    def open_range(self, key: str, offset: int, length: int) -> Iterator[bytes]:
        if length <= 0:
            return iter(())
        body = self._client.get_object(Bucket=self._bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")
        return _chunks(body["Body"])

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)

    def copy(self, source: str, target: str, expire_days: int | None = None) -> None:
        self._client.copy_object(
            Bucket=self._bucket,
            Key=target,
            CopySource={"Bucket": self._bucket, "Key": source},
            TaggingDirective="REPLACE",  # the copy's own expiry, not its source's
            **tagging(expire_days),
        )

    def set_expiry(self, key: str, expire_days: int | None) -> None:
        if expire_days is not None:
            tags = [{"Key": EXPIRY_TAG, "Value": str(expire_days)}]
            self._client.put_object_tagging(Bucket=self._bucket, Key=key, Tagging={"TagSet": tags})

    def writer(self, key: str, content_type: str, expire_days: int | None = None) -> S3MultipartWriter:
        return S3MultipartWriter(self._client, self._bucket, key, content_type, expire_days)

    def download_url(self, key: str, *, filename: str, expires_seconds: int) -> str:
        safe_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{safe_name}"',
            },
            ExpiresIn=expires_seconds,
        )
        return url


class S3MultipartWriter:
    """Writes one S3 object from bytes given in order: parts of at least PART_BYTES (S3 wants 5 MiB but for the
    last), so memory holds about one part whatever the object's size; a small object is a single PUT."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str, expire_days: int | None = None) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._tagging = tagging(expire_days)
        self._pending: list[bytes] = []  # joined once per part: no growing buffer, no slice copies
        self._pending_bytes = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= PART_BYTES:
            self._send(self._take())

    def complete(self) -> None:
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=self._take(), ContentType=self._content_type, **self._tagging
            )
        else:
            if self._pending_bytes:
                self._send(self._take())
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )

    def abort(self) -> None:
        self._take()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None

    def _take(self) -> bytes:
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        return data

    def _send(self, part: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type, **self._tagging
            )
            self._upload_id = str(started["UploadId"])
        number = len(self._parts) + 1
        sent = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})


def _remaining(stream: BinaryIO) -> int | None:
    """Bytes from the stream's position to its end, when it can seek; None otherwise."""
    try:
        if not stream.seekable():
            return None
        position = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return None
    return end - position


class _KeepOpen:
    """The caller's stream, minus close: s3transfer closes what it uploads, the caller reads it again."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        """Left open on purpose: the caller owns the stream."""


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()
