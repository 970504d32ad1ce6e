"""The request arguments each operation knows: any other in a request body is a 400, as OpenAI answers it.

OpenAI's own arguments first, then the gateway's extras (``extra_body`` in the SDK). ``custom_llm_provider`` is
LiteLLM's name for ``provider``, so LiteLLM users' code runs unchanged. Query strings are not checked: OpenAI
ignores query parameters it does not know, and so do we.
"""

from __future__ import annotations

from typing import Any, Final

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.providers import parse_provider

PROVIDER_ALIAS: Final = "custom_llm_provider"
_PROVIDER: Final = ("provider", PROVIDER_ALIAS)

KNOWN_ARGUMENTS: Final[dict[str, frozenset[str]]] = {
    # storage_config: Bedrock's staging; endpoint_name: which openai-compatible endpoint the file is for
    "files_create": frozenset({"file", "purpose", "expires_after", "storage_config", "endpoint_name", *_PROVIDER}),
    "uploads_create": frozenset(
        {"bytes", "filename", "mime_type", "purpose", "expires_after", "storage_config", "endpoint_name", *_PROVIDER}
    ),
    "uploads_add_part": frozenset({"data", *_PROVIDER}),
    "uploads_complete": frozenset({"part_ids", "md5", *_PROVIDER}),
    "uploads_cancel": frozenset(_PROVIDER),
    "batches_create": frozenset(
        {
            "input_file_id",
            "endpoint",
            "completion_window",
            "metadata",
            "output_expires_after",
            "requests",  # Anthropic's inline requests
            "model",  # Bedrock and Gemini: the model the batch runs
            "role_arn",  # Bedrock (operator-only: refused by name when a client sends it)
            "output_s3_uri",  # Bedrock
            "endpoint_name",  # which openai-compatible endpoint
            *_PROVIDER,
        }
    ),
    "batches_cancel": frozenset(_PROVIDER),
}
# Completions and cancels act on what exists: they also take, and ignore, the extras a client sent with its
# creates (Bifrost's own tests cancel with the create's extra_body).
_CREATE_EXTRAS: Final = (KNOWN_ARGUMENTS["batches_create"] | KNOWN_ARGUMENTS["files_create"]) - {
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
    "file",
    "purpose",
    "expires_after",
}
IGNORED_ARGUMENTS: Final[dict[str, frozenset[str]]] = {
    name: _CREATE_EXTRAS for name in ("uploads_complete", "uploads_cancel", "batches_cancel")
}


def check_known(operation: str, names: Any) -> None:
    """A 400 naming every argument ``operation`` does not know (OpenAI's words: its clients match on them)."""
    accepted = KNOWN_ARGUMENTS[operation] | IGNORED_ARGUMENTS.get(operation, frozenset())
    unknown = sorted(name for name in names if name not in accepted)
    if unknown:
        shown = ", ".join(name[:100] for name in unknown[:20])
        noun = "argument" if len(unknown) == 1 else "arguments"
        raise GatewayError(400, f"Unrecognized request {noun} supplied: {shown}")


def named_provider(params: dict[str, Any]) -> str | None:
    """The provider a request names, as ``provider`` or LiteLLM's ``custom_llm_provider`` (None: it names none).
    Naming two different ones is a 400."""
    names = {key: parse_provider(params.get(key), default=None) for key in _PROVIDER}
    named = {value for value in names.values() if value is not None}
    if len(named) > 1:
        raise bad_request(
            f"'provider' ({names['provider']!r}) and '{PROVIDER_ALIAS}' ({names[PROVIDER_ALIAS]!r}) name different "
            "providers; give one.",
            param=PROVIDER_ALIAS,
            code="invalid_provider",
        )
    return named.pop() if named else None
