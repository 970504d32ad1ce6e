"""Blobs in the gateway's S3 bucket: the original bytes of every uploaded file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from batchbridge.domain.errors import GatewayError

CHUNK_BYTES: Final = 64 * 1024
# Sized on purpose: boto3's default (10 threads x 8 MB) would hold ~80 MB per upload in flight.
TRANSFER: Final = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
    use_threads=True,
)


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, stream: BinaryIO, content_type: str) -> None:
        self._client.upload_fileobj(
            _KeepOpen(stream), self._bucket, key, ExtraArgs={"ContentType": content_type}, Config=TRANSFER
        )

    def open(self, key: str) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                # The record outlived its bytes (e.g. removed by a lifecycle rule): say so, don't crash.
                raise GatewayError(404, "The content of this file is no longer stored.", code="content_gone") from None
            raise
        return _chunks(body)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)


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
