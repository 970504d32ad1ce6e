"""A batch's working copies in the blob store: its own copy of the input, and its plan (the chunks of that copy and
the endpoint's path the requests go to)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from batchbridge.domain import codec
from batchbridge.domain.compat import Chunk
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.ports import BlobStore
from batchbridge.domain.records import WORKING_EXPIRY_DAYS


@dataclass(frozen=True)
class Plan:
    input: str  # the blob the requests are read from: the batch's copy (a batch planned before copies: the file)
    path: str  # the endpoint's path: chat/completions or embeddings
    chunks: list[Chunk]


def input_key(batch_id: str) -> str:
    return f"compat/{batch_id}/input.jsonl"


def plan_key(batch_id: str) -> str:
    return f"compat/{batch_id}/plan.json"


def write(blobs: BlobStore, batch_id: str, plan: Plan) -> None:
    raw = {"input": plan.input, "path": plan.path, "chunks": [asdict(chunk) for chunk in plan.chunks]}
    blobs.put(plan_key(batch_id), io.BytesIO(json.dumps(raw).encode()), "application/json", WORKING_EXPIRY_DAYS)


def read(blobs: BlobStore, batch_id: str) -> Plan:
    raw = json.loads(b"".join(blobs.open(plan_key(batch_id))))
    return Plan(str(raw["input"]), str(raw["path"]), [Chunk(**chunk) for chunk in raw["chunks"]])


def planned(chunks: Iterator[bytes]) -> Iterator[tuple[int, int, str]]:
    """``(offset, length, custom_id)`` of each request line, for ``compat.plan_chunks``."""
    for offset, length, line in iter_lines_at(chunks):
        yield offset, length, str(codec.loads(line)["custom_id"])
