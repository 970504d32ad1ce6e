"""Where Bedrock input is staged in S3, and the checks that keep a tenant from steering it.

A tenant may name a key prefix (``storage_config.s3.prefix``) and an output location (``output_s3_uri``). Both
become parts of S3 keys the gateway later deletes or reads, so they are checked here once: S3-safe characters
only, no ``..``, no leading ``/`` (nothing ``urlparse`` or S3 would read differently from what was written).
A staged object's location is kept as a bucket and a key, never re-read from a URI, and every delete or read
checks the key is the one its file wrote (``…/{file_id}/input.jsonl``). A part of a batch split into several
Bedrock jobs is staged beside its file's input (``…/{file_id}/input-part-{n}.jsonl`` and its record-ID map): a key
counts as a part's only in a folder that holds a file's own input. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from batchbridge.domain.errors import bad_request
from batchbridge.domain.ids import FILE_ID

MAX_PREFIX_BYTES: Final = 256
SAFE_PREFIX: Final = re.compile(r"^[A-Za-z0-9._/-]*\Z")
BUCKET_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
INPUT_NAME: Final = "input.jsonl"
RECORD_IDS_NAME: Final = "record_ids.json"
# A part's records and their record-ID map, beside its file's input (``part_objects``)
PART_NAMES: Final = re.compile(r"^(input-part-[0-9]{1,7}\.jsonl|record_ids-part-[0-9]{1,7}\.json)\Z")


def check_prefix(value: str, param: str) -> str:
    """A key prefix from a request, checked; returned without the slashes at its end. Anything S3 or a URI parser
    could read as something else is a 400 naming ``param``."""
    if len(value.encode()) > MAX_PREFIX_BYTES:
        raise bad_request(f"{param} is longer than {MAX_PREFIX_BYTES} bytes.", param=param, code="invalid_prefix")
    if not SAFE_PREFIX.match(value):
        raise bad_request(
            f"{param} may hold letters, digits and '-', '_', '.', '/' only (no '?', '#', '%', spaces or control "
            "characters).",
            param=param,
            code="invalid_prefix",
        )
    if value.startswith("/"):
        raise bad_request(f"{param} must not start with '/'.", param=param, code="invalid_prefix")
    if ".." in value:
        raise bad_request(f"{param} must not contain '..'.", param=param, code="invalid_prefix")
    return value.rstrip("/")


def split_s3_uri(uri: str, param: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix), both checked (a 400 naming ``param`` otherwise); never through
    ``urlparse``, which would cut a key at ``?`` or ``#``."""
    if not uri.startswith("s3://"):
        raise bad_request(f"{param} must be an s3:// URI.", param=param, code="invalid_s3_uri")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not BUCKET_NAME.match(bucket):
        raise bad_request(f"{param} names {bucket!r}, which is not an S3 bucket name.", param=param)
    return bucket, check_prefix(prefix, param)


@dataclass(frozen=True)
class StagedObject:
    """An object the gateway wrote in S3: its bucket and key, as written."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def staged_input(bucket: str, prefix: str, file_id: str) -> StagedObject:
    """Where a file's converted input goes: ``{prefix}/{file_id}/input.jsonl`` (``prefix`` checked before)."""
    return StagedObject(bucket, f"{prefix}/{file_id}/{INPUT_NAME}" if prefix else f"{file_id}/{INPUT_NAME}")


def is_staged_input_of(staged: StagedObject, file_id: str) -> bool:
    """Whether ``staged`` is the input object ``file_id`` wrote: its key ends in ``/{file_id}/input.jsonl`` under a
    prefix that passes the checks (so it can be a file's own objects only, whatever a record says)."""
    if not BUCKET_NAME.match(staged.bucket):
        return False
    own = f"{file_id}/{INPUT_NAME}"
    if staged.key == own:
        return True
    prefix, found, rest = staged.key.rpartition("/" + own)
    if not found or rest or not prefix:
        return False
    return bool(SAFE_PREFIX.match(prefix)) and ".." not in prefix and not prefix.startswith("/")


def record_ids_of(staged: StagedObject) -> StagedObject:
    """The record-ID map written beside a staged input (same folder)."""
    folder = staged.key[: -len(INPUT_NAME)]
    return StagedObject(staged.bucket, folder + RECORD_IDS_NAME)


def nested(root: str, prefix: str) -> str:
    """A tenant's prefix inside one of the gateway's own areas of its bucket (``root``): the gateway writes its bucket
    only there, and its IAM policies grant no more."""
    return f"{root}/{prefix}" if prefix else root


def part_objects(staged: StagedObject, number: int) -> tuple[StagedObject, StagedObject]:
    """Where part ``number`` of a batch on the file staged at ``staged`` has its records staged, and their record-ID
    map: beside the file's input, in its folder."""
    folder = staged.key[: -len(INPUT_NAME)]
    return (
        StagedObject(staged.bucket, f"{folder}input-part-{number}.jsonl"),
        StagedObject(staged.bucket, f"{folder}record_ids-part-{number}.json"),
    )


def is_part_object(staged: StagedObject, file_id: str | None = None) -> bool:
    """Whether ``staged`` is a part's records or map (``part_objects``) in the folder of a file's own input (of
    ``file_id``; None: any file's, its folder named as a file ID)."""
    folder, _, name = staged.key.rpartition("/")
    owner = folder.rpartition("/")[2]
    if not PART_NAMES.match(name) or not FILE_ID.match(owner) or (file_id is not None and owner != file_id):
        return False
    return is_staged_input_of(StagedObject(staged.bucket, f"{folder}/{INPUT_NAME}"), owner)
