"""A Bedrock batch beyond one model invocation job, in parts: how its parts are planned, named and read.

Bedrock's limits are on what a job reads, the file's staged records (BATCHBRIDGE_BEDROCK_JOB_MAX_REQUESTS records
and BATCHBRIDGE_BEDROCK_JOB_MAX_BYTES bytes per input file), not on the OpenAI lines the user uploaded: ``plan``
walks the staged records beside the original lines (one record per line, in order) and cuts greedy parts by
records and staged bytes, each part's offsets those of the original lines (the gateway reads a part's custom_ids
there). A last part below Bedrock's minimum of records (BATCHBRIDGE_BEDROCK_MIN_RECORDS) takes records from the part
before it when both can stay at or above the minimum within the limits; otherwise it runs on demand (or, with
BATCHBRIDGE_BEDROCK_SMALL_BATCHES=reject, is refused: its requests become error lines).

When a part starts, its records (the staged file's lines ``first_index`` ..) and their record-ID map are staged as
objects of their own beside the file's (``staging.part_objects``), read off the staged copies a line range at a time
(``line_range``): never held whole. The part's job carries the batch's ID and the part's number in its name and its
clientRequestToken (``job_name``, ``token``), so a lost create's job is found for that part only.

No boto3 here: the adapter (``providers.bedrock``) reads and writes S3.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Final

from batchbridge.domain.custom_ids import map_lines, read_map
from batchbridge.domain.parts import JobLimits, JobPart

JOB_NAME_PREFIX: Final = "batchbridge-"
STAGED_LINE_BYTES: Final = 64 * 1024 * 1024  # a staged record carries its images inline
# The job states that count against Bedrock's quota of concurrent jobs per model (a job still queued counts)
RUNNING_STATES: Final = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")


def token(batch_id: str, part: JobPart | None = None) -> str:
    """The clientRequestToken of a batch's job: its ID's token, with ``-p<number>`` for a part."""
    base = batch_id.replace("batch_", "")
    return base if part is None else f"{base}-p{part.number}"


def job_name(batch_id: str, part: JobPart | None = None) -> str:
    """The name of a batch's job (of a part: the batch's and the part's number)."""
    return JOB_NAME_PREFIX + token(batch_id, part)


def batch_token_of(name: str) -> str:
    """The batch's token in a job's name (``job_name``'s), whether the job ran the whole batch or a part."""
    base = name.removeprefix(JOB_NAME_PREFIX)
    head, found, number = base.rpartition("-p")
    return head if found and number.isdigit() else base


def same_model(model_id: object, model: str) -> bool:
    """Whether a job's ``modelId`` (as listed: the ID it was created with, or an ARN ending in it) is ``model``."""
    return isinstance(model_id, str) and (model_id == model or model_id.endswith("/" + model))


def plan(
    lines: Iterable[tuple[int, int]], record_sizes: Iterable[int], limits: JobLimits, min_records: int
) -> list[JobPart]:
    """The parts of a file whose original lines are ``lines`` ((offset, length) in the gateway's copy) and whose
    staged records have ``record_sizes`` (bytes, newline included; one per line, same order): greedy, each at most
    ``limits.max_requests`` records and ``limits.max_bytes`` staged bytes (a record larger on its own is a part of
    its own: Bedrock judges it); a last part below ``min_records`` rebalanced when it can be (``_rebalanced``). A
    ValueError when the two counts differ (the staged copy is not the file's)."""
    planner = _Planner(limits, min_records)
    for line, size in itertools.zip_longest(lines, record_sizes):
        if line is None or size is None:
            raise ValueError("the staged records and the file's lines differ in number")
        planner.add(line[0], line[1], size)
    return planner.finish()


class _Planner:
    """``plan``'s walk: the parts so far, the one being filled, and the last records seen (as many as a
    rebalance may move: memory stays bounded by the minimum, however large the file)."""

    def __init__(self, limits: JobLimits, min_records: int) -> None:
        self.limits = limits
        self.min_records = min_records
        self.parts: list[JobPart] = []
        self.first = self.count = self.start = self.length = 0
        self.staged = 0  # staged bytes of the part being filled
        self.recent: deque[tuple[int, int, int]] = deque(maxlen=max(1, 2 * min_records))  # (offset, length, size)

    def add(self, offset: int, length: int, size: int) -> None:
        max_bytes = self.limits.max_bytes
        if self.count and (
            self.count >= self.limits.max_requests or (max_bytes is not None and self.staged + size > max_bytes)
        ):
            self._cut()
            self.first += self.count
            self.count = self.staged = 0
        if not self.count:
            self.start = offset
        self.count += 1
        self.staged += size
        self.length = offset + length - self.start
        self.recent.append((offset, length, size))

    def _cut(self) -> None:
        self.parts.append(JobPart(len(self.parts), self.first, self.count, self.start, self.length))

    def finish(self) -> list[JobPart]:
        if self.count:
            self._cut()
        if len(self.parts) >= 2 and self.parts[-1].count < self.min_records:
            self.parts[-2:] = self._rebalanced(self.parts[-2], self.parts[-1])
        return self.parts

    def _rebalanced(self, before: JobPart, last: JobPart) -> list[JobPart]:
        """``before`` and ``last`` (below the minimum) with the records ``last`` lacks moved from the end of
        ``before``, when both stay at or above the minimum and within the limits; as they are otherwise (``last``
        then runs on demand)."""
        moving = self.min_records - last.count
        max_bytes = self.limits.max_bytes
        if before.count - moving < self.min_records or last.count + moving > self.limits.max_requests:
            return [before, last]
        records = list(self.recent)  # the last records of the file: ``last``'s, and before them ``before``'s tail
        moved = records[len(records) - last.count - moving : len(records) - last.count]
        if max_bytes is not None and self.staged + sum(size for _, _, size in moved) > max_bytes:
            return [before, last]
        at = moved[0][0]
        return [
            JobPart(before.number, before.first_index, before.count - moving, before.offset, at - before.offset),
            JobPart(last.number, last.first_index - moving, last.count + moving, at, last.offset + last.length - at),
        ]


def line_range(chunks: Iterable[bytes], first: int, count: int) -> Iterator[bytes]:
    """The bytes of lines ``first`` .. ``first + count - 1`` (0-based, each ending in a newline but perhaps the
    stream's last) of a stream of chunks, as chunks (memory: one chunk). Staged records and their map are never
    blank, so lines are counted by newlines. A ValueError when the stream holds fewer lines."""
    seen = 0  # lines ended before the current position
    end = first + count
    open_line = False  # the range's last bytes yielded end inside a line (no newline yet)
    for chunk in chunks:
        if seen + chunk.count(b"\n") < first:  # wholly before the range: skipped without a look at its lines
            seen += chunk.count(b"\n")
            continue
        start = 0
        while seen < first:
            start = chunk.index(b"\n", start) + 1
            seen += 1
        stop = start
        while seen < end and (newline := chunk.find(b"\n", stop)) >= 0:
            stop = newline + 1
            seen += 1
        if seen >= end:
            if stop > start:
                yield chunk[start:stop]
            return
        if start < len(chunk):
            yield chunk[start:]
            open_line = not chunk.endswith(b"\n")
    if seen < end and not (open_line and seen + 1 == end):  # (a last line without its newline ends the range)
        raise ValueError(f"the staged copy holds {seen} lines, fewer than the {end} the part reads")


def map_range(chunks: Iterable[bytes], first: int, count: int) -> Iterator[bytes]:
    """A part's slice of a stored record-ID map (``custom_ids.map_lines``' form: one line per record, in order), as
    map lines; a map of the earlier form (one JSON object) read whole and sliced."""
    stream = iter(chunks)
    head = next(stream, b"")
    if head.lstrip().startswith(b"{"):
        legacy = read_map(itertools.chain([head], stream))
        yield from map_lines(dict(itertools.islice(legacy.items(), first, first + count)))
        return
    yield from line_range(itertools.chain([head], stream), first, count)
