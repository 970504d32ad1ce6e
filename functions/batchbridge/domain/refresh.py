"""Folding a provider's report into a batch record, through the state machine."""

from __future__ import annotations

import copy
from typing import Final

from batchbridge.domain.lifecycle import can_move, observe, status_while_open
from batchbridge.domain.merging import merge_reports
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import BatchRecord, ProviderJob

# Provider timestamps copied as they come; the terminal ones are set by the move that reaches them.
PASSING_TIMESTAMPS: Final = ("in_progress_at", "finalizing_at", "cancelling_at", "expires_at")


def move(record: BatchRecord, status: str, at: int) -> bool:
    """Move ``record`` to ``status`` if that is a legal move; its ``<status>_at`` is set once."""
    if status == record.status or not can_move(record.status, status):
        return False
    record.status = status
    record.timestamps.setdefault(f"{status}_at", at)
    if record.is_terminal:
        # Written with the final status, so a notify lost after the write is still owed (the sweeper sees it).
        record.notify_pending = True
    return True


def apply_report(spec: ProviderSpec, record: BatchRecord, report: ProviderBatch, now: int) -> BatchRecord:
    """A copy of ``record`` updated with what its provider (``spec``: what its states mean) reports of one of its
    jobs (``report.id``; a job it did not have yet is added), merged with its other jobs' (never past ``finalizing``
    for an ended batch: the finalizer makes that final)."""
    updated = copy.deepcopy(record)
    job = updated.job(report.id)
    if job is None:
        job = ProviderJob(id=report.id)
        updated.jobs.append(job)
    observation = observe(
        spec,
        report.raw_status,
        cancel_requested="cancelling_at" in record.timestamps,
        all_expired=report.all_expired,
    )
    job.raw_status = report.raw_status
    job.phase = observation.phase
    if observation.phase == "ended":  # an outcome, once reported, stands (a late report of an older state)
        job.outcome = observation.outcome
    for name in ("request_counts", "usage", "errors", "input_location", "output_locations"):  # as last reported
        if getattr(report, name) is not None:
            setattr(job, name, copy.deepcopy(getattr(report, name)))
    for name in PASSING_TIMESTAMPS:
        if name in report.timestamps:
            updated.timestamps.setdefault(name, report.timestamps[name])
    if report.model and not updated.model:
        updated.model = report.model
    merged = merge_reports(updated.jobs)
    if merged.request_counts is not None:
        updated.request_counts = merged.request_counts
    if merged.errors is not None:
        updated.errors = merged.errors
    if merged.usage is not None:
        updated.usage = merged.usage
    if merged.observation is not None:
        target = status_while_open(updated.status, merged.observation)
        move(updated, target, report.timestamps.get(f"{target}_at", now))
    return updated
