"""Contract test: drive the fake Bedrock runtime (tests/fakes/bedrock_runtime_upstream.py) with boto3's
``bedrock-runtime`` client, so the fake stays honest to InvokeModel's wire (botocore's service model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.fakes.bedrock_runtime_upstream import FakeBedrockRuntime, create_app
from tests.fakes.server import running_server

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-pro-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
CLAUDE_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}],
}


@dataclass
class Env:
    fake: FakeBedrockRuntime
    base: str
    runtime: Any  # no retries, so injected errors surface at once


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app = create_app()
    with running_server(app) as base:
        runtime = boto3.client(
            "bedrock-runtime",
            endpoint_url=base,
            region_name="us-west-2",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        yield Env(app.state.fake, base, runtime)


def invoke(env: Env, body: Any, model: str = CLAUDE) -> dict[str, Any]:
    answered = env.runtime.invoke_model(
        modelId=model, body=json.dumps(body), contentType="application/json", accept="application/json"
    )
    return {**answered, "body": json.loads(answered["body"].read())}


def test_claude_answers_a_native_message_with_its_headers(env: Env) -> None:
    answered = invoke(env, CLAUDE_BODY)
    body = answered["body"]
    assert body["type"] == "message" and body["role"] == "assistant" and body["model"] == CLAUDE
    assert body["content"] == [{"type": "text", "text": "echo: What is 2+2?"}]
    assert body["stop_reason"] == "end_turn" and body["usage"]["input_tokens"] >= 1
    assert answered["contentType"] == "application/json"
    headers = answered["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == body["usage"]["output_tokens"]
    assert answered["ResponseMetadata"]["RequestId"]
    (invocation,) = env.fake.invocations
    assert invocation.model_id == CLAUDE and invocation.body == CLAUDE_BODY and invocation.region == "us-west-2"
    assert invocation.headers["content-type"] == "application/json"


def test_nova_and_an_inference_profile_arn(env: Env) -> None:
    nova = invoke(
        env, {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}, NOVA
    )
    assert nova["body"]["output"]["message"]["content"] == [{"text": "echo: Hi"}]
    assert nova["body"]["stopReason"] == "end_turn" and nova["body"]["usage"]["totalTokens"] >= 2
    profiled = invoke(env, CLAUDE_BODY, PROFILE_ARN)  # botocore percent-encodes the ARN's ':' and '/'
    assert profiled["body"]["content"][0]["text"] == "echo: What is 2+2?"
    assert env.fake.invocations[-1].model_id == PROFILE_ARN


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("ValidationException", 400),
        ("ModelErrorException", 424),
        ("ServiceUnavailableException", 503),
        ("AccessDeniedException", 403),
    ],
)
def test_injected_errors_are_the_modelled_exceptions(env: Env, code: str, status: int) -> None:
    env.fake.inject(code, "no, not now")
    modelled = getattr(env.runtime.exceptions, code)
    with pytest.raises(modelled) as caught:
        invoke(env, CLAUDE_BODY)
    error = caught.value.response
    assert error["Error"]["Code"] == code and error["Error"]["Message"] == "no, not now"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    if code == "ModelErrorException":
        assert error["originalStatusCode"] == 500 and error["resourceName"]
    assert invoke(env, CLAUDE_BODY)["body"]["type"] == "message"  # once only


def test_a_malformed_body_is_a_validation_exception(env: Env) -> None:
    with pytest.raises(env.runtime.exceptions.ValidationException, match="Malformed input request"):
        invoke(env, {**CLAUDE_BODY, "force_error": True})


def test_throttling_by_predicate_and_unsigned_requests(env: Env) -> None:
    env.fake.inject("ThrottlingException", times=2, when=lambda body: body["max_tokens"] == 7)
    assert invoke(env, CLAUDE_BODY)["body"]["type"] == "message"  # not the one asked for
    for _ in range(2):
        with pytest.raises(env.runtime.exceptions.ThrottlingException):
            invoke(env, {**CLAUDE_BODY, "max_tokens": 7})
    assert invoke(env, {**CLAUDE_BODY, "max_tokens": 7})["body"]["type"] == "message"
    import httpx

    unsigned = httpx.post(f"{env.base}/model/{CLAUDE}/invoke", json=CLAUDE_BODY)
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_concurrency_is_recorded(env: Env) -> None:
    env.fake.delay_seconds = 0.2
    entered = threading.Barrier(3, timeout=5)
    env.fake.before = lambda body: entered.wait()  # all three in flight at once
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda n: invoke(env, CLAUDE_BODY), range(3)))
    assert len(answers) == 3 and env.fake.peak == 3
    assert env.fake.bodies() == [CLAUDE_BODY] * 3
