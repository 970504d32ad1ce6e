"""Which module serves which provider, and the adapters built from them on first use.

A provider is one adapter module declaring it: ``SPEC`` (a ``domain.providers.ProviderSpec``: what its batch
states mean, how its create works) and ``build(settings, parts)``, its adapter made from the settings and what the
composition root hands it (``Parts``). Adding a provider takes that module, its translation tables
(``domain/translate``), its fake upstream (``tests/fakes``, checked in ``tests/contract``), its line in
``domain.providers.SETUPS`` (its name, display name, key variable and base-URL variable: read at every start,
before any adapter, by the settings' provider keys and base URLs and by ``serve``'s banner) and its module's line
in ``MODULES`` below; a setting of its own beyond its key and base URL (as Bedrock's role and bucket) is a further
field in ``config``. ``tests/unit/test_provider_specs.py`` checks that every name has a
module whose ``SPEC`` is its own, with a state table ``lifecycle`` can read, keys and base URLs read and shown as
its setup names them, built only when first used.

A module is imported only when its provider is first used: its HTTP or AWS client is no part of a cold start of a
function that never calls it (``tests/infra/test_cold_start.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

from batchbridge import tracing
from batchbridge.config import Settings
from batchbridge.domain.parts import JobLimits
from batchbridge.domain.ports import ProviderAdapter
from batchbridge.domain.providers import ProviderSpec, unsupported_provider

if TYPE_CHECKING:
    from batchbridge.domain.executor import BatchExecutor
    from batchbridge.domain.images import ImageFetcher

# provider -> the module declaring it (its SPEC and build)
MODULES: Final[dict[str, str]] = {
    "openai": "batchbridge.providers.openai",
    "anthropic": "batchbridge.providers.anthropic",
    "bedrock": "batchbridge.providers.bedrock",
    "gemini": "batchbridge.providers.gemini",
    "openai-compatible": "batchbridge.providers.compat",
}

Factory = Callable[[Settings], ProviderAdapter]


def _aws_client(service: str, **kwargs: Any) -> Any:
    from batchbridge import aws

    return aws.client(service, **kwargs)


def _https_image_fetcher() -> ImageFetcher:
    from batchbridge.image_fetch import HttpsImageFetcher

    return HttpsImageFetcher()


@dataclass(frozen=True)
class Parts:
    """What the composition root hands an adapter's ``build`` besides the settings.

    ``aws_client``: boto3 clients, as ``batchbridge.aws.client`` makes them (service, keyword arguments), for the
    providers that call AWS on the gateway's own identity (Bedrock). ``executor``: the executor the composition root
    built (the same one its background jobs run chunks on), for the provider whose batches it runs
    (openai-compatible), built when first called; None where this gateway runs none. ``image_fetcher``: what
    fetches the images batch lines give by URL, for providers that take inline bytes only (made when first
    needed)."""

    aws_client: Callable[..., Any] = _aws_client
    executor: Callable[[], BatchExecutor] | None = None
    image_fetcher: Callable[[], ImageFetcher] = _https_image_fetcher


def job_limits(settings: Settings, spec: ProviderSpec) -> JobLimits:
    """What one job of provider ``spec`` may hold, as ``settings`` set it (its setup's defaults); a provider without
    job limits of its own (the batches the gateway runs itself) takes a whole batch in one job."""
    limits = settings.job_limits.get(spec.name) or spec.setup.job_limits
    return limits if limits is not None else JobLimits(settings.max_requests_per_batch)


def base_url(settings: Settings, spec: ProviderSpec) -> str:
    """The base URL ``settings`` hold for provider ``spec`` (read from the variable its setup names)."""
    if spec.name not in settings.base_urls:
        raise ValueError(f"provider {spec.name} has no base URL setting")
    return settings.base_urls[spec.name]


def spec(name: str) -> ProviderSpec:
    """Provider ``name``'s spec, as its module declares it (the module is imported if it was not yet)."""
    module = MODULES.get(name)
    if module is None:
        raise unsupported_provider(name)
    declared: ProviderSpec = import_module(module).SPEC
    return declared


def _factory(module: str, parts: Parts) -> Factory:
    def build(settings: Settings) -> ProviderAdapter:
        adapter: ProviderAdapter = import_module(module).build(settings, parts)
        return adapter

    return build


def factories(parts: Parts | None = None) -> dict[str, Factory]:
    """A factory for each provider of ``MODULES``, building its adapter with ``parts`` (by default, the AWS
    clients from boto3's environment and no executor)."""
    given = Parts() if parts is None else parts
    return {name: _factory(module, given) for name, module in MODULES.items()}


FACTORIES: Final = factories()


class Registry:
    def __init__(
        self,
        settings: Settings,
        factories: dict[str, Factory] | None = None,
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
