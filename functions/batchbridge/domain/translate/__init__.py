"""Pure translations between OpenAI request/response shapes and each provider's wire format.

Each provider's module holds them in two tables keyed by endpoint (``domain.endpoints``): ``REQUESTS``, an OpenAI
request body -> the provider's request, and ``RESULTS``, one of the provider's result lines -> an OpenAI batch-output
line (built by ``domain.output_lines``). Running a new endpoint is a new entry in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from batchbridge.domain.ports import ResultContext

# A provider's result line and its context -> ("output" | "error", OpenAI batch-output line); a GatewayError
# (output_lines.bad_response) when the line cannot be read.
ResultTranslation = Callable[[dict[str, Any], ResultContext], tuple[str, dict[str, Any]]]


class RequestTranslation(Protocol):
    """An OpenAI request body -> the provider's request; a 400 naming ``custom_id`` and the field it cannot take."""

    def __call__(self, body: dict[str, Any], *, custom_id: str) -> dict[str, Any]: ...
