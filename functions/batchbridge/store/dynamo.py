"""What every DynamoDB store here does alike: read many items by key, and write on a condition (telling a lost
condition from a failure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from botocore.exceptions import ClientError

BATCH_GET_KEYS: Final = 100  # BatchGetItem's limit per call


def is_conditional_failure(exc: ClientError) -> bool:
    """A write whose condition did not hold (another writer won, or the item is there already)."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def written(write: Callable[..., Any], **request: Any) -> bool:
    """Make a conditional write, ``write(**request)``; False when its condition did not hold, other failures
    raised."""
    try:
        write(**request)
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def batch_get(client: Any, table: str, pks: Iterable[str], projection: str | None = None) -> Iterator[dict[str, Any]]:
    """The stored items among ``pks`` (strongly consistent; those absent are left out, in no particular order),
    read BATCH_GET_KEYS at a time, keys DynamoDB left unprocessed asked again."""
    wanted = list(dict.fromkeys(pks))
    for start in range(0, len(wanted), BATCH_GET_KEYS):
        keys: list[dict[str, Any]] = [{"pk": {"S": pk}} for pk in wanted[start : start + BATCH_GET_KEYS]]
        while keys:
            request: dict[str, Any] = {"Keys": keys, "ConsistentRead": True}
            if projection is not None:
                request["ProjectionExpression"] = projection
            response = client.batch_get_item(RequestItems={table: request})
            yield from response.get("Responses", {}).get(table, [])
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])


BATCH_WRITE_ITEMS: Final = 25  # BatchWriteItem's limit per call


def batch_delete(client: Any, table: str, pks: Iterable[str]) -> None:
    """Delete the items ``pks`` (those absent are no error), BATCH_WRITE_ITEMS at a time, requests DynamoDB left
    unprocessed sent again."""
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        requests = pending[:]
        pending.clear()
        while requests:
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])

    for pk in pks:
        pending.append({"DeleteRequest": {"Key": {"pk": {"S": pk}}}})
        if len(pending) == BATCH_WRITE_ITEMS:
            flush()
    if pending:
        flush()
