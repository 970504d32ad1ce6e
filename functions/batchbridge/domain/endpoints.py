"""The OpenAI endpoints a batch calls, named once, and the one check of an endpoint against what a provider runs.

Each provider's translation is a table keyed by endpoint (``REQUESTS`` and ``RESULTS`` in its
``domain.translate`` module; the executor's ``compat.ENDPOINT_PATHS``): running a new endpoint is a new entry in
those tables, and an endpoint a table does not hold is refused here, with a 400 ``unsupported_endpoint``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

from batchbridge.domain.errors import GatewayError, bad_request

T = TypeVar("T")

CHAT_ENDPOINT: Final = "/v1/chat/completions"
EMBEDDINGS_ENDPOINT: Final = "/v1/embeddings"


def named(endpoints: Iterable[str]) -> str:
    """Endpoints as the 400s name them: ``'/v1/a' and '/v1/b'``."""
    return " and ".join(map(repr, endpoints))


def translation(table: Mapping[str, T], endpoint: str, refusal: str) -> T:
    """What ``table`` holds for a batch's ``endpoint``. Without an entry, a 400 ``unsupported_endpoint`` (param
    ``endpoint``) whose message is ``refusal`` formatted with ``endpoints`` (the table's, as ``named`` gives them)
    and ``endpoint`` (the one asked for): e.g. ``"Gemini batches run {endpoints} only, not {endpoint!r}."``."""
    entry = table.get(endpoint)
    if entry is None:
        message = refusal.format(endpoints=named(table), endpoint=endpoint)
        raise bad_request(message, param="endpoint", code="unsupported_endpoint")
    return entry


def unsupported_line(custom_id: str, provider: str, table: Iterable[str], url: Any) -> GatewayError:
    """The 400 for an input line calling an endpoint ``table`` does not hold (its lookup is the caller's: it runs
    on every line)."""
    return bad_request(
        f"custom_id {custom_id!r}: {provider} runs {named(table)} only, not {url!r}.",
        param="file",
        code="unsupported_endpoint",
    )
