"""Provider names and how a request picks one."""

from __future__ import annotations

from typing import Any, Final

from batchbridge.domain.errors import GatewayError, bad_request

PROVIDERS: Final = ("openai", "anthropic", "bedrock", "gemini", "openai-compatible")
DEFAULT_PROVIDER: Final = "openai"


def parse_provider(value: Any, *, default: str | None) -> str | None:
    """The provider a request names; ``default`` when it names none. Unknown names are a 400."""
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in PROVIDERS:
        raise bad_request(
            f"Unknown provider {value!r}; accepted values are: {', '.join(PROVIDERS)}.",
            param="provider",
            code="invalid_provider",
        )
    return value


def unsupported_provider(name: str) -> GatewayError:
    return bad_request(
        f"Provider {name!r} is not available in this gateway yet.",
        param="provider",
        code="unsupported_provider",
    )
