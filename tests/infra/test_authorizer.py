"""The API's REQUEST authorizer (batchbridge.handlers.authorizer) with the events API Gateway sends it: it lets in
exactly the keys the gateway itself takes, for the whole stage (its answer is cached across routes), and refuses the
rest with a Deny (API Gateway's ACCESS_DENIED, a 401)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.gateway import Gateway
from batchbridge.handlers import authorizer
from batchbridge.store.keys import KeySource

API = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"
KEY = "sk-gateway-0123456789abcdef"
OTHER = "sk-gateway-fedcba9876543210"


def request_event(
    headers: dict[str, str] | None, method: str = "POST", path: str = "/openai/v1/files"
) -> dict[str, Any]:
    """What API Gateway (REST, REQUEST authorizer) sends: the request's headers as the client cased them."""
    return {
        "type": "REQUEST",
        "methodArn": f"{API}/v1/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in (headers or {}).items()} or None,
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "accountId": "123456789012",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "OpenAI/Python 1.0"},
            "apiId": "a1b2c3d4e5",
        },
    }


@pytest.fixture
def secret_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Sets the gateway's keys secret (as the deployment does: only its ARN in the environment) to a value."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "BATCHBRIDGE_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():

        def use(value: str) -> None:
            name = f"bb-keys-{uuid.uuid4().hex}"  # Powertools caches by name: a fresh one each time
            arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            monkeypatch.setenv("BATCHBRIDGE_API_KEYS_SECRET_ARN", arn)
            authorizer.key_source.cache_clear()

        yield use
    authorizer.key_source.cache_clear()


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_gateway_key_is_allowed_on_the_whole_stage(name: str, scheme: str, secret_keys: Any) -> None:
    secret_keys(f"{OTHER},{KEY}")
    answer = authorizer.handler(request_event({name: f"{scheme} {KEY}", "Host": "x"}), None)
    (statement,) = answer["policyDocument"]["Statement"]
    # cached per Authorization header and reused on every route: the stage's methods and paths, not this one's
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{API}/v1/*/*"}
    assert answer["policyDocument"]["Version"] == "2012-10-17"
    assert answer["principalId"].startswith("key-") and KEY not in json.dumps(answer)
    assert answer["context"] == {"tenant": ""}


def test_a_named_tenants_keys(secret_keys: Any) -> None:
    secret_keys(json.dumps({"team-a": [KEY, OTHER], "team-b": "sk-gateway-team-b-0123456789"}))
    for key in (KEY, OTHER):
        answer = authorizer.handler(request_event({"Authorization": f"Bearer {key}"}, "GET", "/openai/batches"), None)
        assert answer["principalId"] == "team-a" and answer["context"] == {"tenant": "team-a"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-not-one-of-ours-0123"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Bearer {KEY[:-1]}"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sk-gateway-0123456789abcdé"},
        {"Authorization": "Bearer sk-gateway-\x00123456789abcdef"},
        {"X-Api-Key": KEY},
        {},
        None,
    ],
)
def test_other_keys_are_refused_with_api_gateways_401(headers: dict[str, str] | None, secret_keys: Any) -> None:
    secret_keys(KEY)
    refused = authorizer.handler(request_event(headers), None)  # a Deny (ACCESS_DENIED: a 401), not an error
    assert refused["policyDocument"]["Statement"][0]["Effect"] == "Deny" and refused["principalId"] == "refused"


def test_an_unreadable_keys_secret_is_a_failure_not_a_refusal(
    secret_keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API Gateway answers 500 (not cached) rather than telling a good key it is wrong."""
    secret_keys(KEY)
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone")
    authorizer.key_source.cache_clear()
    with pytest.raises(Exception, match=r"."):  # a failure (500, not cached), never a Deny
        authorizer.handler(request_event({"Authorization": f"Bearer {KEY}"}), None)


def test_without_gateway_keys_it_refuses_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHBRIDGE_API_KEYS", raising=False)
    monkeypatch.delenv("BATCHBRIDGE_API_KEYS_SECRET_ARN", raising=False)
    authorizer.key_source.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="BATCHBRIDGE_API_KEYS"):
            authorizer.handler(request_event({"Authorization": f"Bearer {KEY}"}), None)
    finally:
        authorizer.key_source.cache_clear()


def test_it_decides_as_the_gateway_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every header the authorizer lets in, the operations' own check lets in, and the other way round."""
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS", f"{KEY},{OTHER}")
    monkeypatch.delenv("BATCHBRIDGE_API_KEYS_SECRET_ARN", raising=False)
    authorizer.key_source.cache_clear()
    gateway = object.__new__(Gateway)  # only what caller() reads
    gateway.key_source = KeySource(Settings.from_env())
    gateway.owner_secret = b"owner-secret-for-this-test"
    values = [f"Bearer {KEY}", f"bearer {OTHER}", f"Bearer  {KEY} ", f"Bearer {KEY} x", "Bearer", "", f"Token {KEY}"]
    values += [f"Bearer {KEY.upper()}", "Bearer sk-gateway-\u00e9", f"Bearer\t{KEY}"]
    try:
        for value in values:
            try:
                gateway.caller({"authorization": value})
                gateway_says = True
            except GatewayError as refused:
                assert refused.status == 401
                gateway_says = False
            answer = authorizer.handler(request_event({"Authorization": value}), None)
            authorizer_says = answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
            assert authorizer_says == gateway_says, value
    finally:
        authorizer.key_source.cache_clear()


def test_it_imports_no_web_framework_and_no_sdk_until_asked() -> None:
    """A cold start pays for what the check needs: boto3 comes with the first read of the keys secret."""
    heavy = ["fastapi", "starlette", "mangum", "pydantic", "httpx", "boto3", "botocore", "batchbridge.gateway"]
    script = (
        "import sys, json, batchbridge.handlers.authorizer; "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(output) == []
