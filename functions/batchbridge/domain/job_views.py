"""The jobs a batch runs as, as the Batch object shows them (``provider_jobs``): so an operator can find each part at
its provider, and see which way each ran.

``provider_jobs`` is a documented extra field of the gateway's Batch object (the README's "Which jobs run a batch",
the OpenAPI document's ``ProviderJob``): ``[{"id", "kind", "status", "request_counts"}]``, one per job, in the
batch's order. OpenAI wins: a batch of provider ``openai`` run as one job is OpenAI's own batch, shown as OpenAI
shows it, without the field.
"""

from __future__ import annotations

from typing import Any, Final

from batchbridge.domain.records import BatchRecord, ProviderJob

# provider -> the kind of its own batch job
PROVIDER_KINDS: Final = {
    "openai": "openai_batch",
    "anthropic": "anthropic_message_batch",
    "bedrock": "bedrock_job",
    "gemini": "gemini_batch",
    "openai-compatible": "on_demand",  # the gateway's executor runs these, request by request
}
ON_DEMAND: Final = "on_demand"  # ProviderJob.kind of a job the gateway's executor runs (and its kind shown)
# A part that waits in the gateway for room at its provider (no provider job yet): not one of OpenAI's statuses, as
# no such job exists at OpenAI.
QUEUED: Final = "queued"
FIELD: Final = "provider_jobs"


def provider_jobs(record: BatchRecord) -> list[dict[str, Any]] | None:
    """The batch's jobs as ``provider_jobs`` lists them; None where the Batch object carries no such field (a batch
    of provider ``openai`` run as one job of its whole input, or not yet created: OpenAI's own)."""
    if record.provider == "openai" and len(record.jobs) <= 1 and all(_whole(job) for job in record.jobs):
        return None
    return [job_view(record.provider, job) for job in record.jobs]


def with_provider_jobs(record: BatchRecord, batch: dict[str, Any]) -> dict[str, Any]:
    """``batch`` (the record's OpenAI Batch object) with ``provider_jobs`` where it carries the field."""
    jobs = provider_jobs(record)
    return batch if jobs is None else {**batch, FIELD: jobs}


def job_view(provider: str, job: ProviderJob) -> dict[str, Any]:
    """One job of a batch of ``provider``: its id at the provider (null while it waits to be created), its kind,
    its status in OpenAI's words, and its request counts as last reported."""
    return {
        "id": job.id or None,
        "kind": ON_DEMAND if job.kind == ON_DEMAND else PROVIDER_KINDS.get(provider, provider),
        "status": job_status(job),
        "request_counts": dict(job.request_counts) if job.request_counts is not None else _waiting_counts(job),
    }


def job_status(job: ProviderJob) -> str:
    """A job's status in OpenAI's vocabulary: how it ended (completed, expired, cancelled), failed, or the phase it
    runs in (validating, in_progress, finalizing, cancelling); ``queued`` for a part not yet created at its
    provider."""
    if job.outcome is not None:
        return job.outcome
    if job.phase == "failed":
        return "failed"
    if job.phase is not None and job.phase != "ended":
        return job.phase
    return QUEUED if not job.id else "validating"


def _whole(job: ProviderJob) -> bool:
    """A provider's own batch of the whole input."""
    return job.kind is None and job.part is None


def _waiting_counts(job: ProviderJob) -> dict[str, int]:
    """The counts of a job no report has counted yet: a part's requests, none of them done."""
    total = int(job.part.get("count", 0)) if job.part else 0
    return {"total": total, "completed": 0, "failed": 0}
