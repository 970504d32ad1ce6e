"""Bad input answers a 4xx with an OpenAI-shaped error that names what is wrong; nothing stored is harmed."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from batchbridge.providers.registry import FACTORIES, Registry
from tests.contract.openai_schema import assert_valid
from tests.fakes.server import LOOPBACK_TLS

AUTH = {"Authorization": "Bearer sk-user-one"}
LINE = (
    '{"custom_id": "%s", "method": "POST", "url": "%s", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "Hi"}]}}'
)


def line(custom_id: str = "r1", url: str = "/v1/chat/completions") -> str:
    return LINE % (custom_id, url)


@pytest.fixture
def http(gateway_url: str) -> Any:
    with httpx.Client(base_url=gateway_url + "/openai/v1", headers=AUTH, timeout=10, verify=LOOPBACK_TLS) as client:
        yield client


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert_valid("ErrorResponse", body, strict_nulls=False)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    error: dict[str, Any] = body["error"]
    return error


def upload(http: httpx.Client, content: str, purpose: str = "batch", **fields: str) -> httpx.Response:
    return http.post(
        "/files",
        files={"file": ("in.jsonl", content.encode(), "application/jsonl")},
        data={"purpose": purpose, **fields},
    )


def test_missing_file_field(http: httpx.Client) -> None:
    error = error_of(http.post("/files", data={"purpose": "batch"}), 400)
    assert error["param"] == "file" and "file" in error["message"]


def test_json_body_instead_of_multipart(http: httpx.Client) -> None:
    assert error_of(http.post("/files", json={"purpose": "batch"}), 400)["param"] == "file"


def test_wrong_purpose(http: httpx.Client) -> None:
    error = error_of(upload(http, line(), purpose="pictures"), 400)
    assert error["param"] == "purpose" and "'batch'" in error["message"]


def test_missing_purpose(http: httpx.Client) -> None:
    response = http.post("/files", files={"file": ("in.jsonl", line().encode(), "application/jsonl")})
    assert error_of(response, 400)["param"] == "purpose"


@pytest.mark.parametrize(
    ("content", "line_number", "code"),
    [
        (line("a") + "\n{not json}\n", 2, "invalid_json_line"),
        (line("a") + "\n" + line("b") + "\n[1, 2]\n", 3, "invalid_json_line"),
        (line("a") + "\n" + line("b") + "\n" + line("a") + "\n", 3, "duplicate_custom_id"),
        (line("a") + "\n" + line("b", "/v1/embeddings") + "\n", 2, "url_mismatch"),
        (line("a", "/v1/unknown") + "\n", 1, "invalid_url"),
        (
            '{"custom_id": "a", "method": "GET", "url": "/v1/chat/completions", "body": {"model": "m"}}',
            1,
            "invalid_method",
        ),
        (
            '{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}',
            1,
            "missing_model",
        ),
        ("\ufeff" + line("a"), 1, "invalid_encoding"),
    ],
)
def test_bad_batch_file_names_the_line(http: httpx.Client, content: str, line_number: int, code: str) -> None:
    # The gateway checks the lines it converts for a provider (here Anthropic), at upload.
    error = error_of(upload(http, content, provider="anthropic"), 400)
    assert error["code"] == code
    assert f"line {line_number}:" in error["message"]
    assert http.get("/files").json()["data"] == []  # nothing half-stored


def test_openai_judges_its_own_batch_files(http: httpx.Client) -> None:
    """A file for OpenAI reaches it as sent: OpenAI takes it, and reports its bad lines on the batch."""
    content = line("a") + "\n{not json}\n" + line("a") + "\n"
    response = upload(http, content)
    assert response.status_code == 200, response.text
    file_id = response.json()["id"]
    assert http.get(f"/files/{file_id}/content").content == content.encode()  # byte for byte
    batch = http.post(
        "/batches", json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    ).json()
    for _ in range(5):
        batch = http.get(f"/batches/{batch['id']}").json()
        if batch["status"] == "failed":
            break
    assert batch["status"] == "failed", batch
    assert [(error["code"], error["line"]) for error in batch["errors"]["data"]][:1] == [("invalid_json_line", 2)]


def test_not_utf8(http: httpx.Client) -> None:
    content = (line("a") + "\n").encode() + b'{"custom_id": "\xff"}\n'
    response = http.post(
        "/files",
        files={"file": ("in.jsonl", content, "application/jsonl")},
        data={"purpose": "batch", "provider": "anthropic"},
    )
    error = error_of(response, 400)
    assert error["code"] == "invalid_encoding" and "line 2:" in error["message"]


def test_empty_batch_file(http: httpx.Client) -> None:
    assert error_of(upload(http, "\n\n", provider="anthropic"), 400)["code"] == "empty_file"


def test_bad_expires_after(http: httpx.Client) -> None:
    response = upload(http, line(), **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "60"})
    assert error_of(response, 400)["param"] == "expires_after.seconds"


def test_expires_after_is_honoured(http: httpx.Client) -> None:
    response = upload(http, line(), **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "7200"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_at"] == body["created_at"] + 7200


def test_unknown_provider(http: httpx.Client) -> None:
    error = error_of(upload(http, line(), provider="azure"), 400)
    assert error["param"] == "provider"
    for name in ("openai", "anthropic", "bedrock", "gemini"):
        assert name in error["message"]
    error = error_of(http.get("/files", params={"provider": "azure"}), 400)
    assert error["param"] == "provider"


def test_provider_not_built_into_a_deployment(gateway: Gateway) -> None:
    # A known provider whose adapter a gateway does not carry is a clear 400, not a 500.
    provider = "gemini"
    registry = Registry(gateway.settings, factories={k: v for k, v in FACTORIES.items() if k != provider})
    app = build_app(gateway=dataclasses.replace(gateway, providers=registry))
    with TestClient(app, base_url="http://testserver/openai/v1", headers=AUTH) as http:
        assert error_of(upload(http, line(), provider=provider), 400)["code"] == "unsupported_provider"
        batch = {"input_file_id": "", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        response = http.post("/batches", json={**batch, "provider": provider})
        assert error_of(response, 400)["code"] == "unsupported_provider"
        file_id = upload(http, line()).json()["id"]
        for method, path in (
            ("GET", "/files"),
            ("GET", f"/files/{file_id}"),
            ("GET", f"/files/{file_id}/content"),
            ("DELETE", f"/files/{file_id}"),
            ("GET", "/batches"),
        ):
            response = http.request(method, path, params={"provider": provider})
            assert error_of(response, 400)["code"] == "unsupported_provider"
        assert http.get(f"/files/{file_id}").status_code == 200  # nothing was deleted


def test_batch_with_other_url_than_its_file(http: httpx.Client) -> None:
    file_id = upload(http, line(), provider="anthropic").json()["id"]
    response = http.post(
        "/batches", json={"input_file_id": file_id, "endpoint": "/v1/embeddings", "completion_window": "24h"}
    )
    error = error_of(response, 400)
    assert error["code"] == "url_mismatch" and "/v1/chat/completions" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"endpoint": "/v1/chat/completions", "completion_window": "24h"}, "input_file_id"),
        ({"input_file_id": "FILE", "completion_window": "24h"}, "endpoint"),
        (
            {"input_file_id": "FILE", "endpoint": "/v1/chat/completions", "completion_window": "48h"},
            "completion_window",
        ),
        ({"input_file_id": "FILE", "endpoint": "/v2/nothing", "completion_window": "24h"}, "endpoint"),
        (
            {
                "input_file_id": "FILE",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "metadata": {f"k{i}": "v" for i in range(17)},
            },
            "metadata",
        ),
    ],
)
def test_bad_batch_parameters(http: httpx.Client, body: dict[str, Any], param: str) -> None:
    file_id = upload(http, line()).json()["id"]
    if body.get("input_file_id") == "FILE":
        body["input_file_id"] = file_id
    assert error_of(http.post("/batches", json=body), 400)["param"] == param


def test_batch_body_not_json(http: httpx.Client) -> None:
    response = http.post("/batches", content=b"{nope", headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "invalid_json"


def test_batch_from_non_batch_file(http: httpx.Client) -> None:
    file_id = upload(http, "just some notes", purpose="user_data").json()["id"]
    response = http.post(
        "/batches",
        json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    assert error_of(response, 400)["param"] == "input_file_id"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/files/file-00000000000000000000000000000000", "GET"),
        ("/files/file-00000000000000000000000000000000/content", "GET"),
        ("/files/file-00000000000000000000000000000000", "DELETE"),
        ("/files/not-an-id", "GET"),
        ("/files/../../etc/passwd", "GET"),
        ("/batches/batch_00000000000000000000000000000000", "GET"),
        ("/batches/batch_00000000000000000000000000000000/cancel", "POST"),
        ("/batches/batch-abc123", "GET"),
    ],
)
def test_unknown_ids_are_404(http: httpx.Client, path: str, method: str) -> None:
    error_of(http.request(method, path), 404)


def test_unknown_input_file_is_404(http: httpx.Client) -> None:
    response = http.post(
        "/batches",
        json={"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    assert error_of(response, 404)["param"] == "input_file_id"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/files", {"limit": "0"}),
        ("/files", {"limit": "10001"}),
        ("/files", {"limit": "ten"}),
        ("/batches", {"limit": "0"}),
        ("/batches", {"limit": "101"}),
    ],
)
def test_limit_out_of_range(http: httpx.Client, path: str, params: dict[str, str]) -> None:
    assert error_of(http.get(path, params=params), 400)["param"] == "limit"


def test_bad_order_and_cursor(http: httpx.Client) -> None:
    assert error_of(http.get("/files", params={"order": "sideways"}), 400)["param"] == "order"
    assert error_of(http.get("/files", params={"after": "file-nope"}), 400)["param"] == "after"
    assert error_of(http.get("/batches", params={"after": "batch_nope"}), 400)["param"] == "after"


def test_missing_key_is_401(gateway_url: str) -> None:
    response = httpx.get(gateway_url + "/openai/v1/files")
    assert error_of(response, 401)["code"] == "missing_api_key"


def test_unknown_route_and_method(http: httpx.Client) -> None:
    error_of(http.get("/nothing"), 404)
    error_of(http.put("/files"), 405)


def test_upstream_error_keeps_status_and_body(http: httpx.Client, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    fake.inject(
        429,
        {
            "error": {
                "message": "Slow down",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        path_contains="/files",
    )
    error = error_of(upload(http, line()), 429)
    assert (error["message"], error["type"], error["code"]) == (
        "OpenAI: Slow down",  # a final failure names its provider
        "rate_limit_error",
        "rate_limit_exceeded",
    )
    assert http.get("/files").json()["data"] == []  # no record of a file OpenAI refused


def test_upstream_timeout_is_504(http: httpx.Client, fake_openai: tuple[Any, str], monkeypatch: Any) -> None:
    file_id = upload(http, line()).json()["id"]
    fake_openai[0].state.fake.delay_seconds = 6  # the gateway's upstream timeout is 5 s in tests
    response = http.post(
        "/batches",
        json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        timeout=20,
    )
    error = error_of(response, 504)
    assert "openai" in error["message"] and error["code"] == "provider_timeout"
    fake_openai[0].state.fake.delay_seconds = 0


def test_upstream_unreachable_is_502(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from batchbridge.api.app import build_app
    from batchbridge.config import Settings
    from batchbridge.gateway import Gateway
    from tests.fakes.server import running_server

    monkeypatch.setenv("BATCHBRIDGE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # discard port: nothing listens
    with running_server(build_app(gateway=Gateway.from_settings(Settings.from_env()))) as base:
        response = httpx.post(
            base + "/openai/files",
            headers=AUTH,
            files={"file": ("in.jsonl", line().encode(), "application/jsonl")},
            data={"purpose": "batch"},
        )
    error = error_of(response, 502)
    assert error["code"] == "provider_unreachable"
    assert "The openai provider could not be reached at http://127.0.0.1:9/v1/files" in error["message"]


def test_content_whose_bytes_are_gone_is_404(http: httpx.Client) -> None:
    import boto3

    from tests.conftest import BUCKET

    file_id = upload(http, line()).json()["id"]
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=f"files/{file_id}")
    assert error_of(http.get(f"/files/{file_id}/content"), 404)["code"] == "content_gone"
