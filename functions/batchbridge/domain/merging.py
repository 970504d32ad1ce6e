"""One batch from its provider jobs: the status, counts, usage and errors the user sees, merged from each job's
report (pure: the orchestrator's many jobs, and today's one, go through the same functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain.lifecycle import Observation
from batchbridge.domain.records import ProviderJob, merged_outcome

# The phase a batch shows while some of its jobs still run: the least advanced of theirs (a batch is in progress
# while any job is; validating only while every running job still is).
RUNNING_ORDER: Final = ("validating", "in_progress", "finalizing")


@dataclass
class MergedReport:
    observation: Observation | None  # None: no job has reported yet
    request_counts: dict[str, int] | None
    usage: dict[str, Any] | None
    errors: dict[str, Any] | None


def merge_reports(jobs: Sequence[ProviderJob]) -> MergedReport:
    """What ``jobs`` together report; one job's report is its own, unchanged."""
    return MergedReport(
        observation=merged_observation(jobs),
        request_counts=_summed([job.request_counts for job in jobs if job.request_counts is not None]),
        usage=_summed([job.usage for job in jobs if job.usage is not None]),
        errors=_listed([job.errors for job in jobs if job.errors is not None]),
    )


def merged_observation(jobs: Sequence[ProviderJob]) -> Observation | None:
    """A cancel in progress shows while any job is being cancelled; else the batch runs while any job runs, and
    while parts wait to start (a job that never reported: ``in_progress`` once one part started, ``validating``
    while none has); once none runs or waits it has ended if any job ended (how: ``merged_outcome``), and failed if
    every job failed (no part could run)."""
    phases = [job.phase for job in jobs if job.phase is not None]
    if not phases:
        return None
    if len(jobs) == 1:
        return Observation(phases[0], jobs[0].outcome)  # type: ignore[arg-type]
    if "cancelling" in phases:
        return Observation("cancelling")
    running = [phase for phase in RUNNING_ORDER if phase in phases]
    if running:
        return Observation(running[0])  # type: ignore[arg-type]
    if len(phases) < len(jobs):  # parts waiting to start
        started = any(job.id and job.phase is not None for job in jobs)
        return Observation("in_progress" if started else "validating")
    outcomes = [job.outcome for job in jobs if job.phase == "ended" and job.outcome is not None]
    if not outcomes:
        return Observation("failed")
    split = any(job.part is not None for job in jobs)
    return Observation("ended", merged_outcome(outcomes, split=split))  # type: ignore[arg-type]


def _summed(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Numbers added key by key, nested objects (usage's token details) likewise; one report is itself."""
    if not reports:
        return None
    if len(reports) == 1:
        return dict(reports[0])
    total: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                total[key] = _summed([total[key], value] if isinstance(total.get(key), dict) else [value])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
            else:
                total.setdefault(key, value)
    return total


def _listed(errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenAI's ``errors`` list objects, one list of every job's entries; one job's is itself."""
    if not errors:
        return None
    if len(errors) == 1:
        return errors[0]
    return {"object": "list", "data": [entry for error in errors for entry in error.get("data") or []]}
