"""Provider ``openai-compatible``'s endpoints (vLLM, Ollama, Groq, …): their configuration and the paths its batches
run — no I/O here. Its batches are run by the executor (``domain.executor``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain.endpoints import CHAT_ENDPOINT, EMBEDDINGS_ENDPOINT

PROVIDER: Final = "openai-compatible"
# The endpoints its batches run, by the path each is sent to (the requests go as they are, the answers come back as
# they are: the table is the whole of its translations).
ENDPOINT_PATHS: Final = {CHAT_ENDPOINT: "chat/completions", EMBEDDINGS_ENDPOINT: "embeddings"}
DEFAULT_TIMEOUT_SECONDS: Final = 300.0  # one request to an endpoint (within the worker function's 900 s)
MAX_TIMEOUT_SECONDS: Final = 420.0


@dataclass(frozen=True)
class CompatEndpoint:
    name: str
    base_url: str  # e.g. http://127.0.0.1:8000/v1; requests go to {base_url}/chat/completions
    api_key_env: str | None = None  # the variable holding its key (read when called); None: no key configured
    max_concurrency: int = 4  # requests of one batch in flight at once
    requests_per_minute: int | None = None  # requests of one batch started per minute
    # How long one request may take: a generation can run for minutes (the worker is not bound by API Gateway's
    # 29 s), so this is the endpoint's own, not BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS.
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def parse_endpoints(raw: str, variable: str = "BATCHBRIDGE_COMPAT_ENDPOINTS") -> dict[str, CompatEndpoint]:
    """``{"name": {"base_url", "api_key_env"?, "max_concurrency"?, "requests_per_minute"?, "timeout_seconds"?}}``;
    anything else is a ValueError naming the variable and what is wrong (the gateway refuses to start on it)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{variable} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{variable} must be a JSON object of endpoint name -> settings.")
    endpoints: dict[str, CompatEndpoint] = {}
    for name, spec in data.items():
        where = f"{variable}[{name!r}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be an object with a base_url.")
        unknown = set(spec) - {"base_url", "api_key_env", "max_concurrency", "requests_per_minute", "timeout_seconds"}
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        base_url = spec.get("base_url")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{where}.base_url must be an http(s) URL.")
        key_env = spec.get("api_key_env")
        if key_env is not None and (not isinstance(key_env, str) or not key_env):
            raise ValueError(f"{where}.api_key_env must name an environment variable.")
        concurrency = _positive(spec.get("max_concurrency", 4), f"{where}.max_concurrency")
        rpm = spec.get("requests_per_minute")
        timeout = spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError(
                f"{where}.timeout_seconds must be a number of seconds, above 0 and at most {MAX_TIMEOUT_SECONDS:g} "
                "(a request's two sends fit in one run of the worker function, 15 minutes)."
            )
        endpoints[name] = CompatEndpoint(
            name=name,
            base_url=base_url.rstrip("/"),
            api_key_env=key_env,
            max_concurrency=concurrency,
            requests_per_minute=None if rpm is None else _positive(rpm, f"{where}.requests_per_minute"),
            timeout_seconds=float(timeout),
        )
    return endpoints


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive integer.")
    return value
