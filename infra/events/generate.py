"""Generate infra/events/<operation>.json: API Gateway REST (v1) proxy events for `sam local invoke`.

One event per operation in batchbridge.api.operations.OPERATIONS, shaped exactly as the REST API in
template.yaml delivers it to the function (stage ``v1``, route under the ``/openai/v1`` prefix):

    sam local invoke FilesListFunction -e infra/events/files_list.json

The API declares ``*/*`` as a binary media type, so API Gateway base64-encodes every request body
(``isBase64Encoded: true``), the JSON body of batches_create included; Mangum decodes it.

Usage (from the repository root):

    .venv/bin/python infra/events/generate.py          # (re)write the events
    .venv/bin/python infra/events/generate.py --check  # exit 1 if a file is missing or stale
    # the same events carrying a real gateway key (the authorizer and the functions check it), elsewhere:
    .venv/bin/python infra/events/generate.py --api-key "$KEY" --out .aws-sam/events

Everything is deterministic (fixed ids, request ids, timestamps), so regenerating changes nothing
unless this script or OPERATIONS changed.
"""

import argparse
import base64
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent
ROOT = EVENTS_DIR.parents[1]

STAGE = "v1"
PREFIX = "/openai/v1"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
SOURCE_IP = "203.0.113.10"
USER_AGENT = "OpenAI/Python 1.54.0"
API_KEY = "sk-local-example"
# 2025-01-01T00:00:00Z
REQUEST_TIME = "01/Jan/2025:00:00:00 +0000"
REQUEST_TIME_EPOCH_MS = 1735689600000

_NAMESPACE = uuid.UUID("6f1d2c3b-8a4e-4f5a-9b6c-7d8e9f0a1b2c")


def _hex32(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


# Gateway ids: "file-" / "batch_" + 32 lowercase hex characters (128 bits).
FILE_ID = "file-" + _hex32("batchbridge example file")
BATCH_ID = "batch_" + _hex32("batchbridge example batch")
UPLOAD_ID = "upload_" + _hex32("batchbridge example upload")
PART_ID = "part_" + _hex32("batchbridge example part")
PATH_PARAMETERS = {"file_id": FILE_ID, "batch_id": BATCH_ID, "upload_id": UPLOAD_ID}

QUERY: dict[str, dict[str, str]] = {
    "files_list": {"purpose": "batch", "limit": "20", "order": "desc"},
    "batches_list": {"limit": "20"},
}

MULTIPART_BOUNDARY = "batchbridge-boundary-" + _hex32("multipart")[:16]


def batch_input_jsonl() -> bytes:
    """Two requests in OpenAI batch input format."""
    lines = [
        {
            "custom_id": f"request-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": content}],
                "max_tokens": 100,
            },
        }
        for n, content in ((1, "Hello!"), (2, "What is the capital of France?"))
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def files_create_body() -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart upload: purpose=batch plus the JSONL file."""
    b = MULTIPART_BOUNDARY.encode()
    body = (
        b"--" + b + b"\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n'
        b"\r\n"
        b"batch\r\n"
        b"--" + b + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="batch_input.jsonl"\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"\r\n" + batch_input_jsonl() + b"\r\n"
        b"--" + b + b"--\r\n"
    )
    return f"multipart/form-data; boundary={MULTIPART_BOUNDARY}", body


def batches_create_body() -> tuple[str, bytes]:
    payload = {
        "input_file_id": FILE_ID,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "provider": "openai",
    }
    return "application/json", json.dumps(payload).encode()


def uploads_create_body() -> tuple[str, bytes]:
    payload = {
        "filename": "batch_input.jsonl",
        "purpose": "batch",
        "bytes": len(batch_input_jsonl()),
        "mime_type": "application/jsonl",
        "provider": "openai",
    }
    return "application/json", json.dumps(payload).encode()


def uploads_add_part_body() -> tuple[str, bytes]:
    """(Content-Type, body) of one part: the `data` field, as the OpenAI SDK sends it."""
    b = MULTIPART_BOUNDARY.encode()
    body = (
        b"--" + b + b"\r\n"
        b'Content-Disposition: form-data; name="data"; filename="data"\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"\r\n" + batch_input_jsonl() + b"\r\n"
        b"--" + b + b"--\r\n"
    )
    return f"multipart/form-data; boundary={MULTIPART_BOUNDARY}", body


def uploads_complete_body() -> tuple[str, bytes]:
    return "application/json", json.dumps({"part_ids": [PART_ID]}).encode()


BODIES = {
    "files_create": files_create_body,
    "batches_create": batches_create_body,
    "uploads_create": uploads_create_body,
    "uploads_add_part": uploads_add_part_body,
    "uploads_complete": uploads_complete_body,
}


def _operations() -> dict[str, tuple[str, str]]:
    try:
        from batchbridge.api.operations import OPERATIONS
    except ImportError:  # not installed: import from the source tree
        sys.path.insert(0, str(ROOT / "functions"))
        from batchbridge.api.operations import OPERATIONS
    return dict(OPERATIONS)


def build_event(op: str, method: str, route: str, api_key: str = API_KEY) -> dict[str, Any]:
    """The API Gateway REST proxy event for one operation."""
    resource = PREFIX + route
    path_parameters = {name: value for name, value in PATH_PARAMETERS.items() if "{" + name + "}" in route}
    path = resource
    for name, value in path_parameters.items():
        path = path.replace("{" + name + "}", value)

    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {api_key}",
        "Host": HOST,
        "User-Agent": USER_AGENT,
        "X-Amzn-Trace-Id": "Root=1-67748580-" + _hex32("trace " + op)[:24],
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    body: str | None = None
    is_base64 = False
    if op in BODIES:
        content_type, raw = BODIES[op]()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(raw))
        body = base64.b64encode(raw).decode("ascii")
        is_base64 = True
    headers = dict(sorted(headers.items()))

    query = QUERY.get(op)
    request_id = str(uuid.uuid5(_NAMESPACE, op))
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": ({name: [value] for name, value in query.items()} if query else None),
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _hex32("resource " + resource)[:6],
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": base64.b64encode(bytes.fromhex(_hex32("ext " + op)[:12])).decode(),
            "requestTime": REQUEST_TIME,
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": API_ID,
            "requestTimeEpoch": REQUEST_TIME_EPOCH_MS,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": SOURCE_IP,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": USER_AGENT,
                "user": None,
            },
            "domainName": HOST,
            "deploymentId": _hex32("deployment")[:6],
            "apiId": API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def build_events(api_key: str = API_KEY) -> dict[str, dict[str, Any]]:
    return {op: build_event(op, method, route, api_key) for op, (method, route) in _operations().items()}


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if an event file is missing or stale")
    parser.add_argument("--api-key", default=API_KEY, help="the gateway key the events carry (needs --out)")
    parser.add_argument("--out", type=Path, help="write the events here instead of infra/events/")
    args = parser.parse_args(argv)
    if args.api_key != API_KEY and (args.out is None or args.out.resolve() == EVENTS_DIR):
        parser.error("--api-key writes elsewhere (--out DIR): the events in infra/events/ carry no real key")
    out = args.out or EVENTS_DIR
    out.mkdir(parents=True, exist_ok=True)

    stale = []
    for op, event in build_events(args.api_key).items():
        target = out / f"{op}.json"
        text = render(event)
        if target.exists() and target.read_text() == text:
            continue
        if args.check:
            stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target}")
    if stale:
        print("stale or missing: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
