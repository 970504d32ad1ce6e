"""Write the env.json of `sam local invoke` / `sam local start-api --env-vars env.json`, against a deployed stack.

sam local sets only the variables template.yaml declares, and resolves none of its references to resources: left
alone, BATCHBRIDGE_TABLE would be the word "Table" and BATCHBRIDGE_OWNER_SECRET_ARN the word "OwnerSecret" (which
then fails to read, loudly). This gives every declared variable of every function its deployed value, from the
stack's outputs and parameters, in one "Parameters" object (a variable has the same value in every function that
declares it). Secrets stay in Secrets Manager: only their ARNs go into the file, read with your credentials.

    aws cloudformation describe-stacks --stack-name batchbridge --query 'Stacks[0]' > stack.json
    .venv/bin/python infra/local_env.py stack.json > env.json
    # or, with boto3 and your credentials:  .venv/bin/python infra/local_env.py --stack-name batchbridge > env.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent

# What a function's environment refers to -> the stack output holding its deployed value.
OUTPUT_OF = {
    "Table": "TableName",
    "Bucket": "BucketName",
    "ApiKeysSecret": "ApiKeysSecretArn",
    "ProviderKeysSecret": "ProviderKeysSecretArn",
    "OwnerSecret": "OwnerSecretArn",
    "CompatKeysSecret": "CompatKeysSecretArn",
    "WebhookSigningSecret": "WebhookSecretArn",
    "WorkQueue": "WorkQueueUrl",
    "CompatQueue": "CompatQueueUrl",
    "CredentialsKey": "CredentialsKeyArn",  # a key's ARN serves wherever its id does
    "BedrockServiceRole.Arn": "BedrockServiceRoleArn",
}


def _lint_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batchbridge_lint_translated", HERE / "lint_translated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def function_environments(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each function's environment as CloudFormation gets it (Globals merged in by SAM)."""
    lint = _lint_module()
    translated = lint.translate(template if template is not None else lint.source())
    return {
        name: resource["Properties"].get("Environment", {}).get("Variables", {})
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


class Unresolved(ValueError):
    pass


def env_json(stack: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """env.json for ``stack`` (a describe-stacks entry: its Outputs and Parameters)."""
    template = template if template is not None else _lint_module().source()
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # the stack's values, else the template's defaults
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters |= {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    conditions = {"HasWebhook": bool(parameters.get("WebhookUrl"))}

    def resolve(value: Any, variable: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            target = None
            if function == "Ref":
                target = argument
            elif function == "Fn::GetAtt":
                target = ".".join(argument) if isinstance(argument, list) else argument
            if target in OUTPUT_OF:
                if OUTPUT_OF[target] not in outputs:
                    raise Unresolved(f"{variable}: the stack has no output {OUTPUT_OF[target]} (is it deployed?)")
                return str(outputs[OUTPUT_OF[target]])
            if function == "Ref" and argument in parameters:
                if parameters[argument] == "****":
                    raise Unresolved(f"{variable}: parameter {argument} is NoEcho")
                return str(parameters[argument])
            if function == "Fn::If" and argument[0] in conditions:
                return resolve(argument[1] if conditions[argument[0]] else argument[2], variable)
        raise Unresolved(f"{variable}: cannot resolve {json.dumps(value)}")

    resolved: dict[str, str] = {}
    for function, variables in function_environments(template).items():
        for variable, value in variables.items():
            text = resolve(value, f"{function}.{variable}")
            if resolved.setdefault(variable, text) != text:
                raise Unresolved(f"{variable} differs between functions: give it per function")
    return {"Parameters": dict(sorted(resolved.items()))}


def describe_stack(name: str) -> dict[str, Any]:
    import boto3

    stack: dict[str, Any] = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("stack_json", nargs="?", type=Path, help="`describe-stacks --query 'Stacks[0]'` output")
    source.add_argument("--stack-name", help="read the stack with boto3 instead")
    args = parser.parse_args(argv)
    stack = describe_stack(args.stack_name) if args.stack_name else json.loads(args.stack_json.read_text())
    try:
        document = env_json(stack)
    except Unresolved as exc:
        print(f"local_env: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
