"""Parts of the OpenAI chat.completion every translation builds from its provider's answer.

Pure functions, standard library only.
"""

from __future__ import annotations

from typing import Any


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    total_tokens: int | None = None,
    prompt_audio_tokens: int = 0,
    completion_audio_tokens: int = 0,
) -> dict[str, Any]:
    """A chat.completion's ``usage`` as OpenAI writes it: both details objects, every count present (zero where
    the provider has no such tokens). ``prompt_tokens`` counts every input token, cached ones included;
    ``completion_tokens`` every output token, reasoning ones included; ``total_tokens`` the provider's own total
    where it gives one (else their sum)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens if total_tokens is None else total_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": prompt_audio_tokens},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": completion_audio_tokens,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def count(counts: Any, key: str) -> int:
    """A token count from a provider's usage object: a non-negative integer, 0 when absent or not a number."""
    value = counts.get(key) if isinstance(counts, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
