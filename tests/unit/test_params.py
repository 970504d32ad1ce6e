"""Bracket keys from the OpenAI SDK become nested objects again, in one place for every route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai._qs import Querystring

from batchbridge.api.params import json_objects, unflatten
from batchbridge.domain.errors import GatewayError

EXTRAS: dict[str, Any] = {
    "provider": "bedrock",
    "storage_config": {"s3": {"bucket": "your-s3-bucket", "region": "us-west-2", "prefix": "bifrost-batch-output"}},
    "expires_after": {"anchor": "created_at", "seconds": "3600"},
    "tags": ["a", "b"],
    "requests": [{"custom_id": "request-1", "model": "m"}, {"custom_id": "request-2", "model": "m"}],
}


def test_round_trips_what_the_openai_sdk_sends() -> None:
    # The SDK's own serializer for queries and multipart forms (brackets for objects and arrays).
    pairs = Querystring(array_format="brackets").stringify_items(EXTRAS)
    assert ("storage_config[s3][bucket]", "your-s3-bucket") in pairs
    assert unflatten(pairs) == EXTRAS


def test_plain_keys_and_repeats() -> None:
    assert unflatten([("purpose", "batch"), ("limit", "5")]) == {"purpose": "batch", "limit": "5"}
    assert unflatten([("a[0]", "x"), ("a[1]", "y")]) == {"a": ["x", "y"]}
    assert unflatten([("weird[", "v")]) == {"weird[": "v"}


@pytest.mark.parametrize(
    "pairs",
    [
        [("a", "1"), ("a[b]", "2")],
        [("a[b]", "2"), ("a", "1")],
        [("a[]", "1"), ("a[b]", "2")],
    ],
)
def test_conflicting_keys_are_a_400(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(GatewayError) as caught:
        unflatten(pairs)
    assert caught.value.status == 400 and caught.value.param == "a"


def test_lists_of_objects_with_nested_objects() -> None:
    value = {"items": [{"a": {"x": "1"}, "b": "p"}, {"a": {"x": "2"}, "b": "q"}]}
    pairs = Querystring(array_format="brackets").stringify_items(value)
    assert unflatten(pairs) == value


@pytest.mark.parametrize("key", ["x[10000000]", "x[1]", "x[0][5]"])
def test_list_indices_must_come_in_order(key: str) -> None:
    with pytest.raises(GatewayError) as caught:
        unflatten([(key, "1")])
    assert caught.value.status == 400 and caught.value.param == "x"


def test_bounded_size_and_depth() -> None:
    with pytest.raises(GatewayError):
        unflatten([(f"k{i}", "v") for i in range(1001)])
    with pytest.raises(GatewayError):
        unflatten([("a" + "[b]" * 20, "v")])
    with pytest.raises(GatewayError):
        unflatten([("a[0]", "x"), ("a[1]", "y"), ("a[1]", "z")])
    assert unflatten([("a[\u00b2]", "x")]) == {"a": {"\u00b2": "x"}}  # not a digit to int()


def test_json_text_of_an_object_in_a_form_field_is_decoded_at_any_depth() -> None:
    sent = unflatten(
        [("storage_config[s3]", '{"bucket": "b", "region": "us-west-2"}'), ("expires_after", '{"seconds": 3600}')]
    )
    decoded = json_objects(sent | {"purpose": "{not one of the names}"}, ("expires_after", "storage_config"))
    assert decoded == {
        "storage_config": {"s3": {"bucket": "b", "region": "us-west-2"}},
        "expires_after": {"seconds": 3600},
        "purpose": "{not one of the names}",
    }
    with pytest.raises(GatewayError) as caught:
        json_objects({"storage_config": "{oops"}, ("storage_config",))
    assert caught.value.status == 400 and caught.value.param == "storage_config"


@pytest.mark.parametrize("levels", [17, 600, 5000])
def test_json_text_nested_too_deeply_is_a_400_not_a_crash(levels: int) -> None:
    with pytest.raises(GatewayError) as caught:
        json_objects({"storage_config": '{"a":' * levels + "1" + "}" * levels}, ("storage_config",))
    assert caught.value.status == 400 and caught.value.param == "storage_config"


def test_json_text_is_decoded_once() -> None:
    decoded = json_objects(
        {"storage_config": json.dumps({"s3": {"prefix": '{"not": "decoded"}'}})}, ("storage_config",)
    )
    assert decoded["storage_config"]["s3"]["prefix"] == '{"not": "decoded"}'
