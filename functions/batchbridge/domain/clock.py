"""The services' one clock: nanoseconds since the epoch from an injected source (tests move it), read as
nanoseconds (ordering, freshness) or whole seconds (OpenAI's timestamps, leases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

NS_PER_SECOND: Final = 1_000_000_000


def seconds(ns: int) -> int:
    """Whole seconds of a time in nanoseconds (OpenAI's unix timestamps)."""
    return ns // NS_PER_SECOND


class Clocked:
    """What a service reads its time from: its ``clock`` (nanoseconds since the epoch, a field of the service)."""

    clock: Callable[[], int]

    def now_ns(self) -> int:
        return self.clock()

    def now(self) -> int:
        """Unix seconds."""
        return seconds(self.clock())
