"""A background job that failed comes back soon: SQS messages of the work queue (see store.queue)."""

from __future__ import annotations

import os

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from batchbridge.store.queue import retry_later


def retry_soon(record: SQSRecord) -> None:
    """A failed message comes back after a short backoff, not after the queue's (long) visibility timeout."""
    from batchbridge import aws as aws_clients

    receive_count = int(record.attributes.approximate_receive_count or 1)
    retry_later(aws_clients.client("sqs"), queue_url(record), record.receipt_handle, receive_count)


def queue_url(record: SQSRecord) -> str:
    """The URL of the queue a message came from: the function's own setting when it names that queue (right in
    every partition), else made from the queue's ARN (Powertools' form, the ``aws`` partition's)."""
    name = record.event_source_arn.rsplit(":", 1)[-1]
    for variable in ("BATCHBRIDGE_WORK_QUEUE_URL", "BATCHBRIDGE_COMPAT_QUEUE_URL"):
        configured = os.environ.get(variable, "")
        if configured.rsplit("/", 1)[-1] == name:
            return configured
    return record.queue_url
