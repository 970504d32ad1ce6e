"""A background job that failed comes back soon: SQS messages of the work, chunk and dead-letter queues."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from batchbridge.store.queue import retry_later


def retry_soon(record: SQSRecord) -> None:
    """A failed message comes back after a short backoff, not after the queue's (long) visibility timeout."""
    from batchbridge.store import aws as aws_clients

    receive_count = int(record.attributes.approximate_receive_count or 1)
    retry_later(aws_clients.client("sqs"), record.queue_url, record.receipt_handle, receive_count)
