"""What the executor works with: the state of a batch it runs, where its requests go (``SendTarget``), and its two
ports — the store of that state and of the answers (``store.executor_state`` keeps them in DynamoDB), and what sends
one request (``providers.compat``'s HTTP call to an OpenAI-compatible endpoint, ``providers.bedrock_runtime``'s
InvokeModel call; ``routing.RoutingSender`` picks a target's by its ``sender``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

RESULT_MAX_BYTES: Final = 350 * 1024  # the most a stored answer holds (DynamoDB items hold 400 KB)
MAX_SENDS_UNANSWERED: Final = 2  # a request sent without an answer read is sent once more at most
ENDED: Final = frozenset({"completed", "cancelled", "expired", "failed"})


@dataclass(frozen=True)
class SendTarget:
    """Where a batch's requests go, as the executor sees it: a name (the batch's ``endpoint_name``), the base URL
    its sender appends a path to, how long one request may take, and how the executor paces them. A provider maps
    its own configuration to it (``providers.compat.send_target``, ``providers.bedrock_on_demand.send_target``);
    what else a send needs is its sender's: ``sender`` says which sender that is ("http": an OpenAI-compatible
    endpoint, the path under ``base_url``; "bedrock-runtime": Bedrock's InvokeModel in ``region``, the path the
    model ID)."""

    name: str
    base_url: str
    timeout_seconds: float  # one send (the executor sends nothing that might outlast its run)
    max_concurrency: int = 4  # requests of one batch in flight at once
    requests_per_minute: int | None = None  # requests of one batch started per minute
    key_variable: str | None = None  # what holds its key, read by the sender at each send (None: no key)
    sender: str = "http"  # which sender sends its requests (routing.RoutingSender's key)
    region: str | None = None  # an AWS target's region (None: boto3's own)

    @property
    def start_gap_seconds(self) -> float:
        """The spacing of request starts that ``requests_per_minute`` asks for (0: none)."""
        return 60.0 / self.requests_per_minute if self.requests_per_minute else 0.0


@dataclass
class RunState:
    """A batch the gateway runs itself: how far it got, and whether it must stop."""

    batch_id: str
    status: str  # in_progress | cancelling | completed | cancelled | expired | failed
    endpoint_name: str
    total: int
    chunks: int
    created_at: int
    expires_at: int
    completed: int = 0
    failed: int = 0
    ended_at: int | None = None
    cancel_requested: bool = False
    progressed_at: float = 0.0  # when a chunk last started, answered a request or beat, or was sent again
    running_chunk: int | None = None  # the chunk a worker is running (set at its start, None again at its end)
    answered: dict[int, int] = field(default_factory=dict)  # chunk -> requests answered in it

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def must_stop(self, now: float) -> bool:
        """Whether the batch must run no further request (ended, cancelled, past its window)."""
        return self.ended or self.cancel_requested or now >= self.expires_at


class ChunkStore(Protocol):
    """The batches' state and their answers. Every write that can meet another worker's is conditional, and says
    whether it was made."""

    def create(self, state: RunState) -> None: ...
    def get(self, batch_id: str) -> RunState | None: ...
    def request_cancel(self, batch_id: str) -> None:
        """Ask the running chunks to stop (a batch that already ended keeps its end)."""
        ...

    def end(self, batch_id: str, status: str, at: int, *, unless_running: bool = False) -> bool:
        """Record how the batch ended, once. ``unless_running``: only while no worker runs a chunk of it."""
        ...

    def start_chunk(self, batch_id: str, chunk: int, at: float) -> bool:
        """A worker starts running ``chunk``, if the batch runs on (neither ended nor asked to cancel)."""
        ...

    def beat(self, batch_id: str, at: float) -> None:
        """The worker of a running chunk is alive."""
        ...

    def finish_chunk(self, batch_id: str, chunk: int, at: float) -> None:
        """The worker of ``chunk`` is done with it (if another chunk's worker took over since, that one stays)."""
        ...

    def claim_restart(self, batch_id: str, seen_progress: float, at: float, chunk: int) -> bool:
        """Mark a stalled batch as restarted from ``chunk``, if its progress is still ``seen_progress``."""
        ...

    def advance(self, batch_id: str, done: int, following: int) -> bool:
        """The chain moves from chunk ``done`` to ``following``, once."""
        ...

    def put_result(self, batch_id: str, index: int, line: str, ok: bool, expires_at: int) -> bool:
        """Store request ``index``'s output line (at most RESULT_MAX_BYTES) unless one is stored; False if it was."""
        ...

    def count(self, batch_id: str, chunk: int, ok: bool, at: float) -> None:
        """One more answered request in ``chunk`` (atomic); the batch has progressed."""
        ...

    def set_counts(self, batch_id: str, chunk: int, completed: int, failed: int) -> None:
        """``chunk``'s counters, recounted from its stored results."""
        ...

    def answered(self, batch_id: str, indexes: list[int]) -> dict[int, bool]:
        """Which of ``indexes`` have a stored result, and whether each was a success."""
        ...

    def results(self, batch_id: str, indexes: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """The stored lines of ``indexes`` (those answered), in the order given."""
        ...

    def delete_results(self, batch_id: str, total: int) -> None:
        """Remove every stored answer of the batch (its requests are ``0 .. total - 1``)."""
        ...


class RequestSender(Protocol):
    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        """Send one request (``body``, to ``path`` under the target) and give its OpenAI batch output line, with
        no line ID yet: the target's answer whatever its status, or an error line when none came. What the
        target does wrong is a line, not an exception (an exception fails the chunk's run, to be run again).
        Sent MAX_SENDS_UNANSWERED times at most without an answer read, each send within the target's
        ``timeout_seconds``: the executor sends no request that might outlast its run."""
        ...
