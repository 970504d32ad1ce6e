"""The gateway's own records of files and batches, and their OpenAI views."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    # OpenAI's schemas type these fields without null: absent is the valid way to say "none".
    return {key: value for key, value in values.items() if value is not None}


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

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            **_without_none({"expires_at": self.expires_at}),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
        }


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
    provider_batch_id: str | None = None
    provider_status: str | None = None
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
    provider_outcome: str | None = None  # how the provider ended it; final for us once finalized
    refreshed_ns: int = 0  # when the provider was last asked
    sealed_credentials: str | None = None  # the client's provider credentials, sealed by the Vault
    notify_pending: bool = False  # final, but its webhook not yet delivered (or given up on)
    release_pending: bool = False  # final, but its working copies (custom_id map, stored answers, …) not yet removed
    output_expires_after_seconds: int | None = None  # for output files the gateway writes itself
    custom_id_map_key: str | None = None  # blob of {provider custom_id: user's}, where a provider needed others
    # Written before the provider is asked, cleared once its answer is stored: while set, every read treats the
    # batch as absent, and the reconcile job looks for what an unanswered create may have left at the provider.
    creating: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_BATCH_STATUSES

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            **_without_none({"model": self.model, "errors": self.errors}),
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            **_without_none({"output_file_id": self.output_file_id, "error_file_id": self.error_file_id}),
            "created_at": self.created_at,
            **{name: self.timestamps[name] for name in BATCH_TIMESTAMPS if name in self.timestamps},
            "request_counts": dict(self.request_counts),
            **_without_none({"usage": self.usage}),
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
    status: str = "pending"  # pending | completing (ours, while assembling) | completed | cancelled
    params: dict[str, Any] = field(default_factory=dict)  # the create's extras, for the file it becomes
    file_id: str | None = None
    version: int = 0

    def status_at(self, now: int) -> str:
        """The status a client sees: an unfinished upload past its hour has expired."""
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
            **_without_none({"file": file}),
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
