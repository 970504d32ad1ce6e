"""Infrastructure tests: template.yaml against batchbridge.api.operations, offline.

The SAM template is translated to plain CloudFormation with aws-sam-translator (no AWS calls), then
the generated REST API, functions, roles and state resources are checked against the operations
table; cfn-lint must report nothing; the `sam local invoke` events must hit their routes. What the deployment adds
around them (authorizer, logs, alarms, queues' limits, secrets) is checked in test_deployment.py.
"""

import base64
import copy
import email.parser
import email.policy
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from batchbridge.api.operations import OPERATIONS, PREFIXES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS_DIR = ROOT / "infra" / "events"

BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
FILE_ID = re.compile(r"^file-[0-9a-f]{32}$")
BATCH_ID = re.compile(r"^batch_[0-9a-f]{32}$")
UPLOAD_ID = re.compile(r"^upload_[0-9a-f]{32}$")

# Symbolic names for the IAM resources a statement may grant on.
TABLE = "table"
TABLE_INDEXES = "table/index/*"
OWNER_INDEX = "table/index/by_owner"
ACTIVE_INDEX = "table/index/active_batches"
WORK_QUEUE = "work-queue"
COMPAT_QUEUE = "compat-queue"
BEDROCK_JOBS = "bedrock-jobs"
FOUNDATION_MODELS = "foundation-models"
INFERENCE_PROFILES = "inference-profiles"
BEDROCK_ROLE = "bedrock-role"
CREDENTIALS_KEY = "credentials-key"
BUCKET = "bucket"
BUCKET_OBJECTS = "bucket/*"
UPLOAD_PARTS = "bucket/uploads/*"
FILES = "bucket/files/*"
BATCH_FILES = "bucket/batches/*"
COMPAT_OBJECTS = "bucket/compat/*"
STAGING = "bucket/batchbridge/bedrock/*"
BEDROCK_OUTPUT = "bucket/batchbridge/bedrock-output/*"
OUTPUT_FILES = "bucket/batches/*/output.jsonl"
ERROR_FILES = "bucket/batches/*/error.jsonl"

# operation -> IAM action -> resources it is granted on. Nothing else may be granted.
EXPECTED_PERMISSIONS: dict[str, dict[str, set[str]]] = {
    "uploads_create": {"dynamodb:PutItem": {TABLE}},
    "uploads_add_part": {"dynamodb:GetItem": {TABLE}, "dynamodb:PutItem": {TABLE}, "s3:PutObject": {UPLOAD_PARTS}},
    "uploads_complete": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:BatchGetItem": {TABLE},
        "s3:GetObject": {UPLOAD_PARTS, FILES},
        "s3:DeleteObject": {UPLOAD_PARTS, FILES, STAGING},
        "s3:PutObject": {FILES, STAGING},
        "s3:PutObjectTagging": {FILES, STAGING},  # expiry tags
        "s3:AbortMultipartUpload": {FILES, STAGING},
        "sqs:SendMessage": {WORK_QUEUE},  # a large upload's complete_upload job
        "kms:Encrypt": {CREDENTIALS_KEY},  # ... with the client's credentials sealed for it
    },
    "uploads_cancel": {"dynamodb:GetItem": {TABLE}, "dynamodb:PutItem": {TABLE}},
    "files_create": {
        "dynamodb:PutItem": {TABLE},
        "s3:PutObject": {FILES, STAGING},
        "s3:PutObjectTagging": {FILES, STAGING},  # expiry tags
        "s3:DeleteObject": {FILES, STAGING},
        "s3:AbortMultipartUpload": {FILES, STAGING},
    },
    "files_list": {
        "dynamodb:Query": {OWNER_INDEX},
        "dynamodb:GetItem": {TABLE},
    },
    "files_retrieve": {
        "dynamodb:GetItem": {TABLE},
    },
    "files_delete": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "s3:DeleteObject": {FILES, OUTPUT_FILES, ERROR_FILES, STAGING},
        "s3:ListBucket": {BUCKET},  # a Bedrock file's staged folder, for what its batches' parts staged there
    },
    "files_content": {
        "dynamodb:GetItem": {TABLE},
        "s3:GetObject": {FILES, OUTPUT_FILES, ERROR_FILES},  # a file's own blobs (files.own_blob_keys)
        "s3:ListBucket": {BUCKET},
    },
    "batches_create": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "sqs:SendMessage": {WORK_QUEUE, COMPAT_QUEUE},  # and an openai-compatible batch's first chunk
        "kms:Encrypt": {CREDENTIALS_KEY},
        "s3:GetObject": {FILES, STAGING, COMPAT_OBJECTS},  # the input, Bedrock's record ids, a compat input copy
        "s3:PutObject": {BATCH_FILES, COMPAT_OBJECTS},
        "s3:PutObjectTagging": {BATCH_FILES, COMPAT_OBJECTS},  # working objects' expiry tags
        "s3:AbortMultipartUpload": {BATCH_FILES, COMPAT_OBJECTS},
        "bedrock:CreateModelInvocationJob": {BEDROCK_JOBS, FOUNDATION_MODELS, INFERENCE_PROFILES},
        "bedrock:GetModelInvocationJob": {BEDROCK_JOBS, FOUNDATION_MODELS, INFERENCE_PROFILES},
        "bedrock:StopModelInvocationJob": {BEDROCK_JOBS, FOUNDATION_MODELS, INFERENCE_PROFILES},
        "iam:PassRole": {BEDROCK_ROLE},
    },
    "batches_list": {
        "dynamodb:Query": {OWNER_INDEX},
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},  # a list refreshes stale batches
        "dynamodb:UpdateItem": {TABLE},  # an openai-compatible batch's state
        "sqs:SendMessage": {WORK_QUEUE},
        "bedrock:GetModelInvocationJob": {BEDROCK_JOBS},
    },
    "batches_retrieve": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "sqs:SendMessage": {WORK_QUEUE},
        "bedrock:GetModelInvocationJob": {BEDROCK_JOBS},
    },
    "batches_cancel": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "sqs:SendMessage": {WORK_QUEUE},
        "bedrock:GetModelInvocationJob": {BEDROCK_JOBS},
        "bedrock:StopModelInvocationJob": {BEDROCK_JOBS},
    },
}

# Background functions (not API routes): logical id -> their permissions.
BACKGROUND_FUNCTIONS: dict[str, dict[str, set[str]]] = {
    "FinalizerFunction": {
        "dynamodb:GetItem": {TABLE},
        "dynamodb:PutItem": {TABLE},
        "dynamodb:DeleteItem": {TABLE},  # drops a create's intent nothing turned up for
        "dynamodb:UpdateItem": {TABLE},
        "dynamodb:BatchGetItem": {TABLE},
        "dynamodb:BatchWriteItem": {TABLE},  # removes an openai-compatible batch's answers once finalized
        # and a large upload's completion (complete_upload): its parts read and removed, its file written, staged
        "s3:GetObject": {BATCH_FILES, COMPAT_OBJECTS, STAGING, BEDROCK_OUTPUT, UPLOAD_PARTS, FILES},
        # and a large batch's submission (submit_batch): an openai-compatible batch's input copy and plan
        "s3:PutObject": {BATCH_FILES, FILES, STAGING, COMPAT_OBJECTS},
        "s3:PutObjectTagging": {BATCH_FILES, FILES, STAGING, COMPAT_OBJECTS},  # expiry tags
        "s3:AbortMultipartUpload": {BATCH_FILES, FILES, STAGING, COMPAT_OBJECTS},
        # a final batch's working copies; a completed upload's parts, what a failed completion left
        "s3:DeleteObject": {BATCH_FILES, COMPAT_OBJECTS, BEDROCK_OUTPUT, UPLOAD_PARTS, FILES, STAGING},
        "s3:ListBucket": {BUCKET},
        "kms:Decrypt": {CREDENTIALS_KEY},
        "sqs:SendMessage": {WORK_QUEUE, COMPAT_QUEUE},  # a refresh mends an openai-compatible batch's chain
        "sqs:ChangeMessageVisibility": {WORK_QUEUE},  # a failed job's retry after a short backoff
        "bedrock:GetModelInvocationJob": {BEDROCK_JOBS},
        # reconcile finds a job by name, start_parts counts a model's running jobs; a list has no resource
        "bedrock:ListModelInvocationJobs": {"*"},
        # start_parts: a split Bedrock batch's parts created (as the Bedrock role), stopped at its window's end
        "bedrock:CreateModelInvocationJob": {BEDROCK_JOBS, FOUNDATION_MODELS, INFERENCE_PROFILES},
        "bedrock:StopModelInvocationJob": {BEDROCK_JOBS},
        "iam:PassRole": {BEDROCK_ROLE},
    },
    "SweeperFunction": {  # queues jobs only: no provider, no key
        "dynamodb:Query": {ACTIVE_INDEX},
        "dynamodb:GetItem": {TABLE},
        "sqs:SendMessage": {WORK_QUEUE},
    },
}


# Idempotent creates: Powertools keeps replay records in the table (conditional put, get, update, delete).
for _op in ("files_create", "batches_create", "uploads_create"):
    for _action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        EXPECTED_PERMISSIONS[_op][f"dynamodb:{_action}"] = {TABLE}

# Gateway-key mode, always deployed: every API function reads the gateway's keys; only those that call a provider
# read its provider keys; every function that builds the gateway reads the owner HMAC key (the authorizer does not).
API_KEYS_SECRET = "api-keys-secret"
PROVIDER_KEYS_SECRET = "provider-keys-secret"
OWNER_SECRET = "owner-secret"
COMPAT_KEYS_SECRET = "compat-keys-secret"
WEBHOOK_SECRET = "webhook-secret"  # only when webhooks are on (Fn::If)
CALLS_PROVIDERS = {
    "files_create",  # the file goes to its provider
    "files_delete",  # and is deleted there
    "files_content",  # a provider's result file is read from it
    "batches_create",
    "batches_list",  # refreshes stale batches
    "batches_retrieve",
    "batches_cancel",
    "uploads_complete",  # the assembled file goes to its provider
}
for _op, _permissions in EXPECTED_PERMISSIONS.items():
    _secrets = {API_KEYS_SECRET, OWNER_SECRET} | ({PROVIDER_KEYS_SECRET} if _op in CALLS_PROVIDERS else set())
    _permissions["secretsmanager:GetSecretValue"] = _secrets
BACKGROUND_FUNCTIONS["FinalizerFunction"]["secretsmanager:GetSecretValue"] = {
    PROVIDER_KEYS_SECRET,
    OWNER_SECRET,
    WEBHOOK_SECRET,
}
BACKGROUND_FUNCTIONS["SweeperFunction"]["secretsmanager:GetSecretValue"] = {OWNER_SECRET}
# The openai-compatible worker and its dead letters; only the worker calls the endpoints, with their keys' secret.
_COMPAT_WORKER = {
    "dynamodb:GetItem": {TABLE},
    "dynamodb:PutItem": {TABLE},
    "dynamodb:UpdateItem": {TABLE},
    "dynamodb:BatchGetItem": {TABLE},
    "s3:GetObject": {COMPAT_OBJECTS},  # the batch's plan and input copy
    "sqs:SendMessage": {COMPAT_QUEUE},
}
BACKGROUND_FUNCTIONS["CompatWorkerFunction"] = _COMPAT_WORKER | {
    "secretsmanager:GetSecretValue": {OWNER_SECRET, COMPAT_KEYS_SECRET},
    # small Bedrock batches run on demand: each request an InvokeModel
    "bedrock:InvokeModel": {FOUNDATION_MODELS, INFERENCE_PROFILES},
}
BACKGROUND_FUNCTIONS["CompatDeadLettersFunction"] = _COMPAT_WORKER | {"secretsmanager:GetSecretValue": {OWNER_SECRET}}
# The authorizer reads the gateway's keys, nothing else.
AUTHORIZER_PERMISSIONS = {"secretsmanager:GetSecretValue": {API_KEYS_SECRET}}
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"  # Tracing: Active
SQS_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"


def logical_id(op: str) -> str:
    """files_create -> FilesCreateFunction."""
    return "".join(part.capitalize() for part in op.split("_")) + "Function"


def route_regex(template_path: str) -> re.Pattern[str]:
    """/files/{file_id}/content -> ^/files/(?P<file_id>[^/]+)/content$"""
    parts = re.split(r"\{(\w+)\}", template_path)
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(f"^{pattern}$")


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    """template.yaml as written (short tags such as !Ref become Ref/Fn::* mappings)."""
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def _load_script(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def translated(source: dict[str, Any]) -> dict[str, Any]:
    """The plain CloudFormation SAM produces, translated offline (as infra/lint_translated.py does for CI)."""
    assert source["Globals"]["Function"]["CodeUri"] == "functions/"  # replaced by an S3 location, as `sam package` does
    lint = _load_script("batchbridge_lint_translated", ROOT / "infra" / "lint_translated.py")
    output: dict[str, Any] = lint.translate(copy.deepcopy(source))
    return output


@pytest.fixture(scope="module")
def resources(translated: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = translated["Resources"]
    return res


@pytest.fixture(scope="module")
def routes(resources: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(METHOD, path) -> logical id of the function its integration invokes, from the API body."""
    body = resources["GatewayApi"]["Properties"]["Body"]
    found: dict[tuple[str, str], str] = {}
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy", (method, path)
            uri = integration["uri"]["Fn::Sub"]
            targets = re.findall(r"\$\{(\w+)\.Arn\}", uri)
            assert len(targets) == 1, (method, path, uri)
            assert uri.endswith(f"/functions/${{{targets[0]}.Arn}}/invocations"), uri
            found[(method.upper(), path)] = targets[0]
    return found


def _events() -> Iterator[tuple[str, Path]]:
    for op in OPERATIONS:
        yield op, EVENTS_DIR / f"{op}.json"


def _load_generator() -> ModuleType:
    return _load_script("batchbridge_event_generator", EVENTS_DIR / "generate.py")


# --------------------------------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------------------------------


def test_logical_id_naming() -> None:
    assert logical_id("files_create") == "FilesCreateFunction"
    assert logical_id("batches_cancel") == "BatchesCancelFunction"


def test_one_api_function_per_operation(source: dict[str, Any]) -> None:
    api_functions = {
        name
        for name, resource in source["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any(event["Type"] == "Api" for event in resource["Properties"].get("Events", {}).values())
    }
    assert api_functions == {logical_id(op) for op in OPERATIONS}


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_function_handler_and_code(op: str, source: dict[str, Any], resources: dict[str, Any]) -> None:
    declared = source["Resources"][logical_id(op)]["Properties"]
    assert declared["Handler"] == f"batchbridge.handlers.{op}.handler"
    assert "CodeUri" not in declared  # inherited from Globals: functions/
    props = resources[logical_id(op)]["Properties"]
    assert resources[logical_id(op)]["Type"] == "AWS::Lambda::Function"
    assert props["Handler"] == f"batchbridge.handlers.{op}.handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] < 29  # ends before API Gateway's integration does
    # one full vCPU where whole files are assembled or converted line by line
    assert props["MemorySize"] == (1769 if op in ("uploads_complete", "files_create", "batches_create") else 512)
    assert props["Role"] == {"Fn::GetAtt": [f"{logical_id(op)}Role", "Arn"]}


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_handler_imports_and_is_callable(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    module = importlib.import_module(f"batchbridge.handlers.{op}")
    assert callable(module.handler)


def test_function_environment(source: dict[str, Any], resources: dict[str, Any]) -> None:
    expected = {
        "BATCHBRIDGE_STORAGE": "aws",
        "BATCHBRIDGE_TABLE": {"Ref": "Table"},
        "BATCHBRIDGE_BUCKET": {"Ref": "Bucket"},
        "BATCHBRIDGE_OPENAI_BASE_URL": {"Ref": "OpenAIBaseUrl"},
        "BATCHBRIDGE_ANTHROPIC_BASE_URL": {"Ref": "AnthropicBaseUrl"},
        "BATCHBRIDGE_GEMINI_BASE_URL": {"Ref": "GeminiBaseUrl"},
        "BATCHBRIDGE_OWNER_SECRET_ARN": {"Ref": "OwnerSecret"},  # an ARN, read at runtime: never the value
        "POWERTOOLS_SERVICE_NAME": "batchbridge",
        "POWERTOOLS_METRICS_NAMESPACE": "batchbridge",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
        "MALLOC_ARENA_MAX": "2",
        "BATCHBRIDGE_API_KEYS_SECRET_ARN": {"Ref": "ApiKeysSecret"},
        "BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN": {"Ref": "ProviderKeysSecret"},
        "BATCHBRIDGE_WORK_QUEUE_URL": {"Ref": "WorkQueue"},
        "BATCHBRIDGE_COMPAT_ENDPOINTS": {"Ref": "CompatEndpoints"},
        "BATCHBRIDGE_COMPAT_QUEUE_URL": {"Ref": "CompatQueue"},
        "BATCHBRIDGE_KMS_KEY": {"Ref": "CredentialsKey"},
        "BATCHBRIDGE_BEDROCK_ROLE_ARN": {"Fn::GetAtt": ["BedrockServiceRole", "Arn"]},
    }
    for op in OPERATIONS:
        assert resources[logical_id(op)]["Properties"]["Environment"]["Variables"] == expected, op

    params = source["Parameters"]
    assert params["OpenAIBaseUrl"]["Default"] == "https://api.openai.com/v1"
    assert params["LogLevel"]["Default"] == "INFO"
    assert params["StageName"]["Default"] == "v1"

    secret = source["Resources"]["OwnerSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert "SecretStringTemplate" not in generated  # SecretString is the bare key, not JSON


# --------------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------------


def test_single_rest_api(resources: dict[str, Any]) -> None:
    rest_apis = [name for name, r in resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert rest_apis == ["GatewayApi"]
    assert "ServerlessRestApi" not in resources  # no function fell back to SAM's implicit API
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1
    assert stages[0]["Properties"]["StageName"] == {"Ref": "StageName"}


def test_routes_reach_exactly_their_function(routes: dict[tuple[str, str], str]) -> None:
    expected = {
        (method, prefix + path): logical_id(op) for op, (method, path) in OPERATIONS.items() for prefix in PREFIXES
    }
    assert routes == expected
    assert len(routes) == 2 * len(OPERATIONS)


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_operation_reachable_under_every_prefix(op: str, routes: dict[tuple[str, str], str]) -> None:
    method, path = OPERATIONS[op]
    reached = {route for route, target in routes.items() if target == logical_id(op)}
    assert reached == {(method, "/openai/v1" + path), (method, "/openai" + path)}


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_api_gateway_may_invoke_each_route(op: str, resources: dict[str, Any]) -> None:
    method, path = OPERATIONS[op]
    granted = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Permission":
            continue
        props = resource["Properties"]
        if props["FunctionName"] != {"Ref": logical_id(op)}:
            continue
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["Action"] == "lambda:InvokeFunction"
        arn, values = props["SourceArn"]["Fn::Sub"]
        assert values["__ApiId__"] == {"Ref": "GatewayApi"}
        granted.add(arn.split("/${__Stage__}", 1)[1])
    # SAM grants path parameters as wildcards: /files/{file_id} -> /files/*
    wildcard = re.sub(r"\{\w+\}", "*", path)
    assert granted == {f"/{method}{prefix}{wildcard}" for prefix in PREFIXES}


def test_binary_media_types(source: dict[str, Any], resources: dict[str, Any]) -> None:
    declared = source["Resources"]["GatewayApi"]["Properties"]["BinaryMediaTypes"]
    assert set(declared) == {"multipart~1form-data", "*~1*"}
    api = resources["GatewayApi"]["Properties"]
    assert {"multipart~1form-data", "*~1*"} <= set(api["BinaryMediaTypes"])
    assert {"multipart/form-data", "*/*"} <= set(api["Body"]["x-amazon-apigateway-binary-media-types"])


def test_api_url_output(source: dict[str, Any]) -> None:
    outputs = source["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${GatewayApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}/openai"
    }
    assert outputs["TableName"]["Value"] == {"Ref": "Table"}
    assert outputs["BucketName"]["Value"] == {"Ref": "Bucket"}


# --------------------------------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------------------------------


def test_table(resources: dict[str, Any]) -> None:
    table = resources["Table"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        "pk": "S",
        "owner_kind": "S",
        "sort_key": "S",
        "active": "S",
    }
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_owner", "active_batches"}
    assert indexes["by_owner"]["KeySchema"] == [
        {"AttributeName": "owner_kind", "KeyType": "HASH"},
        {"AttributeName": "sort_key", "KeyType": "RANGE"},
    ]
    # sparse: only batches not yet final carry "active"
    assert indexes["active_batches"]["KeySchema"] == [
        {"AttributeName": "active", "KeyType": "HASH"},
        {"AttributeName": "sort_key", "KeyType": "RANGE"},
    ]
    assert all(index["Projection"] == {"ProjectionType": "ALL"} for index in indexes.values())
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_bucket_is_private_and_encrypted(resources: dict[str, Any]) -> None:
    bucket = resources["Bucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    aborts = [
        r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        for r in props["LifecycleConfiguration"]["Rules"]
        if r["Status"] == "Enabled" and "AbortIncompleteMultipartUpload" in r
    ]
    assert aborts == [1]


def test_bucket_policy_denies_plain_http(resources: dict[str, Any]) -> None:
    policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert len(policies) == 1
    props = policies[0]["Properties"]
    assert props["Bucket"] == {"Ref": "Bucket"}
    deny = [
        s
        for s in props["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(deny) == 1
    assert deny[0]["Principal"] == "*"
    assert deny[0]["Action"] in ("s3:*", ["s3:*"])
    assert {_resource_key(r) for r in deny[0]["Resource"]} == {"bucket", BUCKET_OBJECTS}


# --------------------------------------------------------------------------------------------------
# least privilege
# --------------------------------------------------------------------------------------------------


def _resource_key(resource: Any) -> str:
    if resource in ({"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::GetAtt": "Table.Arn"}):
        return TABLE
    if resource == {"Fn::Sub": "${Table.Arn}/index/*"}:
        return TABLE_INDEXES
    if resource == {"Fn::Sub": "${Table.Arn}/index/by_owner"}:
        return OWNER_INDEX
    if resource == {"Fn::Sub": "${Table.Arn}/index/active_batches"}:
        return ACTIVE_INDEX
    if resource in ({"Fn::GetAtt": ["CompatQueue", "Arn"]}, {"Fn::GetAtt": "CompatQueue.Arn"}):
        return COMPAT_QUEUE
    if resource in ({"Fn::GetAtt": ["WorkQueue", "Arn"]}, {"Fn::GetAtt": "WorkQueue.Arn"}):
        return WORK_QUEUE
    if resource in ({"Fn::GetAtt": ["CredentialsKey", "Arn"]}, {"Fn::GetAtt": "CredentialsKey.Arn"}):
        return CREDENTIALS_KEY
    if resource == {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*:${AWS::AccountId}:model-invocation-job/*"}:
        return BEDROCK_JOBS
    if resource == {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/*"}:
        return FOUNDATION_MODELS
    if resource == {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*:${AWS::AccountId}:inference-profile/*"}:
        return INFERENCE_PROFILES
    if resource in ({"Fn::GetAtt": ["BedrockServiceRole", "Arn"]}, {"Fn::GetAtt": "BedrockServiceRole.Arn"}):
        return BEDROCK_ROLE
    if resource in ({"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::GetAtt": "Bucket.Arn"}):
        return "bucket"
    if resource == {"Fn::Sub": "${Bucket.Arn}/*"}:
        return BUCKET_OBJECTS
    if isinstance(resource, dict) and str(resource.get("Fn::Sub", "")).startswith("${Bucket.Arn}/"):
        key = "bucket/" + resource["Fn::Sub"].removeprefix("${Bucket.Arn}/")
        if key in (
            UPLOAD_PARTS,
            FILES,
            BATCH_FILES,
            COMPAT_OBJECTS,
            STAGING,
            BEDROCK_OUTPUT,
            OUTPUT_FILES,
            ERROR_FILES,
        ):
            return key
    if resource == {"Ref": "ApiKeysSecret"}:
        return API_KEYS_SECRET
    if resource == {"Ref": "ProviderKeysSecret"}:
        return PROVIDER_KEYS_SECRET
    if resource == {"Ref": "OwnerSecret"}:
        return OWNER_SECRET
    if resource == {"Ref": "CompatKeysSecret"}:
        return COMPAT_KEYS_SECRET
    if resource == {"Fn::If": ["HasWebhook", {"Ref": "WebhookSigningSecret"}, {"Ref": "AWS::NoValue"}]}:
        return WEBHOOK_SECRET
    if resource == "*":  # list actions only (the expectations name each one)
        return "*"
    raise AssertionError(f"policy names an unexpected resource: {resource!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_expected_permissions_cover_every_operation() -> None:
    assert set(EXPECTED_PERMISSIONS) == set(OPERATIONS)


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_least_privilege(op: str, source: dict[str, Any], resources: dict[str, Any]) -> None:
    assert granted_permissions(logical_id(op), source, resources) == EXPECTED_PERMISSIONS[op]


@pytest.mark.parametrize("name", list(BACKGROUND_FUNCTIONS))
def test_background_least_privilege(name: str, source: dict[str, Any], resources: dict[str, Any]) -> None:
    expected_managed = [BASIC_EXECUTION_ROLE, XRAY_WRITE]
    if name in ("FinalizerFunction", "CompatWorkerFunction", "CompatDeadLettersFunction"):  # SQS event sources
        expected_managed.append(SQS_EXECUTION_ROLE)
    assert granted_permissions(name, source, resources, managed=expected_managed) == BACKGROUND_FUNCTIONS[name]


def test_authorizer_least_privilege(source: dict[str, Any], resources: dict[str, Any]) -> None:
    granted = granted_permissions("AuthorizerFunction", source, resources)
    assert granted == AUTHORIZER_PERMISSIONS


def granted_permissions(
    name: str, source: dict[str, Any], resources: dict[str, Any], managed: list[str] | None = None
) -> dict[str, set[str]]:
    declared_policies = source["Resources"][name]["Properties"]["Policies"]
    # inline statements only: no managed policies, no SAM policy templates
    assert all(isinstance(p, dict) and set(p) == {"Statement"} for p in declared_policies), declared_policies

    role = resources[f"{name}Role"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["ManagedPolicyArns"] == (managed or [BASIC_EXECUTION_ROLE, XRAY_WRITE])

    granted: dict[str, set[str]] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", statement
            if "Condition" in statement:  # the one condition: the Bedrock role passed to Bedrock alone
                assert statement["Action"] == ["iam:PassRole"], statement
                assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
            for action in _as_list(statement["Action"]):
                assert "*" not in action, action
                granted.setdefault(action, set()).update(_resource_key(r) for r in _as_list(statement["Resource"]))
    return granted


def test_no_other_iam_roles(resources: dict[str, Any]) -> None:
    roles = {name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    # the scheduler's own role, to invoke the sweeper
    background = {f"{name}Role" for name in BACKGROUND_FUNCTIONS} | {"SweeperFunctionSweepRole"}
    background |= {"BedrockServiceRole"}  # the role Bedrock's jobs run as
    background |= {"AuthorizerFunctionRole", "ApiGatewayLoggingRole"}  # the API's authorizer, its access logs
    assert roles == {f"{logical_id(op)}Role" for op in OPERATIONS} | background


# --------------------------------------------------------------------------------------------------
# cfn-lint
# --------------------------------------------------------------------------------------------------


def test_cfn_lint_clean() -> None:
    candidate = Path(sys.executable).with_name("cfn-lint")
    cfn_lint = str(candidate) if candidate.exists() else shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint is not installed (pip install -e '.[dev]')"
    result = subprocess.run(
        [cfn_lint, "template.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


# --------------------------------------------------------------------------------------------------
# sam local invoke events
# --------------------------------------------------------------------------------------------------


def test_an_event_per_operation() -> None:
    assert {p.stem for p in EVENTS_DIR.glob("*.json")} == set(OPERATIONS)


def test_events_are_generated() -> None:
    generated = _load_generator().build_events()
    assert set(generated) == set(OPERATIONS)
    for op, path in _events():
        assert json.loads(path.read_text()) == generated[op], f"{path.name} is stale: run generate.py"


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_event_hits_its_route(op: str, source: dict[str, Any], routes: dict[tuple[str, str], str]) -> None:
    event = json.loads((EVENTS_DIR / f"{op}.json").read_text())
    method, route = OPERATIONS[op]
    stage = source["Parameters"]["StageName"]["Default"]

    assert event["httpMethod"] == method
    path: str = event["path"]  # API Gateway gives the path without the stage
    matches = [(prefix, m) for prefix in PREFIXES if (m := route_regex(prefix + route).match(path)) is not None]
    assert len(matches) == 1, (path, matches)
    prefix, match = matches[0]
    assert event["resource"] == prefix + route
    assert (event["pathParameters"] or {}) == match.groupdict()
    # the function `sam local invoke <Fn> -e <op>.json` runs is the one the deployed API routes to
    assert routes[(method, event["resource"])] == logical_id(op)

    context = event["requestContext"]
    assert context["stage"] == stage
    assert context["path"] == f"/{stage}{path}"
    assert context["resourcePath"] == event["resource"]
    assert context["httpMethod"] == method
    assert context["identity"]["sourceIp"]
    assert context["requestId"]
    assert event["stageVariables"] is None
    assert event["headers"]["Authorization"] == "Bearer sk-local-example"
    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    query = event["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == (
        {k: [v] for k, v in query.items()} if query is not None else None
    )

    for name, value in match.groupdict().items():
        assert {"file_id": FILE_ID, "batch_id": BATCH_ID, "upload_id": UPLOAD_ID}[name].match(value), (name, value)

    if method == "GET" or op in ("batches_cancel", "files_delete", "uploads_cancel"):
        assert event["body"] is None
        assert event["isBase64Encoded"] is False


def test_files_create_event_is_a_multipart_batch_upload() -> None:
    event = json.loads((EVENTS_DIR / "files_create.json").read_text())
    assert event["isBase64Encoded"] is True
    content_type = event["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    raw = base64.b64decode(event["body"], validate=True)
    assert event["headers"]["Content-Length"] == str(len(raw))

    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    assert message.is_multipart()
    fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(fields) == {"purpose", "file"}
    assert fields["purpose"].get_payload(decode=True) == b"batch"
    assert fields["file"].get_filename() == "batch_input.jsonl"

    lines = fields["file"].get_payload(decode=True).decode().splitlines()
    assert len(lines) == 2
    requests = [json.loads(line) for line in lines]
    assert [r["custom_id"] for r in requests] == ["request-1", "request-2"]
    assert requests[0] == {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 100,
        },
    }
    assert all(r["method"] == "POST" and r["url"] == "/v1/chat/completions" for r in requests)


def test_batches_create_event_body() -> None:
    event = json.loads((EVENTS_DIR / "batches_create.json").read_text())
    assert event["headers"]["Content-Type"] == "application/json"
    # */* is a binary media type, so API Gateway delivers even JSON base64-encoded
    assert event["isBase64Encoded"] is True
    body = json.loads(base64.b64decode(event["body"], validate=True))
    assert FILE_ID.match(body.pop("input_file_id"))
    assert body == {"endpoint": "/v1/chat/completions", "completion_window": "24h", "provider": "openai"}


def test_bedrock_role_and_bucket_policy(resources: dict[str, Any]) -> None:
    role = resources["BedrockServiceRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # only Bedrock acting for this account's own jobs (no confused deputy)
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*:${AWS::AccountId}:model-invocation-job/*"}
        },
    }
    granted = {
        (action, _resource_key_bedrock(statement["Resource"]))
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in _as_list(statement["Action"])
    }
    assert granted == {
        ("s3:GetObject", "input"),
        ("s3:PutObject", "output"),
        ("s3:ListBucket", "bucket"),
    }
    statements = resources["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {
        (s["Action"], _resource_key_bedrock(s["Resource"]))
        for s in statements
        if s["Effect"] == "Allow" and s["Principal"] == {"AWS": {"Fn::GetAtt": ["BedrockServiceRole", "Arn"]}}
    }
    assert allowed == {("s3:GetObject", "input"), ("s3:PutObject", "output")}


def _resource_key_bedrock(resource: Any) -> str:
    return {
        json.dumps({"Fn::Sub": "${Bucket.Arn}/batchbridge/bedrock/*"}): "input",
        json.dumps({"Fn::Sub": "${Bucket.Arn}/batchbridge/bedrock-output/*"}): "output",
        json.dumps({"Fn::GetAtt": ["Bucket", "Arn"]}): "bucket",
    }[json.dumps(resource)]


def test_chunks_queue_is_fifo_so_a_batch_runs_one_chunk_at_a_time(resources: dict[str, Any]) -> None:
    """store/queue.py sends each batch's chunks in one message group: SQS then hands out a batch's next chunk only
    once the one before is done, whatever the workers' timing."""
    assert resources["CompatQueue"]["Properties"]["FifoQueue"] is True
    assert resources["CompatDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    assert resources["CompatQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["CompatDeadLetterQueue", "Arn"]
    }
    worker = resources["CompatWorkerFunction"]["Properties"]
    assert worker["Timeout"] * 6 <= resources["CompatQueue"]["Properties"]["VisibilityTimeout"]
    # chunks of different batches at once: capped at the event source, not by reserved concurrency
    assert "ReservedConcurrentExecutions" not in worker
    mapping = resources["CompatWorkerFunctionChunks"]["Properties"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "CompatWorkerConcurrency"}}
