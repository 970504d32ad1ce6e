"""What each operation takes, for the OpenAPI document: its parameters and its request body.

OpenAI's own arguments keep OpenAI's descriptions (``openai`` is the packaged copy of its schemas), with the values
this gateway accepts; the gateway's extras (``extra_body`` in the OpenAI SDK) follow. Bodies list exactly the
arguments ``api.arguments`` knows: any other is a 400. Only ``openapi_doc`` imports this module, when /openapi.json
is first asked for: never on a Lambda function's request path.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from batchbridge.api.idempotency import MAX_KEY_CHARS
from batchbridge.domain import validation
from batchbridge.domain.compat import ENDPOINT_PATHS
from batchbridge.domain.providers import DEFAULT_PROVIDER, PROVIDERS

Schema = dict[str, Any]

REF: Final = "#/components/schemas/"
MULTIPART: Final = "multipart/form-data"
JSON: Final = "application/json"


def ref(name: str) -> Schema:
    return {"$ref": REF + name}


PROVIDER: Final[Schema] = {
    "type": "string",
    "enum": list(PROVIDERS),
    "description": (
        "The provider the request is for: an extra of this gateway (the OpenAI SDK sends it with "
        f"`extra_body={{'provider': ...}}`). A create runs on it (default `{DEFAULT_PROVIDER}`; a batch defaults to "
        "its input file's provider). Elsewhere it is optional: it filters a list, and must match the object's own."
    ),
}
PROVIDER_ALIAS: Final[Schema] = {
    "type": "string",
    "enum": list(PROVIDERS),
    "description": "LiteLLM's name for `provider`, the same values: naming two different providers is a 400.",
}

FILE_ENDPOINT_NAME: Final[Schema] = {
    "type": "string",
    "description": (
        "`openai-compatible` only: which of the operator's endpoints (BATCHBRIDGE_COMPAT_ENDPOINTS) the file is for "
        "(a name none has is a 400 now rather than when the batch is created)."
    ),
}

# The gateway's own schemas, beside OpenAI's.
GATEWAY_SCHEMAS: Final[dict[str, Schema]] = {
    "StorageConfig": {
        "type": "object",
        "title": "Storage configuration",
        "description": (
            "Bedrock only (other providers ignore it): where the gateway stages a batch input file in S3 for Bedrock "
            "to read. Without a bucket, the operator's (BATCHBRIDGE_BEDROCK_BUCKET). In gateway-key mode only the "
            "operator's allowed buckets are accepted."
        ),
        "properties": {
            "s3": {
                "type": "object",
                "properties": {
                    "bucket": {"type": "string", "description": "The S3 bucket's name."},
                    "region": {"type": "string", "description": "The bucket's AWS region, e.g. `us-east-1`."},
                    "prefix": {"type": "string", "description": "A key prefix for the staged objects."},
                },
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    },
    "InlineBatchRequest": {
        "type": "object",
        "title": "Inline batch request (Anthropic)",
        "description": "One request of an Anthropic Message Batch, sent inline instead of in an input file.",
        "required": ["custom_id", "params"],
        "properties": {
            "custom_id": {
                "type": "string",
                "minLength": 1,
                "description": "The request's own id, unique in the batch: its result line carries it.",
            },
            "params": {
                "type": "object",
                "description": (
                    "Anthropic Messages API parameters (`model`, `max_tokens` and `messages` at least; no `stream`)."
                ),
                "required": ["model", "max_tokens", "messages"],
                "properties": {
                    "model": {"type": "string", "minLength": 1},
                    "max_tokens": {"type": "integer", "minimum": 1},
                    "messages": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                },
                "additionalProperties": True,
            },
        },
        "additionalProperties": False,
    },
    "CancelRequest": {
        "type": "object",
        "description": "Optional: the provider the object is on (else its record's).",
        "properties": {"provider": PROVIDER, "custom_llm_provider": PROVIDER_ALIAS},
        "additionalProperties": False,
    },
}


def _openai(openai: dict[str, Schema], name: str, **changes: Schema) -> dict[str, Schema]:
    """OpenAI's properties of its schema ``name``, each updated with ``changes`` (the values the gateway takes)."""
    properties: dict[str, Schema] = copy.deepcopy(openai[name]["properties"])
    for key, change in changes.items():
        properties[key] = properties[key] | change
    return properties


def request_schemas(openai: dict[str, Schema]) -> dict[str, Schema]:
    """The request bodies, named as OpenAI names them: OpenAI's arguments, then the gateway's extras."""
    purposes = {"enum": list(validation.FILE_PURPOSES)}
    provider = {"provider": PROVIDER, "custom_llm_provider": PROVIDER_ALIAS}
    return {
        "CreateFileRequest": {
            "type": "object",
            "required": ["file", "purpose"],
            "properties": _form_examples(
                _openai(openai, "CreateFileRequest", purpose=purposes)
                | provider
                | {"storage_config": ref("StorageConfig"), "endpoint_name": FILE_ENDPOINT_NAME},
                purpose="batch",
                provider=DEFAULT_PROVIDER,
            ),
            "additionalProperties": False,
        },
        "CreateUploadRequest": {
            "type": "object",
            "required": ["bytes", "filename", "mime_type", "purpose"],
            "properties": _openai(openai, "CreateUploadRequest", purpose=purposes, bytes={"minimum": 1})
            | provider
            | {"storage_config": ref("StorageConfig"), "endpoint_name": FILE_ENDPOINT_NAME},
            "additionalProperties": False,
        },
        "AddUploadPartRequest": {
            "type": "object",
            "required": ["data"],
            "properties": _form_examples(_openai(openai, "AddUploadPartRequest") | provider),
            "additionalProperties": False,
        },
        "CompleteUploadRequest": {
            "type": "object",
            "required": ["part_ids"],
            "properties": _openai(openai, "CompleteUploadRequest", md5={"pattern": "^[0-9a-fA-F]{32}$"}) | provider,
            "additionalProperties": False,
        },
        "CreateBatchRequest": {
            "type": "object",
            "required": ["input_file_id", "endpoint", "completion_window"],
            "properties": _openai(
                openai,
                "CreateBatchRequest",
                input_file_id={
                    "description": openai["CreateBatchRequest"]["properties"]["input_file_id"]["description"]
                    + "\nWith inline `requests` (Anthropic) it may be empty.\n"
                },
                endpoint={"enum": list(validation.BATCH_ENDPOINTS)},
                completion_window={"enum": list(validation.COMPLETION_WINDOWS)},
            )
            | provider
            | _batch_extras(),
            "additionalProperties": False,
        },
    }


def _form_examples(properties: dict[str, Schema], **chosen: str) -> dict[str, Schema]:
    """Each property with the example Swagger UI's form starts from: its "Try it out" fills every field with the
    schema's first example, else a made-up value ("string"), and sends them all. ``chosen``'s, else an empty one: the
    gateway reads an empty field as not given, and an empty object sends no bracket keys at all."""
    examples: dict[str, Schema] = {}
    for name, schema in properties.items():
        if schema.get("format") == "binary":
            examples[name] = schema
        elif name in chosen:
            examples[name] = schema | {"examples": [chosen[name]]}
        else:
            empty: Any = {} if "$ref" in schema or schema.get("type") == "object" else ""
            examples[name] = schema | {"examples": [empty]}
    return examples


def _batch_extras() -> dict[str, Schema]:
    return {
        "requests": {
            "type": "array",
            "minItems": 1,
            "items": ref("InlineBatchRequest"),
            "description": "Anthropic only: the batch's requests inline, instead of an input file.",
        },
        "model": {
            "type": "string",
            "maxLength": validation.MAX_MODEL_CHARS,
            "description": (
                "The model the batch runs, for providers whose batch is for one model: Bedrock (a model or inference "
                "profile id) and Gemini (e.g. `gemini-2.0-flash`). Others take it from the input file's lines."
            ),
        },
        "role_arn": {
            "type": "string",
            "description": (
                "Bedrock only: the IAM service role the job runs as (default: the operator's, "
                "BATCHBRIDGE_BEDROCK_ROLE_ARN). In gateway-key mode only the operator's allowed roles are accepted."
            ),
        },
        "output_s3_uri": {
            "type": "string",
            "description": (
                "Bedrock only: where the job writes its results, an `s3://bucket/prefix/` URI (default: the gateway's "
                "bucket). In gateway-key mode only the operator's allowed buckets are accepted."
            ),
        },
        "endpoint_name": {
            "type": "string",
            "description": (
                "`openai-compatible` only: which of the operator's endpoints (BATCHBRIDGE_COMPAT_ENDPOINTS) runs the "
                f"batch; they run {' and '.join(f'`{path}`' for path in ENDPOINT_PATHS)}."
            ),
        },
    }


# The body of each operation that has one: (media type, schema name, required), and how a form sends nested arguments
# (bracket keys, as the OpenAI SDK sends them and ``api.params.unflatten`` reads them).
BODIES: Final[dict[str, tuple[str, str, bool]]] = {
    "files_create": (MULTIPART, "CreateFileRequest", True),
    "uploads_create": (JSON, "CreateUploadRequest", True),
    "uploads_add_part": (MULTIPART, "AddUploadPartRequest", True),
    "uploads_complete": (JSON, "CompleteUploadRequest", True),
    "uploads_cancel": (JSON, "CancelRequest", False),
    "batches_create": (JSON, "CreateBatchRequest", True),
    "batches_cancel": (JSON, "CancelRequest", False),
}
_BRACKETS: Final = {"style": "deepObject", "explode": True}
FORM_ENCODING: Final[dict[str, dict[str, Schema]]] = {
    "files_create": {"expires_after": _BRACKETS, "storage_config": _BRACKETS},
}

# Request examples: what "Try it out" starts from, one per provider where they differ.
EXAMPLES: Final[dict[str, dict[str, Schema]]] = {
    "batches_create": {
        "openai": {
            "summary": "OpenAI (or any provider: the input file's)",
            "value": {"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        },
        "anthropic": {
            "summary": "Anthropic, requests inline",
            "value": {
                "input_file_id": "",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "anthropic",
                "requests": [
                    {
                        "custom_id": "request-1",
                        "params": {
                            "model": "claude-3-5-haiku-latest",
                            "max_tokens": 100,
                            "messages": [{"role": "user", "content": "Hello!"}],
                        },
                    }
                ],
            },
        },
        "bedrock": {
            "summary": "Bedrock",
            "value": {
                "input_file_id": "file-abc123",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "bedrock",
                "model": "anthropic.claude-3-haiku-20240307-v1:0",
            },
        },
        "gemini": {
            "summary": "Gemini",
            "value": {
                "input_file_id": "file-abc123",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "gemini",
                "model": "gemini-2.0-flash",
            },
        },
        "openai-compatible": {
            "summary": "An OpenAI-compatible endpoint (vLLM, Ollama)",
            "value": {
                "input_file_id": "file-abc123",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "openai-compatible",
                "endpoint_name": "local-vllm",
            },
        },
    },
    "uploads_create": {
        "batch": {
            "summary": "A batch input file",
            "value": {"bytes": 2147483648, "filename": "batch.jsonl", "mime_type": "text/jsonl", "purpose": "batch"},
        }
    },
    "uploads_complete": {"parts": {"summary": "Two parts", "value": {"part_ids": ["part_def456", "part_ghi789"]}}},
    "uploads_cancel": {"none": {"summary": "No body", "value": {}}},
    "batches_cancel": {"none": {"summary": "No body", "value": {}}},
}


def request_body(operation: str) -> Schema | None:
    if operation not in BODIES:
        return None
    media, name, required = BODIES[operation]
    content: Schema = {"schema": ref(name)}
    if operation in FORM_ENCODING:
        content["encoding"] = FORM_ENCODING[operation]
    if operation in EXAMPLES:
        content["examples"] = EXAMPLES[operation]
    description = (
        "A multipart form. Nested arguments travel as bracket keys, as the OpenAI SDK sends them: "
        "`expires_after[anchor]=created_at`, `expires_after[seconds]=86400`, `storage_config[s3][bucket]=...`."
        if operation == "files_create"
        else None
    )
    body: Schema = {"required": required, "content": {media: content}}
    return body | ({"description": description} if description else {})


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_PROVIDER_QUERY: Final = _query(
    "provider", {"type": "string", "enum": list(PROVIDERS)}, "The object's provider (optional: its record knows it)."
)
_AFTER: Final = "A cursor: the id of the last object of the page before."
QUERIES: Final[dict[str, list[Schema]]] = {
    "files_list": [
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 10_000},
            "How many files a page holds.",
        ),
        _query("after", {"type": "string"}, _AFTER),
        _query(
            "order",
            {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
            "Order by creation time: `asc` (oldest first) or `desc`.",
        ),
        _query("purpose", {"type": "string"}, "Only files with this purpose."),
        _query("provider", {"type": "string", "enum": list(PROVIDERS)}, "Only files on this provider."),
    ],
    "batches_list": [
        _query(
            "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "How many batches a page holds."
        ),
        _query("after", {"type": "string"}, _AFTER),
        _query("provider", {"type": "string", "enum": list(PROVIDERS)}, "Only batches on this provider."),
        _query("model", {"type": "string"}, "Only batches of this model (e.g. a Bedrock model id)."),
    ],
    "files_retrieve": [_PROVIDER_QUERY],
    "files_delete": [_PROVIDER_QUERY],
    "files_content": [_PROVIDER_QUERY],
    "batches_retrieve": [_PROVIDER_QUERY],
}
IDEMPOTENT: Final = ("files_create", "batches_create", "uploads_create")
_IDEMPOTENCY_KEY: Final[Schema] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
    "description": (
        "Create at most once: a request repeating a key (with the same arguments) gets the first one's answer, so a "
        "client may retry after a lost answer."
    ),
}


def parameters(operation: str, path_names: list[str]) -> list[Schema]:
    """The operation's path parameters, then its query parameters and headers."""
    found = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": f"The {name}."}
        for name in path_names
    ]
    found += copy.deepcopy(QUERIES.get(operation, []))
    if operation in IDEMPOTENT:
        found.append(dict(_IDEMPOTENCY_KEY))
    return found
