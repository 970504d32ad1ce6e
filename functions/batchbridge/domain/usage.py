"""A batch's ``usage`` in OpenAI's shape, summed from the usage of each answered line (for the providers whose
reports carry none of their own: what their result lines say is all there is)."""

from __future__ import annotations

from typing import Any


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: dict[str, Any], details: str, name: str) -> int:
    inner = usage.get(details)
    return _count(inner.get(name)) if isinstance(inner, dict) else 0


class UsageTally:
    """Adds up each line's ``response.body.usage``: a chat completion's or an embedding's (``prompt_tokens``,
    ``completion_tokens``, their details) and a response's (``input_tokens``, ``output_tokens``, theirs) alike."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.cached_tokens = 0
        self.output_tokens = 0
        self.reasoning_tokens = 0
        self.total_tokens = 0
        self.lines = 0  # lines that carried a usage

    def add(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        self.lines += 1
        if "input_tokens" in usage or "output_tokens" in usage:  # the Responses API's words
            prompt, completion = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
            self.cached_tokens += _detail(usage, "input_tokens_details", "cached_tokens")
            self.reasoning_tokens += _detail(usage, "output_tokens_details", "reasoning_tokens")
        else:
            prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
            self.cached_tokens += _detail(usage, "prompt_tokens_details", "cached_tokens")
            self.reasoning_tokens += _detail(usage, "completion_tokens_details", "reasoning_tokens")
        self.input_tokens += prompt
        self.output_tokens += completion
        self.total_tokens += _count(usage.get("total_tokens")) or prompt + completion

    def batch_usage(self) -> dict[str, Any] | None:
        """The Batch object's ``usage``; None when no line carried one (the batch then shows none, as before)."""
        if not self.lines:
            return None
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total_tokens,
        }
