"""The executor: durable batches the gateway runs itself, one request at a time, against an endpoint that has no
batch API of its own (an OpenAI-compatible server: vLLM, Ollama, Groq, …).

Starting a batch copies its input file for it (server-side), plans the copy into chunks (byte ranges of
CHUNK_REQUESTS lines) and queues the first; a worker runs one chunk at a time per batch (each chunk queues the
next; deployed, a FIFO queue with a message group per batch makes sure of it) — so the endpoint's
``max_concurrency`` holds across workers — with that many requests in flight and the ``requests_per_minute``
spacing; each answer is stored and counted once, then the next chunk is queued. Cancel and the 24 h window stop the
chain (the batch ends once the requests in flight are answered, so nothing is answered after it ended); the
finalizer turns the stored answers into the output and error files, accounts for every request never run, and then
has the stored answers and the working copies removed. A chunk redelivered after a crash skips what was answered; a
chain that broke (its worker's beat stopped) is mended by the sweeper (``mend``).

It works through two ports of its own (``ports``): a ``ChunkStore`` of the batches' state and answers, and a
``RequestSender`` of one request to a ``SendTarget``; and the gateway's blob store, work queue and clock. The
composition root builds it and hands it to the background jobs (``domain.ports.ChunkRunner``) and to the provider
whose batches it runs (``providers.compat``). ``service.BatchExecutor`` is the whole of it; ``plan`` holds the
chunks and the working copies, ``run`` one run of a chunk, ``views`` what the services see and the lines stored.
"""

from __future__ import annotations

from batchbridge.domain.executor.plan import CHUNK_REQUESTS, WINDOW_SECONDS, chunk_ref, parse_chunk_ref
from batchbridge.domain.executor.ports import (
    ENDED,
    MAX_SENDS_UNANSWERED,
    RESULT_MAX_BYTES,
    ChunkStore,
    RequestSender,
    RunState,
    SendTarget,
)
from batchbridge.domain.executor.service import DEFAULT_STALL_SECONDS, BatchExecutor
from batchbridge.domain.executor.views import answer_line, output_line, report

__all__ = [
    "CHUNK_REQUESTS",
    "DEFAULT_STALL_SECONDS",
    "ENDED",
    "MAX_SENDS_UNANSWERED",
    "RESULT_MAX_BYTES",
    "WINDOW_SECONDS",
    "BatchExecutor",
    "ChunkStore",
    "RequestSender",
    "RunState",
    "SendTarget",
    "answer_line",
    "chunk_ref",
    "output_line",
    "parse_chunk_ref",
    "report",
]
