"""What `batchbridge serve` prints at start (batchbridge.banner): where it serves and its docs are, its storage, and
which providers a caller can use — and never a key."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from batchbridge.banner import aws_credentials_found, banner
from batchbridge.config import Settings

URL = "http://127.0.0.1:8080"
STORAGE = "embedded store at http://127.0.0.1:5000"
SECRETS = ("sk-gateway-secret", "sk-openai-secret", "groq-secret", "url-password", "url-token")


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """Settings read from ``env`` alone (nothing of this process's own environment)."""
    for name in list(os.environ):
        if name.startswith("BATCHBRIDGE_") or name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(default_storage="embedded")


def line(lines: list[str], start: str) -> str:
    (found,) = [text for text in lines if text.removeprefix("batchbridge:").strip().startswith(start)]
    return found


def test_pass_through_names_the_callers_keys_and_every_compat_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = {
        "ollama": {"base_url": "http://127.0.0.1:11434/v1"},
        "groq": {"base_url": "https://user:url-password@api.groq.com/openai/v1?token=url-token", "api_key_env": "GROQ"},
    }
    monkeypatch.setenv("GROQ", "groq-secret")
    lines = banner(
        settings(monkeypatch, BATCHBRIDGE_COMPAT_ENDPOINTS=json.dumps(endpoints)),
        url=URL,
        storage=STORAGE,
        aws_credentials=False,
    )
    assert all(text.startswith("batchbridge: ") for text in lines)
    assert "http://127.0.0.1:8080/openai" in lines[0] and "API docs: http://127.0.0.1:8080/docs" in lines[0]
    assert STORAGE in line(lines, "storage:") and "sweeping every 60 s" in line(lines, "storage:")
    assert "pass-through" in line(lines, "keys:")
    assert "caller's own OpenAI key (https://api.openai.com/v1)" in line(lines, "openai:")
    assert "caller's own Anthropic key" in line(lines, "anthropic:")
    assert "caller's own Gemini key" in line(lines, "gemini:")
    assert "needs AWS credentials: none found" in line(lines, "bedrock:")
    compat = [text for text in lines if "openai-compatible:" in text]
    assert "endpoint_name 'groq' at https://api.groq.com/openai/v1 (" in compat[0]
    assert "key from GROQ" in compat[0] and "unset" not in compat[0]
    assert "endpoint_name 'ollama' at http://127.0.0.1:11434/v1 (up to 4 requests at once)" in compat[1]
    assert not [text for text in lines if any(secret in text for secret in SECRETS)]


def test_gateway_key_mode_names_where_each_providers_key_comes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = {"groq": {"base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_KEY_NOT_SET"}}
    monkeypatch.delenv("GROQ_KEY_NOT_SET", raising=False)
    configured = settings(
        monkeypatch,
        BATCHBRIDGE_API_KEYS="sk-gateway-secret",
        OPENAI_API_KEY="sk-openai-secret",
        BATCHBRIDGE_COMPAT_ENDPOINTS=json.dumps(endpoints),
        BATCHBRIDGE_BEDROCK_BUCKET="my-staging",
    )
    lines = banner(configured, url=URL, storage=STORAGE, aws_credentials=True)
    assert "gateway-key mode" in line(lines, "keys:") and "BATCHBRIDGE_API_KEYS" in line(lines, "keys:")
    assert "the gateway's key from OPENAI_API_KEY" in line(lines, "openai:")
    assert "not usable: no key in ANTHROPIC_API_KEY or BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN" in line(
        lines, "anthropic:"
    )
    assert "not usable" in line(lines, "gemini:")
    assert "usable on the gateway's AWS credentials" in line(lines, "bedrock:")
    assert "s3://my-staging" in line(lines, "bedrock:")
    assert "key from GROQ_KEY_NOT_SET, which is unset" in line(lines, "openai-compatible:")
    assert not [text for text in lines if any(secret in text for secret in SECRETS)]

    from_secret = settings(
        monkeypatch,
        BATCHBRIDGE_API_KEYS_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:keys",
        BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:providers",
    )
    lines = banner(from_secret, url=URL, storage=STORAGE, aws_credentials=True)
    assert "BATCHBRIDGE_API_KEYS_SECRET_ARN" in line(lines, "keys:")
    assert 'holds an "gemini" key' in line(lines, "gemini:")
    assert "each request names its S3 staging bucket" in line(lines, "bedrock:")
    assert "none (BATCHBRIDGE_COMPAT_ENDPOINTS" in line(lines, "openai-compatible:")


def test_aws_credentials_are_looked_for_without_a_network_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    started = time.monotonic()
    assert not aws_credentials_found()
    assert time.monotonic() - started < 0.9  # the instance-metadata lookup alone would wait a second
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert aws_credentials_found()
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # a broken profile: none, not a crash
    assert not aws_credentials_found()
