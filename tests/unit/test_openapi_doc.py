"""The gateway's OpenAPI document (batchbridge.api.openapi_doc) and its docs pages, without a browser: a valid OpenAPI
3.1 document describing every operation with exactly the arguments the gateway knows, OpenAI's schemas for its
answers, and the bearer key; pages that load nothing but the gateway's own assets. tests/integration/
test_docs_browser.py renders them in Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# The OpenAPI 3.1 meta-schema schemathesis validates documents with (a development dependency already).
from schemathesis.specs.openapi.definitions import OPENAPI_31

from batchbridge.api.app import build_app
from batchbridge.api.arguments import KNOWN_ARGUMENTS
from batchbridge.api.operations import OPERATIONS, PREFIXES
from batchbridge.domain import validation
from batchbridge.domain.providers import PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
DOC_URI = "urn:batchbridge:openapi.json"

ANSWERS = {
    "files_create": "OpenAIFile",
    "files_list": "ListFilesResponse",
    "files_retrieve": "OpenAIFile",
    "files_delete": "DeleteFileResponse",
    "files_content": None,
    "batches_create": "Batch",
    "batches_list": "ListBatchesResponse",
    "batches_retrieve": "Batch",
    "batches_cancel": "Batch",
    "uploads_create": "Upload",
    "uploads_add_part": "UploadPart",
    "uploads_complete": "Upload",
    "uploads_cancel": "Upload",
}
QUERY = {
    "files_list": {"limit", "after", "order", "purpose", "provider"},
    "batches_list": {"limit", "after", "provider", "model"},
    "files_retrieve": {"provider"},
    "files_delete": {"provider"},
    "files_content": {"provider"},
    "batches_retrieve": {"provider"},
}
MEDIA = {
    "files_create": "multipart/form-data",
    "uploads_add_part": "multipart/form-data",
    "uploads_create": "application/json",
    "uploads_complete": "application/json",
    "uploads_cancel": "application/json",
    "batches_create": "application/json",
    "batches_cancel": "application/json",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(build_app()) as served:  # no request here reaches the gateway (storage, providers)
        yield served


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path, operation)."""
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    }


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")]
    return node


def schema_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{DOC_URI}#/components/schemas/{name}"}, registry=registry)


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    errors = [error.message[:300] for error in Draft202012Validator(OPENAPI_31).iter_errors(doc)]
    assert errors == []
    assert doc["openapi"].startswith("3.1")
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises on an invalid schema, naming it
        assert schema, name


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    references = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert references
    for reference in references:
        assert reference.startswith("#/components/schemas/"), reference
        assert reference.removeprefix("#/components/schemas/") in doc["components"]["schemas"], reference


def test_every_operation_once_under_the_first_prefix(doc: dict[str, Any]) -> None:
    found = operations(doc)
    assert set(found) == set(OPERATIONS)
    for name, (method, path, _) in found.items():
        assert (method, path) == (OPERATIONS[name][0], PREFIXES[0] + OPERATIONS[name][1])


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_answers_are_openai_objects_and_errors_openai_errors(doc: dict[str, Any], name: str) -> None:
    _, _, operation = operations(doc)[name]
    responses = operation["responses"]
    if ANSWERS[name] is None:  # files_content: the bytes, or a redirect to them
        assert responses["200"]["content"] == {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
        assert "Location" in responses["302"]["headers"]
    else:
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{ANSWERS[name]}"
        }
    errors = {status: response for status, response in responses.items() if status not in ("200", "302")}
    assert {"400", "401", "default"} <= set(errors)
    for response in errors.values():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_openai_schemas_are_openai_s_own(doc: dict[str, Any]) -> None:
    spec = json.loads((ROOT / "tests/contract/spec/openai-files-batches.openapi.json").read_text())["components"]
    schemas = doc["components"]["schemas"]
    for name in ("OpenAIFile", "ListFilesResponse", "DeleteFileResponse", "Batch", "ListBatchesResponse", "Upload"):
        assert schemas[name]["properties"].keys() == spec["schemas"][name]["properties"].keys(), name
        assert schemas[name].get("required") == spec["schemas"][name].get("required"), name
    assert schemas["ErrorResponse"]["properties"]["error"] == {"$ref": "#/components/schemas/Error"}


def test_the_packaged_copy_of_openai_s_schemas_is_current() -> None:
    spec = importlib.util.spec_from_file_location("openapi_components", ROOT / "infra/openapi/components.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    packaged = ROOT / "functions/batchbridge/api/openai_components.json"
    assert packaged.read_text() == generator.render(generator.build()), "stale: run infra/openapi/components.py"
    assert (packaged.parent / "openai_components.LICENSE").read_text().startswith("The MIT License")


@pytest.mark.parametrize("name", sorted(KNOWN_ARGUMENTS))
def test_bodies_list_exactly_the_arguments_the_gateway_knows(doc: dict[str, Any], name: str) -> None:
    _, _, operation = operations(doc)[name]
    content = operation["requestBody"]["content"]
    assert list(content) == [MEDIA[name]]
    schema = resolve(doc, content[MEDIA[name]]["schema"])
    assert set(schema["properties"]) == KNOWN_ARGUMENTS[name]
    assert schema["additionalProperties"] is False  # anything else is a 400
    assert operation["requestBody"]["required"] is (name not in ("uploads_cancel", "batches_cancel"))


def test_no_body_where_the_gateway_reads_none(doc: dict[str, Any]) -> None:
    assert {name for name, (_, _, operation) in operations(doc).items() if "requestBody" in operation} == set(MEDIA)


def test_files_create_is_a_multipart_form_with_a_file_chooser(doc: dict[str, Any]) -> None:
    _, _, operation = operations(doc)["files_create"]
    form = operation["requestBody"]["content"]["multipart/form-data"]
    schema = resolve(doc, form["schema"])
    assert schema["properties"]["file"]["type"] == "string" and schema["properties"]["file"]["format"] == "binary"
    assert set(schema["required"]) == {"file", "purpose"}
    assert schema["properties"]["purpose"]["enum"] == list(validation.FILE_PURPOSES)
    assert schema["properties"]["provider"]["enum"] == list(PROVIDERS)
    assert schema["properties"]["custom_llm_provider"]["enum"] == list(PROVIDERS)
    expiry = resolve(doc, schema["properties"]["expires_after"])
    assert expiry["properties"]["anchor"]["enum"] == ["created_at"]
    seconds = expiry["properties"]["seconds"]
    assert (seconds["minimum"], seconds["maximum"]) == (validation.EXPIRY_MIN_SECONDS, validation.EXPIRY_MAX_SECONDS)
    storage = resolve(doc, schema["properties"]["storage_config"])
    assert set(storage["properties"]["s3"]["properties"]) == {"bucket", "region", "prefix"}
    # nested arguments as bracket keys (expires_after[anchor]=...), as the OpenAI SDK sends them
    assert form["encoding"]["expires_after"] == {"style": "deepObject", "explode": True}
    part = resolve(
        doc, operations(doc)["uploads_add_part"][2]["requestBody"]["content"]["multipart/form-data"]["schema"]
    )
    assert part["properties"]["data"]["format"] == "binary" and part["required"] == ["data"]


def test_batches_create_describes_the_provider_extras(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["CreateBatchRequest"]
    assert set(schema["required"]) == {"input_file_id", "endpoint", "completion_window"}
    assert schema["properties"]["endpoint"]["enum"] == list(validation.BATCH_ENDPOINTS)
    assert schema["properties"]["completion_window"]["enum"] == list(validation.COMPLETION_WINDOWS)
    inline = resolve(doc, schema["properties"]["requests"]["items"])
    assert set(inline["required"]) == {"custom_id", "params"}
    assert set(inline["properties"]["params"]["required"]) == {"model", "max_tokens", "messages"}
    assert doc["components"]["schemas"]["CompleteUploadRequest"]["required"] == ["part_ids"]
    assert set(doc["components"]["schemas"]["CreateUploadRequest"]["required"]) == {
        "bytes",
        "filename",
        "mime_type",
        "purpose",
    }


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_request_examples_are_valid_bodies(doc: dict[str, Any], name: str) -> None:
    """What "Try it out" starts from is a request the gateway accepts (as far as its schema says)."""
    _, _, operation = operations(doc)[name]
    content = operation["requestBody"]["content"][MEDIA[name]]
    schema_name = content["schema"]["$ref"].removeprefix("#/components/schemas/")
    validator = schema_validator(doc, schema_name)
    for example in content.get("examples", {}).values():
        assert list(validator.iter_errors(example["value"])) == [], example


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_parameters(doc: dict[str, Any], name: str) -> None:
    _, path, operation = operations(doc)[name]
    parameters = operation.get("parameters", [])
    by_place: dict[str, set[str]] = {}
    for parameter in parameters:
        by_place.setdefault(parameter["in"], set()).add(parameter["name"])
    assert by_place.get("path", set()) == set(re.findall(r"{(\w+)}", path))
    assert by_place.get("query", set()) == QUERY.get(name, set())
    idempotent = name in ("files_create", "batches_create", "uploads_create")
    assert by_place.get("header", set()) == ({"Idempotency-Key"} if idempotent else set())
    assert not any(parameter["name"].lower() == "authorization" for parameter in parameters)  # the scheme's


def test_list_queries_match_the_gateway(doc: dict[str, Any]) -> None:
    files = {p["name"]: p["schema"] for p in operations(doc)["files_list"][2]["parameters"]}
    assert files["order"]["enum"] == ["asc", "desc"]
    assert (files["limit"]["minimum"], files["limit"]["maximum"]) == (1, 10_000)
    batches = {p["name"]: p["schema"] for p in operations(doc)["batches_list"][2]["parameters"]}
    assert (batches["limit"]["minimum"], batches["limit"]["maximum"]) == (1, 100)


def test_bearer_key_on_every_operation(doc: dict[str, Any]) -> None:
    (name,) = doc["components"]["securitySchemes"]
    scheme = doc["components"]["securitySchemes"][name]
    assert (name, scheme["type"], scheme["scheme"]) == ("bearerAuth", "http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}]
    assert all("security" not in operation for _, _, operation in operations(doc).values())  # none opts out


@pytest.mark.parametrize(("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_only_the_gateway_s_own_assets(client: TestClient, page: str, asset: str) -> None:
    html = client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert loaded and all(url.startswith("/docs/assets/") for url in loaded), loaded
    assert any(url.endswith(asset) for url in loaded)
    for url in loaded:
        answer = client.get(url)
        assert answer.status_code == 200 and len(answer.content) > 100, url
    assert "/openapi.json" in html.text
    # and the browser is told to load nothing from anywhere else (Redoc would fetch its vendor's logo)
    policy = dict(part.strip().split(" ", 1) for part in html.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert all("http" not in sources and "*" not in sources for sources in policy.values()), policy


def test_a_lambda_function_s_app_serves_only_its_route() -> None:
    with TestClient(build_app(["files_list"])) as lambda_app:
        for path in ("/openapi.json", "/docs", "/redoc", "/docs/assets/swagger-ui/swagger-ui.css"):
            assert lambda_app.get(path).status_code == 404, path


def test_answered_objects_allow_null_where_the_gateway_sends_it() -> None:
    from jsonschema import Draft202012Validator

    from batchbridge.api.openapi_doc import openai_schemas
    from batchbridge.domain import ids
    from batchbridge.domain.records import BatchRecord, FileRecord

    schemas = openai_schemas()
    batch = BatchRecord(
        id=ids.new_batch_id(),
        owner="o",
        provider="openai",
        endpoint="/v1/chat/completions",
        input_file_id="",
        completion_window="24h",
        status="validating",
        created_at=1,
    ).to_openai()
    file = FileRecord(
        id=ids.new_file_id(), owner="o", provider="openai", filename="a", bytes=1, purpose="batch", created_at=1
    ).to_openai()
    empty = {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    document = {"$defs": schemas}
    for name, instance in (("Batch", batch), ("OpenAIFile", file), ("ListFilesResponse", empty)):
        schema = {**document, "$ref": f"#/$defs/{name}"}
        text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
        assert list(Draft202012Validator(json.loads(text)).iter_errors(instance)) == [], name
