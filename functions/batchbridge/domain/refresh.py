"""Folding a provider's report into a batch record, through the state machine."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Final

from batchbridge.domain.lifecycle import can_move, observe, status_while_open
from batchbridge.domain.merging import merge_reports
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import BatchRecord, ProviderJob

# Provider timestamps copied as they come; the terminal ones are set by the move that reaches them.
PASSING_TIMESTAMPS: Final = ("in_progress_at", "finalizing_at", "cancelling_at", "expires_at")
# A part the provider had no room for (a 429, a queue full) waits this long before it is tried again, doubling with
# each try, at most PART_BACKOFF_MAX_SECONDS.
PART_BACKOFF_SECONDS: Final = 60
PART_BACKOFF_MAX_SECONDS: Final = 1800


def move(record: BatchRecord, status: str, at: int) -> bool:
    """Move ``record`` to ``status`` if that is a legal move; its ``<status>_at`` is set once."""
    if status == record.status or not can_move(record.status, status):
        return False
    record.status = status
    record.timestamps.setdefault(f"{status}_at", at)
    if record.is_terminal:
        # Written with the final status, so a notify lost after the write is still owed (the sweeper sees it).
        record.notify_pending = True
        if record.input_copy_key is not None:  # a split batch's input copy (and its parts' inputs) go once final
            record.release_pending = True
    return True


def apply_report(spec: ProviderSpec, record: BatchRecord, report: ProviderBatch, now: int) -> BatchRecord:
    """A copy of ``record`` updated with what its provider (``spec``: what its states mean) reports of one of its
    jobs (``report.id``; a job it did not have yet is added), merged with its other jobs' (never past ``finalizing``
    for an ended batch: the finalizer makes that final). A part whose provider job failed because the provider's
    queue was full (``spec.queue_full_codes``) waits to start again instead (``requeued``)."""
    updated = copy.deepcopy(record)
    job = updated.job(report.id)
    if job is None:
        job = ProviderJob(id=report.id)
        updated.jobs.append(job)
    observation = observe(
        spec,
        report.raw_status,
        cancel_requested="cancelling_at" in record.timestamps or job.stopped is not None,
        all_expired=report.all_expired,
    )
    job.raw_status = report.raw_status
    job.phase = observation.phase
    if job.stopped is not None and observation.phase == "cancelling":
        job.phase = "finalizing"  # stopped by the gateway at the window's end: the user cancelled nothing
    if observation.phase == "ended":  # an outcome, once reported, stands (a late report of an older state)
        stopped = job.stopped is not None and observation.outcome == "cancelled"
        job.outcome = job.stopped if stopped else observation.outcome
    for name in ("request_counts", "usage", "errors", "input_location", "output_locations"):  # as last reported
        if getattr(report, name) is not None:
            setattr(job, name, copy.deepcopy(getattr(report, name)))
    for name in PASSING_TIMESTAMPS:
        if name in report.timestamps:
            updated.timestamps.setdefault(name, report.timestamps[name])
    if report.model and not updated.model:
        updated.model = report.model
    if job.phase == "failed" and job.part is not None:
        if _queue_full(spec, job):
            updated.jobs[updated.jobs.index(job)] = requeued(job, now)
            updated.parts_pending = True
        else:  # none of its requests ran: each is an error line when the batch is finalized
            job.request_counts = unstarted_counts(job, failed=True)
    merge_jobs(updated, now, report.timestamps)
    return updated


def merge_jobs(record: BatchRecord, now: int, timestamps: Mapping[str, int] | None = None) -> None:
    """``record``'s counts, usage, errors and status made what its jobs together say (``timestamps``: a report's,
    for when it reached a status)."""
    merged = merge_reports(record.jobs)
    if merged.request_counts is not None:
        record.request_counts = merged.request_counts
    if merged.errors is not None:
        record.errors = merged.errors
    if merged.usage is not None:
        record.usage = merged.usage
    if merged.observation is not None:
        target = status_while_open(record.status, merged.observation)
        move(record, target, (timestamps or {}).get(f"{target}_at", now))


def _queue_full(spec: ProviderSpec, job: ProviderJob) -> bool:
    data = (job.errors or {}).get("data")
    return isinstance(data, list) and any(
        isinstance(entry, dict) and entry.get("code") in spec.queue_full_codes for entry in data
    )


def part_backoff_seconds(attempts: int) -> int:
    """How long a part the provider had no room for waits before it is tried again: PART_BACKOFF_SECONDS, doubling
    with each such try, at most PART_BACKOFF_MAX_SECONDS."""
    return int(min(PART_BACKOFF_SECONDS * 2 ** min(max(attempts - 1, 0), 10), PART_BACKOFF_MAX_SECONDS))


def requeued(job: ProviderJob, now: int) -> ProviderJob:
    """``job`` (a part) waiting to start again, after backoff: its provider job forgotten (the provider made none
    that runs), its attempts counted. Where that job's input was kept at the provider (``input_location``: the part's
    own copy, made by its create) stays on it, for the part's next start (or the batch's release) to remove."""
    attempts = job.attempts + 1
    return ProviderJob(
        id="",
        part=job.part,
        attempts=attempts,
        waiting_until=now + part_backoff_seconds(attempts),
        request_counts=unstarted_counts(job, failed=False),
        input_location=job.input_location,
    )


def unstarted_counts(job: ProviderJob, *, failed: bool) -> dict[str, int]:
    """A part's requests counted before it ran: every one pending (``failed`` False) or failed."""
    count = int((job.part or {}).get("count", 0))
    return {"total": count, "completed": 0, "failed": count if failed else 0}


def end_waiting_parts(record: BatchRecord, outcome: str, at: int) -> None:
    """Every part of ``record`` not started, with no create in flight (a run's, which settles it), ended
    ``outcome`` (cancelled, expired) unrun, its requests counted failed; the batch's merge made again."""
    ended = False
    for job in record.jobs:
        if job.waiting and job.sent_at is None:
            job.phase, job.outcome, job.waiting_until = "ended", outcome, None
            job.request_counts = unstarted_counts(job, failed=True)
            ended = True
    if ended:
        record.parts_pending = any(job.waiting for job in record.jobs)
        merge_jobs(record, at)
