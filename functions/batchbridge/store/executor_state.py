"""The executor's state (``domain.executor``: the batches the gateway runs itself), in the records table: one
``COMPAT#{batch}`` item (status, per-chunk counters, which chunk runs and when the counts last moved) and one
``COMPATRESULT#{batch}#{index}`` item per answered request (the keys and the ``kind`` values keep the names of the
first release: items it wrote are read as they are).

A result is written only if none is stored yet (a redelivered chunk's request is stored once), then counted with
an atomic ADD on its chunk's counter; a chunk's worker recounts its chunk from the stored results when it starts
and when it ends (SET), so a count a crash skipped between the two writes is made good. (One transaction would
do both at once, but moto — the embedded store of `serve` — copies its whole table per transaction.)

Answers are the tenant's data: the finalizer deletes them once they are the batch's output files
(``delete_results``), and every item carries the table's TTL attribute (``expiration``) as a safety net.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from batchbridge.domain.executor.ports import RunState
from batchbridge.store.dynamo import BATCH_GET_KEYS, batch_delete, batch_get, written

# Past the batch's 24 h window, a self-run batch's items go after this long at the latest (the finalizer removes
# its answers much sooner): room for a finalizer that keeps failing to finish.
RETENTION_SECONDS: Final = 7 * 24 * 3600


def _counter(item: dict[str, Any], prefix: str) -> dict[int, int]:
    return {int(name[len(prefix) :]): int(value["N"]) for name, value in item.items() if name.startswith(prefix)}


def _state(item: dict[str, Any]) -> RunState:
    completed, failed = _counter(item, "completed_"), _counter(item, "failed_")
    return RunState(
        batch_id=item["batch_id"]["S"],
        status=item["status"]["S"],
        endpoint_name=item["endpoint_name"]["S"],
        total=int(item["total"]["N"]),
        chunks=int(item["chunks"]["N"]),
        created_at=int(item["created_at"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
        completed=sum(completed.values()),
        failed=sum(failed.values()),
        ended_at=int(item["ended_at"]["N"]) if "ended_at" in item else None,
        cancel_requested="cancel_requested" in item,
        progressed_at=float(item["progressed_at"]["N"] if "progressed_at" in item else item["created_at"]["N"]),
        running_chunk=_chunk_or_none(item.get("running_chunk")),
        answered={n: completed.get(n, 0) + failed.get(n, 0) for n in set(completed) | set(failed)},
    )


class DynamoChunkStore:
    """The executor's ChunkStore (domain.executor.ports) in the records table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def create(self, state: RunState) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": _state_pk(state.batch_id)},
                "kind": {"S": "compat"},
                "batch_id": {"S": state.batch_id},
                "status": {"S": state.status},
                "endpoint_name": {"S": state.endpoint_name},
                "total": {"N": str(state.total)},
                "chunks": {"N": str(state.chunks)},
                "created_at": {"N": str(state.created_at)},
                "expires_at": {"N": str(state.expires_at)},
                "progressed_at": {"N": str(state.created_at)},
                "queued_chunk": {"N": "0"},
                "running_chunk": {"N": NONE},
                "expiration": {"N": str(state.expires_at + RETENTION_SECONDS)},
                # the counters from the start: counting changes values, not the item's shape (which a reader
                # of the embedded store's in-process DynamoDB could meet half-changed)
                **{f"{kind}_{chunk}": {"N": "0"} for chunk in range(state.chunks) for kind in ("completed", "failed")},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, batch_id: str) -> RunState | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": _state_pk(batch_id)}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _state(item)

    def request_cancel(self, batch_id: str) -> None:
        """Ask the running chunks to stop (a batch that already ended keeps its end)."""
        written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET cancel_requested = :yes, #status = :cancelling",
            ConditionExpression="#status = :running",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":yes": {"BOOL": True},
                ":cancelling": {"S": "cancelling"},
                ":running": {"S": "in_progress"},
            },
        )

    def end(self, batch_id: str, status: str, at: int, *, unless_running: bool = False) -> bool:
        """Record how the batch ended, once (a later end does not overwrite the first). ``unless_running``: only
        while no worker runs a chunk of it (that one ends it once its requests in flight are answered). Whether it
        was written."""
        condition = "attribute_not_exists(ended_at)"
        if unless_running:
            condition += " AND (attribute_not_exists(running_chunk) OR running_chunk = :none)"
        return written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET #status = :status, ended_at = :at",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":at": {"N": str(at)}}
            | ({":none": {"N": NONE}} if unless_running else {}),
        )

    def start_chunk(self, batch_id: str, chunk: int, at: float) -> bool:
        """A worker starts running ``chunk``, if the batch runs on (neither ended nor asked to cancel): whether it
        may. One write: a cancel that came first stops it, a cancel that comes after sees it running."""
        return written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET running_chunk = :chunk, progressed_at = :at",
            ConditionExpression="#status = :running AND attribute_not_exists(cancel_requested)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":chunk": {"N": str(chunk)},
                ":at": {"N": _seconds(at)},
                ":running": {"S": "in_progress"},
            },
        )

    def beat(self, batch_id: str, at: float) -> None:
        """The worker of a running chunk is alive (between answers, which say so themselves)."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET progressed_at = :at",
            ExpressionAttributeValues={":at": {"N": _seconds(at)}},
        )

    def finish_chunk(self, batch_id: str, chunk: int, at: float) -> None:
        """The worker of ``chunk`` is done with it (if another chunk's worker took over since, that one stays)."""
        written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET progressed_at = :at, running_chunk = :none",
            ConditionExpression="running_chunk = :chunk",
            ExpressionAttributeValues={":chunk": {"N": str(chunk)}, ":at": {"N": _seconds(at)}, ":none": {"N": NONE}},
        )

    def claim_restart(self, batch_id: str, seen_progress: float, at: float, chunk: int) -> bool:
        """Mark a stalled batch as restarted now from ``chunk``, if its progress is still what was seen (so one of
        several sweepers restarts it); False when something moved meanwhile."""
        return written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET progressed_at = :at, queued_chunk = :chunk, running_chunk = :none",
            # (an item from before progress was kept has none: it is as old as the batch)
            ConditionExpression="progressed_at = :seen OR attribute_not_exists(progressed_at)",
            ExpressionAttributeValues={
                ":seen": {"N": _seconds(seen_progress)},
                ":at": {"N": _seconds(at)},
                ":chunk": {"N": str(chunk)},
                ":none": {"N": NONE},
            },
        )

    def advance(self, batch_id: str, done: int, following: int) -> bool:
        """The chain moves from chunk ``done`` to ``following``, once: of two runs of one chunk (a resend), only
        the first to finish queues the next, so chains never fork."""
        return written(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET queued_chunk = :following",
            ConditionExpression="queued_chunk = :done OR attribute_not_exists(queued_chunk)",
            ExpressionAttributeValues={":done": {"N": str(done)}, ":following": {"N": str(following)}},
        )

    def put_result(self, batch_id: str, index: int, line: str, ok: bool, expires_at: int) -> bool:
        """Store request ``index``'s output line (its JSON, at most the executor's RESULT_MAX_BYTES) unless one is
        stored; False if it was. ``expires_at``: the batch's; the item goes RETENTION_SECONDS after it at the
        latest."""
        return written(
            self._client.put_item,
            TableName=self._table,
            Item={
                "pk": {"S": _result_pk(batch_id, index)},
                "kind": {"S": "compat_result"},
                "ok": {"BOOL": ok},
                "line": {"S": line},
                "expiration": {"N": str(expires_at + RETENTION_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def count(self, batch_id: str, chunk: int, ok: bool, at: float) -> None:
        """One more answered request in ``chunk`` (atomic); the batch has progressed."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="ADD #counter :one SET progressed_at = :at",
            ExpressionAttributeNames={"#counter": f"{'completed' if ok else 'failed'}_{chunk}"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":at": {"N": _seconds(at)}},
        )

    def set_counts(self, batch_id: str, chunk: int, completed: int, failed: int) -> None:
        """``chunk``'s counters, recounted from its stored results."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": _state_pk(batch_id)}},
            UpdateExpression="SET #completed = :completed, #failed = :failed",
            ExpressionAttributeNames={"#completed": f"completed_{chunk}", "#failed": f"failed_{chunk}"},
            ExpressionAttributeValues={":completed": {"N": str(completed)}, ":failed": {"N": str(failed)}},
        )

    def answered(self, batch_id: str, indexes: list[int]) -> dict[int, bool]:
        """Which of ``indexes`` have a stored result, and whether each was a success."""
        items = batch_get(self._client, self._table, (_result_pk(batch_id, index) for index in indexes), "pk, ok")
        return {int(item["pk"]["S"].rsplit("#", 1)[1]): bool(item["ok"]["BOOL"]) for item in items}

    def results(self, batch_id: str, indexes: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """The stored lines of ``indexes`` (those answered), in the order given, BATCH_GET_KEYS at a time."""
        for start in range(0, len(indexes), BATCH_GET_KEYS):
            wanted = indexes[start : start + BATCH_GET_KEYS]
            found = {
                item["pk"]["S"]: item["line"]["S"]
                for item in batch_get(self._client, self._table, (_result_pk(batch_id, index) for index in wanted))
            }
            for index in wanted:
                raw = found.get(_result_pk(batch_id, index))
                if raw is not None:
                    yield index, json.loads(raw)

    def delete_results(self, batch_id: str, total: int) -> None:
        """Remove every stored answer of the batch (its requests are ``0 .. total - 1``)."""
        batch_delete(self._client, self._table, (_result_pk(batch_id, index) for index in range(total)))


NONE: Final = "-1"  # running_chunk when no chunk runs


def _chunk_or_none(value: dict[str, str] | None) -> int | None:
    if value is None or value["N"] == NONE:
        return None
    return int(value["N"])


def _seconds(at: float) -> str:
    """A time as stored (milliseconds kept): read back and written again, it is the same number."""
    return repr(round(at, 3))


def _state_pk(batch_id: str) -> str:
    return f"COMPAT#{batch_id}"


def _result_pk(batch_id: str, index: int) -> str:
    return f"COMPATRESULT#{batch_id}#{index}"
