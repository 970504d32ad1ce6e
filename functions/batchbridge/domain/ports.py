"""What the domain needs from the edges: record and blob stores, and provider adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, BinaryIO, Final, Generic, Literal, NamedTuple, Protocol, TypeVar

from batchbridge.domain.jsonl import parsed_lines
from batchbridge.domain.parts import JobLimits, JobPart
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import BatchRecord, FileRecord, ProviderJob, UploadPartRecord, UploadRecord

Kind = Literal["file", "batch"]
T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_more: bool


class RecordStore(Protocol):
    def put_file(self, record: FileRecord) -> None: ...
    def put_file_if_absent(self, record: FileRecord) -> bool: ...
    def update_file(self, record: FileRecord) -> bool:
        """Write ``record`` if the stored version is ``record.version - 1`` and the file is not deleted; False if
        another writer won."""
        ...

    def get_file(self, file_id: str, *, include_deleted: bool = False) -> FileRecord | None: ...
    def delete_file(self, record: FileRecord, deleted_at: int) -> None: ...
    def put_batch(self, record: BatchRecord) -> None: ...
    def get_batch(self, batch_id: str) -> BatchRecord | None: ...
    def delete_batch(self, record: BatchRecord) -> bool:
        """Remove ``record`` if it is still the version read; False if another writer won."""
        ...

    def update_batch(self, record: BatchRecord) -> bool:
        """Write ``record`` if the stored version is ``record.version - 1``; False if another writer won."""
        ...

    def list_files(
        self,
        owner: str,
        *,
        order: str,
        after: FileRecord | None,
        limit: int,
        keep: Callable[[FileRecord], bool],
    ) -> Page[FileRecord]: ...
    def list_batches(
        self,
        owner: str,
        *,
        order: str,
        after: BatchRecord | None,
        limit: int,
        keep: Callable[[BatchRecord], bool],
    ) -> Page[BatchRecord]: ...
    def list_active_batches(self, start: int = 0) -> Iterator[BatchRecord]:
        """Every batch not yet in a final status (a sparse index holds only those). ``start``: where to begin (the
        store's shard ``start`` modulo their number), so sweeps that stop at their budget each reach others."""
        ...

    def put_delivery(self, delivery: Delivery) -> None: ...
    def get_delivery(self, event_id: str) -> Delivery | None: ...

    def put_upload(self, record: UploadRecord) -> None: ...
    def get_upload(self, upload_id: str) -> UploadRecord | None: ...
    def update_upload(self, record: UploadRecord) -> bool:
        """Write ``record`` if the stored version is ``record.version - 1``; False if another writer won."""
        ...

    def put_upload_part(self, part: UploadPartRecord) -> None: ...
    def get_upload_parts(self, part_ids: list[str]) -> dict[str, UploadPartRecord]:
        """The parts that exist among ``part_ids``, by ID."""
        ...


class MultipartWriter(Protocol):
    """One object written in order, in parts, without holding it (S3 multipart upload)."""

    def write(self, data: bytes) -> None: ...
    def complete(self) -> None: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    def put(self, key: str, stream: BinaryIO, content_type: str, expire_days: int | None = None) -> None: ...
    def open(self, key: str) -> Iterator[bytes]: ...
    def open_range(self, key: str, offset: int, length: int) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...
    def copy(self, source: str, target: str, expire_days: int | None = None) -> None:
        """Copy an object within the bucket (server-side: nothing passes through the process)."""
        ...

    def set_expiry(self, key: str, expire_days: int | None) -> None: ...
    def writer(self, key: str, content_type: str, expire_days: int | None = None) -> MultipartWriter: ...
    def download_url(self, key: str, *, filename: str, expires_seconds: int) -> str:
        """A short-lived URL that GETs the object without other credentials (a presigned S3 GET)."""
        ...


@dataclass
class ProviderFile:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    expires_at: int | None = None
    region: str | None = None  # where the provider's copy lives, when a provider is regional (Bedrock)
    staged_bucket: str | None = None  # where the gateway staged the provider's copy in S3 (Bedrock)
    staged_key: str | None = None


FIND_SLACK_SECONDS: Final = 300  # clocks differ: find_batch looks this far back past the create's own time


@dataclass(frozen=True, slots=True)
class RawResultLine:
    """A result line the provider wrote itself as an OpenAI batch output line (OpenAI's), as ``results`` gives it:
    ``data``, its bytes as the provider wrote them, its line ending included (a file's last line may have none), for
    the gateway to write untouched into the batch's ``role`` file ("output" | "error", the file the provider put it
    in). (A class of its own, not a tuple: ``results`` yields it beside the (custom_id, raw line) pairs.)"""

    role: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RawResultFile:
    """A result file the provider wrote itself (OpenAI's output or error file), as ``results`` announces it before
    its lines (RawResultLine): the batch's ``role`` file is then there even when the provider's file is empty, and
    takes its dates (and its ID, to delete it with ours)."""

    role: str
    file: ProviderFile


@dataclass(frozen=True, slots=True)
class UnreadableResult:
    """A result line of the provider's the adapter could not read at all (not a JSON object), in its place in
    ``results`` (the request at its position, when it names no custom_id): ``problem`` says what is wrong; the
    gateway writes it as a ``provider_bad_result`` error line."""

    problem: str


@dataclass(frozen=True, slots=True)
class UnrunResult:
    """A request the batch never ran, in its place in ``results`` (from a provider that lists every request, such
    as the gateway's own executor): ``code`` is why (``output_lines.CANCELLED`` or ``EXPIRED``); the gateway
    writes it as that error line."""

    code: str


# What ``ProviderAdapter.results`` yields: (provider custom_id, raw line) pairs to convert (the raw line may be an
# UnreadableResult or an UnrunResult), or, from a provider that writes OpenAI lines itself, its files and their
# raw lines.
ResultItem = tuple[str | None, dict[str, Any] | UnreadableResult | UnrunResult] | RawResultLine | RawResultFile


@dataclass
class ProviderBatch:
    """A provider's report of a batch: its raw state (``lifecycle`` says what it means), counts, unix seconds."""

    id: str
    raw_status: str
    timestamps: dict[str, int] = field(default_factory=dict)
    request_counts: dict[str, int] | None = None
    errors: dict[str, Any] | None = None
    # The provider writes its results as OpenAI batch output lines itself, in files of its own (OpenAI): ``results``
    # gives them raw (RawResultFile, RawResultLine), and its request_counts stand (the gateway counts and checks none)
    writes_result_lines: bool = False
    # Where the provider holds the job's input (its file ID; None where it names none) and its results (its output and
    # error file IDs, once it names them): kept on the job (ProviderJob) as last reported
    input_location: str | None = None
    output_locations: list[str] | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    all_expired: bool = False  # every request expired unrun (providers whose "ended" covers expiry)
    custom_id_map: dict[str, str] | None = None  # provider custom_id -> the user's, where they differ
    job_kind: str | None = None  # how the job runs (ProviderJob.kind): None, a provider batch; "on_demand"

    def as_created(self, model: str, custom_id_map: dict[str, str]) -> ProviderBatch:
        """This report as a create answers it: with the batch's model, every request's custom_id (the finalizer
        accounts for each, those the provider never ran included) and, while the provider counts none, every
        request pending. Returns itself."""
        if self.request_counts is None:
            self.request_counts = {"total": len(custom_id_map), "completed": 0, "failed": 0}
        self.model = model
        self.custom_id_map = custom_id_map
        return self


class LineConversion(Protocol):
    """A batch upload in the form its provider takes, made a line at a time as the file service checks each line
    (every line parsed once), what it writes spooled (memory stays bounded) until ``close``."""

    def add(self, line: dict[str, Any]) -> None:
        """One checked OpenAI batch input line, converted; a 400 naming its custom_id when the provider cannot
        take it."""
        ...

    def finish(self) -> None:
        """After the last ``add``: what it held back (lines waiting for their fetched images), converted; its errors
        are the conversion's, as ``add``'s are."""
        ...

    def close(self) -> None: ...


class ConvertsUploads(Protocol):
    """An adapter whose provider takes batch files converted (Bedrock, Gemini, Anthropic; not OpenAI, which reads
    them as they are, nor openai-compatible, whose batches the gateway runs from its own copy). Told by the
    method's presence (``hasattr``), not by ``isinstance``: an adapter's wrappers (gateway keys, tracing) forward
    its methods through ``__getattr__``, which a runtime protocol check does not consult from Python 3.12 on."""

    def line_conversion(self) -> LineConversion:
        """An empty conversion for one upload, to ``add`` its lines to; it comes back to the adapter's
        ``upload_file`` as ``UploadRequest.converted``."""
        ...


class PlansParts(Protocol):
    """An adapter that plans a split batch's parts itself (optional, told by ``hasattr``: Bedrock, by the bytes of
    its staged records); others get ``parts.plan_parts`` over the lines of the batch's input copy."""

    def plan_parts(
        self, credentials: Credentials, input_file: FileRecord, lines: Iterator[tuple[int, int]], limits: JobLimits
    ) -> list[JobPart]:
        """The parts of ``input_file`` (``lines``: each line's offset and length in the batch's input copy), each
        within ``limits``."""
        ...


class HasRoom(Protocol):
    """An adapter whose provider caps the jobs that run at once (optional, told by ``hasattr``: Bedrock's
    concurrent-job quota per model)."""

    def room(self, credentials: Credentials, request: BatchRequest) -> int | None:
        """How many more jobs like ``request``'s may start now; None: no known limit."""
        ...


class ReleasesPartInput(Protocol):
    """An adapter that made a copy of a part's input at the provider when it created the part's job (optional,
    told by ``hasattr``: OpenAI's and Gemini's part files, Bedrock's part objects)."""

    def release_part_input(self, credentials: Credentials, job: ProviderJob) -> None:
        """Remove that copy (the job's ``input_location``), now that the batch is final."""
        ...


class ReleasesUnusedPartInput(Protocol):
    """An adapter whose create of a part makes a copy of the part's input at the provider before the job itself
    (optional, told by ``hasattr``: OpenAI's and Gemini's part files, Bedrock's part objects), so that a create
    whose answer was lost may have left the copy though it made no job."""

    def release_unused_part_input(self, credentials: Credentials, request: BatchRequest, created_at: int) -> None:
        """Remove what an unanswered ``create_batch(request)`` (sent at ``created_at``) made for ``request.part``,
        once ``find_batch`` found no job of it: told by the name that makes it the part's (a file's among those
        made since FIND_SLACK_SECONDS before ``created_at``, a staged object's key); gone already is removed."""
        ...


class KnowsFileLifetime(Protocol):
    """An adapter whose provider expires the files it is sent by default (optional, told by ``hasattr``: OpenAI's
    batch files, 30 days), so that a file the gateway keeps alone, never sent there, expires as it would have."""

    def default_file_lifetime(self, purpose: str) -> int | None:
        """How long (seconds) the provider keeps a file of ``purpose`` uploaded without ``expires_after``; None:
        until it is deleted."""
        ...


@dataclass
class ConvertedUpload:
    """A batch upload's lines as the file service converted them, in its one pass over the file: ``conversion``,
    and ``error``, the first line it could not convert. The pass checked the rest of the file after that line;
    the adapter raises the error where it converts (after what it checks of the request itself), so errors come
    in the order they did when the file was checked whole, then converted."""

    conversion: LineConversion
    error: Exception | None = None

    def result(self) -> LineConversion:
        """The conversion; the error, raised, when there was one."""
        if self.error is not None:
            raise self.error
        return self.conversion


C = TypeVar("C", bound=LineConversion)


@dataclass
class UploadRequest:
    file_id: str  # the gateway's ID for the file being uploaded
    stream: BinaryIO
    size: int
    filename: str
    content_type: str
    purpose: str
    expires_after_seconds: int | None
    extras: dict[str, Any]
    # a batch file for a provider that takes it converted: its lines as the file service checked and converted them
    converted: ConvertedUpload | None = None

    @contextmanager
    def converted_lines(self, kind: type[C], make: Callable[[], C]) -> Iterator[C]:
        """The batch lines as a ``kind`` conversion: the file service's (its error raised now), or, for a caller
        that gave none, one ``make()`` makes now from ``stream`` (lines checked already), closed on the way out."""
        if self.converted is not None:
            conversion = self.converted.result()
            if isinstance(conversion, kind):
                yield conversion
                return
        made = make()
        try:
            for line in parsed_lines(iter(lambda: self.stream.read(64 * 1024), b"")):
                made.add(line)
            made.finish()
            yield made
        finally:
            made.close()


@dataclass
class BatchRequest:
    batch_id: str  # the gateway's ID for the batch being created (job names, idempotency tokens)
    input_file: FileRecord | None  # None: the requests came inline (extras["requests"])
    open_input: Callable[[], Iterator[bytes]] | None  # the input file's original bytes, from our bucket
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    output_expires_after_seconds: int | None
    extras: dict[str, Any]
    # The part of the input this job runs (its lines, and their bytes in the copy ``open_part`` reads); None: the
    # whole input, as one job
    part: JobPart | None = None
    # The part's bytes (its lines as uploaded), from our bucket; None where there is no part or no copy
    open_part: Callable[[], Iterator[bytes]] | None = None


@dataclass(frozen=True)
class Credentials:
    """What the client sent to reach the provider: its key, and OpenAI's optional org/project scope."""

    api_key: str
    organization: str | None = None
    project: str | None = None


@dataclass
class Caller:
    """Who is asking: the keyed hash that owns records, and what is passed to the provider."""

    owner: str
    credentials: Credentials


class Job(StrEnum):
    """The kinds of background job a WorkQueue carries (``{"kind", "batch_id"}``; see BatchJobs.run)."""

    FINALIZE = "finalize"
    NOTIFY = "notify"
    RECONCILE = "reconcile"
    RELEASE = "release"
    REFRESH = "refresh"  # its "batch_id": the batch's, and when the sweep queued it
    SUBMIT_BATCH = "submit_batch"
    START_PARTS = "start_parts"  # plans a split batch's parts and starts those its provider has room for
    COMPLETE_UPLOAD = "complete_upload"  # its "batch_id": an upload's
    CHUNK = "chunk"  # its "batch_id": a chunk's reference (the executor's)
    CHUNK_DEAD = "chunk_dead"


class ResultContext(NamedTuple):
    """What a result line is converted with, besides the provider's own line: the batch's endpoint (which of the
    provider's translations reads it), the model its provider reports for the job ("" when it names none), when
    the files are written (unix seconds), the user's custom_id and the output line's id. (A NamedTuple: immutable,
    and made once per line of files up to 200 MB at a third of a frozen dataclass's cost.)"""

    endpoint: str
    model: str
    created: int
    custom_id: str
    line_id: str


class ProviderAdapter(Protocol):
    """One provider behind the OpenAI Files and Batch API, called with the client's credentials."""

    name: str
    spec: ProviderSpec  # what its module declares of the provider: names, key, what its batch states mean

    max_batch_requests: int  # requests one batch may hold at this provider
    job_limits: JobLimits  # what one job of its may hold: a batch beyond it is split into parts (``domain.parts``)
    # the provider may leave requests out of its result lines (unprocessed, stopped, expired): its custom_id map
    # then lists every request, and the missing ones become error lines
    results_may_omit: bool
    lines_need_model: bool  # whether each batch input line must name its model (body.model)
    custom_id_max_chars: int | None  # longest custom_id the gateway takes (None: the provider judges them)
    # The provider reads OpenAI batch files itself and reports bad lines on the batch (errors.data, with line
    # numbers), as OpenAI does: its files reach it as sent, unchecked by the gateway.
    judges_lines: bool

    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        """The provider's copy of an uploaded file; None when the gateway's own copy is all there is."""
        ...

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile: ...
    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        """Remove the provider's copy of ``file`` (``file.provider_file_id``, and what the gateway staged for it)."""
        ...

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]: ...
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch: ...
    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch: ...
    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch: ...
    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        """The batch an unanswered ``create_batch(request)`` (sent at ``created_at``) left at the provider, found
        by the gateway's ID it carries there (a tag, name or token), looking back to FIND_SLACK_SECONDS before
        ``created_at``; None when the provider holds none, or when it keeps nothing to know it by. Reports as
        ``create_batch`` would, custom_id map included."""
        ...

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[ResultItem]:
        """The ended batch's results: (provider custom_id, raw line) pairs, each converted by ``output_line`` (an
        UnreadableResult in place of a line the adapter could not read); or, where its reports say the provider
        ``writes_result_lines``, each of its files (RawResultFile) followed by that file's lines (RawResultLine),
        written as they are.

        A None custom_id means "the request at this line's position": for providers whose results keep the input
        order, and only with a custom_id map listing every request in that order."""
        ...

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        """One raw result line (as ``results`` gave it) as ("output" | "error", OpenAI batch output
        line), by the provider's translation for ``context.endpoint``; a GatewayError when it cannot be read."""
        ...

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """The batch is final and its results are the gateway's files: remove the copies of the results the gateway
        itself keeps for the provider (stored answers, raw output in its bucket), if any."""
        ...


class ChunkRunner(Protocol):
    """A provider whose batches the gateway runs itself, a queued chunk of requests at a time."""

    def run_chunk(self, batch_id: str, number: int, deadline: float | None = None) -> None:
        """Run a queued chunk; ``deadline`` (``time.monotonic()``): when the run must be over (a Lambda function's
        end), the rest of the chunk queued again by then."""
        ...

    def dead_chunk(self, batch_id: str, number: int) -> None: ...
    def mend(self, batch_id: str) -> None:
        """(the sweeper) Carry on a batch whose chunk chain broke: a lost message, a worker that died."""
        ...


class ProviderRegistry(Protocol):
    def check(self, name: str) -> None:
        """A 400 ``unsupported_provider`` when ``name`` is not built (cheap: no adapter is made)."""
        ...

    def get(self, name: str) -> ProviderAdapter:
        """The adapter for ``name``; a 400 ``unsupported_provider`` when it is not built."""
        ...


class Vault(Protocol):
    """Seals the client's provider credentials so background work (sweeper, finalizer) can act for it."""

    def seal(self, credentials: Credentials, context: str) -> str: ...
    def open(self, sealed: str, context: str) -> Credentials: ...


class WorkQueue(Protocol):
    """Background work off the request path: ``finalize`` or ``notify`` a batch."""

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None: ...


class WebhookSender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the HTTP status; raise on a transport failure."""
        ...


@dataclass
class Delivery:
    event_id: str
    batch_id: str
    event_type: str
    status: str  # "delivered", "retrying" (another attempt is queued) or "failed" (given up)
    attempts: int
    last_error: str | None
    at: int
