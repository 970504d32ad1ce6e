"""What `batchbridge serve` says when it starts: where it serves, where its docs are, its storage, and which
providers a caller can use. Never a key: only the names of the variables holding them. Only the CLI imports this
(no Lambda function does)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from batchbridge.config import Settings
from batchbridge.domain.providers import SETUPS


def keyed_providers() -> list[tuple[str, str, str]]:
    """Each provider taking a key of the gateway's (gateway-key mode): its name, its name in prose, its key's
    variable — as its setup declares them (``domain.providers.SETUPS``)."""
    return [
        (provider, setup.display_name, setup.key_variable)
        for provider, setup in SETUPS.items()
        if setup.key_variable is not None
    ]


def banner(settings: Settings, *, url: str, storage: str, aws_credentials: bool) -> list[str]:
    """The lines `serve` prints at start. ``url``: what it serves (``http://host:port``); ``storage``: where its
    records live; ``aws_credentials``: whether boto3 finds AWS credentials (Bedrock runs on them)."""
    lines = [
        f"serving {url}/openai (the OpenAI SDK's base_url); API docs: {url}/docs",
        f"storage: {storage}; sweeping every {settings.sweep_seconds:g} s",
    ]
    gateway_keys = settings.gateway_keys_mode
    if gateway_keys:
        sources = [
            name
            for name, value in (
                ("BATCHBRIDGE_API_KEYS", settings.api_keys),
                ("BATCHBRIDGE_API_KEYS_SECRET_ARN", settings.api_keys_secret_arn),
            )
            if value
        ]
        lines.append(
            f"keys: gateway-key mode: callers present a key from {' and '.join(sources)}; "
            "providers get the gateway's own keys"
        )
    else:
        lines.append("keys: pass-through: each caller's bearer key goes to the provider it names")
    for provider, label, variable in keyed_providers():
        upstream = settings.base_urls.get(provider)
        where = f" ({public_url(upstream)})" if upstream else ""
        lines.append(f"  {provider}: {_keyed(settings, provider, label, variable)}{where}")
    lines.append(f"  bedrock: {_bedrock(settings, aws_credentials)}")
    if settings.compat_endpoints:
        for name, endpoint in sorted(settings.compat_endpoints.items()):
            key = ""
            if endpoint.api_key_env:
                unset = "" if os.environ.get(endpoint.api_key_env) else ", which is unset"
                key = f"; key from {endpoint.api_key_env}{unset}"
            lines.append(
                f"  openai-compatible: endpoint_name {name!r} at {public_url(endpoint.base_url)}"
                f" (up to {endpoint.max_concurrency} requests at once{key})"
            )
    else:
        lines.append(
            "  openai-compatible: none (BATCHBRIDGE_COMPAT_ENDPOINTS names servers such as Ollama, vLLM, "
            "llama.cpp's: see the README's 'Try it without keys')"
        )
    return [f"batchbridge: {line}" for line in lines]


def _keyed(settings: Settings, provider: str, label: str, variable: str) -> str:
    """Whether a keyed provider is usable, and with whose key."""
    if not settings.gateway_keys_mode:
        return f"usable with the caller's own {label} key"
    if provider in settings.provider_keys:
        return f"usable, the gateway's key from {variable}"
    if settings.provider_keys_secret_arn:
        return f'usable if the secret of BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN holds an "{provider}" key'
    return f"not usable: no key in {variable} or BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN"


def _bedrock(settings: Settings, aws_credentials: bool) -> str:
    if not aws_credentials:
        # instance and container roles are not probed: that would be a network call at every start
        return "needs AWS credentials: none found (environment, ~/.aws; instance and container roles not checked)"
    staging = (
        f"staging in s3://{settings.bedrock_bucket}"
        if settings.bedrock_bucket
        else "each request names its S3 staging bucket (storage_config.s3; or set BATCHBRIDGE_BEDROCK_BUCKET)"
    )
    return f"usable on the gateway's AWS credentials (found), never a caller's key; {staging}"


def public_url(url: str) -> str:
    """``url`` without what may hold a secret: user info (``user:password@``), query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def aws_credentials_found() -> bool:
    """Whether boto3 finds AWS credentials, without a network call (so the instance-metadata and container
    providers are skipped); a profile that cannot be read counts as none."""
    import botocore.session

    try:
        resolver = botocore.session.get_session().get_component("credential_provider")
        for method in ("iam-role", "container-role"):
            resolver.remove(method)
        return resolver.load_credentials() is not None
    except Exception:  # a broken profile is the user's to fix when they use Bedrock, not a reason to stop serving
        return False
