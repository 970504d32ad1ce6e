"""The table and bucket the gateway needs, created where `batchbridge serve` finds them missing.

Keep in step with template.yaml (a test compares the two).
"""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import ClientError

from batchbridge.domain.records import BLOB_EXPIRY_MAX_DAYS
from batchbridge.store.blobs import EXPIRY_TAG
from batchbridge.store.records import ACTIVE_INDEX, OWNER_INDEX

TABLE_KEYS: Final[dict[str, Any]] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "owner_kind", "AttributeType": "S"},
        {"AttributeName": "sort_key", "AttributeType": "S"},
        {"AttributeName": "active", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": OWNER_INDEX,
            "KeySchema": [
                {"AttributeName": "owner_kind", "KeyType": "HASH"},
                {"AttributeName": "sort_key", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": ACTIVE_INDEX,
            "KeySchema": [
                {"AttributeName": "active", "KeyType": "HASH"},
                {"AttributeName": "sort_key", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
    ],
}


def ensure_table(client: Any, name: str) -> None:
    try:
        client.describe_table(TableName=name)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLE_KEYS)
    client.get_waiter("table_exists").wait(TableName=name)
    # Expired files' records (and idempotency items) carry `expiration`: DynamoDB removes them after it.
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"})


def lifecycle_rules() -> list[dict[str, Any]]:
    """The bucket's lifecycle rules, as template.yaml declares them (a test keeps both the same): leftovers of
    multipart uploads and Upload parts go after a day, what Bedrock jobs wrote after 30 days (the finalizer removes it
    sooner); an object tagged to expire after N days, after N days."""
    rules: list[dict[str, Any]] = [
        {
            "ID": "AbortIncompleteMultipartUploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {"ID": "ExpireUploadParts", "Status": "Enabled", "Filter": {"Prefix": "uploads/"}, "Expiration": {"Days": 1}},
        {
            "ID": "ExpireBedrockOutput",
            "Status": "Enabled",
            "Filter": {"Prefix": "batchbridge/bedrock-output/"},
            "Expiration": {"Days": BLOB_EXPIRY_MAX_DAYS},
        },
    ]
    for days in range(1, BLOB_EXPIRY_MAX_DAYS + 1):
        rules.append(
            {
                "ID": f"ExpireAfter{days}Days",
                "Status": "Enabled",
                "Filter": {"Tag": {"Key": EXPIRY_TAG, "Value": str(days)}},
                "Expiration": {"Days": days},
            }
        )
    return rules


def ensure_bucket(client: Any, name: str) -> None:
    try:
        client.head_bucket(Bucket=name)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = client.meta.region_name
    if region and region != "us-east-1":
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    else:
        client.create_bucket(Bucket=name)
    client.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle_rules()})
