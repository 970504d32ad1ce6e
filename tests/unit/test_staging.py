"""Staging paths: what a tenant may name as an S3 prefix, and which keys count as a file's own."""

from __future__ import annotations

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.staging import (
    StagedObject,
    check_prefix,
    is_staged_input_of,
    nested,
    record_ids_of,
    split_s3_uri,
    staged_input,
)

FILE = "file-" + "a" * 32


@pytest.mark.parametrize(
    "prefix",
    [
        "files/x?",
        "files/x#",
        "../x",
        "a/../b",
        "..",
        "%2e%2e/x",
        "/abs",
        "a b",
        "tab\tx",
        "ü",
        "a\nb",
        "team\n",
        "x" * 257,
    ],
)
def test_prefixes_s3_or_a_uri_parser_could_read_otherwise_are_refused(prefix: str) -> None:
    with pytest.raises(GatewayError) as caught:
        check_prefix(prefix, "storage_config.s3.prefix")
    assert caught.value.status == 400 and caught.value.param == "storage_config.s3.prefix"


@pytest.mark.parametrize(("prefix", "kept"), [("batch-input", "batch-input"), ("a/b_c.d/", "a/b_c.d"), ("", "")])
def test_safe_prefixes_are_kept(prefix: str, kept: str) -> None:
    assert check_prefix(prefix, "p") == kept
    assert check_prefix("x" * 256, "p") == "x" * 256


def test_s3_uris_are_split_without_urlparse() -> None:
    assert split_s3_uri("s3://my-bucket/out/put/", "output_s3_uri") == ("my-bucket", "out/put")
    assert split_s3_uri("s3://my-bucket", "output_s3_uri") == ("my-bucket", "")
    for bad in (
        "s3://my-bucket/out?x",
        "s3://my-bucket/a#b",
        "https://my-bucket/x",
        "s3://Bad_Bucket/x",
        "s3:///x",
        "s3://my-bucket/out\n",
        "s3://my-bucket\n/out",
    ):
        with pytest.raises(GatewayError) as caught:
            split_s3_uri(bad, "output_s3_uri")
        assert caught.value.param == "output_s3_uri"


def test_a_files_own_objects_and_no_others() -> None:
    staged = staged_input("bucket-1", nested("batchbridge/bedrock", "team"), FILE)
    assert staged == StagedObject("bucket-1", f"batchbridge/bedrock/team/{FILE}/input.jsonl")
    assert record_ids_of(staged).key == f"batchbridge/bedrock/team/{FILE}/record_ids.json"
    assert is_staged_input_of(staged, FILE)
    assert is_staged_input_of(StagedObject("bucket-1", f"{FILE}/input.jsonl"), FILE)
    other = "file-" + "b" * 32
    for key in (
        f"batchbridge/bedrock/{other}/input.jsonl",
        f"files/{other}",
        f"batchbridge/bedrock/{other}/input.jsonl#/{FILE}/input.jsonl",
        f"x?/{FILE}/input.jsonl",
        f"../{FILE}/input.jsonl",
        f"/{FILE}/input.jsonl",
        f"{FILE}/input.jsonl/extra",
    ):
        assert not is_staged_input_of(StagedObject("bucket-1", key), FILE), key
    assert not is_staged_input_of(StagedObject("Bad_Bucket", f"p/{FILE}/input.jsonl"), FILE)
