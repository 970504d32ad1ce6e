"""Lambda entry point of the background jobs: SQS messages ``{"kind", "batch_id"}`` (finalize, notify, refresh,
reconcile, release, submit_batch, start_parts, complete_upload — whose "batch_id" is the upload's ID —; see
BatchJobs.run).

A message whose job fails is reported back (partial batch failure), so SQS redelivers just that
one; after the queue's maxReceiveCount it moves to the dead-letter queue.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchbridge.gateway import default_gateway
from batchbridge.handlers import _observability as observability
from batchbridge.handlers import started
from batchbridge.handlers._metrics import count_status_changes
from batchbridge.handlers._retry import retry_soon

logger = observability.logger()
metrics = observability.metrics()
processor = BatchProcessor(event_type=EventType.SQS)
count_status_changes()


def run_job(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    try:
        _run_job(record, lambda_context)
    except Exception:
        retry_soon(record)
        raise


def _run_job(record: SQSRecord, lambda_context: LambdaContext | None) -> None:
    message = json.loads(record.body)
    kind, batch_id = str(message["kind"]), str(message["batch_id"])
    logger.append_keys(batch_id=batch_id, job=kind)
    deadline = None
    if lambda_context is not None:  # a job that can stop early (a chunk) stops before the function is ended
        deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000
    default_gateway().jobs.run(kind, batch_id, deadline)
    name = "".join(part.capitalize() for part in kind.split("_"))  # complete_upload -> CompleteUploadJobs
    metrics.add_metric(name=f"{name}Jobs", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@observability.traced_handler("jobs")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=run_job, processor=processor, context=context)


started()  # see batchbridge.handlers
