"""Providers: their names, how a request picks one, and what a provider declares of itself.

A provider is declared in two parts. What the gateway reads of it at every start, before any adapter module is
imported — its display name, the variable of the gateway's own key for it, the variable and default of its base
URL — is its ``ProviderSetup``, a line of ``SETUPS`` here: the settings (``config``), ``serve``'s banner, the API's
schema and messages read that table, so a Lambda function's cold start imports no adapter to read its keys. The
rest is its adapter module's ``SPEC`` (a ``ProviderSpec``, beside its ``build``): what its batch states mean and
how its create works; the spec reads its setup by its name. The domain never imports those modules (they are the
edges'); it is handed a spec with the adapter (``ProviderAdapter.spec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.lifecycle import Observation
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH, JobLimits


@dataclass(frozen=True)
class ProviderSetup:
    """What is read of a provider before any adapter is built. ``display_name``: as messages name it ("OpenAI:
    Rate limit reached", "… refused this gateway's own credentials"). ``key_variable``: the environment variable
    holding the gateway's own key for it (gateway-key mode); None for a provider that takes none from the gateway's
    provider keys (Bedrock runs on the gateway's AWS identity; an openai-compatible endpoint takes the key its
    configuration names). ``base_url_variable``: the environment variable of its base URL (``Settings.base_urls``),
    ``default_base_url`` when unset; None for a provider without one."""

    display_name: str
    key_variable: str | None = None
    base_url_variable: str | None = None
    default_base_url: str = ""
    # What one job of its may hold by default (``parts.JobLimits``; a larger batch is split into several jobs), each
    # set by BATCHBRIDGE_<VARIABLE_PREFIX>_JOB_MAX_REQUESTS / _JOB_MAX_BYTES; None: no job limit of its own (the
    # batches the gateway runs itself)
    job_limits: JobLimits | None = None
    variable_prefix: str = ""  # its part of its settings' names (BATCHBRIDGE_OPENAI_…)

    @property
    def job_limit_variables(self) -> tuple[str, str]:
        """The settings of its job limits: requests, bytes."""
        return (
            f"BATCHBRIDGE_{self.variable_prefix}_JOB_MAX_REQUESTS",
            f"BATCHBRIDGE_{self.variable_prefix}_JOB_MAX_BYTES",
        )


# Every provider the gateway knows, in the order the API lists them (``providers.registry.MODULES`` has a module for
# each: a test holds both the same).
MB: Final = 1024 * 1024
SETUPS: Final[Mapping[str, ProviderSetup]] = {
    # OpenAI: 50,000 requests and 200 MB per batch input file
    "openai": ProviderSetup(
        "OpenAI",
        "OPENAI_API_KEY",
        "BATCHBRIDGE_OPENAI_BASE_URL",
        "https://api.openai.com/v1",
        JobLimits(50_000, 200 * MB),
        "OPENAI",
    ),
    # Anthropic: 100,000 requests or 256 MB per Message Batch
    "anthropic": ProviderSetup(
        "Anthropic",
        "ANTHROPIC_API_KEY",
        "BATCHBRIDGE_ANTHROPIC_BASE_URL",
        "https://api.anthropic.com",
        JobLimits(100_000, 256 * MB),
        "ANTHROPIC",
    ),
    # Bedrock: its default quotas, 50,000 records per job and 1 GB per input file (adjustable per account)
    "bedrock": ProviderSetup("Bedrock", job_limits=JobLimits(50_000, 1024 * MB), variable_prefix="BEDROCK"),
    # Gemini: 2 GB per file (it states no request limit: the gateway's per-batch limit is the bound)
    "gemini": ProviderSetup(
        "Gemini",
        "GEMINI_API_KEY",
        "BATCHBRIDGE_GEMINI_BASE_URL",
        "https://generativelanguage.googleapis.com",
        JobLimits(DEFAULT_MAX_REQUESTS_PER_BATCH, 2048 * MB),
        "GEMINI",
    ),
    "openai-compatible": ProviderSetup("openai-compatible"),
}
PROVIDERS: Final = tuple(SETUPS)
DEFAULT_PROVIDER: Final = "openai"


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as its adapter module declares it (``SPEC``).

    ``name``: as requests and records name it (one of ``PROVIDERS``); its ``setup`` (``SETUPS``) gives its
    ``display_name`` and ``key_variable``.

    What its raw batch states mean (``lifecycle.observe``): ``states``, raw state -> observation, looked up after
    removing each of ``state_prefixes`` in turn (Gemini spells a state ``BATCH_STATE_RUNNING`` or
    ``JOB_STATE_RUNNING``); ``ended_says_how`` False when an ended state does not tell how the batch ended, the
    gateway then knowing it (Anthropic's ``ended``: after a cancel it is a cancellation, with every request expired
    an expiry).

    ``create_reads_input``: its create reads the whole input file (Anthropic converts it and sends it inline, Gemini
    reads it through for its custom_ids, the executor copies and plans it), so a batch of a large input file is
    accepted at once, ``validating``, and submitted by the submit_batch job. False where the create names the
    provider's copy, made at upload (OpenAI, Bedrock): its work does not grow with the file.

    ``keeps_results``: the gateway keeps copies of the provider's results for it (raw output in its bucket, stored
    answers) that its adapter's ``release_results`` removes once a batch is final; False where that does nothing.

    ``queue_full_codes``: the error codes with which the provider fails a batch because its queue (its limit of work
    enqueued at once) is full (OpenAI's ``token_limit_exceeded``, reported by failing the batch in validation): a
    part of a split batch that fails so waits, and is started again later, instead of failing."""

    name: str
    states: Mapping[str, Observation]
    state_prefixes: tuple[str, ...] = ()
    ended_says_how: bool = True
    create_reads_input: bool = False
    keeps_results: bool = False
    queue_full_codes: frozenset[str] = frozenset()

    @property
    def setup(self) -> ProviderSetup:
        """Its line of ``SETUPS`` (a provider not listed there is known by its name alone)."""
        return SETUPS.get(self.name) or ProviderSetup(self.name)

    @property
    def display_name(self) -> str:
        return self.setup.display_name

    @property
    def key_variable(self) -> str | None:
        return self.setup.key_variable


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
