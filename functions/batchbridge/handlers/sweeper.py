"""Lambda entry point of the sweeper (EventBridge Scheduler): refresh every batch not yet final."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchbridge.gateway import default_gateway
from batchbridge.handlers import started

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "batchbridge"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "batchbridge"))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    swept = default_gateway().jobs.sweep()
    metrics.add_metric(name="SweptBatches", unit=MetricUnit.Count, value=swept)
    logger.info("swept active batches", extra={"swept": swept})
    return {"swept": swept}


started()  # see batchbridge.handlers
