"""The gateway's own records of files and batches, and their OpenAI views (every field OpenAI's object has, ``null``
where OpenAI sends ``null``)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Final

from batchbridge.domain.lifecycle import TERMINAL as TERMINAL_BATCH_STATUSES

BATCH_TIMESTAMPS: Final = (
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


PROCESSING_UNFINISHED: Final = "Processing did not finish in time; upload the file again."


@dataclass
class FileRecord:
    id: str
    owner: str
    provider: str
    filename: str
    bytes: int
    purpose: str
    created_at: int
    provider_file_id: str | None = None
    expires_at: int | None = None
    status: str = "processed"
    blob_key: str | None = None  # S3 key of the original bytes, when the gateway holds them
    content_type: str | None = None
    line_url: str | None = None  # the endpoint every line of a batch input file calls
    request_count: int | None = None
    model: str | None = None  # the lines' model, when they all name the same one
    source_batch_id: str | None = None  # set on a batch's output and error files
    provider_region: str | None = None  # region of the provider's copy (Bedrock staging)
    # where the provider's copy was staged in S3 (Bedrock), as written: never re-read from a URI
    staged_bucket: str | None = None
    staged_key: str | None = None
    created_ns: int = 0  # orders lists finer than created_at's seconds
    endpoint_name: str | None = None  # provider openai-compatible: the endpoint named at upload (its batches' default)
    # OpenAI's File.status: "uploaded" (accepted, not yet usable: a large Upload being assembled by its job),
    # "processed" (usable) or "error" (status_details says why; nothing of it is kept but the record).
    status_details: str | None = None
    processing_until: int | None = None  # while "uploaded": its lease; past it the file reads "error"
    processing_claimed: bool = False  # a complete_upload job is at work on it (one run at a time)
    version: int = 0  # while "uploaded": each write is conditional on the one read

    def seen_at(self, now: int) -> FileRecord:
        """The file as a reader sees it at ``now``: one whose processing lease ran out unfinished is in error (its
        job, should it run later, leaves it so)."""
        if self.status == "uploaded" and self.processing_until is not None and now >= self.processing_until:
            return replace(self, status="error", status_details=PROCESSING_UNFINISHED)
        return self

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": self.status_details,
        }


@dataclass
class ProviderJob:
    """One provider batch of a gateway batch, as its provider last reported it."""

    id: str  # the provider's batch id
    raw_status: str | None = None
    phase: str | None = None  # what raw_status means (lifecycle.Observation.phase); None before any report
    outcome: str | None = None  # how the provider ended it (completed, expired, cancelled); None while it runs
    request_counts: dict[str, int] | None = None
    usage: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None
    custom_id_map_key: str | None = None  # blob of {provider custom_id: user's}, where the provider needed others
    # Where the provider holds the job's input: its file ID there (OpenAI, Gemini), or the key the gateway staged it
    # at (Bedrock); None where it took the requests inline, or for records written before jobs kept it
    input_location: str | None = None
    # Where the provider wrote the job's results, as it last named them (OpenAI's output and error file IDs); None
    # where it names none
    output_locations: list[str] | None = None
    # How it runs: None, as the provider's own batch job; "on_demand", request by request on the gateway's executor
    # (a Bedrock batch below Bedrock's minimum of records)
    kind: str | None = None
    # Which requests of the batch's input it runs (``parts.JobPart.stored()``); None: all of them (a batch of one
    # job, or records written before batches were split)
    part: dict[str, int] | None = None
    # A part not started yet (``id`` ""): when it may be tried next (unix seconds; None: at once), how many of its
    # creates were put off because the provider had no room (a 429, a queue full), and when a run sent (or was about
    # to send) its create whose answer the record does not hold (the next run first asks the provider for what that
    # create left, never creating a second job for the part)
    waiting_until: int | None = None
    attempts: int = 0
    sent_at: int | None = None
    # "expired": the gateway stopped it at the provider because the batch's completion window closed (its ending,
    # cancelled there, is the batch's expiry)
    stopped: str | None = None

    @property
    def started(self) -> bool:
        """Created at its provider (a part still waiting, or refused, has no provider job)."""
        return self.id != ""

    @property
    def finished(self) -> bool:
        """Ended (how: ``outcome``) or failed: nothing of it runs any more."""
        return self.outcome is not None or self.phase == "failed"

    @property
    def waiting(self) -> bool:
        """A part not yet started, that still may be."""
        return not self.started and not self.finished

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> ProviderJob:
        known = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})


def merged_outcome(outcomes: list[str], *, split: bool = False) -> str:
    """How a batch ended, from how its jobs did: cancelled if any was, else completed if any completed, else
    expired (every job's requests expired unrun). ``split``: the jobs are parts of one batch, whose completion
    window is the whole batch's: expired if any part expired (its window closed with requests unrun, as an OpenAI
    batch past its window expires with what it completed in its output)."""
    if "cancelled" in outcomes:
        return "cancelled"
    if split and "expired" in outcomes:
        return "expired"
    return "completed" if "completed" in outcomes else "expired"


@dataclass
class BatchRecord:
    id: str
    owner: str
    provider: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: int
    # The provider batches that run it (today exactly one once created; none while it is an intent or pending
    # submission): each job's own report, merged into the batch's status, counts, usage and errors.
    jobs: list[ProviderJob] = field(default_factory=list)
    model: str | None = None
    timestamps: dict[str, int] = field(default_factory=dict)
    request_counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    errors: dict[str, Any] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    metadata: dict[str, str] | None = None
    usage: dict[str, Any] | None = None
    version: int = 0
    created_ns: int = 0  # orders lists finer than created_at's seconds
    refreshed_ns: int = 0  # when the provider was last asked
    sealed_credentials: str | None = None  # the client's provider credentials, sealed by the Vault
    notify_pending: bool = False  # final, but its webhook not yet delivered (or given up on)
    release_pending: bool = False  # final, but its working copies (custom_id map, stored answers, …) not yet removed
    output_expires_after_seconds: int | None = None  # for output files the gateway writes itself
    # Written before the provider is asked, cleared once its answer is stored: while set, every read treats the
    # batch as absent, and the reconcile job looks for what an unanswered create may have left at the provider.
    creating: bool = False
    # Accepted before its provider batch exists (a large input file, for a provider whose create reads all of it):
    # the submit_batch job creates it. Set while none exists; cleared once one does, or once the batch ended
    # without one (refused, cancelled, expired).
    submit_pending: bool = False
    submit_params: dict[str, Any] | None = None  # the create's parameters (extras) for the job's provider create
    # The submitting run's lease (unix seconds); a run released early (a passing failure) sets it to that time.
    # Past it, that run is gone (its function ended): another run takes the submission over.
    submit_until: int | None = None
    # When a run sent (or was about to send) the provider its create, whose answer never reached the record: the
    # next run first looks for what that create may have left at the provider, never creating a second batch.
    submit_sent_at: int | None = None
    submit_attempts: int = 0  # runs that claimed the submission (the sweeper waits longer after each)
    # The batch's own copy of its input, made at acceptance: the submission reads it, so deleting the input file
    # meanwhile does not fail the batch (as it does not an OpenAI batch); removed once submitted or ended.
    submit_input_key: str | None = None
    # A batch split into parts (beyond one job of its provider: ``domain.parts``): the batch's own copy of its input
    # (each part's requests are read from it; kept until the batch is released), whether parts are still to be
    # planned or started (the start_parts job's work: see ``services.parts_runner``), and that job's lease (unix
    # seconds; one run at a time)
    input_copy_key: str | None = None
    parts_pending: bool = False
    parts_until: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_BATCH_STATUSES

    @property
    def started_jobs(self) -> list[ProviderJob]:
        """The jobs its provider holds (parts not started, or refused, have none to ask about)."""
        return [job for job in self.jobs if job.started]

    # The one-job view (a batch's first provider job): what records before jobs stored, and still store beside them
    # so an earlier release reads them (see ``stored`` and ``from_stored``).
    @property
    def provider_batch_id(self) -> str | None:
        started = self.started_jobs
        return started[0].id if started else None

    @property
    def provider_status(self) -> str | None:
        started = self.started_jobs
        return started[0].raw_status if started else None

    @property
    def custom_id_map_key(self) -> str | None:
        started = self.started_jobs
        return started[0].custom_id_map_key if started else None

    @property
    def provider_outcome(self) -> str | None:
        """How the providers ended the batch, once every job has ended or failed (final for us once finalized) and
        one ended; None while any runs or waits (and when every job failed: the batch failed, with nothing to
        finalize)."""
        if not self.jobs or any(not job.finished for job in self.jobs):
            return None
        outcomes = [job.outcome for job in self.jobs if job.outcome is not None]
        split = any(job.part is not None for job in self.jobs)
        return merged_outcome(outcomes, split=split) if outcomes else None

    def job(self, provider_batch_id: str) -> ProviderJob | None:
        return next((job for job in self.jobs if job.id == provider_batch_id), None)

    def stored(self) -> dict[str, Any]:
        """The record as stored: its fields, and the one-job view's for a release that knows no jobs."""
        values = asdict(self)
        if len(self.jobs) == 1:
            values |= {
                "provider_batch_id": self.provider_batch_id,
                "provider_status": self.provider_status,
                "provider_outcome": self.jobs[0].outcome,
                "custom_id_map_key": self.custom_id_map_key,
            }
        return values

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> BatchRecord:
        """A stored record: this release's, an earlier one's (one provider batch id, no jobs) or a later one's
        (fields this one does not know are left out, so a rollback reads it)."""
        known = {item.name for item in fields(cls)}
        record = cls(**{name: value for name, value in values.items() if name in known and name != "jobs"})
        if "jobs" in values:
            record.jobs = [ProviderJob.from_stored(job) for job in values["jobs"] or []]
        elif values.get("provider_batch_id"):
            record.jobs = [
                ProviderJob(
                    id=values["provider_batch_id"],
                    raw_status=values.get("provider_status"),
                    phase="ended" if values.get("provider_outcome") else None,
                    outcome=values.get("provider_outcome"),
                    request_counts=dict(record.request_counts),
                    usage=copy.deepcopy(record.usage),
                    errors=copy.deepcopy(record.errors),
                    custom_id_map_key=values.get("custom_id_map_key"),
                )
            ]
        return record

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            **{name: self.timestamps.get(name) for name in BATCH_TIMESTAMPS},
            "request_counts": dict(self.request_counts),
            "usage": self.usage,
            "metadata": self.metadata,
        }


BLOB_EXPIRY_MAX_DAYS: Final = 30  # OpenAI's longest expires_after; the bucket has one lifecycle rule per day
# A batch's working copies (custom_id map, a self-run batch's plan and input copy) are removed once it is final;
# what a batch that never finalizes leaves goes after this many days (the bucket's rule for the tag).
WORKING_EXPIRY_DAYS: Final = BLOB_EXPIRY_MAX_DAYS


def blob_expiry_days(lifetime_seconds: int | None) -> int | None:
    """Whole days after which a blob living ``lifetime_seconds`` may be removed by the bucket's lifecycle rules
    (rounded up: never before the record says it expired; reads treat it as absent from then on anyway)."""
    if lifetime_seconds is None:
        return None
    return min(BLOB_EXPIRY_MAX_DAYS, max(1, -(-lifetime_seconds // 86_400)))


# How long a batch's output and error files live when the batch set no output_expires_after (OpenAI keeps its own
# for 30 days): every result file has an expires_at, whichever provider ran the batch.
DEFAULT_OUTPUT_LIFETIME_SECONDS: Final = BLOB_EXPIRY_MAX_DAYS * 86_400


def output_lifetime_seconds(batch: BatchRecord) -> int:
    return batch.output_expires_after_seconds or DEFAULT_OUTPUT_LIFETIME_SECONDS


def output_filename(batch: BatchRecord, role: str) -> str:
    """A result file's name, as OpenAI names its own (``batch_…_output.jsonl``), from the gateway's batch id: the
    provider's own id never shows."""
    return f"{batch.id}_{role}.jsonl"


UPLOAD_TTL_SECONDS: Final = 3600  # an Upload expires an hour after it was created (OpenAI's rule)


@dataclass
class UploadRecord:
    """An OpenAI Upload: parts arrive one by one, completion makes them one file of the chosen provider."""

    id: str
    owner: str
    provider: str
    filename: str
    bytes: int  # declared at creation; the parts named at completion must add up to it
    purpose: str
    mime_type: str
    created_at: int
    expires_at: int
    status: str = "pending"  # pending | completing (ours, while assembling: a lease) | completed | cancelled
    params: dict[str, Any] = field(default_factory=dict)  # the create's extras, for the file it becomes
    file_id: str | None = None
    version: int = 0
    # The completing claim's lease: past it (its function killed), another complete may take the upload over.
    # None on claims written before leases: they held for the upload's hour.
    completing_until: int | None = None
    part_ids: list[str] | None = None  # as the completing claim named them: a retry naming the same gets its answer
    md5: str | None = None  # the claim's, for the complete_upload job to check
    sealed_credentials: str | None = None  # the caller's, sealed by the Vault, for the complete_upload job

    def status_at(self, now: int) -> str:
        """The status a client sees: an unfinished upload past its hour has expired; "completing" is ours, never
        shown (OpenAI has no such status): pending until done."""
        if self.status in ("pending", "completing") and now >= self.expires_at:
            return "expired"
        return "pending" if self.status == "completing" else self.status

    def to_openai(self, now: int, file: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status_at(now),
            "file": file,
        }


@dataclass
class UploadPartRecord:
    id: str
    upload_id: str
    bytes: int
    created_at: int
    blob_key: str

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "object": "upload.part", "created_at": self.created_at, "upload_id": self.upload_id}
