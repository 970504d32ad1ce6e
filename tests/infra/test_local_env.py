"""infra/local_env.py: the env.json `sam local` needs, from a deployed stack, and the one infra/README.md shows."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "local_env.py"
ACCOUNT, REGION = "123456789012", "us-east-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
QUEUE = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"

# A deployed stack as `aws cloudformation describe-stacks --query 'Stacks[0]'` shows it (the README's example).
STACK: dict[str, Any] = {
    "StackName": "batchbridge",
    "Parameters": [
        {"ParameterKey": "ApiKeys", "ParameterValue": "****"},
        {"ParameterKey": "OpenAIBaseUrl", "ParameterValue": "https://api.openai.com/v1"},
        {"ParameterKey": "AnthropicBaseUrl", "ParameterValue": "https://api.anthropic.com"},
        {"ParameterKey": "GeminiBaseUrl", "ParameterValue": "https://generativelanguage.googleapis.com"},
        {"ParameterKey": "LogLevel", "ParameterValue": "INFO"},
        {"ParameterKey": "CompatEndpoints", "ParameterValue": ""},
        {"ParameterKey": "WebhookUrl", "ParameterValue": ""},
        {"ParameterKey": "WebhookSecret", "ParameterValue": "****"},
    ],
    "Outputs": [
        {"OutputKey": "TableName", "OutputValue": "batchbridge-Table-1A2B3C4D5E6F"},
        {"OutputKey": "BucketName", "OutputValue": "batchbridge-bucket-1a2b3c4d5e6f"},
        {"OutputKey": "ApiKeysSecretArn", "OutputValue": SECRET + "ApiKeysSecret-AbCdEf"},
        {"OutputKey": "ProviderKeysSecretArn", "OutputValue": SECRET + "ProviderKeysSecret-AbCdEf"},
        {"OutputKey": "OwnerSecretArn", "OutputValue": SECRET + "OwnerSecret-AbCdEf"},
        {"OutputKey": "CompatKeysSecretArn", "OutputValue": SECRET + "CompatKeysSecret-AbCdEf"},
        {"OutputKey": "WorkQueueUrl", "OutputValue": QUEUE + "batchbridge-WorkQueue-AbCdEf"},
        {"OutputKey": "CompatQueueUrl", "OutputValue": QUEUE + "batchbridge-CompatQueue-AbCdEf.fifo"},
        {
            "OutputKey": "CredentialsKeyArn",
            "OutputValue": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        },
        {"OutputKey": "BedrockServiceRoleArn", "OutputValue": f"arn:aws:iam::{ACCOUNT}:role/batchbridge-BedrockRole"},
    ],
}


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batchbridge_local_env", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCAL_ENV = _module()


@pytest.fixture(scope="module")
def environments() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = LOCAL_ENV.function_environments()
    return found


def test_every_declared_variable_gets_its_deployed_value(environments: dict[str, dict[str, Any]]) -> None:
    (values,) = LOCAL_ENV.env_json(STACK).values()
    declared = {variable for variables in environments.values() for variable in variables}
    assert set(values) == declared
    outputs = {o["OutputValue"] for o in STACK["Outputs"]}
    for variable, value in values.items():
        assert isinstance(value, str), variable
        assert "{{resolve:" not in value and "****" not in value, variable
        if variable.endswith(("_SECRET_ARN", "_QUEUE_URL")) and value:
            assert value in outputs, variable
    assert values["BATCHBRIDGE_OWNER_SECRET_ARN"] == SECRET + "OwnerSecret-AbCdEf"  # never a word sam local made up
    assert values["BATCHBRIDGE_TABLE"] == "batchbridge-Table-1A2B3C4D5E6F"
    assert values["BATCHBRIDGE_WEBHOOK_SECRET_ARN"] == ""  # webhooks off


def test_with_webhooks_the_finalizer_gets_the_secrets_arn() -> None:
    stack = json.loads(json.dumps(STACK))
    stack["Parameters"] = [p for p in stack["Parameters"] if p["ParameterKey"] != "WebhookUrl"]
    stack["Parameters"].append({"ParameterKey": "WebhookUrl", "ParameterValue": "https://hooks.example.com/bb"})
    stack["Outputs"].append({"OutputKey": "WebhookSecretArn", "OutputValue": SECRET + "WebhookSigningSecret-AbCdEf"})
    (values,) = LOCAL_ENV.env_json(stack).values()
    assert values["BATCHBRIDGE_WEBHOOK_URL"] == "https://hooks.example.com/bb"
    assert values["BATCHBRIDGE_WEBHOOK_SECRET_ARN"] == SECRET + "WebhookSigningSecret-AbCdEf"


def test_a_stack_without_an_output_is_refused() -> None:
    stack = json.loads(json.dumps(STACK))
    stack["Outputs"] = [o for o in stack["Outputs"] if o["OutputKey"] != "OwnerSecretArn"]
    with pytest.raises(LOCAL_ENV.Unresolved, match="OwnerSecretArn"):
        LOCAL_ENV.env_json(stack)


def test_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps(STACK))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "stack.json")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == LOCAL_ENV.env_json(STACK)


def test_the_readmes_env_json_is_what_the_script_writes() -> None:
    """infra/README.md shows the env.json of this example stack: complete, and current with the template."""
    readme = (ROOT / "infra" / "README.md").read_text()
    shown = re.search(r"<!-- env.json -->\s*```json\n(.*?)```", readme, re.S)
    assert shown, "infra/README.md lost its env.json example"
    assert json.loads(shown.group(1)) == LOCAL_ENV.env_json(STACK), (
        "regenerate it: print(json.dumps(env_json(STACK), indent=2)) with tests/infra/test_local_env.py's STACK"
    )
