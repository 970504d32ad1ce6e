"""A Bedrock batch's parts: planned by its staged records (count and bytes), offsets those of the original lines, a
small last part rebalanced; a part's lines read off a staged copy by range; where a part's objects are staged."""

from __future__ import annotations

import pytest

from batchbridge.domain.custom_ids import map_line, read_map
from batchbridge.domain.parts import JobLimits, JobPart
from batchbridge.domain.staging import StagedObject, is_part_object, part_objects, staged_input
from batchbridge.providers import bedrock_parts
from batchbridge.providers.bedrock_parts import batch_token_of, job_name, line_range, map_range, plan, token

FILE = "file-" + "a" * 32


def original(lengths: list[int]) -> list[tuple[int, int]]:
    """(offset, length) of consecutive lines of these lengths."""
    lines, at = [], 0
    for length in lengths:
        lines.append((at, length))
        at += length
    return lines


def test_parts_are_cut_by_staged_bytes_with_the_original_lines_offsets() -> None:
    # original lines of 10 bytes, staged records of 40: 100 staged bytes hold 2 records
    parts = plan(original([10] * 5), [40] * 5, JobLimits(100, 100), min_records=0)
    assert parts == [JobPart(0, 0, 2, 0, 20), JobPart(1, 2, 2, 20, 20), JobPart(2, 4, 1, 40, 10)]


def test_parts_are_cut_by_records() -> None:
    parts = plan(original([5] * 7), [1] * 7, JobLimits(3, None), min_records=0)
    assert [(part.first_index, part.count, part.offset, part.length) for part in parts] == [
        (0, 3, 0, 15),
        (3, 3, 15, 15),
        (6, 1, 30, 5),
    ]


def test_a_record_beyond_the_byte_limit_is_a_part_of_its_own() -> None:
    parts = plan(original([1, 1, 1]), [5, 500, 5], JobLimits(10, 100), min_records=0)
    assert [part.count for part in parts] == [1, 1, 1]


def test_a_small_last_part_takes_records_from_the_part_before() -> None:
    # 12 records, 5 per job, at least 3 per job: 5 + 4 + 3 (the last took 1 of the one before, which keeps 4)
    parts = plan(original([2] * 12), [1] * 12, JobLimits(5, None), min_records=3)
    assert [(part.number, part.first_index, part.count) for part in parts] == [(0, 0, 5), (1, 5, 4), (2, 9, 3)]
    assert (parts[1].offset, parts[1].length) == (10, 8)
    assert (parts[2].offset, parts[2].length) == (18, 6)


def test_a_small_last_part_stays_small_when_the_one_before_cannot_spare_records_or_bytes() -> None:
    few = plan(original([1] * 5), [1] * 5, JobLimits(3, None), min_records=3)  # 3 + 2: the first cannot spare one
    assert [part.count for part in few] == [3, 2]
    # 6 + 2 records: one more record of the first part's would bring the last's to 66 staged bytes, over 60
    bytes_bound = plan(original([1] * 8), [10] * 6 + [28, 28], JobLimits(6, 60), min_records=3)
    assert [part.count for part in bytes_bound] == [6, 2]


def test_staged_records_and_lines_must_agree_in_number() -> None:
    with pytest.raises(ValueError, match="differ in number"):
        plan(original([1] * 3), [1] * 2, JobLimits(5), min_records=0)


CONTENT = b"".join(b"line %d\n" % n for n in range(10))


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1000])
@pytest.mark.parametrize(("first", "count"), [(0, 1), (0, 10), (3, 4), (9, 1), (5, 5)])
def test_line_range_gives_exactly_the_lines_asked_for_whatever_the_chunks(chunk: int, first: int, count: int) -> None:
    chunks = [CONTENT[at : at + chunk] for at in range(0, len(CONTENT), chunk)]
    expected = b"".join(b"line %d\n" % n for n in range(first, first + count))
    assert b"".join(line_range(chunks, first, count)) == expected


def test_line_range_takes_a_last_line_without_its_newline_and_refuses_a_short_stream() -> None:
    assert b"".join(line_range([b"a\nb\nc"], 2, 1)) == b"c"
    with pytest.raises(ValueError, match="fewer than"):
        b"".join(line_range([b"a\nb\n"], 1, 2))


def test_map_range_slices_both_forms_of_a_record_id_map() -> None:
    lines = [map_line(f"r{n}", f"custom-{n}") for n in range(6)]
    assert read_map(map_range([b"".join(lines)], 2, 3)) == {f"r{n}": f"custom-{n}" for n in (2, 3, 4)}
    legacy = b'{"r0": "a", "r1": "b", "r2": "c"}'
    assert read_map(map_range([legacy], 1, 2)) == {"r1": "b", "r2": "c"}


def test_a_part_s_job_carries_the_batch_and_the_part_number() -> None:
    part = JobPart(3, 0, 1, 0, 1)
    batch_id = "batch_" + "b" * 32
    assert job_name(batch_id) == "batchbridge-" + "b" * 32
    assert job_name(batch_id, part) == "batchbridge-" + "b" * 32 + "-p3"
    assert token(batch_id, part) == "b" * 32 + "-p3"
    assert batch_token_of(job_name(batch_id, part)) == batch_token_of(job_name(batch_id)) == "b" * 32


def test_same_model_matches_an_id_or_an_arn_ending_in_it() -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    assert bedrock_parts.same_model(model, model)
    assert bedrock_parts.same_model(f"arn:aws:bedrock:us-east-1::foundation-model/{model}", model)
    assert not bedrock_parts.same_model("amazon.nova-lite-v1:0", model) and not bedrock_parts.same_model(None, model)


def test_part_objects_lie_beside_their_file_s_input_and_only_those_count_as_a_part_s() -> None:
    staged = staged_input("bucket", "batchbridge/bedrock/tenant", FILE)
    records, record_ids = part_objects(staged, 2)
    assert records == StagedObject("bucket", f"batchbridge/bedrock/tenant/{FILE}/input-part-2.jsonl")
    assert record_ids == StagedObject("bucket", f"batchbridge/bedrock/tenant/{FILE}/record_ids-part-2.json")
    assert (
        is_part_object(records, FILE) and is_part_object(record_ids) and not is_part_object(records, "file-" + "b" * 32)
    )
    for key in (
        f"batchbridge/bedrock/{FILE}/input.jsonl",  # the file's own input: not a part's
        f"batchbridge/bedrock/{FILE}/input-part-x.jsonl",
        "batchbridge/bedrock/not-a-file/input-part-1.jsonl",
        f"../{FILE}/input-part-1.jsonl",
        f"batchbridge/bedrock/{FILE}/input-part-1.jsonl/more",
    ):
        assert not is_part_object(StagedObject("bucket", key)), key
