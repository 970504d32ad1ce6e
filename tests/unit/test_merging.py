"""A batch of several provider jobs: its status, counts, usage and errors merged from theirs (merge_reports), and
records of one job read and written as earlier releases did."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.domain.lifecycle import Observation
from batchbridge.domain.merging import merge_reports, merged_observation
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.domain.refresh import apply_report
from batchbridge.providers.anthropic import SPEC as ANTHROPIC


def job(phase: str | None, outcome: str | None = None, **fields: Any) -> ProviderJob:
    return ProviderJob(id=f"job-{phase}-{outcome}-{len(fields)}", phase=phase, outcome=outcome, **fields)


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([], None),  # no job yet: nothing to show
        ([(None, None)], None),  # no report yet
        ([("in_progress", None)], Observation("in_progress")),
        ([("ended", "completed")], Observation("ended", "completed")),
        ([("validating", None), ("validating", None)], Observation("validating")),
        ([("validating", None), ("in_progress", None)], Observation("validating")),
        ([("ended", "completed"), ("in_progress", None)], Observation("in_progress")),
        ([("ended", "completed"), (None, None)], Observation("in_progress")),  # a part waits after one started
        ([("ended", "completed"), ("cancelling", None)], Observation("cancelling")),
        ([("ended", "completed"), ("ended", "expired")], Observation("ended", "completed")),
        ([("ended", "expired"), ("ended", "expired")], Observation("ended", "expired")),
        ([("ended", "completed"), ("ended", "cancelled")], Observation("ended", "cancelled")),
        ([("failed", None), ("ended", "completed")], Observation("ended", "completed")),  # a part's failure: lines
        ([("failed", None), ("failed", None)], Observation("failed")),  # failed only when no part could run
    ],
)
def test_the_batch_shows_what_its_jobs_together_say(
    phases: list[tuple[str | None, str | None]], expected: Observation | None
) -> None:
    jobs = [ProviderJob(id=str(number), phase=phase, outcome=outcome) for number, (phase, outcome) in enumerate(phases)]
    assert merged_observation(jobs) == expected


def test_counts_usage_and_errors_add_up_over_jobs() -> None:
    first = job(
        "ended",
        "completed",
        request_counts={"total": 3, "completed": 2, "failed": 1},
        usage={
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 15,
        },
        errors={"object": "list", "data": [{"code": "a", "message": "first", "param": None, "line": 2}]},
    )
    second = job(
        "in_progress",
        request_counts={"total": 2, "completed": 0, "failed": 0},
        usage={
            "input_tokens": 1,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 3,
        },
        errors={"object": "list", "data": [{"code": "b", "message": "second", "param": None, "line": None}]},
    )
    merged = merge_reports([first, second])
    assert merged.request_counts == {"total": 5, "completed": 2, "failed": 1}
    assert merged.usage == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 18,
    }
    assert merged.errors is not None and [entry["code"] for entry in merged.errors["data"]] == ["a", "b"]
    assert merged.observation == Observation("in_progress")


def test_one_jobs_report_is_its_own() -> None:
    only = job("in_progress", request_counts={"total": 1, "completed": 0, "failed": 0}, usage={"total_tokens": 0})
    merged = merge_reports([only])
    assert merged.request_counts == only.request_counts and merged.request_counts is not only.request_counts
    assert merged.usage == {"total_tokens": 0} and merged.errors is None


def batch(**fields: Any) -> BatchRecord:
    values: dict[str, Any] = {
        "id": "batch_1",
        "owner": "owner",
        "provider": "anthropic",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": "in_progress",
        "created_at": 1_700_000_000,
    }
    return BatchRecord(**(values | fields))


def test_a_report_folds_into_its_own_job_and_the_batch_merges_them() -> None:
    record = batch(jobs=[ProviderJob(id="one", raw_status="in_progress", phase="in_progress"), ProviderJob(id="two")])
    record = apply_report(
        ANTHROPIC,
        record,
        ProviderBatch(id="one", raw_status="ended", request_counts={"total": 2, "completed": 2}),
        1_700_000_100,
    )
    assert record.status == "in_progress"  # the other job has not ended
    assert record.provider_outcome is None and record.jobs[0].outcome == "completed"
    record = apply_report(
        ANTHROPIC,
        record,
        ProviderBatch(id="two", raw_status="ended", request_counts={"total": 1, "completed": 1}),
        1_700_000_200,
    )
    assert record.status == "finalizing" and record.provider_outcome == "completed"
    assert record.request_counts == {"total": 3, "completed": 3}


def test_a_record_of_an_earlier_release_reads_as_one_job() -> None:
    stored = batch().stored() | {
        "provider_batch_id": "msgbatch_1",
        "provider_status": "ended",
        "provider_outcome": "completed",
        "custom_id_map_key": "batches/batch_1/custom_ids.json",
        "request_counts": {"total": 2, "completed": 2, "failed": 0},
    }
    del stored["jobs"]
    record = BatchRecord.from_stored(json.loads(json.dumps(stored)))
    assert [job.id for job in record.jobs] == ["msgbatch_1"]
    assert record.provider_batch_id == "msgbatch_1" and record.provider_outcome == "completed"
    assert record.custom_id_map_key == "batches/batch_1/custom_ids.json"
    assert record.jobs[0].request_counts == {"total": 2, "completed": 2, "failed": 0}


def test_a_one_job_record_is_stored_so_an_earlier_release_reads_it() -> None:
    record = batch(jobs=[ProviderJob(id="msgbatch_1", raw_status="ended", phase="ended", outcome="expired")])
    stored = json.loads(json.dumps(record.stored()))
    assert stored["provider_batch_id"] == "msgbatch_1"
    assert stored["provider_status"] == "ended" and stored["provider_outcome"] == "expired"
    assert BatchRecord.from_stored(stored) == record  # and this release reads it back as it was
