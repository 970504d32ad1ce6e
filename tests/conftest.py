"""Shared fixtures: a fake OpenAI upstream on loopback, AWS faked by moto, the gateway wired to both."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import httpx
import moto.kms.models
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from batchbridge.api.app import build_app
from batchbridge.aws import ServiceLoader
from batchbridge.config import Settings
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from batchbridge.store.schema import ensure_bucket, ensure_table
from batchbridge.store.vault import ensure_key
from tests.fakes.anthropic_upstream import create_app as create_fake_anthropic
from tests.fakes.bedrock_upstream import create_app as create_fake_bedrock
from tests.fakes.compat_upstream import create_app as create_fake_compat
from tests.fakes.gemini_upstream import create_app as create_fake_gemini
from tests.fakes.openai_upstream import create_app as create_fake_openai
from tests.fakes.server import LOOPBACK_TLS, running_server

TABLE = "batchbridge-test"
BUCKET = "batchbridge-test-bucket"
KMS_ALIAS = "alias/batchbridge-test"
BEDROCK_ROLE = "arn:aws:iam::123456789012:role/batchbridge-bedrock"

_LOADERS: dict[str | None, ServiceLoader] = {}
_SYMMETRIC_SIGNING_PAIR: list[Any] = []
_generate_private_key = moto.kms.models.generate_private_key


def fresh_boto3_session() -> None:
    """A new default boto3 session, as the gateway's ``aws.client`` makes one after moto resets it (its own
    credentials, configuration and event handlers), but reading service models through this worker's one loader:
    botocore parses each model once per worker instead of once per test (about 0.1 s for DynamoDB's alone)."""
    core = botocore.session.get_session()
    data_path = core.get_config_variable("data_path")
    if data_path not in _LOADERS:
        _LOADERS[data_path] = ServiceLoader.for_session(core)
    core.register_component("data_loader", _LOADERS[data_path])
    boto3.setup_default_session(botocore_session=core)


def _signing_pair(key_spec: str) -> Any:
    """moto makes an RSA-2048 pair for every KMS key, a symmetric one too (some 0.1 s), and uses it only to sign,
    verify and give out a public key, which KMS refuses for a symmetric key: symmetric keys share one pair per
    worker. Each key's own material (what encrypts) is still its own."""
    if key_spec != "SYMMETRIC_DEFAULT":
        return _generate_private_key(key_spec)
    if not _SYMMETRIC_SIGNING_PAIR:
        _SYMMETRIC_SIGNING_PAIR.append(_generate_private_key(key_spec))
    return _SYMMETRIC_SIGNING_PAIR[0]


@pytest.fixture
def boto3_models(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """For a test's own ``mock_aws()``: call it inside, to get the cheap fresh session and KMS keys ``aws`` gets."""
    monkeypatch.setattr(moto.kms.models, "generate_private_key", _signing_pair)
    return fresh_boto3_session


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Upstream retries do not sleep in tests; the delays they would have waited are recorded."""
    waits: list[float] = []
    monkeypatch.setattr("batchbridge.providers.http.sleep", waits.append)
    return waits


@pytest.fixture
def fake_openai() -> Iterator[tuple[Any, str]]:
    """The fake OpenAI upstream: (its app, its base URL ending in /v1)."""
    app = create_fake_openai()
    with running_server(app) as base:
        yield app, base + "/v1"


@pytest.fixture
def fake_anthropic() -> Iterator[tuple[Any, str]]:
    """The fake Anthropic API: (its app, its base URL)."""
    app = create_fake_anthropic()
    with running_server(app) as base:
        yield app, base


@pytest.fixture
def fake_gemini() -> Iterator[tuple[Any, str]]:
    """The fake Gemini API: (its app, its root URL; the gateway adds the API version)."""
    app = create_fake_gemini()
    with running_server(app) as base:
        yield app, base


@pytest.fixture
def fake_compat() -> Iterator[tuple[Any, str]]:
    """A fake OpenAI-compatible endpoint (as vLLM or Ollama serve): (its state, its base URL ending in /v1)."""
    app = create_fake_compat()
    with running_server(app) as base:
        yield app.state.fake, base + "/v1"


_MOTO_CALLS = threading.RLock()
_moto_process_request = BotocoreStubber.process_request


def _one_call_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    """moto's in-process DynamoDB is not thread-safe (an update_item copies an item another thread is changing:
    "dictionary changed size during iteration"); DynamoDB itself applies each call whole. The gateway calls it from
    many threads (concurrent requests under ``serve``), so in tests each faked DynamoDB call runs whole, one at a
    time (other services' calls, an SQS long poll among them, are left to run side by side)."""
    if "dynamodb" not in str(getattr(request, "url", "")):
        return _moto_process_request(self, request)
    with _MOTO_CALLS:
        return _moto_process_request(self, request)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, boto3_models: Callable[[], None]) -> Iterator[None]:
    """AWS faked by moto, empty but for the gateway's table, bucket, key and work queue: moto's state starts afresh
    for every test (``mock_aws`` resets every backend), and so does boto3's default session. Each faked DynamoDB call
    runs whole (``_one_call_at_a_time``)."""
    monkeypatch.setattr(BotocoreStubber, "process_request", _one_call_at_a_time)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3_models()
        ensure_table(boto3.client("dynamodb"), TABLE)
        ensure_bucket(boto3.client("s3"), BUCKET)
        ensure_key(boto3.client("kms"), KMS_ALIAS)
        queue_url = boto3.client("sqs").create_queue(QueueName="batchbridge-work")["QueueUrl"]
        monkeypatch.setenv("BATCHBRIDGE_WORK_QUEUE_URL", queue_url)
        yield


@pytest.fixture
def fake_bedrock(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The fake Bedrock control plane (reading and writing moto's S3): (its app, its endpoint URL).

    boto3's own per-service endpoint variable points the gateway's bedrock client at it."""
    app = create_fake_bedrock()
    with running_server(app) as base:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", base)
        yield app, base


@pytest.fixture
def gateway_env(
    monkeypatch: pytest.MonkeyPatch,
    aws: None,
    fake_openai: tuple[Any, str],
    fake_anthropic: tuple[Any, str],
    fake_bedrock: tuple[Any, str],
    fake_gemini: tuple[Any, str],
) -> dict[str, str]:
    env = {
        "BATCHBRIDGE_STORAGE": "aws",
        "BATCHBRIDGE_TABLE": TABLE,
        "BATCHBRIDGE_BUCKET": BUCKET,
        "BATCHBRIDGE_OWNER_SECRET": "test-owner-secret-0123456789abcdef",
        "BATCHBRIDGE_OPENAI_BASE_URL": fake_openai[1],
        "BATCHBRIDGE_ANTHROPIC_BASE_URL": fake_anthropic[1],
        "BATCHBRIDGE_GEMINI_BASE_URL": fake_gemini[1],
        "BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS": "5",
        "BATCHBRIDGE_KMS_KEY": KMS_ALIAS,
        "BATCHBRIDGE_REFRESH_SECONDS": "0",  # every poll asks the fake, which steps once per retrieve
        "BATCHBRIDGE_BEDROCK_ROLE_ARN": BEDROCK_ROLE,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def work_queue() -> Iterator[LocalWorkQueue]:
    """The in-process queue `batchbridge serve` uses; ``drain()`` waits for its jobs."""
    queue = LocalWorkQueue(retry_delay_seconds=0.05)
    yield queue
    queue.stop()


@pytest.fixture
def gateway(gateway_env: dict[str, str], work_queue: LocalWorkQueue) -> Gateway:
    built = Gateway.from_settings(Settings.from_env(), queue=work_queue)
    work_queue.start(built.jobs.run)
    return built


@pytest.fixture
def gateway_url(gateway: Gateway) -> Iterator[str]:
    """The whole gateway app on a real loopback HTTP server."""
    with running_server(build_app(gateway=gateway)) as base:
        yield base


@pytest.fixture
def drained_http(work_queue: LocalWorkQueue) -> Iterator[httpx.Client]:
    """An HTTP client for the SDK that first lets background jobs finish: each poll sees their effect,
    as a client polling every few seconds would."""
    with httpx.Client(
        event_hooks={"request": [lambda _: work_queue.drain()]}, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        yield client
