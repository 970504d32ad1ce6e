"""One run of one chunk: its unanswered requests sent ``max_concurrency`` at a time and spaced as
``requests_per_minute`` asks, each answer stored and counted once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Final, Literal

from batchbridge.domain import codec
from batchbridge.domain.executor.plan import Chunk
from batchbridge.domain.executor.ports import (
    MAX_SENDS_UNANSWERED,
    RESULT_MAX_BYTES,
    ChunkStore,
    RequestSender,
    RunState,
    SendTarget,
)
from batchbridge.domain.executor.views import encoded, failed_line
from batchbridge.domain.output_lines import role_of

STATE_CHECK_SECONDS: Final = 1.0  # how often a running chunk looks for a cancel
DEADLINE_MARGIN_SECONDS: Final = 30.0  # kept at a run's end for recounting and queueing the rest


@dataclass
class ChunkWork:
    """What a run of chunk ``number`` works on."""

    state: RunState
    number: int
    chunks: list[Chunk]  # the batch's
    path: str  # the endpoint's path: chat/completions or embeddings
    indexes: list[int]
    answered: dict[int, bool]  # index -> success, of the requests already answered
    lines: Iterator[tuple[int, int, bytes]]

    @property
    def batch_id(self) -> str:
        return self.state.batch_id


def recount(store: ChunkStore, work: ChunkWork, answered: dict[int, bool]) -> None:
    """The chunk's counters from what is stored: a count a crash skipped between storing and counting is made
    good."""
    completed = sum(1 for ok in answered.values() if ok)
    store.set_counts(work.batch_id, work.number, completed, len(answered) - completed)


class ChunkRun:
    def __init__(
        self,
        store: ChunkStore,
        sender: RequestSender,
        clock: Callable[[], float],
        target: SendTarget,
        work: ChunkWork,
        beat_seconds: float,
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock  # unix seconds
        self._target = target
        self._work = work
        self._beat = _Beat(lambda: store.beat(work.batch_id, clock()), beat_seconds)
        self._checked = clock()
        self._next_start = 0.0

    def run(self, deadline: float | None) -> bool:
        """Send the chunk's unanswered requests until done or the batch must stop; then wait for those in flight.
        The batch ends (cancelled, expired) only after, so nothing is answered once it has ended. Beats every
        ``beat_seconds`` meanwhile: a batch whose beat stops has lost its worker (the sweeper then queues the chunk
        again). False when it stopped for ``deadline`` (``time.monotonic()``): the rest of the chunk is for another
        run."""
        work, target = self._work, self._target
        recount(self._store, work, work.answered)  # a run before this one may have died between store and count
        slots = threading.BoundedSemaphore(target.max_concurrency)
        in_time = True
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=target.max_concurrency, thread_name_prefix="executor") as pool:
            for index, (_, _, raw) in zip(work.indexes, work.lines, strict=False):
                if index in work.answered:
                    continue
                while not slots.acquire(timeout=STATE_CHECK_SECONDS):
                    self._beat()
                go = self._go(deadline)
                if go != "send":
                    slots.release()
                    in_time = go != "late"
                    break
                self._space()
                futures.append(pool.submit(self._answer, index, raw, slots))
                self._beat()
            while wait_futures(futures, timeout=STATE_CHECK_SECONDS).not_done:
                self._beat()
            for future in futures:
                future.result()  # a failure fails the chunk: it is redelivered, and skips what was answered
        recount(self._store, work, self._store.answered(work.batch_id, work.indexes))
        return in_time

    def _go(self, deadline: float | None) -> Literal["send", "late", "stop"]:
        """Whether the next request may be sent: not when it might outlast the run (it gets two sends of its
        timeout), nor once the batch must stop (looked up every STATE_CHECK_SECONDS)."""
        if deadline is not None and deadline - time.monotonic() < (
            MAX_SENDS_UNANSWERED * self._target.timeout_seconds + DEADLINE_MARGIN_SECONDS
        ):
            return "late"
        if self._clock() - self._checked >= STATE_CHECK_SECONDS:
            self._checked = self._clock()
            current = self._store.get(self._work.batch_id)
            if current is None or current.must_stop(self._clock()):
                return "stop"
        return "send"

    def _space(self) -> None:
        """Wait for the next request's start, as ``requests_per_minute`` spaces them."""
        while (wait := self._next_start - time.monotonic()) > 0:
            time.sleep(min(wait, STATE_CHECK_SECONDS))
            self._beat()
        self._next_start = max(self._next_start, time.monotonic()) + self._target.start_gap_seconds

    def _answer(self, index: int, raw: bytes, slots: threading.Semaphore) -> None:
        work = self._work
        try:
            line = codec.loads(raw)
            custom_id = str(line["custom_id"])
            out = self._sender.send(self._target, work.path, custom_id, line.get("body"))
            stored = encoded(out)
            if len(stored) > RESULT_MAX_BYTES:
                out = failed_line(
                    custom_id, f"The endpoint's answer ({len(stored)} bytes) is larger than the gateway stores."
                )
                stored = encoded(out)
            ok = role_of(out) == "output"
            if self._store.put_result(work.batch_id, index, stored, ok=ok, expires_at=work.state.expires_at):
                self._store.count(work.batch_id, work.number, ok, self._clock())
        finally:
            slots.release()


class _Beat:
    """Calls ``beat`` at most every ``interval`` seconds, however often it is asked to."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self._last >= self._interval:
            self._last = time.monotonic()
            self._beat()
