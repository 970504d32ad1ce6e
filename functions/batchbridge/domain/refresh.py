"""Folding a provider's report into a batch record, through the state machine."""

from __future__ import annotations

import copy
from typing import Final

from batchbridge.domain.lifecycle import can_move, observe, status_while_open
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.records import BatchRecord

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


def apply_report(record: BatchRecord, report: ProviderBatch, now: int) -> BatchRecord:
    """A copy of ``record`` updated with what the provider reports (never past ``finalizing``
    for an ended batch: the finalizer makes that final)."""
    updated = copy.deepcopy(record)
    observation = observe(
        record.provider,
        report.raw_status,
        cancel_requested="cancelling_at" in record.timestamps,
        all_expired=report.all_expired,
    )
    updated.provider_status = report.raw_status
    for name in PASSING_TIMESTAMPS:
        if name in report.timestamps:
            updated.timestamps.setdefault(name, report.timestamps[name])
    if report.request_counts is not None:
        updated.request_counts = dict(report.request_counts)
    if report.errors is not None:
        updated.errors = report.errors
    if report.model and not updated.model:
        updated.model = report.model
    if report.usage is not None:
        updated.usage = report.usage
    if observation.phase == "ended":
        updated.provider_outcome = observation.outcome
    target = status_while_open(updated.status, observation)
    move(updated, target, report.timestamps.get(f"{target}_at", now))
    return updated
