"""The gateway's OpenAPI document: every route it serves, with its parameters, request body, answers and the bearer
key it takes, for /docs, /redoc and any client generator.

Routes read their arguments from the raw request (FastAPI's analysis of typed arguments costs every cold start), so
FastAPI knows nothing of them: this module says it all. It is imported when /openapi.json is first asked for
(``app.GatewayApp.openapi``), never on a Lambda function's request path, and reads OpenAI's schemas from the
package's copy (``openai_components.json``, MIT: its license is beside it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute

from batchbridge.api import openapi_requests as requests
from batchbridge.api.openapi_requests import Schema, ref
from batchbridge.api.operations import OPERATIONS

COMPONENTS_FILE: Final = Path(__file__).with_name("openai_components.json")

# operation -> (summary, the schema of its 200 answer)
ANSWERS: Final[dict[str, tuple[str, str | None]]] = {
    "files_create": ("Upload a file", "OpenAIFile"),
    "files_list": ("List files", "ListFilesResponse"),
    "files_retrieve": ("Retrieve a file", "OpenAIFile"),
    "files_delete": ("Delete a file", "DeleteFileResponse"),
    "files_content": ("Retrieve a file's content", None),
    "batches_create": ("Create a batch", "Batch"),
    "batches_list": ("List batches", "ListBatchesResponse"),
    "batches_retrieve": ("Retrieve a batch", "Batch"),
    "batches_cancel": ("Cancel a batch", "Batch"),
    "uploads_create": ("Create an upload", "Upload"),
    "uploads_add_part": ("Add a part to an upload", "UploadPart"),
    "uploads_complete": ("Complete an upload", "Upload"),
    "uploads_cancel": ("Cancel an upload", "Upload"),
}
DESCRIPTIONS: Final[dict[str, str]] = {
    "files_create": (
        "Stores the file with the gateway and, unless the provider reads it from the gateway at batch time, with "
        "the provider. A batch input file (`purpose=batch`) is a JSONL file of OpenAI batch request lines."
    ),
    "files_content": (
        "The file's bytes; a file over what one answer can carry is a 302 to a short-lived presigned URL instead."
    ),
    "batches_create": "Starts a batch of the input file's requests on the provider (see the examples per provider).",
    "uploads_create": "Starts an upload of a file too large for one request: add its parts, then complete it.",
    "uploads_complete": "Assembles the parts in the order given into a file, with the upload's purpose.",
}
TAGS: Final = [
    {"name": "files", "description": "OpenAI's Files API, on every provider."},
    {"name": "batches", "description": "OpenAI's Batch API, run by the provider the request names."},
    {"name": "uploads", "description": "OpenAI's Uploads API: files larger than one request, in parts."},
]
SECURITY_SCHEME: Final = "bearerAuth"
# Gateway errors as OpenAI shapes them (``domain.errors.GatewayError.body``).
ERROR_SCHEMAS: Final[dict[str, Schema]] = {
    "Error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string", "description": "What went wrong, for a person."},
            "type": {"type": "string", "description": "e.g. `invalid_request_error`, `server_error`."},
            "param": {"type": ["string", "null"], "description": "The argument at fault, if one is."},
            "code": {"type": ["string", "null"], "description": "A machine-readable code, if there is one."},
        },
    },
    "ErrorResponse": {"type": "object", "required": ["error"], "properties": {"error": ref("Error")}},
}
# The gateway's one extra field of OpenAI's Batch object (``domain.job_views``), beside OpenAI's own schema (which
# stays OpenAI's): described here, and named by the description of every answer that carries it.
PROVIDER_JOB_SCHEMAS: Final[dict[str, Schema]] = {
    "ProviderJob": {
        "type": "object",
        "title": "Provider job",
        "description": (
            "One job that runs (part of) a batch, an item of the Batch object's `provider_jobs`: the gateway's extra "
            "field, on every batch except one of provider `openai` run as OpenAI's own single batch (whose object is "
            "OpenAI's, unchanged). A batch too large for one provider job runs as several; a Bedrock batch below "
            "Bedrock's minimum of records runs on the gateway itself (`on_demand`)."
        ),
        "required": ["id", "kind", "status", "request_counts"],
        "properties": {
            "id": {
                "type": ["string", "null"],
                "description": "The job's ID at its provider (a Bedrock job's ARN, an on-demand run's ID); null "
                "while the part waits to be created.",
            },
            "kind": {
                "type": "string",
                "enum": ["openai_batch", "anthropic_message_batch", "bedrock_job", "gemini_batch", "on_demand"],
                "description": "How it runs: the provider's own batch job, or `on_demand` (request by request, by "
                "the gateway: openai-compatible endpoints, and small Bedrock batches at on-demand prices).",
            },
            "status": {
                "type": "string",
                "enum": [
                    "queued",
                    "validating",
                    "in_progress",
                    "finalizing",
                    "completed",
                    "failed",
                    "expired",
                    "cancelling",
                    "cancelled",
                ],
                "description": "The job's status in OpenAI's words; `queued`: a part waiting in the gateway for "
                "room at its provider (no provider job yet).",
            },
            "request_counts": {
                "type": "object",
                "required": ["total", "completed", "failed"],
                "properties": {
                    "total": {"type": "integer"},
                    "completed": {"type": "integer"},
                    "failed": {"type": "integer"},
                },
                "description": "As the provider last reported them (a waiting part: its requests, none done).",
            },
        },
    },
    "BatchProviderJobs": {
        "type": "object",
        "title": "Batch extra field: provider_jobs",
        "description": "The field the gateway adds to a Batch object (see `ProviderJob`).",
        "properties": {"provider_jobs": {"type": "array", "items": ref("ProviderJob")}},
    },
}
BATCH_ANSWERS: Final = frozenset({"batches_create", "batches_retrieve", "batches_cancel", "batches_list"})
BATCH_ANSWER: Final = (
    "OK. Besides OpenAI's fields, a batch other than OpenAI's own carries `provider_jobs`, the jobs that run it "
    "(the `BatchProviderJobs` and `ProviderJob` schemas)."
)
ERRORS: Final = {
    "400": "The request is invalid (an unknown argument included).",
    "401": "No API key, or one the gateway does not accept.",
    "404": "No such object of the caller's (or on the provider named).",
    "413": "The body is larger than the gateway accepts.",
    "default": "Any other error (a provider's 429 or 5xx included), as OpenAI shapes it.",
}


# Fields OpenAI's spec requires as strings that the API sends as null (an empty page's first and last id).
NULL_WHERE_REQUIRED: Final = {("ListFilesResponse", "first_id"), ("ListFilesResponse", "last_id")}
# The objects the gateway answers with (request bodies keep the spec's types).
ANSWERED_OBJECTS: Final = {"OpenAIFile", "Batch", "Upload", "ListFilesResponse", "ListBatchesResponse"}


def openai_schemas() -> dict[str, Schema]:
    """OpenAI's schemas, with null allowed where the API sends it (and so does the gateway): every optional
    field of an object answered (a batch's unset ``*_at``, ``errors``, ``output_file_id``; a file's
    ``expires_at``) and NULL_WHERE_REQUIRED. The spec types them without null; clients generated from it would
    refuse the answers."""
    schemas: dict[str, Schema] = json.loads(COMPONENTS_FILE.read_text(encoding="utf-8"))["schemas"]
    for name in ANSWERED_OBJECTS & schemas.keys():
        schema = schemas[name]
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            continue
        required = set(schema.get("required", ()))
        for field, definition in properties.items():
            if (field not in required or (name, field) in NULL_WHERE_REQUIRED) and not _allows_null(definition):
                properties[field] = {"anyOf": [definition, {"type": "null"}]}
    return schemas


def _allows_null(schema: Schema) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))


def document(app: FastAPI) -> dict[str, Any]:
    """The document for the routes ``app`` serves and shows (one prefix of each operation)."""
    openai = openai_schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema and route.endpoint.__name__ in OPERATIONS:
            operation = route.endpoint.__name__
            method = OPERATIONS[operation][0].lower()
            paths.setdefault(route.path, {})[method] = _operation(operation, route.path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": app.title,
            "version": app.version,
            "description": (
                f"{app.description}\n\nAuthenticate with `Authorization: Bearer <key>`: the provider's API key, or "
                "a key of this gateway in gateway-key mode. The OpenAI SDK's `base_url` is this server's `/openai` "
                "(or `/openai/v1`); the gateway's extras, such as `provider`, go in `extra_body` (`extra_query` for "
                "a GET). Optional fields of an object are sent as `null` when unset, as OpenAI sends them.\n\n"
                "OpenAI's schemas: Copyright (c) OpenAI, MIT license."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},  # the gateway's (pyproject.toml)
        },
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": openai
            | requests.GATEWAY_SCHEMAS
            | requests.request_schemas(openai)
            | ERROR_SCHEMAS
            | PROVIDER_JOB_SCHEMAS,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The provider's API key, or a gateway key in gateway-key mode.",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


def _operation(operation: str, path: str) -> dict[str, Any]:
    summary, answer = ANSWERS[operation]
    described: dict[str, Any] = {
        "tags": [operation.split("_")[0]],
        "summary": summary,
        "operationId": operation,
    }
    if operation in DESCRIPTIONS:
        described["description"] = DESCRIPTIONS[operation]
    names = re.findall(r"{(\w+)}", path)
    if found := requests.parameters(operation, names):
        described["parameters"] = found
    if (body := requests.request_body(operation)) is not None:
        described["requestBody"] = body
    described["responses"] = _responses(operation, answer, has_id=bool(names))
    return described


def _responses(operation: str, answer: str | None, *, has_id: bool) -> dict[str, Any]:
    if answer is not None:
        described = BATCH_ANSWER if operation in BATCH_ANSWERS else "OK"
        ok: dict[str, Any] = {"description": described, "content": {"application/json": {"schema": ref(answer)}}}
        found: dict[str, Any] = {"200": ok}
    else:  # files_content
        found = {
            "200": {
                "description": "The file's bytes.",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "302": {
                "description": "A large file: fetch it from the presigned URL (the OpenAI SDKs follow it).",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
            },
        }
    for status, description in ERRORS.items():
        if status == "404" and not (has_id or operation == "batches_create"):  # a create's 404: its input file
            continue
        if status == "413" and operation not in requests.BODIES:
            continue
        found[status] = {"description": description, "content": {"application/json": {"schema": ref("ErrorResponse")}}}
    return found
