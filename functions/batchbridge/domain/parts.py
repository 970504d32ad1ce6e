"""A batch's parts: the provider jobs one gateway batch is split into, each within its provider's limits.

A gateway batch may hold far more requests than one provider job takes (BATCHBRIDGE_MAX_REQUESTS_PER_BATCH, a
million by default, against OpenAI's 50,000 per job). ``plan_parts`` cuts its input into consecutive parts, each
at most ``JobLimits.max_requests`` lines and ``JobLimits.max_bytes`` bytes; each part becomes one provider job of
the batch (``records.ProviderJob.part``), created when its provider has room for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final

DEFAULT_MAX_REQUESTS_PER_BATCH: Final = 1_000_000  # BATCHBRIDGE_MAX_REQUESTS_PER_BATCH


@dataclass(frozen=True)
class JobLimits:
    """What one provider job may hold: requests, and bytes of its input (None: no byte limit of its own)."""

    max_requests: int
    max_bytes: int | None = None

    def fits(self, requests: int, size: int) -> bool:
        return requests <= self.max_requests and (self.max_bytes is None or size <= self.max_bytes)


@dataclass(frozen=True)
class JobPart:
    """The requests one provider job of a batch runs: lines ``first_index`` .. ``first_index + count - 1`` (0-based)
    of the batch's input, bytes ``offset`` .. ``offset + length - 1`` of the copy they are read from (the gateway's
    copy of the input file; for a provider that staged the file in parts itself, that part's staged copy)."""

    number: int
    first_index: int
    count: int
    offset: int
    length: int

    def stored(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> JobPart:
        return cls(**{name: int(values[name]) for name in ("number", "first_index", "count", "offset", "length")})


def plan_parts(lines: Iterable[tuple[int, int]], limits: JobLimits) -> list[JobPart]:
    """Consecutive parts of the lines given as ``(offset, length)`` (in file order), each within ``limits``; a
    line longer than ``max_bytes`` on its own is a part of its own (the provider judges it)."""
    parts: list[JobPart] = []
    first = count = start = size = 0
    index = 0
    for index, (offset, length) in enumerate(lines):
        if count and (
            count >= limits.max_requests or (limits.max_bytes is not None and size + length > limits.max_bytes)
        ):
            parts.append(JobPart(len(parts), first, count, start, size))
            first, count, size = index, 0, 0
        if not count:
            start = offset
        count += 1
        size = offset + length - start
    if count:
        parts.append(JobPart(len(parts), first, count, start, size))
    return parts
