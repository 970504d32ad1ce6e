"""The executor (domain.executor) over in-memory ports: a dict for the chunk store, a dict of blobs, a list for the
queue, a scripted sender, and a clock the tests move."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pytest

from batchbridge.domain import output_lines
from batchbridge.domain.errors import GatewayError, not_found
from batchbridge.domain.executor import (
    CHUNK_REQUESTS,
    WINDOW_SECONDS,
    BatchExecutor,
    RunState,
    SendTarget,
    answer_line,
    output_line,
    parse_chunk_ref,
    report,
)
from batchbridge.domain.executor.run import STATE_CHECK_SECONDS
from batchbridge.domain.ports import UnrunResult

STALL = 120.0


class DictChunkStore:
    """The ChunkStore port as a dict, its conditional writes as DynamoChunkStore makes them."""

    def __init__(self) -> None:
        self.states: dict[str, RunState] = {}
        self.queued: dict[str, int] = {}
        self.counters: dict[tuple[str, int], list[int]] = {}  # (batch, chunk) -> [completed, failed]
        self.stored: dict[tuple[str, int], tuple[str, bool]] = {}  # (batch, index) -> (line, ok)
        self.lock = threading.Lock()

    def create(self, state: RunState) -> None:
        assert state.batch_id not in self.states
        self.states[state.batch_id] = dataclasses.replace(state, progressed_at=float(state.created_at))
        self.queued[state.batch_id] = 0
        for chunk in range(state.chunks):
            self.counters[state.batch_id, chunk] = [0, 0]

    def get(self, batch_id: str) -> RunState | None:
        with self.lock:
            state = self.states.get(batch_id)
            if state is None:
                return None
            counts = {chunk: self.counters[batch_id, chunk] for chunk in range(state.chunks)}
            return dataclasses.replace(
                state,
                completed=sum(done for done, _ in counts.values()),
                failed=sum(failed for _, failed in counts.values()),
                answered={chunk: done + failed for chunk, (done, failed) in counts.items()},
            )

    def request_cancel(self, batch_id: str) -> None:
        state = self.states[batch_id]
        if state.status == "in_progress":
            state.cancel_requested, state.status = True, "cancelling"

    def end(self, batch_id: str, status: str, at: int, *, unless_running: bool = False) -> bool:
        state = self.states[batch_id]
        if state.ended_at is not None or (unless_running and state.running_chunk is not None):
            return False
        state.status, state.ended_at = status, at
        return True

    def start_chunk(self, batch_id: str, chunk: int, at: float) -> bool:
        state = self.states[batch_id]
        if state.status != "in_progress" or state.cancel_requested:
            return False
        state.running_chunk, state.progressed_at = chunk, at
        return True

    def beat(self, batch_id: str, at: float) -> None:
        self.states[batch_id].progressed_at = at

    def finish_chunk(self, batch_id: str, chunk: int, at: float) -> None:
        state = self.states[batch_id]
        if state.running_chunk == chunk:
            state.running_chunk, state.progressed_at = None, at

    def claim_restart(self, batch_id: str, seen_progress: float, at: float, chunk: int) -> bool:
        state = self.states[batch_id]
        if state.progressed_at != seen_progress:
            return False
        state.progressed_at, state.running_chunk = at, None
        self.queued[batch_id] = chunk
        return True

    def advance(self, batch_id: str, done: int, following: int) -> bool:
        if self.queued[batch_id] != done:
            return False
        self.queued[batch_id] = following
        return True

    def put_result(self, batch_id: str, index: int, line: str, ok: bool, expires_at: int) -> bool:
        with self.lock:
            if (batch_id, index) in self.stored:
                return False
            self.stored[batch_id, index] = (line, ok)
            return True

    def count(self, batch_id: str, chunk: int, ok: bool, at: float) -> None:
        with self.lock:
            self.counters[batch_id, chunk][0 if ok else 1] += 1
            self.states[batch_id].progressed_at = at

    def set_counts(self, batch_id: str, chunk: int, completed: int, failed: int) -> None:
        with self.lock:
            self.counters[batch_id, chunk] = [completed, failed]

    def answered(self, batch_id: str, indexes: list[int]) -> dict[int, bool]:
        with self.lock:
            return {index: self.stored[batch_id, index][1] for index in indexes if (batch_id, index) in self.stored}

    def results(self, batch_id: str, indexes: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        for index in indexes:
            if (batch_id, index) in self.stored:
                yield index, json.loads(self.stored[batch_id, index][0])

    def delete_results(self, batch_id: str, total: int) -> None:
        for index in range(total):
            self.stored.pop((batch_id, index), None)


class MemoryBlobs:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, key: str, stream: BinaryIO, content_type: str, expire_days: int | None = None) -> None:
        self.blobs[key] = stream.read()

    def open(self, key: str) -> Iterator[bytes]:
        if key not in self.blobs:
            raise not_found("blob", key)
        data = self.blobs[key]
        return iter([data[start : start + 1000] for start in range(0, len(data), 1000)])  # chunked, as S3 reads

    def open_range(self, key: str, offset: int, length: int) -> Iterator[bytes]:
        return iter([self.blobs[key][offset : offset + length]])

    def delete(self, key: str) -> None:
        self.blobs.pop(key, None)

    def copy(self, source: str, target: str, expire_days: int | None = None) -> None:
        self.blobs[target] = self.blobs[source]


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        self.sent.append((kind, batch_id))


class ScriptedSender:
    """Answers each request by ``script`` (custom_id -> status), 200 by default, and records what it was sent."""

    def __init__(self, script: Callable[[str], int] = lambda custom_id: 200) -> None:
        self.script = script
        self.sent: list[str] = []
        self.before: Callable[[str], None] = lambda custom_id: None  # runs first: to cancel, move the clock, fail

    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        self.before(custom_id)
        self.sent.append(custom_id)
        status = self.script(custom_id)
        answer = {"echo": body, "path": path} if status < 300 else {"error": {"message": "no"}}
        return answer_line(line_id="", custom_id=custom_id, status=status, body=answer, request_id="req", error=None)


class Clock:
    """The services' clock (nanoseconds since the epoch), moved by the tests in seconds (``now``)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> int:
        return round(self.now * 1_000_000_000)


ENDPOINT = SendTarget(name="local", base_url="http://127.0.0.1:1/v1", max_concurrency=1, timeout_seconds=5.0)


class World:
    """An executor and its ports."""

    def __init__(self, endpoints: dict[str, SendTarget] | None = None) -> None:
        self.store = DictChunkStore()
        self.blobs = MemoryBlobs()
        self.queue = ListQueue()
        self.sender = ScriptedSender()
        self.clock = Clock()
        self.executor = BatchExecutor(
            {"local": ENDPOINT} if endpoints is None else endpoints,
            store=self.store,
            blobs=self.blobs,
            queue=self.queue,
            sender=self.sender,
            clock=self.clock,
            stall_seconds=STALL,
        )

    def start(self, requests: int, batch_id: str = "batch_1", endpoint: SendTarget = ENDPOINT) -> str:
        lines = [
            {"custom_id": f"r-{n}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "n": n}}
            for n in range(requests)
        ]
        self.blobs.blobs["files/input"] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self.executor.start(batch_id, "files/input", "chat/completions", endpoint.name)
        return batch_id

    def drain(self) -> int:
        """Run the queued chunks (and those they queue) until none is left; how many ran."""
        ran = 0
        while self.queue.sent:
            kind, ref = self.queue.sent.pop(0)
            assert kind == "chunk"
            self.executor.run_chunk(*parse_chunk_ref(ref))
            ran += 1
        return ran

    def lines(self, batch_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The batch's lines as the finalizer writes them: a stored answer placed, an unrun request's error line."""
        return [
            output_lines.unrun(f"line_{n}", str(custom_id), raw.code)
            if isinstance(raw, UnrunResult)
            else output_line(raw, custom_id=str(custom_id), line_id=f"line_{n}")
            for n, (custom_id, raw) in enumerate(self.executor.results(batch_id))
        ]


@pytest.fixture
def world() -> World:
    return World()


def test_a_batch_is_planned_and_run_to_completion(world: World) -> None:
    world.sender.script = lambda custom_id: 500 if custom_id.endswith("7") else 200
    batch = world.start(2 * CHUNK_REQUESTS + 50)
    assert world.queue.sent == [("chunk", "batch_1#0")]
    planned = json.loads(world.blobs.blobs["compat/batch_1/plan.json"])
    assert planned["input"] == "compat/batch_1/input.jsonl" and planned["path"] == "chat/completions"
    assert [chunk["count"] for chunk in planned["chunks"]] == [CHUNK_REQUESTS, CHUNK_REQUESTS, 50]
    assert world.drain() == 3
    state = world.executor.state(batch)
    failed = sum(1 for n in range(2 * CHUNK_REQUESTS + 50) if str(n).endswith("7"))
    assert (state.status, state.total, state.completed, state.failed) == ("completed", 250, 250 - failed, failed)
    assert state.running_chunk is None and state.ended_at == int(world.clock.now)
    assert world.sender.sent == [f"r-{n}" for n in range(250)]  # each request sent once, in order
    shown = report(state)
    assert shown.raw_status == "completed" and shown.errors is None
    assert shown.request_counts == {"total": 250, "completed": 250 - failed, "failed": failed}
    lines = world.lines(batch)
    assert [line["custom_id"] for _, line in lines] == [f"r-{n}" for n in range(250)]
    assert [role for role, _ in lines].count("error") == failed
    role, line = lines[1]
    assert role == "output" and line["id"] == "line_1"
    assert line["response"]["body"] == {"echo": {"model": "m", "n": 1}, "path": "chat/completions"}
    world.executor.release(batch)
    assert not world.store.stored and set(world.blobs.blobs) == {"files/input"}  # the tenant's file stays


def test_an_empty_input_is_a_400(world: World) -> None:
    world.blobs.blobs["files/input"] = b"\n\n"
    with pytest.raises(GatewayError) as caught:
        world.executor.start("batch_1", "files/input", "chat/completions", ENDPOINT)
    assert caught.value.status == 400 and caught.value.code == "empty_file"
    assert not world.store.states and not world.queue.sent


def test_a_chunk_run_twice_stores_and_counts_each_answer_once(world: World) -> None:
    batch = world.start(CHUNK_REQUESTS + 5)
    world.queue.sent.clear()
    world.executor.run_chunk(batch, 0)
    world.executor.run_chunk(batch, 0)  # a resend meeting the original: nothing is sent again, nothing queued
    assert world.queue.sent == [("chunk", "batch_1#1")]
    assert len(world.sender.sent) == CHUNK_REQUESTS
    assert world.executor.state(batch).completed == CHUNK_REQUESTS


def test_a_count_lost_in_a_crash_is_made_good_by_the_rerun(world: World) -> None:
    batch = world.start(10)
    world.queue.sent.clear()
    real_count, crashes = world.store.count, [1]

    def crashes_once(batch_id: str, chunk: int, ok: bool, at: float) -> None:
        if crashes[0]:
            crashes[0] -= 1
            raise RuntimeError("the worker died between storing and counting")
        real_count(batch_id, chunk, ok, at)

    world.store.count = crashes_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        world.executor.run_chunk(batch, 0)
    assert len(world.store.stored) == 10 and world.store.get(batch).completed == 9  # type: ignore[union-attr]
    assert world.store.states[batch].running_chunk is None  # the failed run let go of the chunk
    world.executor.run_chunk(batch, 0)  # the redelivery: every answer stored, none sent again
    assert len(world.sender.sent) == 10
    state = world.executor.state(batch)
    assert (state.status, state.completed, state.failed) == ("completed", 10, 0)


def test_answers_racing_a_second_run_are_counted_once(world: World) -> None:
    """Another run stored an answer while this one was sending it: the one stored first stands, counted once."""
    batch = world.start(4)
    world.queue.sent.clear()
    counted: list[int] = []
    real_count = world.store.count

    def count(batch_id: str, chunk: int, ok: bool, at: float) -> None:
        counted.append(chunk)
        real_count(batch_id, chunk, ok, at)

    world.store.count = count  # type: ignore[method-assign]
    world.sender.before = lambda custom_id: world.store.put_result(batch, 2, '{"custom_id":"r-2"}', True, 0) and None
    world.executor.run_chunk(batch, 0)
    assert world.sender.sent == ["r-0", "r-1", "r-2", "r-3"] and len(counted) == 3  # r-2: the other run counts it
    state = world.executor.state(batch)
    assert (state.status, state.completed) == ("completed", 4)  # (recounted from what is stored)
    assert world.store.stored[batch, 2][0] == '{"custom_id":"r-2"}'


def test_a_cancel_with_nothing_running_ends_the_batch_at_once(world: World) -> None:
    batch = world.start(CHUNK_REQUESTS + 1)
    world.clock.now += 5
    state = world.executor.cancel(batch)
    assert (state.status, state.ended_at) == ("cancelled", int(world.clock.now))
    assert report(state).timestamps["cancelled_at"] == int(world.clock.now)
    world.drain()  # the queued chunk finds it ended
    assert world.sender.sent == [] and world.queue.sent == []
    assert next(world.executor.results(batch)) == ("r-0", UnrunResult("batch_cancelled"))  # from the input's copy
    lines = world.lines(batch)
    assert len(lines) == CHUNK_REQUESTS + 1
    assert {role for role, _ in lines} == {"error"}
    assert lines[0][1]["custom_id"] == "r-0" and lines[0][1]["error"]["code"] == "batch_cancelled"


def test_a_cancel_during_a_run_stops_it_after_the_request_in_flight(world: World) -> None:
    batch = world.start(20)

    def cancel_on_the_third(custom_id: str) -> None:
        if custom_id == "r-2":
            assert world.executor.cancel(batch).status == "cancelling"  # a chunk runs: it ends the batch
            world.clock.now += STATE_CHECK_SECONDS  # the run looks again before its next request

    world.sender.before = cancel_on_the_third
    world.drain()
    state = world.executor.state(batch)
    assert (state.status, state.completed) == ("cancelled", 3)
    assert world.sender.sent == ["r-0", "r-1", "r-2"]
    assert [line["error"]["code"] for _, line in world.lines(batch)[3:]] == ["batch_cancelled"] * 17


def test_a_dead_chunk_becomes_error_lines_and_the_chain_goes_on(world: World) -> None:
    batch = world.start(CHUNK_REQUESTS + 10)
    world.queue.sent.clear()

    def fails_on_r5(custom_id: str) -> None:
        if custom_id == "r-5":
            raise RuntimeError("the worker keeps failing on this one")

    world.sender.before = fails_on_r5
    with pytest.raises(RuntimeError):
        world.executor.run_chunk(batch, 0)
    assert world.queue.sent == []  # (the queue redelivers it, then dead-letters it)
    world.sender.before = lambda custom_id: None
    world.executor.dead_chunk(batch, 0)
    assert world.queue.sent == [("chunk", "batch_1#1")]
    world.drain()
    state = world.executor.state(batch)
    assert (state.status, state.completed, state.failed) == ("completed", CHUNK_REQUESTS + 9, 1)
    role, line = world.lines(batch)[5]
    assert role == "error" and line["custom_id"] == "r-5" and line["error"]["code"] == "request_failed"
    assert "gave up" in line["error"]["message"]
    assert "r-5" not in world.sender.sent and len(world.sender.sent) == CHUNK_REQUESTS + 9


def test_mend_requeues_the_first_unfinished_chunk_of_a_stalled_batch(world: World) -> None:
    batch = world.start(3 * CHUNK_REQUESTS)
    world.queue.sent.clear()
    world.executor.run_chunk(batch, 0)
    assert world.queue.sent == [("chunk", "batch_1#1")]
    world.queue.sent.clear()  # the message is lost
    world.clock.now += STALL - 1
    world.executor.mend(batch)
    assert world.queue.sent == []  # not stalled yet
    world.clock.now += 1
    world.executor.mend(batch)
    world.executor.mend(batch)  # a second sweep: the first claimed the restart
    assert world.queue.sent == [("chunk", f"batch_1#1#{int(world.clock.now)}")]  # a new generation: a new message
    world.drain()
    state = world.executor.state(batch)
    assert (state.status, state.completed) == ("completed", 3 * CHUNK_REQUESTS)
    assert len(world.sender.sent) == 3 * CHUNK_REQUESTS


def test_mend_ends_a_stalled_batch_whose_requests_were_all_answered(world: World) -> None:
    batch = world.start(5)
    world.store.end = lambda *args, **kwargs: False  # type: ignore[method-assign]  # the chain dies at its end
    world.drain()
    del world.store.end
    assert world.store.states[batch].status == "in_progress"
    world.clock.now += STALL
    world.executor.mend(batch)
    assert world.queue.sent == [] and world.executor.state(batch).status == "completed"


def test_mend_ends_a_stalled_cancelled_batch(world: World) -> None:
    batch = world.start(5)
    world.queue.sent.clear()
    assert world.store.start_chunk(batch, 0, world.clock.now)
    world.executor.cancel(batch)  # asked while a chunk ran, whose worker then died
    assert world.store.states[batch].status == "cancelling"
    world.clock.now += STALL
    world.executor.mend(batch)
    assert world.queue.sent == [] and world.executor.state(batch).status == "cancelled"


def test_a_batch_past_its_window_expires(world: World) -> None:
    batch = world.start(CHUNK_REQUESTS + 1)
    world.queue.sent.clear()
    world.executor.run_chunk(batch, 0)
    assert world.queue.sent == [("chunk", "batch_1#1")]
    world.clock.now += WINDOW_SECONDS
    state = world.executor.state(batch)
    assert (state.status, state.ended_at) == ("expired", state.expires_at)
    world.drain()
    assert len(world.sender.sent) == CHUNK_REQUESTS
    lines = world.lines(batch)
    assert lines[-1][1]["error"]["code"] == "batch_expired" and lines[0][0] == "output"


def test_a_run_in_the_window_s_last_moments_expires_the_batch_after_it(world: World) -> None:
    batch = world.start(10)

    def past_the_window(custom_id: str) -> None:
        if custom_id == "r-1":
            world.clock.now += WINDOW_SECONDS

    world.sender.before = past_the_window
    world.drain()
    state = world.executor.state(batch)
    assert (state.status, state.completed) == ("expired", 2)


def test_a_run_near_its_deadline_leaves_the_rest_to_another(world: World) -> None:
    batch = world.start(10)
    world.queue.sent.clear()
    # a request gets two sends of its timeout and a margin: 40 s with this endpoint
    world.executor.run_chunk(batch, 0, deadline=time.monotonic() + 39)
    assert world.sender.sent == []
    assert world.queue.sent == [("chunk", f"batch_1#0#{int(world.clock.now)}")]
    assert world.store.states[batch].running_chunk is None
    world.drain()
    assert world.executor.state(batch).status == "completed"


def test_a_batch_whose_endpoint_went_away_fails(world: World) -> None:
    gone = SendTarget(name="gone", base_url="http://127.0.0.1:2/v1", timeout_seconds=5.0)
    batch = world.start(3, endpoint=gone)
    world.drain()
    state = world.executor.state(batch)
    assert state.status == "failed" and world.sender.sent == []
    assert report(state).errors == {
        "object": "list",
        "data": [{"code": "endpoint_unavailable", "message": "The endpoint is not configured."}],
    }


def test_an_answer_too_large_to_store_is_an_error_line(world: World) -> None:
    world.sender.script = lambda custom_id: 200
    big = "x" * (400 * 1024)
    real_send = world.sender.send
    world.sender.send = lambda endpoint, path, custom_id, body: (  # type: ignore[method-assign]
        real_send(endpoint, path, custom_id, body) | {"response": {"status_code": 200, "body": big}}
    )
    batch = world.start(1)
    world.drain()
    state = world.executor.state(batch)
    assert (state.completed, state.failed) == (0, 1)
    role, line = world.lines(batch)[0]
    assert role == "error" and "larger than the gateway stores" in line["error"]["message"]


def test_requests_run_max_concurrency_at_once() -> None:
    wide = SendTarget(name="local", base_url="http://127.0.0.1:1/v1", max_concurrency=3, timeout_seconds=5.0)
    world = World({"local": wide})
    in_flight, most, lock, all_three = [0], [0], threading.Lock(), threading.Event()

    def held(custom_id: str) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            if in_flight[0] == 3:
                all_three.set()
        all_three.wait(2)  # the first ones wait for the third
        with lock:
            in_flight[0] -= 1

    world.sender.before = held
    batch = world.start(30, endpoint=wide)
    world.drain()
    assert world.executor.state(batch).completed == 30 and most[0] == 3


def test_a_batch_planned_before_copies_whose_file_is_gone_places_lines_by_position(world: World) -> None:
    batch = world.start(3)
    world.drain()
    planned = json.loads(world.blobs.blobs["compat/batch_1/plan.json"])
    world.blobs.blobs["compat/batch_1/plan.json"] = json.dumps(planned | {"input": "files/input"}).encode()
    world.store.delete_results(batch, 3)
    del world.blobs.blobs["files/input"]
    assert [custom_id for custom_id, _ in world.executor.results(batch)] == [None, None, None]
    world.executor.release(batch)
    assert "compat/batch_1/input.jsonl" in world.blobs.blobs  # not the batch's own: left to its lifecycle
    assert "compat/batch_1/plan.json" not in world.blobs.blobs


def test_find_and_state_of_a_batch_never_started(world: World) -> None:
    assert world.executor.find("batch_none") is None
    with pytest.raises(GatewayError) as caught:
        world.executor.state("batch_none")
    assert caught.value.status == 404
    results = world.executor.results("batch_none")  # lazy: fails when read
    with pytest.raises(GatewayError):
        next(results)
