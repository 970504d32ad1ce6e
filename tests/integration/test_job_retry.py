"""A background job that fails comes back after a short backoff (30 s, doubling), not after its queue's visibility
timeout (an hour for the work queue), through real SQS semantics (moto)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from batchbridge.handlers import executor_dead_letters, finalizer
from batchbridge.store import queue as work_queue
from tests.integration.apigw import LambdaContext


class FailingJobs:
    def run(self, kind: str, batch_id: str, deadline: float | None = None) -> None:
        raise RuntimeError("the provider is down")


class FailingGateway:
    jobs = FailingJobs()


def received_event(queue_url: str, queue_name: str) -> tuple[dict[str, Any], str]:
    """One message received from the queue (its visibility timeout now runs), as Lambda delivers it."""
    message = boto3.client("sqs").receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"][0]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"]},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue_name}",
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}, message["MessageId"]


@pytest.mark.parametrize(
    ("entry", "body"),
    [
        (finalizer, {"kind": "finalize", "batch_id": "batch_0123"}),
        (executor_dead_letters, {"kind": "chunk", "batch_id": "batch_0123#1"}),  # (its queue: not FIFO here)
    ],
)
def test_a_failed_job_returns_after_its_backoff(
    aws: None, monkeypatch: pytest.MonkeyPatch, entry: Any, body: Any
) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs-retry", Attributes={"VisibilityTimeout": "3600"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    monkeypatch.setattr(entry, "default_gateway", FailingGateway)
    monkeypatch.setattr(work_queue, "RETRY_FIRST_SECONDS", 1)  # 120 s in the deployment

    event, message_id = received_event(url, "jobs-retry")
    with pytest.raises(BatchProcessingError):  # every record failed: Powertools fails the invocation
        entry.handler(event, LambdaContext())
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # not at once
    time.sleep(1.3)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [message["MessageId"] for message in again] == [message_id]  # well before the hour
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_the_backoff_doubles_up_to_fifteen_minutes() -> None:
    assert [work_queue.retry_delay_seconds(count) for count in range(1, 7)] == [120, 240, 480, 900, 900, 900]


def test_a_fifo_queues_failed_chunk_keeps_its_visibility(aws: None) -> None:
    """openai-compatible chunks (FIFO): three failures dead-letter a chunk into error lines, so no short retry."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="chunks.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "3600"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    work_queue.retry_later(sqs, url, message["ReceiptHandle"], 1)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # still invisible: no ChangeMessageVisibility


def test_the_queue_url_is_the_configured_one_when_it_names_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from batchbridge.handlers._retry import queue_url

    china = "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/batchbridge-work"
    monkeypatch.setenv("BATCHBRIDGE_WORK_QUEUE_URL", china)
    record = SQSRecord({"eventSourceARN": "arn:aws-cn:sqs:cn-north-1:123456789012:batchbridge-work"})
    assert queue_url(record) == china
    other = SQSRecord({"eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:another"})
    assert queue_url(other) == "https://sqs.us-east-1.amazonaws.com/123456789012/another"
