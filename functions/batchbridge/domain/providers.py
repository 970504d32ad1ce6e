"""Providers: their names, how a request picks one, and what a provider declares of itself (``ProviderSpec``).

Each provider is declared once, by its adapter module (``SPEC``, beside its ``build``): its names, its key, its
base URL setting and what its batch states mean. The domain never imports those modules (they are the edges'); it
is handed a spec with the adapter (``ProviderAdapter.spec``). Only the names are needed before any adapter is
built (to check a request's ``provider``, in error messages, in the API's schema): ``PROVIDERS``, the one list of
them, which ``providers.registry`` maps each to its module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.lifecycle import Observation

# Every provider the gateway knows, in the order the API lists them (``providers.registry.MODULES`` has a module for
# each: a test holds both the same).
PROVIDERS: Final = ("openai", "anthropic", "bedrock", "gemini", "openai-compatible")
DEFAULT_PROVIDER: Final = "openai"


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as its adapter module declares it (``SPEC``).

    ``name``: as requests and records name it (one of ``PROVIDERS``). ``display_name``: as messages name it
    ("OpenAI: Rate limit reached", "… refused this gateway's own credentials"). ``key_variable``: the environment
    variable holding the gateway's own key for it (gateway-key mode); None for a provider that takes none from the
    gateway's provider keys (Bedrock runs on the gateway's AWS identity; an openai-compatible endpoint takes the key
    its configuration names). ``base_url_setting``: the ``Settings`` attribute holding its base URL, if it has one.

    What its raw batch states mean (``lifecycle.observe``): ``states``, raw state -> observation, looked up after
    removing each of ``state_prefixes`` in turn (Gemini spells a state ``BATCH_STATE_RUNNING`` or
    ``JOB_STATE_RUNNING``); ``ended_says_how`` False when an ended state does not tell how the batch ended, the
    gateway then knowing it (Anthropic's ``ended``: after a cancel it is a cancellation, with every request expired
    an expiry)."""

    name: str
    display_name: str
    states: Mapping[str, Observation]
    key_variable: str | None = None
    base_url_setting: str | None = None
    state_prefixes: tuple[str, ...] = ()
    ended_says_how: bool = True


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
