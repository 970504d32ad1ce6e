"""Lambda entry point of the sweeper (EventBridge Scheduler): a refresh job queued for every batch not yet final."""

from __future__ import annotations

import collections
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchbridge.domain.records import BatchRecord
from batchbridge.gateway import default_gateway
from batchbridge.handlers import _metrics as batch_metrics
from batchbridge.handlers import _observability as observability
from batchbridge.handlers import started

logger = observability.logger()
metrics = observability.metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@observability.traced_handler("sweeper")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # Queue-only work, within the function's time: the batches it does not reach, the next sweep does.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    active: collections.Counter[tuple[str, str]] = collections.Counter()  # (provider, status) -> batches

    def seen(record: BatchRecord) -> None:
        active[(record.provider, record.status)] += 1

    swept = default_gateway().jobs.sweep(deadline, seen=seen)
    batch_metrics.active_batches(active)
    metrics.add_metric(name="SweptBatches", unit=MetricUnit.Count, value=swept)
    logger.info("swept active batches", extra={"swept": swept})
    return {"swept": swept}


started()  # see batchbridge.handlers
