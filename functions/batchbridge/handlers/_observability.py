"""What every Lambda function logs, counts and traces with: Powertools' Logger and Metrics, named from the
function's environment, and X-Ray traces (``batchbridge.tracing``)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

from batchbridge import tracing

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "batchbridge")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "batchbridge")
traced_handler = tracing.handler


def logger() -> Logger:
    # The logger named after the service is the parent of every `batchbridge.*` module logger.
    return Logger(service=SERVICE)


def metrics() -> Metrics:
    return Metrics(namespace=NAMESPACE)
