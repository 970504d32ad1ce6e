"""A batch's plan: its requests cut into chunks (byte ranges of CHUNK_REQUESTS lines), the queue messages naming
them, and its working copies in the blob store (its own copy of the input, and the plan itself: the chunks of that
copy and the endpoint's path the requests go to)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Final

from batchbridge.domain import codec
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.ports import BlobStore
from batchbridge.domain.records import WORKING_EXPIRY_DAYS

CHUNK_REQUESTS: Final = 100  # requests per queue message: one chunk runs well inside a worker's timeout
WINDOW_SECONDS: Final = 24 * 3600  # the batch's completion window: unrun requests then expire


@dataclass(frozen=True)
class Chunk:
    number: int
    first_index: int  # the index (0-based line number) of its first request
    count: int
    offset: int  # byte range of its lines in the input file
    length: int


def chunk_sizes(total: int, chunks: int, size: int = CHUNK_REQUESTS) -> list[int]:
    """The number of requests in each chunk ``plan_chunks`` makes of ``total`` requests."""
    return [min(size, total - number * size) for number in range(chunks)]


def plan_chunks(lines: Iterable[tuple[int, int, str]], size: int = CHUNK_REQUESTS) -> tuple[list[Chunk], int]:
    """Chunks of ``size`` requests from ``(offset, length, custom_id)`` per line, and the number of requests."""
    chunks: list[Chunk] = []
    count = 0
    start_offset = end = 0
    for index, (offset, length, _) in enumerate(lines):
        if index % size == 0:
            if index:
                chunks.append(Chunk(len(chunks), index - size, size, start_offset, end - start_offset))
            start_offset = offset
        end = offset + length
        count = index + 1
    if count:
        chunks.append(
            Chunk(len(chunks), len(chunks) * size, count - len(chunks) * size, start_offset, end - start_offset)
        )
    return chunks, count


def chunk_ref(batch_id: str, number: int, generation: int | None = None) -> str:
    """What a chunk's queue message names: the batch and the chunk's number, and for a chunk sent again after its
    chain broke a generation (a FIFO queue drops a message it saw in the last five minutes: a resend must differ)."""
    return f"{batch_id}#{number}" if generation is None else f"{batch_id}#{number}#{generation}"


def parse_chunk_ref(ref: str) -> tuple[str, int]:
    batch_id, number, *_ = ref.split("#")
    return batch_id, int(number)


@dataclass(frozen=True)
class Plan:
    input: str  # the blob the requests are read from: the batch's copy (a batch planned before copies: the file)
    path: str  # the endpoint's path: chat/completions or embeddings
    chunks: list[Chunk]


# (The working copies keep their "compat/" prefix: batches planned before the executor had its own name read them.)
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
    """``(offset, length, custom_id)`` of each request line, for ``plan_chunks``."""
    for offset, length, line in iter_lines_at(chunks):
        yield offset, length, str(codec.loads(line)["custom_id"])
