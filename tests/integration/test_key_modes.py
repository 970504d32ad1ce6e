"""Gateway-key mode: clients present the gateway's keys, providers get the gateway's own keys, never the client's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.fakes.server import LOOPBACK_TLS, running_server

LINE = (
    '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "%s", '
    '"messages": [{"role": "user", "content": "Hi"}]}}\n'
)


@pytest.fixture
def serve_with(
    gateway_env: dict[str, str], work_queue: LocalWorkQueue, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Starts the gateway with extra environment (again with more, the last one's background jobs run); yields a
    function making a client for a key."""
    servers: list[Any] = []
    http_clients: list[httpx.Client] = []

    def client_for(base: str, key: str) -> OpenAI:
        http_clients.append(httpx.Client(verify=LOOPBACK_TLS))
        return OpenAI(base_url=base + "/openai", api_key=key, max_retries=0, http_client=http_clients[-1])

    def start(env: dict[str, str]) -> Any:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue)
        if servers:
            work_queue._run = gateway.jobs.run
        else:
            work_queue.start(gateway.jobs.run)
        server = running_server(build_app(gateway=gateway))
        base = server.__enter__()
        servers.append(server)
        return lambda key: client_for(base, key)

    yield start
    for http_client in http_clients:  # no kept-alive connection holds a server's shutdown
        http_client.close()
    for server in servers:
        server.__exit__(None, None, None)


def upload(client: OpenAI, model: str = "gpt-4o-mini", provider: str = "openai") -> Any:
    return client.files.create(
        file=("in.jsonl", (LINE % model).encode(), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": provider},
    )


def test_gateway_keys_from_the_environment(serve_with: Any, fake_openai: tuple[Any, str], work_queue: Any) -> None:
    client_for = serve_with({"BATCHBRIDGE_API_KEYS": "gw-key-one, gw-key-two", "OPENAI_API_KEY": "sk-gateway-openai"})
    one, two = client_for("gw-key-one"), client_for("gw-key-two")
    uploaded = upload(one)
    batch = one.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    for _ in range(6):
        work_queue.drain()
        batch = one.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id is not None
    # Every call upstream, the finalizer's included, carried the gateway's OpenAI key and nothing of the client's.
    keys = {r.headers.get("authorization") for r in fake_openai[0].state.fake.requests}
    assert keys == {"Bearer sk-gateway-openai"}
    # Each gateway key is its own tenant.
    with pytest.raises(openai.NotFoundError):
        two.files.retrieve(uploaded.id)
    assert two.files.list().data == [] and two.batches.list().data == []
    # A provider's key is not a gateway key.
    for wrong in ("sk-gateway-openai", "gw-key-on", "gw-key-one-and-more"):
        with pytest.raises(openai.AuthenticationError) as caught:
            client_for(wrong).files.list()
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_api_key"
        assert wrong not in caught.value.message  # no key material echoed


def test_keys_from_secrets_manager(serve_with: Any, fake_gemini: tuple[Any, str]) -> None:
    secrets = boto3.client("secretsmanager")
    gateway_keys = secrets.create_secret(Name="bb-gateway-keys", SecretString=json.dumps(["gw-secret-key"]))["ARN"]
    provider_keys = secrets.create_secret(
        Name="bb-provider-keys", SecretString=json.dumps({"gemini": "gemini-gateway-key"})
    )["ARN"]
    client_for = serve_with(
        {"BATCHBRIDGE_API_KEYS_SECRET_ARN": gateway_keys, "BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN": provider_keys}
    )
    client = client_for("gw-secret-key")
    upload(client, model="gemini-2.5-flash", provider="gemini")
    keys = {r.headers.get("x-goog-api-key") for r in fake_gemini[0].state.fake.requests if "upload_id" not in r.path}
    assert keys == {"gemini-gateway-key"}
    # A provider the gateway holds no key for is not offered.
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "provider_not_configured"
    with pytest.raises(openai.AuthenticationError):
        client_for("gemini-gateway-key").files.list()


def test_pass_through_mode_forwards_the_client_key(serve_with: Any, fake_openai: tuple[Any, str]) -> None:
    client = serve_with({})("sk-client-own-key")
    upload(client)
    assert {r.headers.get("authorization") for r in fake_openai[0].state.fake.requests} == {"Bearer sk-client-own-key"}


def test_a_null_in_a_json_key_list_is_no_key(serve_with: Any) -> None:
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="bb-null-keys", SecretString='["gw-real-key", null, 7, ""]')["ARN"]
    client_for = serve_with({"BATCHBRIDGE_API_KEYS_SECRET_ARN": arn})
    assert client_for("gw-real-key").files.list().data == []
    for wrong in ("None", "null", "7"):
        with pytest.raises(openai.AuthenticationError):
            client_for(wrong).files.list()


def test_a_named_tenants_records_survive_a_key_rotation(serve_with: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {"team-a": ["gw-a-old", "gw-a-new"], "team-b": "gw-b"}
    client_for = serve_with({"BATCHBRIDGE_API_KEYS": json.dumps(keys), "OPENAI_API_KEY": "sk-gateway-openai"})
    uploaded = upload(client_for("gw-a-old"))
    assert client_for("gw-a-new").files.retrieve(uploaded.id).id == uploaded.id  # the tenant's, not the key's
    assert [f.id for f in client_for("gw-a-new").files.list()] == [uploaded.id]
    with pytest.raises(openai.NotFoundError):
        client_for("gw-b").files.retrieve(uploaded.id)
    # the old key is retired: the tenant keeps its records under the new one
    rotated = serve_with({"BATCHBRIDGE_API_KEYS": json.dumps({"team-a": "gw-a-new"})})
    assert rotated("gw-a-new").files.retrieve(uploaded.id).id == uploaded.id
    with pytest.raises(openai.AuthenticationError):
        rotated("gw-a-old").files.list()
    # a key of its own (a plain list) is its own tenant, as before: not the named tenant's
    plain = serve_with({"BATCHBRIDGE_API_KEYS": "gw-a-new"})
    with pytest.raises(openai.NotFoundError):
        plain("gw-a-new").files.retrieve(uploaded.id)
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS", json.dumps({"x": "same", "y": "same"}))
    with pytest.raises(ValueError, match="two tenants"):
        Settings.from_env()


def test_a_provider_refusing_the_gateways_own_key_says_nothing_of_it(
    serve_with: Any, fake_openai: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = serve_with({"BATCHBRIDGE_API_KEYS": "gw-key-one", "OPENAI_API_KEY": "sk-gateway-revoked"})("gw-key-one")
    fake_openai[0].state.fake.api_keys = {"sk-some-other-key"}  # the gateway's key was revoked
    with pytest.raises(openai.APIStatusError) as caught:
        upload(client)
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "provider_auth_failed"
    text = json.dumps(caught.value.body)
    assert "sk-gatew" not in text and "Incorrect API key" not in text
    monkeypatch.delenv("BATCHBRIDGE_API_KEYS")
    with pytest.raises(openai.AuthenticationError) as own:  # pass-through mode: the client's own key, its own 401
        serve_with({})("sk-client-own-key").files.create(
            file=("in.jsonl", (LINE % "gpt-4o-mini").encode()), purpose="batch"
        )
    assert "Incorrect API key" in own.value.message


@pytest.mark.parametrize(
    "keys",
    ['{"team-a": ["k1"],}', '["k1", "k2",]', "[null]", '{"team-a": []}', '[""]', "{}"],
)
def test_gateway_keys_that_name_no_key_refuse_to_start(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed or empty, they never become comma-separated pieces, nor turn gateway-key mode off."""
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS", keys)
    with pytest.raises(ValueError, match="BATCHBRIDGE_API_KEYS"):
        Settings.from_env()


def test_a_malformed_key_secret_lets_nobody_in(serve_with: Any) -> None:
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="bb-broken-keys", SecretString='{"team-a": ["gw-a"],}')["ARN"]
    client_for = serve_with({"BATCHBRIDGE_API_KEYS_SECRET_ARN": arn})
    for key in ("}", '{"team-a": ["gw-a"', '"gw-a"]', "gw-a", "anything"):
        with pytest.raises(openai.AuthenticationError):
            client_for(key).files.list()
