"""Settings read from the environment (names are part of the product's interface: see README)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from batchbridge.domain.compat import CompatEndpoint, parse_endpoints
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH, JobLimits
from batchbridge.domain.providers import SETUPS

StorageMode = Literal["embedded", "aws"]

T = TypeVar("T")
D = TypeVar("D")


@overload
def _env(name: str, default: D) -> str | D: ...
@overload
def _env(name: str, default: D, parse: Callable[[str], T]) -> T | D: ...
def _env(name: str, default: Any, parse: Callable[[str], Any] = str) -> Any:
    """``name``'s value, stripped and then parsed; ``default`` when it is unset or blank."""
    raw = os.environ.get(name, "").strip()
    return parse(raw) if raw else default


def _float(name: str, default: float, *, allow_zero: bool = False) -> float:
    """``name``'s number, positive (or, ``allow_zero``, zero or more); ``default`` when it is unset or blank."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError as exc:
            raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be {'zero or more' if allow_zero else 'positive'}, got {raw!r}")
        return value

    return _env(name, default, parse)


def _switch(name: str, default: bool) -> bool:
    """``name``'s on/off value: true/false, 1/0, yes/no, on/off (any case); ``default`` when unset or blank."""

    def parse(raw: str) -> bool:
        value = raw.lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} must be true or false, got {raw!r}")

    return _env(name, default, parse)


def _base_url(raw: str) -> str:
    """A base URL without trailing slashes: paths are appended with their own."""
    return raw.rstrip("/")


def parse_gateway_keys(raw: str, source: str, *, strict: bool = True) -> dict[str, str | None]:
    """Gateway keys as written in BATCHBRIDGE_API_KEYS or its secret (see ``KeySource.gateway_keys``): key -> its
    named tenant (None: its own). ``strict`` (a setting read at start): a key given to two tenants, malformed
    JSON, or a value holding no key is a ValueError naming ``source``; otherwise (a secret read at runtime) such
    keys are none (nobody gets in by them)."""
    raw = raw.strip()
    parsed: Any = None
    if raw.startswith(("[", "{")):
        try:
            parsed = json.loads(raw)
        except ValueError:
            if strict:
                raise ValueError(f"{source} looks like JSON but does not parse: no keys are taken from it") from None
            return {}  # never split as a comma list: its pieces would become keys
    keys = _tenants_keys(parsed, source, strict=strict) if isinstance(parsed, dict) else _listed_keys(parsed, raw)
    if raw and not keys and strict:
        # a setting that names no key must not quietly turn gateway-key mode off
        raise ValueError(f"{source} is set but holds no key (a key is a non-empty string)")
    return keys


def _tenants_keys(parsed: dict[str, Any], source: str, *, strict: bool) -> dict[str, str | None]:
    """Keys of a JSON object of tenant -> key or list of keys, each to its tenant. A key given to two tenants is
    a ValueError (``strict``) or no one's."""
    keys: dict[str, str | None] = {}
    shared: set[str] = set()
    for tenant, listed in parsed.items():
        for entry in listed if isinstance(listed, list) else [listed]:
            key = entry.strip() if isinstance(entry, str) else ""
            if not key:
                continue
            if keys.get(key, tenant) != tenant:
                if strict:
                    raise ValueError(f"{source} gives one key to two tenants")
                shared.add(key)
            keys[key] = str(tenant)
    return {key: tenant for key, tenant in keys.items() if key not in shared}


def _listed_keys(parsed: list[Any] | None, raw: str) -> dict[str, str | None]:
    """Keys of a JSON list, or (``parsed`` None: not JSON) of ``raw`` split at commas and newlines; each key is its
    own tenant."""
    listed = parsed if isinstance(parsed, list) else raw.replace("\n", ",").split(",")
    return {key.strip(): None for key in listed if isinstance(key, str) and key.strip()}


def _keyed_over_tls(endpoints: dict[str, CompatEndpoint]) -> dict[str, CompatEndpoint]:
    """An endpoint the gateway sends a key must be https (the key would cross the network in the clear), but on
    this machine's loopback (a local server under `serve`)."""
    from urllib.parse import urlsplit

    for name, endpoint in endpoints.items():
        url = urlsplit(endpoint.base_url)
        loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
        if endpoint.api_key_env and url.scheme != "https" and not loopback:
            raise ValueError(
                f"BATCHBRIDGE_COMPAT_ENDPOINTS[{name!r}].base_url must be https: the gateway sends it the key "
                f"{endpoint.api_key_env} names"
            )
    return endpoints


def _names(name: str) -> frozenset[str]:
    """A comma-separated list of names (empty entries dropped)."""
    return frozenset(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    storage: StorageMode
    table: str
    bucket: str
    base_urls: dict[str, str]  # provider -> its base URL (each provider's setup names its variable and default)
    owner_secret: str | None
    upstream_timeout_seconds: float
    refresh_seconds: float
    sweep_seconds: float
    kms_key: str
    work_queue_url: str | None
    webhook_url: str | None
    webhook_secret: str | None
    webhook_retry_seconds: float
    bedrock_role_arn: str | None
    bedrock_min_records: int
    bedrock_bucket: str | None
    inline_content_max_bytes: int
    # Gateway-key mode: buckets and roles a request may name for Bedrock besides the gateway's own.
    bedrock_allowed_buckets: frozenset[str] = frozenset()
    bedrock_allowed_role_arns: frozenset[str] = frozenset()
    # Gateway-key mode (either set): clients must present one of these keys; providers get the gateway's own.
    # key -> its named tenant (None: the key is its own tenant)
    api_keys: dict[str, str | None] = field(default_factory=dict, repr=False)
    api_keys_secret_arn: str | None = None
    provider_keys: dict[str, str] = field(default_factory=dict, repr=False)  # provider -> key, from the env
    provider_keys_secret_arn: str | None = None
    # provider openai-compatible: endpoint name -> its settings
    compat_endpoints: dict[str, CompatEndpoint] = field(default_factory=dict)
    # the executor (the batches the gateway runs itself): chunks go to this queue (SQS); a running batch silent
    # this long has lost its worker
    executor_queue_url: str | None = None
    executor_stall_seconds: float = 120.0
    # Secrets Manager secrets read at runtime (the deployment keeps no secret value in a function's environment):
    # the owner HMAC key, the webhook signing secret, and a JSON object of openai-compatible keys by the name an
    # endpoint's api_key_env gives. A plain value (BATCHBRIDGE_OWNER_SECRET, …) wins over its secret.
    owner_secret_arn: str | None = None
    webhook_secret_arn: str | None = None
    compat_keys_secret_arn: str | None = None
    # Image URLs in batch lines fetched and inlined for providers that take only inline bytes (Bedrock).
    fetch_image_urls: bool = True
    # The most requests one gateway batch (its input file) may hold; a batch beyond its provider's job limits is
    # split into several provider jobs (``domain.parts``), each within that provider's ``job_limits``.
    max_requests_per_batch: int = DEFAULT_MAX_REQUESTS_PER_BATCH
    job_limits: dict[str, JobLimits] = field(default_factory=dict)  # provider -> what one job of its may hold
    # Bedrock jobs of one model that may run (submitted or in progress) at once in the account's region (its service
    # quota); parts beyond wait in the gateway.
    bedrock_max_concurrent_jobs: int = 10
    # A Bedrock batch below Bedrock's minimum of records: "on_demand" runs its requests on the gateway's executor
    # (Bedrock's runtime InvokeModel, at on-demand prices); "reject" refuses it (a 400).
    bedrock_small_batches: str = "on_demand"

    @property
    def gateway_keys_mode(self) -> bool:
        return bool(self.api_keys or self.api_keys_secret_arn)

    @classmethod
    def from_env(cls, default_storage: StorageMode = "aws") -> Settings:
        storage = _env("BATCHBRIDGE_STORAGE", default_storage)
        if storage not in ("embedded", "aws"):
            raise ValueError(f"BATCHBRIDGE_STORAGE must be 'embedded' or 'aws', got {storage!r}")
        return cls(
            storage=storage,  # type: ignore[arg-type]
            table=_env("BATCHBRIDGE_TABLE", "batchbridge"),
            bucket=_env("BATCHBRIDGE_BUCKET", "batchbridge-local"),
            base_urls=_base_urls(),
            owner_secret=os.environ.get("BATCHBRIDGE_OWNER_SECRET") or None,
            upstream_timeout_seconds=_float("BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS", 25.0),
            refresh_seconds=_float("BATCHBRIDGE_REFRESH_SECONDS", 5.0, allow_zero=True),
            sweep_seconds=_float("BATCHBRIDGE_SWEEP_SECONDS", 60.0),
            kms_key=_env("BATCHBRIDGE_KMS_KEY", "alias/batchbridge"),
            work_queue_url=_env("BATCHBRIDGE_WORK_QUEUE_URL", None),
            webhook_url=_env("BATCHBRIDGE_WEBHOOK_URL", None),
            webhook_secret=_env("BATCHBRIDGE_WEBHOOK_SECRET", None),
            webhook_retry_seconds=_float("BATCHBRIDGE_WEBHOOK_RETRY_SECONDS", 30.0),
            bedrock_role_arn=_env("BATCHBRIDGE_BEDROCK_ROLE_ARN", None),
            bedrock_min_records=int(_float("BATCHBRIDGE_BEDROCK_MIN_RECORDS", 100, allow_zero=True)),
            api_keys=parse_gateway_keys(os.environ.get("BATCHBRIDGE_API_KEYS", ""), "BATCHBRIDGE_API_KEYS"),
            api_keys_secret_arn=_env("BATCHBRIDGE_API_KEYS_SECRET_ARN", None),
            provider_keys=_provider_keys(),
            provider_keys_secret_arn=_env("BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN", None),
            compat_endpoints=_keyed_over_tls(parse_endpoints(os.environ.get("BATCHBRIDGE_COMPAT_ENDPOINTS", ""))),
            # (the variables keep their names: they are the product's interface)
            executor_queue_url=_env("BATCHBRIDGE_COMPAT_QUEUE_URL", None),
            executor_stall_seconds=_float("BATCHBRIDGE_COMPAT_STALL_SECONDS", 120.0),
            owner_secret_arn=_env("BATCHBRIDGE_OWNER_SECRET_ARN", None),
            webhook_secret_arn=_env("BATCHBRIDGE_WEBHOOK_SECRET_ARN", None),
            compat_keys_secret_arn=_env("BATCHBRIDGE_COMPAT_KEYS_SECRET_ARN", None),
            inline_content_max_bytes=int(
                _float("BATCHBRIDGE_INLINE_CONTENT_MAX_BYTES", 4 * 1024 * 1024, allow_zero=True)
            ),
            fetch_image_urls=_switch("BATCHBRIDGE_FETCH_IMAGE_URLS", True),
            max_requests_per_batch=_count("BATCHBRIDGE_MAX_REQUESTS_PER_BATCH", DEFAULT_MAX_REQUESTS_PER_BATCH),
            job_limits=_job_limits(),
            bedrock_max_concurrent_jobs=_count("BATCHBRIDGE_BEDROCK_MAX_CONCURRENT_JOBS", 10),
            bedrock_small_batches=_one_of("BATCHBRIDGE_BEDROCK_SMALL_BATCHES", ("on_demand", "reject")),
            bedrock_allowed_buckets=_names("BATCHBRIDGE_BEDROCK_ALLOWED_BUCKETS"),
            bedrock_allowed_role_arns=_names("BATCHBRIDGE_BEDROCK_ALLOWED_ROLE_ARNS"),
            # Bedrock reads the account's S3, never the embedded store: no default bucket there.
            bedrock_bucket=_env("BATCHBRIDGE_BEDROCK_BUCKET", None)
            or (None if storage == "embedded" else _env("BATCHBRIDGE_BUCKET", None)),
        )


def _count(name: str, default: int) -> int:
    """``name``'s whole number, 1 or more; ``default`` when it is unset or blank."""

    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{name} must be 1 or more, got {raw!r}")
        return value

    return _env(name, default, parse)


def _one_of(name: str, values: tuple[str, ...]) -> str:
    """``name``'s value, one of ``values`` (the first when it is unset or blank)."""
    value = _env(name, values[0])
    if value not in values:
        raise ValueError(f"{name} must be one of {', '.join(values)}, got {value!r}")
    return value


def _job_limits() -> dict[str, JobLimits]:
    """What one job of each provider may hold: its setup's defaults, each overridden by its setting."""
    limits: dict[str, JobLimits] = {}
    for provider, setup in SETUPS.items():
        if setup.job_limits is None:
            continue
        requests_variable, bytes_variable = setup.job_limit_variables
        limits[provider] = JobLimits(
            _count(requests_variable, setup.job_limits.max_requests),
            _count(bytes_variable, setup.job_limits.max_bytes) if setup.job_limits.max_bytes is not None else None,
        )
    return limits


def _provider_keys() -> dict[str, str]:
    """The providers' own keys, from the environment: provider -> key (gateway-key mode sends these upstream),
    each from the variable its setup names (``domain.providers.SETUPS``: no adapter is imported to read them)."""
    keys = {provider: _env(setup.key_variable, "") for provider, setup in SETUPS.items() if setup.key_variable}
    return {provider: key for provider, key in keys.items() if key}


def _base_urls() -> dict[str, str]:
    """Each provider's base URL: from the variable its setup names, else the setup's default."""
    return {
        provider: _base_url(_env(setup.base_url_variable, setup.default_base_url))
        for provider, setup in SETUPS.items()
        if setup.base_url_variable
    }
