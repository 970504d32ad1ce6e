"""Secrets read at runtime from Secrets Manager (the deployment keeps none in a function's environment): the owner
HMAC key, the webhook signing secret, openai-compatible endpoints' keys."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import boto3
import pytest

from batchbridge.config import Settings
from batchbridge.domain.owner import owner_of
from batchbridge.gateway import Gateway
from batchbridge.store.keys import compat_key, with_secrets
from batchbridge.store.queue import LocalWorkQueue


def secret(value: str) -> str:
    name = f"bb-{uuid.uuid4().hex}"  # Powertools caches by name: a fresh one per test
    arn: str = boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def settings_with(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    monkeypatch.delenv("BATCHBRIDGE_OWNER_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_the_owner_key_and_webhook_secret_come_from_their_secrets(
    gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_arn = secret("owner-key-from-secrets-manager")
    webhook_arn = secret("whsec_" + "A" * 43 + "=")
    settings = settings_with(
        gateway_env,
        monkeypatch,
        BATCHBRIDGE_OWNER_SECRET_ARN=owner_arn,
        BATCHBRIDGE_WEBHOOK_URL="https://hooks.example/batchbridge",
        BATCHBRIDGE_WEBHOOK_SECRET_ARN=webhook_arn,
    )
    assert settings.owner_secret is None and settings.webhook_secret is None  # only ARNs in the environment
    gateway = Gateway.from_settings(settings, queue=LocalWorkQueue())
    assert gateway.owner_secret == b"owner-key-from-secrets-manager"
    assert gateway.settings.webhook_secret == "whsec_" + "A" * 43 + "="
    caller = gateway.caller({"authorization": "Bearer sk-someone"})
    assert caller.owner == owner_of("sk-someone", b"owner-key-from-secrets-manager")


def test_a_plain_value_wins_and_a_missing_secret_stops_the_start(
    gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(gateway_env, monkeypatch, BATCHBRIDGE_OWNER_SECRET_ARN=secret("from-the-secret"))
    assert with_secrets(dataclasses.replace(settings, owner_secret="plain")).owner_secret == "plain"
    missing = dataclasses.replace(
        settings, owner_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:bb-nowhere-abcdef"
    )
    with pytest.raises(RuntimeError, match="BATCHBRIDGE_OWNER_SECRET_ARN"):
        Gateway.from_settings(missing, queue=LocalWorkQueue())
    with pytest.raises(RuntimeError, match="BATCHBRIDGE_OWNER_SECRET"):
        Gateway.from_settings(dataclasses.replace(settings, owner_secret_arn=None), queue=LocalWorkQueue())


def test_compat_keys_from_the_environment_else_the_secret(
    gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = secret(json.dumps({"COMPAT_API_KEY": "key-from-secret", "EMPTY": ""}))
    settings = settings_with(gateway_env, monkeypatch, BATCHBRIDGE_COMPAT_KEYS_SECRET_ARN=arn)
    monkeypatch.delenv("COMPAT_API_KEY", raising=False)
    assert compat_key(settings, "COMPAT_API_KEY") == "key-from-secret"
    assert compat_key(settings, "EMPTY") is None and compat_key(settings, "OTHER") is None
    monkeypatch.setenv("COMPAT_API_KEY", "key-from-env")
    assert compat_key(settings, "COMPAT_API_KEY") == "key-from-env"
    bad: Any = dataclasses.replace(settings, compat_keys_secret_arn=secret("[not an object"))
    monkeypatch.delenv("COMPAT_API_KEY")
    with pytest.raises(RuntimeError, match="JSON object"):
        compat_key(bad, "COMPAT_API_KEY")
