"""The table `batchbridge serve` creates is the table template.yaml deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from batchbridge.store.schema import TABLE_KEYS

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
