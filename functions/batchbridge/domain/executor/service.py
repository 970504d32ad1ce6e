"""The executor: batches the gateway runs itself, from their plan to their stored answers (see the package)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from batchbridge.domain import codec, output_lines
from batchbridge.domain.clock import NS_PER_SECOND, seconds
from batchbridge.domain.errors import GatewayError, bad_request, not_found
from batchbridge.domain.executor import plan
from batchbridge.domain.executor.ports import ChunkStore, RequestSender, RunState, SendTarget
from batchbridge.domain.executor.run import ChunkRun, ChunkWork, recount
from batchbridge.domain.executor.views import encoded, failed_line
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.ports import BlobStore, Job, UnrunResult, WorkQueue
from batchbridge.domain.records import WORKING_EXPIRY_DAYS

logger = logging.getLogger(__name__)
RESULTS_PAGE: Final = 100  # stored answers read at once
DEFAULT_STALL_SECONDS: Final = 120.0  # Settings.executor_stall_seconds (BATCHBRIDGE_COMPAT_STALL_SECONDS)


class BatchExecutor:
    def __init__(
        self,
        targets: Mapping[str, SendTarget],
        *,
        store: ChunkStore,
        blobs: BlobStore,
        queue: WorkQueue,
        sender: RequestSender,
        clock: Callable[[], int],
        stall_seconds: float = DEFAULT_STALL_SECONDS,
    ) -> None:
        """``targets``: by name, where batches may send their requests (through ``sender``). ``queue``: where
        chunks go (kind ``chunk``). ``clock``: the services' clock (nanoseconds since the epoch). ``stall_seconds``:
        how long a running batch may go without its worker's beat or any answer before its chunk chain counts as
        broken and its first unfinished chunk is queued again."""
        self.targets = targets
        self._store = store
        self._blobs = blobs
        self._queue = queue
        self._sender = sender
        self._clock = clock
        self._stall_seconds = stall_seconds

    def _now(self) -> float:
        """Unix seconds, with their fraction: a batch's progress is timed finer than OpenAI's whole seconds."""
        return self._clock() / NS_PER_SECOND

    # batches
    def start(self, batch_id: str, input_key: str, path: str, target: str) -> RunState:
        """Plan the batch (the requests of blob ``input_key``, to go to ``path`` under the target named ``target``)
        and queue its first chunk. It runs on its own copy of the input (server-side, nothing passes through here):
        deleting the file while the batch runs must not break it, as deleting an OpenAI batch's input file does
        not."""
        copy = plan.input_key(batch_id)
        self._blobs.copy(input_key, copy, WORKING_EXPIRY_DAYS)
        return self._begin(batch_id, copy, path, target)

    def start_lines(self, batch_id: str, lines: Iterable[bytes], path: str, target: str) -> RunState:
        """``start``, from the request lines given (each a ``{"custom_id", "body"}`` JSON line, ended by a newline)
        rather than a blob of them: a provider whose copy of the requests lies outside the gateway's bucket (Bedrock's
        staged records) hands them over as it reads them, and the executor writes its own copy (streamed)."""
        copy = plan.input_key(batch_id)
        writer = self._blobs.writer(copy, "application/jsonl", WORKING_EXPIRY_DAYS)
        try:
            for line in lines:
                writer.write(line)
        except BaseException:
            writer.abort()
            raise
        writer.complete()
        return self._begin(batch_id, copy, path, target)

    def _begin(self, batch_id: str, copy: str, path: str, target: str) -> RunState:
        """Plan the batch from its copy of the input (blob ``copy``), store its state and queue its first chunk."""
        chunks, total = plan.plan_chunks(plan.planned(self._blobs.open(copy)))
        if not total:
            raise bad_request("The input file holds no requests.", param="input_file_id", code="empty_file")
        now = seconds(self._clock())
        plan.write(self._blobs, batch_id, plan.Plan(copy, path, chunks))
        state = RunState(
            batch_id=batch_id,
            status="in_progress",
            endpoint_name=target,
            total=total,
            chunks=len(chunks),
            created_at=now,
            expires_at=now + plan.WINDOW_SECONDS,
        )
        self._store.create(state)
        self._queue.send(Job.CHUNK, plan.chunk_ref(batch_id, 0))
        return state

    def state(self, batch_id: str) -> RunState:
        """The batch's state (a 404 when there is no such batch); one past its window and idle expires now."""
        state = self._store.get(batch_id)
        if state is None:
            raise not_found("batch", batch_id)
        if not state.ended and self._now() >= state.expires_at:
            # a running chunk ends it itself once its requests in flight are answered
            self._store.end(batch_id, "expired", state.expires_at, unless_running=True)
            state = self._store.get(batch_id) or state
        return state

    def find(self, batch_id: str) -> RunState | None:
        return self._store.get(batch_id)

    def cancel(self, batch_id: str) -> RunState:
        self.state(batch_id)
        self._store.request_cancel(batch_id)
        # No chunk running to see the cancel: it ends now (the write fails if a chunk has just started: it will).
        self._store.end(batch_id, "cancelled", seconds(self._clock()), unless_running=True)
        return self.state(batch_id)

    def results(self, batch_id: str) -> Iterator[tuple[str | None, dict[str, Any] | UnrunResult]]:
        """Every request of the ended batch, in input order: its stored answer, or (never run: cancelled or
        expired) an UnrunResult. Streams the input's custom_ids beside the stored answers."""
        state = self.state(batch_id)
        unrun = UnrunResult(output_lines.CANCELLED if state.status == "cancelled" else output_lines.EXPIRED)
        custom_ids = self._custom_ids(batch_id)
        for start in range(0, state.total, RESULTS_PAGE):
            indexes = list(range(start, min(start + RESULTS_PAGE, state.total)))
            stored = dict(self._store.results(batch_id, indexes))
            for index in indexes:
                custom_id = next(custom_ids, None)
                answer = stored.get(index)
                yield (str(answer["custom_id"]) if answer else custom_id), answer or unrun

    def _custom_ids(self, batch_id: str) -> Iterator[str | None]:
        """The batch's custom_ids in input order, read from its copy of the input. A batch planned before copies
        were made reads the file itself; if that was deleted, None for each (the finalizer then places a line by
        its position, in the custom_id map such a batch stored)."""
        input_key = plan.read(self._blobs, batch_id).input
        try:
            chunks = self._blobs.open(input_key)
        except GatewayError as exc:
            if exc.status != 404 or input_key == plan.input_key(batch_id):
                raise
            return itertools.repeat(None)
        return (custom_id for _, _, custom_id in plan.planned(chunks))

    def release(self, batch_id: str) -> None:
        """The batch is final and its answers are its output files: remove the stored answers and the working
        copies (input, plan)."""
        state = self._store.get(batch_id)
        if state is not None:
            self._store.delete_results(batch_id, state.total)
        copy = plan.input_key(batch_id)  # (a batch planned before copies were made reads the file itself)
        if plan.read(self._blobs, batch_id).input == copy:
            self._blobs.delete(copy)
        self._blobs.delete(plan.plan_key(batch_id))

    # the worker
    def run_chunk(self, batch_id: str, number: int, deadline: float | None = None) -> None:
        """Answer chunk ``number``'s requests not yet answered, then queue the next chunk (or end the batch).

        ``deadline`` (``time.monotonic()``; a Lambda function's end): no request is sent that might not be answered
        before it; the chunk is then queued again, to go on where this run stopped."""
        work = self._chunk(batch_id, number)
        if work is None:
            return
        target = self.targets.get(work.state.endpoint_name)
        if target is None:
            logger.error("batch %s: endpoint %r is no longer configured", batch_id, work.state.endpoint_name)
            self._store.end(batch_id, "failed", seconds(self._clock()))
            return
        if work.state.must_stop(self._now()) or not self._store.start_chunk(batch_id, number, self._now()):
            self._stopped(self._store.get(batch_id) or work.state)  # cancelled or expired: nothing runs it now
            return
        run = ChunkRun(self._store, self._sender, self._now, target, work, self._stall_seconds / 4)
        try:
            finished = run.run(deadline)
        finally:
            self._store.finish_chunk(batch_id, number, self._now())
        if finished:
            self._next(work)
        else:
            current = self._store.get(batch_id)
            if current is not None and not self._stopped(current):
                self._send_again(batch_id, number)

    def dead_chunk(self, batch_id: str, number: int) -> None:
        """A chunk that kept failing (the dead-letter queue): its unanswered requests become error lines, and the
        batch goes on with the next chunk."""
        work = self._chunk(batch_id, number)
        if work is None:
            return
        for index, (_, _, raw) in zip(work.indexes, work.lines, strict=False):
            if index not in work.answered:
                line = failed_line(
                    str(codec.loads(raw)["custom_id"]),
                    "The gateway gave up on this request after repeated worker failures.",
                )
                self._store.put_result(batch_id, index, encoded(line), ok=False, expires_at=work.state.expires_at)
        recount(self._store, work, self._store.answered(batch_id, work.indexes))
        self._next(work)

    def mend(self, batch_id: str) -> None:
        """Carry on a batch whose chunk chain broke (a lost message, a worker that died, a restarted `serve`); the
        sweeper asks every minute. A batch that neither progressed nor beat for ``stall_seconds`` gets its first
        unfinished chunk queued again (it skips what was answered), and a cancel or an expiry nobody is left to see
        ends it."""
        state = self._store.get(batch_id)
        if state is None or state.ended or self._now() - state.progressed_at < self._stall_seconds:
            return
        sizes = plan.chunk_sizes(state.total, state.chunks)
        unfinished = [number for number, size in enumerate(sizes) if state.answered.get(number, 0) < size]
        restart = unfinished[0] if unfinished else state.chunks
        if not self._store.claim_restart(state.batch_id, state.progressed_at, self._now(), restart):
            return  # another sweep got there first
        if state.must_stop(self._now()):
            self._stopped(state)
            return
        if unfinished:
            logger.warning("batch %s: no progress for a while; chunk %d queued again", state.batch_id, unfinished[0])
            self._send_again(state.batch_id, unfinished[0])
        else:  # every request answered, but the chain died before ending the batch
            self._store.end(state.batch_id, "completed", seconds(self._clock()))

    def _chunk(self, batch_id: str, number: int) -> ChunkWork | None:
        """What a run of chunk ``number`` works on; None when the batch has ended or has no such chunk."""
        state = self._store.get(batch_id)
        if state is None or state.ended:
            return None
        planned = plan.read(self._blobs, batch_id)
        if number >= len(planned.chunks):
            return None
        chunk = planned.chunks[number]
        indexes = list(range(chunk.first_index, chunk.first_index + chunk.count))
        lines = iter_lines_at(self._blobs.open_range(planned.input, chunk.offset, chunk.length))
        answered = self._store.answered(batch_id, indexes)
        return ChunkWork(state, number, planned.chunks, planned.path, indexes, answered, lines)

    def _next(self, work: ChunkWork) -> None:
        """After chunk ``number``: queue the next one, or end the batch after the last (unless it was stopped)."""
        batch_id, number = work.batch_id, work.number
        current = self._store.get(batch_id)
        if current is None or self._stopped(current):
            return
        if number + 1 < len(work.chunks):
            if self._store.advance(batch_id, number, number + 1):  # a second run of this chunk queues nothing
                self._queue.send(Job.CHUNK, plan.chunk_ref(batch_id, number + 1))
        else:
            self._store.end(batch_id, "completed", seconds(self._clock()))

    def _send_again(self, batch_id: str, number: int) -> None:
        """Queue a chunk that was queued before (its run stopped early, or its chain broke): a new generation, so a
        FIFO queue does not drop it as the same message."""
        self._queue.send(Job.CHUNK, plan.chunk_ref(batch_id, number, generation=seconds(self._clock())))

    def _stopped(self, state: RunState) -> bool:
        """Whether the batch must run no further request; ends it (cancelled or expired) when so. Called where no
        chunk of it runs: once ended, nothing more of it is answered."""
        if state.ended:
            return True
        if state.cancel_requested:
            self._store.end(state.batch_id, "cancelled", seconds(self._clock()), unless_running=True)
            return True
        if self._now() >= state.expires_at:
            self._store.end(state.batch_id, "expired", state.expires_at, unless_running=True)
            return True
        return False
