"""The table and bucket rules `batchbridge serve` creates are the ones template.yaml deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from batchbridge.store.schema import TABLE_KEYS, lifecycle_rules

ROOT = Path(__file__).resolve().parents[2]


def _sorted(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: item[key])


def test_table_keys_match_the_template() -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    table = template["Resources"]["Table"]["Properties"]
    assert _sorted(table["AttributeDefinitions"], "AttributeName") == _sorted(
        TABLE_KEYS["AttributeDefinitions"], "AttributeName"
    )
    assert table["KeySchema"] == TABLE_KEYS["KeySchema"]
    deployed = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    for index in TABLE_KEYS["GlobalSecondaryIndexes"]:
        assert deployed[index["IndexName"]]["KeySchema"] == index["KeySchema"]
        assert deployed[index["IndexName"]]["Projection"] == index["Projection"]


def test_the_templates_lifecycle_rules_are_the_embedded_stores() -> None:
    """template.yaml declares by hand what store/schema.py applies to the embedded and test buckets."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    declared = template["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    def as_cloudformation(rule: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"Id": rule["ID"], "Status": rule["Status"]}
        if "AbortIncompleteMultipartUpload" in rule:
            out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        if "Expiration" in rule:
            out["ExpirationInDays"] = rule["Expiration"]["Days"]
        if rule["Filter"].get("Prefix"):
            out["Prefix"] = rule["Filter"]["Prefix"]
        if "Tag" in rule["Filter"]:
            out["TagFilters"] = [rule["Filter"]["Tag"]]
        return out

    assert declared == [as_cloudformation(rule) for rule in lifecycle_rules()]
