"""A hostile-input corpus against every kind of route: each gets a 4xx with an OpenAI-shaped error, and a list
afterwards shows nothing was stored or corrupted."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

KEY = "sk-hostile"
GOOD = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)
MULTIPART = "multipart/form-data; boundary=b"


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def deep(levels: int) -> bytes:
    return (
        b'{"custom_id": "d", "method": "POST", "url": "/v1/chat/completions", "body": '
        + b'{"a": ' * levels
        + b"1"
        + b"}" * levels
        + b"}\n"
    )


CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    # malformed multipart
    (
        "POST",
        "/files",
        {"content": b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch', "ct": MULTIPART},
    ),
    ("POST", "/files", {"content": b"not multipart at all", "ct": MULTIPART}),
    ("POST", "/files", {"content": part("purpose", b"batch") + b"--b--\r\n", "ct": "multipart/form-data"}),
    (
        "POST",
        "/files",
        {"content": part("file", GOOD, "a.jsonl") + part("file", GOOD, "b.jsonl") + b"--b--\r\n", "ct": MULTIPART},
    ),
    ("POST", "/files", {"content": GOOD, "ct": "application/jsonl"}),
    ("POST", "/files", {"content": b"", "ct": MULTIPART}),
    # truncated, huge, deep, non-UTF-8, BOM
    ("POST", "/files", {"file": GOOD[:40], "purpose": "batch"}),
    ("POST", "/files", {"file": GOOD + GOOD[:-30], "purpose": "batch"}),
    ("POST", "/files", {"file": deep(2000), "purpose": "batch"}),
    ("POST", "/files", {"file": b"\xff\xfe" + GOOD, "purpose": "batch"}),
    ("POST", "/files", {"file": b"\xef\xbb\xbf" + GOOD, "purpose": "batch"}),
    ("POST", "/files", {"file": GOOD.replace(b"Hi", b"\xc3\x28"), "purpose": "batch"}),
    ("POST", "/files", {"file": GOOD.replace(b'"Hi"', b"NaN"), "purpose": "batch"}),
    ("POST", "/files", {"file": b"[1, 2, 3]\n", "purpose": "batch"}),
    # path tricks in IDs
    ("GET", "/files/..%2F..%2Fetc%2Fpasswd", {}),
    ("GET", "/files/file-" + "0" * 32 + "%00", {}),
    ("DELETE", "/files/file-../../x", {}),
    ("GET", "/files/%2e%2e/content", {}),
    ("GET", "/batches/batch_" + "g" * 32, {}),
    ("POST", "/batches/..%2Ffiles/cancel", {"json": {}}),
    ("POST", "/uploads/upload_..%2F..%2Fx/parts", {"content": part("data", b"x", "d") + b"--b--\r\n", "ct": MULTIPART}),
    ("POST", "/uploads/upload_" + "0" * 32 + "/complete", {"json": {"part_ids": ["../x"]}}),
    # wrong content types and shapes
    ("POST", "/batches", {"content": b"input_file_id=x", "ct": "application/x-www-form-urlencoded"}),
    ("POST", "/batches", {"json": ["not", "an", "object"]}),
    (
        "POST",
        "/batches",
        {"json": {"input_file_id": {"$ne": ""}, "endpoint": "/v1/chat/completions", "completion_window": "24h"}},
    ),
    (
        "POST",
        "/batches",
        {
            "json": {
                "input_file_id": "file-x",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "metadata": {"k" * 65: "v"},
            }
        },
    ),
    ("POST", "/uploads", {"json": {"filename": "a", "purpose": "batch", "bytes": -1, "mime_type": "text/plain"}}),
    ("POST", "/uploads", {"json": {"filename": "a", "purpose": "batch", "bytes": 10**30, "mime_type": "text/plain"}}),
    ("POST", "/uploads", {"json": {"filename": ["a"], "purpose": "batch", "bytes": 3, "mime_type": "text/plain"}}),
    ("GET", "/files", {"params": {"order": "sideways"}}),
    ("GET", "/files", {"params": {"after": "file-" + "0" * 32}}),
]


@pytest.mark.parametrize(
    ("method", "path", "spec"), CORPUS, ids=[f"{m} {p[:40]} #{n}" for n, (m, p, _) in enumerate(CORPUS)]
)
def test_hostile_input_gets_a_4xx_and_harms_nothing(
    gateway_url: str, method: str, path: str, spec: dict[str, Any]
) -> None:
    base = gateway_url + "/openai/v1"
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        kept = http.post("/files", files={"file": ("kept.jsonl", GOOD)}, data={"purpose": "batch"}).json()["id"]
        kwargs: dict[str, Any] = {}
        if "ct" in spec:
            kwargs = {"content": spec["content"], "headers": {"Content-Type": spec["ct"]}}
        elif "file" in spec:
            # for a provider whose lines the gateway checks (OpenAI judges its own files: they reach it as sent)
            data = {"purpose": spec["purpose"], "provider": "anthropic"}
            kwargs = {"files": {"file": ("in.jsonl", spec["file"])}, "data": data}
        elif "json" in spec:
            kwargs = {"content": json.dumps(spec["json"]).encode(), "headers": {"Content-Type": "application/json"}}
        elif "params" in spec:
            kwargs = {"params": spec["params"]}
        response = http.request(method, path, **kwargs)
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and "Traceback" not in response.text
        listed = [f["id"] for f in http.get("/files").json()["data"]]
        assert listed == [kept]  # nothing new stored, nothing lost
        assert http.get(f"/files/{kept}/content").content == GOOD
