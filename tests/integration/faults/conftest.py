"""Provider fakes behind an unreliable network (answers lost, requests stalled), and what their tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.fakes.anthropic_upstream import create_app as create_fake_anthropic
from tests.fakes.bedrock_upstream import create_app as create_fake_bedrock
from tests.fakes.gemini_upstream import create_app as create_fake_gemini
from tests.fakes.openai_upstream import create_app as create_fake_openai
from tests.fakes.server import Unreliable, running_server
from tests.integration.faults.batches import KEY
from tests.integration.helpers import unreliable_fake

fake_openai = unreliable_fake(create_fake_openai, path="/v1")
fake_anthropic = unreliable_fake(create_fake_anthropic)
fake_gemini = unreliable_fake(create_fake_gemini)


@pytest.fixture
def fake_bedrock(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """Behind the same network, but started under moto (it reads and writes moto's S3), and the gateway's bedrock
    client pointed at it."""
    app = Unreliable(create_fake_bedrock())
    with running_server(app) as base:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", base)
        yield app, base


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")  # two-line files for every provider
    return gateway_env | {"BATCHBRIDGE_BEDROCK_MIN_RECORDS": "1"}


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk
