"""Provider ``openai-compatible``: durable batches the gateway runs itself against any endpoint speaking OpenAI's
``/chat/completions`` and ``/embeddings`` (vLLM, Ollama, Groq, Together, …), which have no batch API of their own.

``files.create`` keeps the JSONL in our bucket only. ``batches.create`` copies it for the batch (server-side),
plans the copy into chunks (byte ranges of CHUNK_REQUESTS lines) and queues the first; a worker runs one chunk at a
time per batch (each chunk queues the next; deployed, a FIFO queue with a message group per batch makes sure of
it) — so the batch's
``max_concurrency`` holds across workers — with that many requests in flight and the ``requests_per_minute``
spacing, honouring 429 Retry-After; each answer is stored and counted once (compat_state), then the next chunk is
queued. Cancel and the 24 h window stop the chain (the batch ends once the requests in flight are answered, so
nothing is answered after it ended); the finalizer turns the stored answers into the output and error files,
accounts for every request never run, and then removes the stored answers and the working copies. A chunk
redelivered after a crash skips what was answered; a chain that broke (its worker's beat stopped) is mended by the
sweeper (``mend``). A request is sent again only when it surely never arrived, or once when its answer was lost.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import httpx

from batchbridge.domain import codec, compat
from batchbridge.domain.compat import Chunk, CompatEndpoint
from batchbridge.domain.errors import GatewayError, bad_request, not_found
from batchbridge.domain.jsonl import MAX_CUSTOM_ID_CHARS, iter_lines_at
from batchbridge.domain.lines import unrun_line
from batchbridge.domain.ports import BatchRequest, BlobStore, Credentials, ProviderBatch, UploadRequest, WorkQueue
from batchbridge.domain.records import WORKING_EXPIRY_DAYS, FileRecord
from batchbridge.providers import http
from batchbridge.providers.held_files import GatewayHeldFiles
from batchbridge.store.compat_state import RESULT_MAX_BYTES, CompatState, DynamoCompatStore

logger = logging.getLogger(__name__)
PROVIDER: Final = compat.PROVIDER
ATTEMPTS: Final = 6  # per request: 429s and 5xx are waited out, well inside a worker's run
MAX_RETRY_AFTER_SECONDS: Final = 60.0
MAX_SENDS_UNANSWERED: Final = 2  # a request sent without an answer read is sent once more at most
DEADLINE_MARGIN_SECONDS: Final = 30.0  # kept at a run's end for recounting and queueing the rest
RESULTS_PAGE: Final = 100  # stored answers read per BatchGetItem
UNRUN: Final = "batchbridge_unrun"  # marks a result line the batch never ran (its error code)
STATE_CHECK_SECONDS: Final = 1.0  # how often a running chunk looks for a cancel
DEFAULT_STALL_SECONDS: Final = 120.0  # BATCHBRIDGE_COMPAT_STALL_SECONDS
ENDED: Final = frozenset({"completed", "cancelled", "expired", "failed"})


@dataclass
class _ChunkWork:
    state: CompatState
    chunks: list[Chunk]
    path: str  # the endpoint's path: chat/completions or embeddings
    indexes: list[int]
    answered: dict[int, bool]  # index -> success, of the requests already answered
    lines: Iterator[tuple[int, int, bytes]]


class CompatAdapter(GatewayHeldFiles):
    name = PROVIDER
    results_mode: Literal["files", "lines"] = "lines"
    max_batch_requests = 50_000
    results_may_omit = False  # ``results`` yields every request: those never run as unrun lines
    lines_need_model = True
    custom_id_max_chars: int | None = MAX_CUSTOM_ID_CHARS
    judges_lines = False

    def __init__(
        self,
        endpoints: dict[str, CompatEndpoint],
        *,
        store: DynamoCompatStore,
        blobs: BlobStore,
        queue: WorkQueue,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        key_of: Callable[[str], str | None] = lambda variable: os.environ.get(variable) or None,
    ) -> None:
        """``stall_seconds``: how long a running batch may go without its worker's beat or any answer before its
        chunk chain counts as broken and its first unfinished chunk is queued again. ``key_of``: an endpoint's key
        by the name its api_key_env gives."""
        self._endpoints = endpoints
        self._key_of = key_of
        self._stall_seconds = stall_seconds
        self._store = store
        self._blobs = blobs
        self._queue = queue
        self._clock = clock
        self._transport = transport
        self._clients: dict[str, httpx.Client] = {}
        self._clients_lock = threading.Lock()

    # files: the gateway's copy is the only one
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> None:
        if request.extras.get("endpoint_name") is not None:
            self._endpoint(request.extras)  # a name that is not configured is a 400 now, not at batch time
        return None

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        input_file = request.input_file
        if input_file is None or input_file.blob_key is None or request.open_input is None:
            raise bad_request(
                "openai-compatible batches need an input file uploaded to this gateway.", param="input_file_id"
            )
        if request.endpoint not in compat.ENDPOINT_PATHS:
            raise bad_request(
                f"openai-compatible batches run {' and '.join(compat.ENDPOINT_PATHS)}, not {request.endpoint!r}.",
                param="endpoint",
                code="unsupported_endpoint",
            )
        endpoint = self._endpoint(_named_for(request.extras, input_file))
        # The batch runs on its own copy of the input (server-side, nothing passes through here): deleting the
        # file while the batch runs must not break it, as deleting an OpenAI batch's input file does not.
        input_key = _input_key(request.batch_id)
        self._blobs.copy(input_file.blob_key, input_key, WORKING_EXPIRY_DAYS)
        chunks, total = compat.plan_chunks(_planned(self._blobs.open(input_key)))
        if not total:
            raise bad_request("The input file holds no requests.", param="input_file_id", code="empty_file")
        now = int(self._clock())
        plan: dict[str, Any] = {
            "input": input_key,
            "path": compat.ENDPOINT_PATHS[request.endpoint],
            "chunks": [asdict(chunk) for chunk in chunks],
        }
        self._blobs.put(
            _plan_key(request.batch_id), io.BytesIO(json.dumps(plan).encode()), "application/json", WORKING_EXPIRY_DAYS
        )
        state = CompatState(
            batch_id=request.batch_id,
            status="in_progress",
            endpoint_name=endpoint.name,
            total=total,
            chunks=len(chunks),
            created_at=now,
            expires_at=now + compat.WINDOW_SECONDS,
        )
        self._store.create(state)
        self._queue.send("chunk", compat.chunk_ref(request.batch_id, 0))
        report = _report(state)
        report.model = input_file.model
        return report

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return _report(self._state(provider_batch_id))

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        self._state(provider_batch_id)
        self._store.request_cancel(provider_batch_id)
        # No chunk running to see the cancel: it ends now (the write fails if a chunk has just started: it will).
        self._store.end(provider_batch_id, "cancelled", int(self._clock()), unless_running=True)
        return self.get_batch(credentials, provider_batch_id)

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        state = self._store.get(request.batch_id)  # we are the provider: its ID is ours
        return None if state is None else _report(state)

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
        """Every request of the ended batch, in input order: its stored answer, or (never run: cancelled or
        expired) an unrun marker. Streams the input's custom_ids beside the stored answers."""
        state = self._state(provider_batch_id)
        unrun = "batch_cancelled" if state.status == "cancelled" else "batch_expired"
        custom_ids = self._custom_ids(provider_batch_id)
        for start in range(0, state.total, RESULTS_PAGE):
            indexes = list(range(start, min(start + RESULTS_PAGE, state.total)))
            stored = dict(self._store.results(provider_batch_id, indexes))
            for index in indexes:
                custom_id = next(custom_ids, None)
                answer = stored.get(index)
                yield (str(answer["custom_id"]) if answer else custom_id), answer or {UNRUN: unrun}

    def _custom_ids(self, batch_id: str) -> Iterator[str | None]:
        """The batch's custom_ids in input order, read from its copy of the input. A batch planned before copies
        were made reads the file itself; if that was deleted, None for each (the finalizer then places a line by
        its position, in the custom_id map such a batch stored)."""
        input_key = str(self._plan(batch_id)["input"])
        try:
            chunks = self._blobs.open(input_key)
        except GatewayError as exc:
            if exc.status != 404 or input_key == _input_key(batch_id):
                raise
            return itertools.repeat(None)
        return (custom_id for _, _, custom_id in _planned(chunks))

    def output_line(
        self, raw: dict[str, Any], *, custom_id: str, line_id: str, created: int
    ) -> tuple[str, dict[str, Any]]:
        if UNRUN in raw:
            return "error", unrun_line(line_id, custom_id, str(raw[UNRUN]))
        line = {**raw, "id": line_id, "custom_id": custom_id}
        return compat.role_of(line), line

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """The batch is final and its answers are its output files: remove the stored answers and the working
        copies (input, plan)."""
        state = self._store.get(provider_batch_id)
        if state is not None:
            self._store.delete_results(provider_batch_id, state.total)
        copy = _input_key(provider_batch_id)  # (a batch planned before copies were made reads the file itself)
        if self._plan(provider_batch_id)["input"] == copy:
            self._blobs.delete(copy)
        self._blobs.delete(_plan_key(provider_batch_id))

    # the worker
    def run_chunk(self, batch_id: str, number: int, deadline: float | None = None) -> None:
        """Answer chunk ``number``'s requests not yet answered, then queue the next chunk (or end the batch).

        ``deadline`` (``time.monotonic()``; a Lambda function's end): no request is sent that might not be answered
        before it; the chunk is then queued again, to go on where this run stopped."""
        work = self._chunk(batch_id, number)
        if work is None:
            return
        endpoint = self._endpoints.get(work.state.endpoint_name)
        if endpoint is None:
            logger.error("batch %s: endpoint %r is no longer configured", batch_id, work.state.endpoint_name)
            self._store.end(batch_id, "failed", int(self._clock()))
            return
        if self._must_stop(work.state) or not self._store.start_chunk(batch_id, number, self._clock()):
            self._stopped(self._store.get(batch_id) or work.state)  # cancelled or expired: nothing runs it now
            return
        try:
            finished = self._run(endpoint, work, batch_id, number, deadline)
        finally:
            self._store.finish_chunk(batch_id, number, self._clock())
        if finished:
            self._next(batch_id, number, work.chunks)
        else:
            current = self._store.get(batch_id)
            if current is not None and not self._stopped(current):
                self._send_again(batch_id, number)

    def _run(
        self, endpoint: CompatEndpoint, work: _ChunkWork, batch_id: str, number: int, deadline: float | None
    ) -> bool:
        """Send the chunk's unanswered requests, ``max_concurrency`` at a time and spaced as ``requests_per_minute``
        asks, until done or the batch must stop; then wait for those in flight. The batch ends (cancelled, expired)
        only after, so nothing is answered once it has ended. Beats every ``stall_seconds / 4`` meanwhile: a batch
        whose beat stops has lost its worker (the sweeper then queues the chunk again). False when it stopped for
        ``deadline``: the rest of the chunk is for another run."""
        indexes, answered, lines = work.indexes, work.answered, work.lines
        self._recount(batch_id, number, answered)  # a run before this one may have died between store and count
        slots = threading.BoundedSemaphore(endpoint.max_concurrency)
        beat = _Beat(lambda: self._store.beat(batch_id, self._clock()), self._stall_seconds / 4)
        next_start = 0.0
        checked = self._clock()
        in_time = True
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=endpoint.max_concurrency, thread_name_prefix="compat") as pool:
            for index, (_, _, raw) in zip(indexes, lines, strict=False):
                if index in answered:
                    continue
                while not slots.acquire(timeout=STATE_CHECK_SECONDS):
                    beat()
                # a request gets two sends of its timeout: one that might outlast the run is left for the next
                if deadline is not None and deadline - time.monotonic() < (
                    MAX_SENDS_UNANSWERED * endpoint.timeout_seconds + DEADLINE_MARGIN_SECONDS
                ):
                    slots.release()
                    in_time = False
                    break
                if self._clock() - checked >= STATE_CHECK_SECONDS:
                    checked = self._clock()
                    current = self._store.get(batch_id)
                    if current is None or self._must_stop(current):
                        slots.release()
                        break
                while (wait := next_start - time.monotonic()) > 0:
                    time.sleep(min(wait, STATE_CHECK_SECONDS))
                    beat()
                next_start = max(next_start, time.monotonic()) + endpoint.start_gap_seconds
                futures.append(pool.submit(self._answer, endpoint, work, batch_id, number, index, raw, slots))
                beat()
            while wait_futures(futures, timeout=STATE_CHECK_SECONDS).not_done:
                beat()
            for future in futures:
                future.result()  # a failure fails the chunk: it is redelivered, and skips what was answered
        self._recount(batch_id, number, self._store.answered(batch_id, indexes))
        return in_time

    def dead_chunk(self, batch_id: str, number: int) -> None:
        """A chunk that kept failing (the dead-letter queue): its unanswered requests become error lines, and the
        batch goes on with the next chunk."""
        work = self._chunk(batch_id, number)
        if work is None:
            return
        for index, (_, _, raw) in zip(work.indexes, work.lines, strict=False):
            if index not in work.answered:
                line = compat.failed_line(
                    str(codec.loads(raw)["custom_id"]),
                    "The gateway gave up on this request after repeated worker failures.",
                )
                self._store.put_result(
                    batch_id, index, compat.encoded(line), ok=False, expires_at=work.state.expires_at
                )
        self._recount(batch_id, number, self._store.answered(batch_id, work.indexes))
        self._next(batch_id, number, work.chunks)

    def _chunk(self, batch_id: str, number: int) -> _ChunkWork | None:
        """What a run of chunk ``number`` works on; None when the batch has ended or has no such chunk."""
        state = self._store.get(batch_id)
        if state is None or state.status in ENDED:
            return None
        plan = self._plan(batch_id)
        chunks = [Chunk(**chunk) for chunk in plan["chunks"]]
        if number >= len(chunks):
            return None
        chunk = chunks[number]
        indexes = list(range(chunk.first_index, chunk.first_index + chunk.count))
        lines = iter_lines_at(self._blobs.open_range(plan["input"], chunk.offset, chunk.length))
        return _ChunkWork(state, chunks, str(plan["path"]), indexes, self._store.answered(batch_id, indexes), lines)

    def _next(self, batch_id: str, number: int, chunks: list[Chunk]) -> None:
        """After chunk ``number``: queue the next one, or end the batch after the last (unless it was stopped)."""
        current = self._store.get(batch_id)
        if current is None or self._stopped(current):
            return
        if number + 1 < len(chunks):
            if self._store.advance(batch_id, number, number + 1):  # a second run of this chunk queues nothing
                self._queue.send("chunk", compat.chunk_ref(batch_id, number + 1))
        else:
            self._store.end(batch_id, "completed", int(self._clock()))

    def _recount(self, batch_id: str, number: int, answered: dict[int, bool]) -> None:
        completed = sum(1 for ok in answered.values() if ok)
        self._store.set_counts(batch_id, number, completed, len(answered) - completed)

    def _answer(
        self,
        endpoint: CompatEndpoint,
        work: _ChunkWork,
        batch_id: str,
        number: int,
        index: int,
        raw: bytes,
        slots: threading.Semaphore,
    ) -> None:
        try:
            line = codec.loads(raw)
            custom_id = str(line["custom_id"])
            out = self._call(endpoint, work.path, custom_id, line.get("body"))
            stored = compat.encoded(out)
            if len(stored) > RESULT_MAX_BYTES:
                out = compat.failed_line(
                    custom_id, f"The endpoint's answer ({len(stored)} bytes) is larger than the gateway stores."
                )
                stored = compat.encoded(out)
            ok = compat.role_of(out) == "output"
            if self._store.put_result(batch_id, index, stored, ok=ok, expires_at=work.state.expires_at):
                self._store.count(batch_id, number, ok, self._clock())
        finally:
            slots.release()

    def _call(self, endpoint: CompatEndpoint, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        client = self._client(endpoint)
        headers = {"content-type": "application/json"}
        key = self._key_of(endpoint.api_key_env) if endpoint.api_key_env else None
        if key:
            headers["authorization"] = f"Bearer {key}"
        sent = 0  # sends that may have reached the endpoint: a generation it may charge for
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                response = client.post(path, json=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never reached it
                if not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return compat.failed_line(custom_id, f"The endpoint could not be reached ({type(exc).__name__}).")
            except httpx.TransportError as exc:
                # Sent, and no answer read (a read timeout, a dropped connection): the endpoint may be generating
                # it still. One more send at most, never a blind series of paid generations.
                sent += 1
                if sent < MAX_SENDS_UNANSWERED and not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return compat.failed_line(
                    custom_id, f"The endpoint did not answer ({type(exc).__name__}) after {sent} sends."
                )
            if response.status_code in http.RETRY_STATUSES and not last:
                http.sleep(_retry_after(response) or http.retry_delay(attempt, None) or 0.0)
                continue
            try:
                answer: Any = response.json()
            except ValueError:
                answer = {"error": {"message": response.text[:2000], "type": "upstream_error"}}
            if response.status_code in (401, 403):
                # the key is the operator's (api_key_env), and the endpoint's text may quote it: not the tenant's
                logger.warning("endpoint %s refused its key (HTTP %d): %s", endpoint.name, response.status_code, answer)
                answer = {
                    "error": {
                        "message": "The endpoint refused the gateway's credentials for it "
                        f"(HTTP {response.status_code}); the gateway's operator can see why in its logs.",
                        "type": "upstream_error",
                        "param": None,
                        "code": "provider_auth_failed",
                    }
                }
            return compat.output_line(
                line_id="",
                custom_id=custom_id,
                status=response.status_code,
                body=answer,
                request_id=response.headers.get("x-request-id"),
                error=None,
            )
        raise AssertionError("unreachable")

    # helpers
    def _endpoint(self, extras: dict[str, Any]) -> CompatEndpoint:
        name = extras.get("endpoint_name")
        if name is None or name == "":
            if len(self._endpoints) == 1:
                return next(iter(self._endpoints.values()))
            raise bad_request(
                "Name the endpoint: extra_body {'endpoint_name': ...}, one of "
                f"{', '.join(sorted(self._endpoints)) or '(none configured: BATCHBRIDGE_COMPAT_ENDPOINTS)'}.",
                param="endpoint_name",
                code="missing_endpoint_name",
            )
        endpoint = self._endpoints.get(name) if isinstance(name, str) else None
        if endpoint is None:
            raise bad_request(
                f"No OpenAI-compatible endpoint named {name!r}; configured: "
                f"{', '.join(sorted(self._endpoints)) or 'none (BATCHBRIDGE_COMPAT_ENDPOINTS)'}.",
                param="endpoint_name",
                code="unknown_endpoint",
            )
        return endpoint

    def _state(self, batch_id: str) -> CompatState:
        state = self._store.get(batch_id)
        if state is None:
            raise not_found("batch", batch_id)
        if state.status not in ENDED and self._clock() >= state.expires_at:
            # a running chunk ends it itself once its requests in flight are answered
            self._store.end(batch_id, "expired", state.expires_at, unless_running=True)
            state = self._store.get(batch_id) or state
        return state

    def mend(self, batch_id: str) -> None:
        """Carry on a batch whose chunk chain broke (a lost message, a worker that died, a restarted `serve`); the
        sweeper asks every minute. A batch that neither progressed nor beat for ``stall_seconds`` gets its first
        unfinished chunk queued again (it skips what was answered), and a cancel or an expiry nobody is left to see
        ends it."""
        state = self._store.get(batch_id)
        if state is None or state.status in ENDED or self._clock() - state.progressed_at < self._stall_seconds:
            return
        sizes = compat.chunk_sizes(state.total, state.chunks)
        unfinished = [number for number, size in enumerate(sizes) if state.answered.get(number, 0) < size]
        restart = unfinished[0] if unfinished else state.chunks
        if not self._store.claim_restart(state.batch_id, state.progressed_at, self._clock(), restart):
            return  # another sweep got there first
        if self._must_stop(state):
            self._stopped(state)
            return
        if unfinished:
            logger.warning("batch %s: no progress for a while; chunk %d queued again", state.batch_id, unfinished[0])
            self._send_again(state.batch_id, unfinished[0])
        else:  # every request answered, but the chain died before ending the batch
            self._store.end(state.batch_id, "completed", int(self._clock()))

    def _send_again(self, batch_id: str, number: int) -> None:
        """Queue a chunk that was queued before (its run stopped early, or its chain broke): a new generation, so a
        FIFO queue does not drop it as the same message."""
        self._queue.send("chunk", compat.chunk_ref(batch_id, number, generation=int(self._clock())))

    def _must_stop(self, state: CompatState) -> bool:
        """Whether the batch must run no further request (ended, cancelled, past its window)."""
        return state.status in ENDED or state.cancel_requested or self._clock() >= state.expires_at

    def _stopped(self, state: CompatState) -> bool:
        """Whether the batch must run no further request; ends it (cancelled or expired) when so. Called where no
        chunk of it runs: once ended, nothing more of it is answered."""
        if state.status in ENDED:
            return True
        if state.cancel_requested:
            self._store.end(state.batch_id, "cancelled", int(self._clock()), unless_running=True)
            return True
        if self._clock() >= state.expires_at:
            self._store.end(state.batch_id, "expired", state.expires_at, unless_running=True)
            return True
        return False

    def _plan(self, batch_id: str) -> dict[str, Any]:
        plan: dict[str, Any] = json.loads(b"".join(self._blobs.open(_plan_key(batch_id))))
        return plan

    def _client(self, endpoint: CompatEndpoint) -> httpx.Client:
        with self._clients_lock:
            client = self._clients.get(endpoint.name)
            if client is None:
                client = http.make_client(endpoint.base_url + "/", endpoint.timeout_seconds, self._transport)
                self._clients[endpoint.name] = client
            return client


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


def _named_for(extras: dict[str, Any], input_file: FileRecord) -> dict[str, Any]:
    """The batch's endpoint: the one it names, else the one its file was uploaded for; both, they must agree."""
    named, uploaded_for = extras.get("endpoint_name"), input_file.endpoint_name
    if named in (None, ""):
        return extras | {"endpoint_name": uploaded_for}
    if uploaded_for is not None and named != uploaded_for:
        raise bad_request(
            f"File {input_file.id!r} was uploaded for endpoint {uploaded_for!r}, not {named!r}.",
            param="endpoint_name",
            code="endpoint_mismatch",
        )
    return extras


def _plan_key(batch_id: str) -> str:
    return f"compat/{batch_id}/plan.json"


def _input_key(batch_id: str) -> str:
    return f"compat/{batch_id}/input.jsonl"


def _retry_after(response: httpx.Response) -> float | None:
    """The endpoint's Retry-After, up to a minute: a worker can wait that long."""
    seconds = http.retry_after(response)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)


def _planned(chunks: Iterator[bytes]) -> Iterator[tuple[int, int, str]]:
    """``(offset, length, custom_id)`` of each request line, for ``compat.plan_chunks``."""
    for offset, length, line in iter_lines_at(chunks):
        yield offset, length, str(codec.loads(line)["custom_id"])


def _report(state: CompatState) -> ProviderBatch:
    timestamps = {"in_progress_at": state.created_at, "expires_at": state.expires_at}
    if state.ended_at is not None:
        timestamps["finalizing_at"] = state.ended_at
        timestamps[f"{state.status}_at"] = state.ended_at
    return ProviderBatch(
        id=state.batch_id,
        raw_status=state.status,
        timestamps=timestamps,
        request_counts={"total": state.total, "completed": state.completed, "failed": state.failed},
        errors=None
        if state.status != "failed"
        else {
            "object": "list",
            "data": [{"code": "endpoint_unavailable", "message": "The endpoint is not configured."}],
        },
    )
