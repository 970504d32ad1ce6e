"""Translate template.yaml to plain CloudFormation offline (aws-sam-translator, as `sam deploy` has CloudFormation do
it) and lint the result with cfn-lint: rules such as E3505 (queue visibility against its consumer's timeout) only
see the resources SAM generates.

    .venv/bin/python infra/lint_translated.py [--template template.yaml] [--output translated.json]

Exits 1 on any cfn-lint error (or when the translation fails); warnings and informational findings are printed
and allowed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
# What `sam package` does to CodeUri: the translator accepts only S3 code locations.
ARTIFACTS = "s3://batchbridge-lint-artifacts/functions.zip"
REGION = "us-east-1"


def source(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as written (short tags such as !Ref become Ref/Fn::* mappings)."""
    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The plain CloudFormation SAM makes of ``template``, without AWS (the template names no managed policy that
    would need IAM to resolve)."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class OfflineManagedPolicies(ManagedPolicyLoader):
        def __init__(self) -> None:
            pass

        def load(self) -> dict[str, str]:
            return {}

    packaged = copy.deepcopy(template)
    packaged["Globals"]["Function"]["CodeUri"] = ARTIFACTS
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION  # the translator resolves AWS::Partition from it
    try:
        translated: dict[str, Any] = transform(packaged, {}, OfflineManagedPolicies())
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous
    return translated


def cfn_lint(template: dict[str, Any]) -> list[dict[str, Any]]:
    """cfn-lint's findings on ``template`` (its JSON output), in this interpreter's environment."""
    executable = Path(sys.executable).with_name("cfn-lint")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "cfnlint"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "translated.json"
        path.write_text(json.dumps(template, indent=1))
        done = subprocess.run(
            [*command, "--format", "json", "--regions", REGION, "--", str(path)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode & 1 or not done.stdout.strip():  # 1: cfn-lint itself failed
        if done.returncode == 0:
            return []
        raise RuntimeError(f"cfn-lint failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def describe(finding: dict[str, Any]) -> str:
    rule = finding.get("Rule", {}).get("Id", "?")
    start = finding.get("Location", {}).get("Start", {})
    path = "/".join(str(part) for part in finding.get("Location", {}).get("Path", []) or [])
    return f"{finding.get('Level', '?')} {rule} {path or start}: {finding.get('Message', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--output", type=Path, help="also write the translated template here (JSON)")
    args = parser.parse_args(argv)

    translated = translate(source(args.template))
    if args.output:
        args.output.write_text(json.dumps(translated, indent=1) + "\n")
    findings = cfn_lint(translated)
    for finding in findings:
        print(describe(finding))
    errors = [finding for finding in findings if finding.get("Level") == "Error"]
    print(
        f"cfn-lint on the translated template ({len(translated['Resources'])} resources): "
        f"{len(errors)} errors, {len(findings) - len(errors)} warnings or notes"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
