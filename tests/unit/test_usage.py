"""A batch's usage summed from its lines' usage, in OpenAI's Batch shape, and given to its record with its result
files (a job's reported usage wins; jobs add up)."""

from __future__ import annotations

from typing import Any

from batchbridge.domain.records import BatchRecord, ProviderJob
from batchbridge.domain.services.result_files import StoredResults
from batchbridge.domain.usage import UsageTally


def test_chat_lines_sum_into_the_batch_usage_shape() -> None:
    tally = UsageTally()
    tally.add(
        {
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 10, "audio_tokens": 0},
        }
    )
    tally.add({"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10})
    assert tally.batch_usage() == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 32,
        "output_tokens_details": {"reasoning_tokens": 10},
        "total_tokens": 52,
    }


def test_responses_and_embeddings_lines_count_too() -> None:
    tally = UsageTally()
    tally.add(
        {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 12,
        }
    )
    tally.add({"prompt_tokens": 9, "total_tokens": 9})  # an embedding's
    assert tally.batch_usage() == {
        "input_tokens": 14,
        "input_tokens_details": {"cached_tokens": 1},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 21,
    }


def test_a_missing_total_is_the_sum_and_junk_counts_nothing() -> None:
    tally = UsageTally()
    tally.add({"prompt_tokens": 3, "completion_tokens": 4})
    tally.add({"prompt_tokens": "many", "completion_tokens": True, "prompt_tokens_details": None})
    tally.add(None)
    usage = tally.batch_usage()
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (3, 4, 7)


def test_no_line_with_usage_gives_none() -> None:
    tally = UsageTally()
    tally.add(None)
    assert tally.batch_usage() is None


def usage_of(tokens_in: int, cached: int, tokens_out: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": tokens_in,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": tokens_out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": tokens_in + tokens_out,
    }


def batch(*jobs: ProviderJob) -> BatchRecord:
    return BatchRecord(
        id="batch_1",
        owner="o",
        provider="anthropic",
        endpoint="/v1/chat/completions",
        input_file_id="file-1",
        completion_window="24h",
        status="finalizing",
        created_at=0,
        jobs=list(jobs),
    )


def test_stored_results_give_the_batch_its_lines_usage_and_its_files() -> None:
    record = batch(ProviderJob(id="job-1"))
    results = StoredResults({"output_file_id": "file-out"}, {"job-1": usage_of(10, 2, 5, 1)})
    results.apply(record)
    assert record.output_file_id == "file-out"
    assert record.usage == record.jobs[0].usage == usage_of(10, 2, 5, 1)
    results.apply(record)  # applied again (a lost race, a rerun): the same figure, never twice it
    assert record.usage == usage_of(10, 2, 5, 1)


def test_a_job_s_reported_usage_wins_and_jobs_add_up() -> None:
    reported = usage_of(100, 0, 50, 0)
    record = batch(ProviderJob(id="job-1", usage=reported), ProviderJob(id="job-2"), ProviderJob(id="job-3"))
    lines = {"job-1": usage_of(1, 1, 1, 1), "job-2": usage_of(10, 2, 5, 1)}  # job-3: no line carried usage
    StoredResults({}, lines).apply(record)
    assert [job.usage for job in record.jobs] == [reported, usage_of(10, 2, 5, 1), None]
    assert record.usage == usage_of(110, 2, 55, 1)


def test_no_usage_anywhere_leaves_the_batch_without() -> None:
    record = batch(ProviderJob(id="job-1"))
    StoredResults({"error_file_id": "file-err"}, {}).apply(record)
    assert record.usage is None and record.jobs[0].usage is None
