"""File and batch records in one DynamoDB table (key ``pk``; GSI ``by_owner`` serves lists)."""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar, cast

from batchbridge.domain.ports import Delivery, Page
from batchbridge.domain.records import UPLOAD_TTL_SECONDS, BatchRecord, FileRecord, UploadPartRecord, UploadRecord
from batchbridge.store.dynamo import batch_get, written

OWNER_INDEX: Final = "by_owner"
ACTIVE_INDEX: Final = "active_batches"  # sparse: only batches not yet final carry ``active``
# ``active`` is one of this many shards (the batch's), so no single partition key takes every write of the index.
# Items written as "1" before sharding are shard 1's.
ACTIVE_SHARDS: Final = 16


def _decoded(cls: type[T], item: dict[str, Any]) -> T:
    """The record an item holds, keeping only the fields ``cls`` has: a record written by a later release (with
    fields this one does not know) still reads, so a rollback never turns stored objects into errors."""
    values = json.loads(item["record"]["S"])
    if cls is BatchRecord:
        return cast(T, BatchRecord.from_stored(values))  # and an earlier release's, with no jobs
    known = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: value for name, value in values.items() if name in known})


def active_shard(batch_id: str) -> str:
    return str(zlib.crc32(batch_id.encode()) % ACTIVE_SHARDS)


UPLOAD_RECORD_GRACE_SECONDS: Final = 86_400
TOMBSTONE_SECONDS: Final = 7 * 86_400
R = TypeVar("R", FileRecord, BatchRecord)
T = TypeVar("T")


def _sort_key(record: FileRecord | BatchRecord) -> str:
    # Zero-padded so string order is creation order; the ID breaks (unlikely) ties.
    created_ns = record.created_ns or record.created_at * 1_000_000_000
    return f"{created_ns:021d}#{record.id}"


def _item(pk: str, kind: str, record: FileRecord | BatchRecord) -> dict[str, Any]:
    return {
        "pk": {"S": pk},
        "kind": {"S": kind},
        "owner_kind": {"S": f"{record.owner}#{kind}"},
        "sort_key": {"S": _sort_key(record)},
        "record": {"S": json.dumps(_stored(record), separators=(",", ":"))},
    }


def _stored(record: FileRecord | BatchRecord) -> dict[str, Any]:
    return record.stored() if isinstance(record, BatchRecord) else dataclasses.asdict(record)


def _file_item(record: FileRecord) -> dict[str, Any]:
    item = _item(f"FILE#{record.id}", "file", record)
    item["version"] = {"N": str(record.version)}  # the condition of update_file (a file being processed)
    if record.expires_at is not None:  # the table's TTL attribute: DynamoDB removes the record after it
        item["expiration"] = {"N": str(record.expires_at)}
    return item


def _plain_item(
    pk: str, kind: str, record: Any, version: int | None = None, expiration: int | None = None
) -> dict[str, Any]:
    """An item read by key only (no list index); ``expiration``: when DynamoDB may remove it (the table's TTL)."""
    item = {
        "pk": {"S": pk},
        "kind": {"S": kind},
        "record": {"S": json.dumps(dataclasses.asdict(record), separators=(",", ":"))},
    }
    if version is not None:
        item["version"] = {"N": str(version)}
    if expiration is not None:
        item["expiration"] = {"N": str(expiration)}
    return item


def _upload_item(record: UploadRecord) -> dict[str, Any]:
    # an Upload ends an hour after it began (completed, cancelled or expired): its record goes a day after that
    expiration = record.expires_at + UPLOAD_RECORD_GRACE_SECONDS
    return _plain_item(f"UPLOAD#{record.id}", "upload", record, record.version, expiration)


def _batch_item(record: BatchRecord) -> dict[str, Any]:
    item = _item(f"BATCH#{record.id}", "batch", record)
    item["version"] = {"N": str(record.version)}
    if not record.is_terminal or record.notify_pending or record.release_pending:
        item["active"] = {"S": active_shard(record.id)}
    if record.creating:  # an intent: out of the owner index, so no list shows it (the sweeper's index keeps it)
        del item["owner_kind"]
    return item


class DynamoRecordStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # files
    def put_file(self, record: FileRecord) -> None:
        self._client.put_item(TableName=self._table, Item=_file_item(record))

    def put_file_if_absent(self, record: FileRecord) -> bool:
        return written(
            self._client.put_item,
            TableName=self._table,
            Item=_file_item(record),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def update_file(self, record: FileRecord) -> bool:
        """Write ``record`` if the stored version is ``record.version - 1`` and the file is not deleted (a
        tombstone keeps its version: a write on the version read would bring it back)."""
        return written(
            self._client.put_item,
            TableName=self._table,
            Item=_file_item(record),
            ConditionExpression="version = :previous AND attribute_not_exists(deleted_at)",
            ExpressionAttributeValues={":previous": {"N": str(record.version - 1)}},
        )

    def get_file(self, file_id: str, *, include_deleted: bool = False) -> FileRecord | None:
        item = self._get(f"FILE#{file_id}")
        if item is None or ("deleted_at" in item and not include_deleted):
            return None
        return _decoded(FileRecord, item)

    def delete_file(self, record: FileRecord, deleted_at: int) -> None:
        # A tombstone, out of the owner index: gone for every read, but still a valid list cursor (for a week,
        # or till the file's own expiry: an auto-pager holds a cursor for minutes).
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"FILE#{record.id}"}},
            UpdateExpression="SET deleted_at = :now, expiration = if_not_exists(expiration, :later) "
            "REMOVE owner_kind, sort_key",
            ExpressionAttributeValues={
                ":now": {"N": str(deleted_at)},
                ":later": {"N": str(deleted_at + TOMBSTONE_SECONDS)},
            },
        )

    def list_files(
        self,
        owner: str,
        *,
        order: str,
        after: FileRecord | None,
        limit: int,
        keep: Callable[[FileRecord], bool],
    ) -> Page[FileRecord]:
        return self._list(FileRecord, f"{owner}#file", order=order, after=after, limit=limit, keep=keep)

    # batches
    def put_batch(self, record: BatchRecord) -> None:
        self._client.put_item(
            TableName=self._table, Item=_batch_item(record), ConditionExpression="attribute_not_exists(pk)"
        )

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        item = self._get(f"BATCH#{batch_id}")
        return None if item is None else _decoded(BatchRecord, item)

    def update_batch(self, record: BatchRecord) -> bool:
        return self._put_next_version(_batch_item(record), record.version)

    def delete_batch(self, record: BatchRecord) -> bool:
        """Remove ``record`` if nobody wrote since it was read; False if another writer won."""
        return written(
            self._client.delete_item,
            TableName=self._table,
            Key={"pk": {"S": f"BATCH#{record.id}"}},
            ConditionExpression="version = :read",
            ExpressionAttributeValues={":read": {"N": str(record.version)}},
        )

    def list_batches(
        self,
        owner: str,
        *,
        order: str,
        after: BatchRecord | None,
        limit: int,
        keep: Callable[[BatchRecord], bool],
    ) -> Page[BatchRecord]:
        return self._list(BatchRecord, f"{owner}#batch", order=order, after=after, limit=limit, keep=keep)

    def list_active_batches(self, start: int = 0) -> Iterator[BatchRecord]:
        for offset in range(ACTIVE_SHARDS):
            shard = (start + offset) % ACTIVE_SHARDS
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": ACTIVE_INDEX,
                "KeyConditionExpression": "active = :active",
                "ExpressionAttributeValues": {":active": {"S": str(shard)}},
            }
            while True:
                response = self._client.query(**request)
                for item in response.get("Items", []):
                    yield _decoded(BatchRecord, item)
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # webhook deliveries
    def put_delivery(self, delivery: Delivery) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"DELIVERY#{delivery.event_id}"},
                "kind": {"S": "delivery"},
                "record": {"S": json.dumps(dataclasses.asdict(delivery), separators=(",", ":"))},
            },
        )

    def get_delivery(self, event_id: str) -> Delivery | None:
        item = self._get(f"DELIVERY#{event_id}")
        return None if item is None else _decoded(Delivery, item)

    # uploads: one item each, and one per part (parts may arrive in parallel: no shared item to contend on)
    def put_upload(self, record: UploadRecord) -> None:
        self._client.put_item(TableName=self._table, Item=_upload_item(record))

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        item = self._get(f"UPLOAD#{upload_id}")
        return None if item is None else _decoded(UploadRecord, item)

    def update_upload(self, record: UploadRecord) -> bool:
        return self._put_next_version(_upload_item(record), record.version)

    def put_upload_part(self, part: UploadPartRecord) -> None:
        # a part is of use while its upload is (an hour), its record a day past that at the latest
        expiration = part.created_at + UPLOAD_TTL_SECONDS + UPLOAD_RECORD_GRACE_SECONDS
        self._client.put_item(
            TableName=self._table, Item=_plain_item(f"UPLOADPART#{part.id}", "upload_part", part, None, expiration)
        )

    def get_upload_parts(self, part_ids: list[str]) -> dict[str, UploadPartRecord]:
        items = batch_get(self._client, self._table, (f"UPLOADPART#{part_id}" for part_id in part_ids))
        parts = (_decoded(UploadPartRecord, item) for item in items)
        return {part.id: part for part in parts}

    # shared
    def _put_next_version(self, item: dict[str, Any], version: int) -> bool:
        """Write ``item`` (at ``version``) if the stored one is at ``version - 1``; False if another writer won."""
        return written(
            self._client.put_item,
            TableName=self._table,
            Item=item,
            ConditionExpression="version = :previous",
            ExpressionAttributeValues={":previous": {"N": str(version - 1)}},
        )

    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _list(
        self,
        cls: type[R],
        owner_kind: str,
        *,
        order: str,
        after: R | None,
        limit: int,
        keep: Callable[[R], bool],
    ) -> Page[R]:
        condition = "owner_kind = :owner_kind"
        values: dict[str, Any] = {":owner_kind": {"S": owner_kind}}
        if after is not None:
            condition += " AND sort_key > :after" if order == "asc" else " AND sort_key < :after"
            values[":after"] = {"S": _sort_key(after)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": order == "asc",
        }
        items: list[R] = []
        while True:
            # One more than asked for tells whether there is more.
            response = self._client.query(**request, Limit=min(limit + 1 - len(items), 1000))
            for item in response.get("Items", []):
                record = _decoded(cls, item)
                if keep(record):
                    items.append(record)
            if len(items) > limit or "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return Page(items=items[:limit], has_more=len(items) > limit)
