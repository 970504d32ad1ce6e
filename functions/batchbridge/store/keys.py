"""Gateway-key mode's key material: the gateway keys clients present and the gateway's provider keys, from the
environment or from Secrets Manager (read through Powertools Parameters, cached for KEY_CACHE_SECONDS so a rotated
secret is picked up without a redeploy)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Final

from batchbridge.config import Settings, parse_gateway_keys

KEY_CACHE_SECONDS: Final = 300


def _secret(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(arn, max_age=KEY_CACHE_SECONDS)
    return value if isinstance(value, str) else bytes(value).decode()


class KeySource:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def gateway_keys(self) -> dict[str, str | None]:
        """The keys clients may present, each with the named tenant it belongs to (None: the key is its own
        tenant): BATCHBRIDGE_API_KEYS, and the secret's. Either holds a list of keys (comma/newline separated, or a
        JSON list of strings) or a JSON object of tenant name to its key or list of keys; anything but a non-empty
        string is no key."""
        keys = dict(self._settings.api_keys)
        if self._settings.api_keys_secret_arn:
            secret = _secret(self._settings.api_keys_secret_arn)
            keys.update(parse_gateway_keys(secret, "the API keys secret", strict=False))
        return keys

    def provider_key(self, provider: str) -> str | None:
        """The gateway's key for ``provider``: its environment variable, else the provider keys secret (a JSON
        object of provider name to key)."""
        key = self._settings.provider_keys.get(provider)
        if key:
            return key
        if self._settings.provider_keys_secret_arn:
            try:
                keys = json.loads(_secret(self._settings.provider_keys_secret_arn))
            except ValueError:
                raise RuntimeError("BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN must hold a JSON object") from None
            value = keys.get(provider) if isinstance(keys, dict) else None
            return str(value) if value else None
        return None


def with_secrets(settings: Settings) -> Settings:
    """``settings`` with the owner key and the webhook secret read from their secrets, where only an ARN is given
    (once per process: the owner key must not change under stored records, and a webhook secret rotates with a
    deploy). A secret that cannot be read stops the start, naming the setting."""
    owner, webhook = settings.owner_secret, settings.webhook_secret
    if owner is None and settings.owner_secret_arn:
        owner = _required(settings.owner_secret_arn, "BATCHBRIDGE_OWNER_SECRET_ARN")
    if webhook is None and settings.webhook_secret_arn:
        webhook = _required(settings.webhook_secret_arn, "BATCHBRIDGE_WEBHOOK_SECRET_ARN").strip()
    return dataclasses.replace(settings, owner_secret=owner, webhook_secret=webhook)


def _required(arn: str, setting: str) -> str:
    try:
        value = _secret(arn)
    except Exception as exc:
        raise RuntimeError(f"{setting}: the secret could not be read ({type(exc).__name__})") from exc
    if not value:
        raise RuntimeError(f"{setting}: the secret is empty")
    return value


def compat_key(settings: Settings, variable: str) -> str | None:
    """An openai-compatible endpoint's key, named by its api_key_env: that environment variable (`serve`), else
    that name in the compat keys secret (a JSON object; the deployment), read when called and cached."""
    value = os.environ.get(variable, "").strip()
    if value or not settings.compat_keys_secret_arn:
        return value or None
    try:
        keys = json.loads(_secret(settings.compat_keys_secret_arn))
    except ValueError:
        raise RuntimeError("BATCHBRIDGE_COMPAT_KEYS_SECRET_ARN must hold a JSON object") from None
    found = keys.get(variable) if isinstance(keys, dict) else None
    return str(found) if found else None
