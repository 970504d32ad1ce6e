"""``provider_jobs``: the jobs of a batch as its Batch object shows them (domain.job_views)."""

from __future__ import annotations

import pytest

from batchbridge.domain.job_views import job_status, provider_jobs, with_provider_jobs
from batchbridge.domain.parts import JobPart
from batchbridge.domain.records import BatchRecord, ProviderJob

COUNTS = {"total": 3, "completed": 2, "failed": 1}


def batch(provider: str, *jobs: ProviderJob) -> BatchRecord:
    return BatchRecord(
        id="batch_1",
        owner="o",
        provider=provider,
        endpoint="/v1/chat/completions",
        input_file_id="file-1",
        completion_window="24h",
        status="in_progress",
        created_at=1,
        jobs=list(jobs),
    )


def test_openai_s_own_batch_carries_no_extra_field() -> None:
    one = batch("openai", ProviderJob(id="batch_abc", phase="in_progress", request_counts=COUNTS))
    assert provider_jobs(one) is None
    assert with_provider_jobs(one, one.to_openai()) == one.to_openai()
    assert provider_jobs(batch("openai")) is None  # not yet created (a submission pending): OpenAI's own to be


def test_openai_parts_are_shown() -> None:
    part = JobPart(1, 50_000, 20_000, 0, 10).stored()
    split = batch(
        "openai",
        ProviderJob(id="batch_a", phase="ended", outcome="completed", request_counts=COUNTS, part=part),
        ProviderJob(id="", part=part),
    )
    assert provider_jobs(split) == [
        {"id": "batch_a", "kind": "openai_batch", "status": "completed", "request_counts": COUNTS},
        {
            "id": None,
            "kind": "openai_batch",
            "status": "queued",
            "request_counts": {"total": 20_000, "completed": 0, "failed": 0},
        },
    ]
    assert with_provider_jobs(split, split.to_openai())["provider_jobs"] == provider_jobs(split)


@pytest.mark.parametrize(
    ("provider", "kind"),
    [
        ("anthropic", "anthropic_message_batch"),
        ("bedrock", "bedrock_job"),
        ("gemini", "gemini_batch"),
        ("openai-compatible", "on_demand"),
    ],
)
def test_every_other_provider_s_batch_shows_its_job(provider: str, kind: str) -> None:
    record = batch(provider, ProviderJob(id="job-1", phase="validating", request_counts=COUNTS))
    assert provider_jobs(record) == [{"id": "job-1", "kind": kind, "status": "validating", "request_counts": COUNTS}]


def test_an_on_demand_bedrock_job() -> None:
    record = batch("bedrock", ProviderJob(id="batch_1", phase="in_progress", kind="on_demand", request_counts=COUNTS))
    (job,) = provider_jobs(record) or []
    assert job["kind"] == "on_demand" and job["id"] == "batch_1"


@pytest.mark.parametrize(
    ("job", "status"),
    [
        (ProviderJob(id="j", phase="validating"), "validating"),
        (ProviderJob(id="j", phase="in_progress"), "in_progress"),
        (ProviderJob(id="j", phase="finalizing"), "finalizing"),
        (ProviderJob(id="j", phase="cancelling"), "cancelling"),
        (ProviderJob(id="j", phase="failed"), "failed"),
        (ProviderJob(id="j", phase="ended", outcome="completed"), "completed"),
        (ProviderJob(id="j", phase="ended", outcome="expired"), "expired"),
        (ProviderJob(id="j", phase="ended", outcome="cancelled"), "cancelled"),
        (ProviderJob(id="", outcome="cancelled"), "cancelled"),  # a part ended before it started
        (ProviderJob(id="", phase="failed"), "failed"),  # a part its provider refused
        (ProviderJob(id=""), "queued"),
        (ProviderJob(id="j"), "validating"),  # created, not yet reported
    ],
)
def test_status_in_openai_s_words(job: ProviderJob, status: str) -> None:
    assert job_status(job) == status
