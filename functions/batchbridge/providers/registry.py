"""Which adapter serves which provider; adapters are imported only when first used (cold start)."""

from __future__ import annotations

from collections.abc import Callable

from batchbridge import tracing
from batchbridge.config import Settings
from batchbridge.domain.ports import ProviderAdapter
from batchbridge.domain.providers import unsupported_provider


def _openai(settings: Settings) -> ProviderAdapter:
    from batchbridge.providers.openai import OpenAIAdapter

    return OpenAIAdapter(settings.openai_base_url, timeout=settings.upstream_timeout_seconds)


def _anthropic(settings: Settings) -> ProviderAdapter:
    from batchbridge.providers.anthropic import AnthropicAdapter

    return AnthropicAdapter(settings.anthropic_base_url, timeout=settings.upstream_timeout_seconds)


def _bedrock(settings: Settings) -> ProviderAdapter:
    from batchbridge.providers.bedrock import BedrockAdapter

    return BedrockAdapter(
        bucket=settings.bedrock_bucket,
        role_arn=settings.bedrock_role_arn,
        min_records=settings.bedrock_min_records,
        timeout=settings.upstream_timeout_seconds,
        operator_only=settings.gateway_keys_mode,
        allowed_buckets=settings.bedrock_allowed_buckets,
        allowed_role_arns=settings.bedrock_allowed_role_arns,
    )


def _gemini(settings: Settings) -> ProviderAdapter:
    from batchbridge.providers.gemini import GeminiAdapter

    return GeminiAdapter(settings.gemini_base_url, timeout=settings.upstream_timeout_seconds)


# A new provider is one entry here plus its adapter module.
FACTORIES: dict[str, Callable[[Settings], ProviderAdapter]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "bedrock": _bedrock,
    "gemini": _gemini,
}


class Registry:
    def __init__(
        self,
        settings: Settings,
        factories: dict[str, Callable[[Settings], ProviderAdapter]] | None = None,
        *,
        provider_key: Callable[[str], str | None] | None = None,
    ):
        """``provider_key``: gateway-key mode's source of the gateway's provider keys (every adapter then
        uses those, never the client's credentials)."""
        self._settings = settings
        self._factories = FACTORIES if factories is None else factories
        self._provider_key = provider_key
        self._adapters: dict[str, ProviderAdapter] = {}

    def check(self, name: str) -> None:
        """A 400 ``unsupported_provider`` when ``name`` has no adapter here (without building or importing it)."""
        if name not in self._factories:
            raise unsupported_provider(name)

    def get(self, name: str) -> ProviderAdapter:
        adapter = self._adapters.get(name)
        if adapter is None:
            factory = self._factories.get(name)
            if factory is None:
                raise unsupported_provider(name)
            adapter = factory(self._settings)
            if self._provider_key is not None:
                from batchbridge.providers.keyed import GatewayKeyed

                provider_key = self._provider_key
                adapter = GatewayKeyed(adapter, lambda: provider_key(name))
            adapter = tracing.traced(adapter, name)
            self._adapters[name] = adapter
        return adapter
