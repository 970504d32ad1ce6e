"""What every Lambda handler is: Mangum over an app holding one route, with Powertools logs, metrics and traces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from batchbridge.api.app import build_app
from batchbridge.handlers import imported, resume
from batchbridge.handlers._metrics import count_status_changes
from batchbridge.handlers._observability import logger as new_logger
from batchbridge.handlers._observability import metrics as new_metrics
from batchbridge.handlers._observability import traced_handler

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def lambda_handler(operation: str) -> Handler:
    logger = new_logger()
    metrics = new_metrics()
    asgi = Mangum(build_app([operation], inline_blocking=True), lifespan="off")
    count_status_changes()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics
    @traced_handler(operation)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.add_dimension(name="operation", value=operation)
        try:
            response: dict[str, Any] = asgi(event, context)  # type: ignore[arg-type]  # same shape, other class
        finally:
            resume()  # after the first invocation, which loads the clients and provider adapters it needs
        status = int(response.get("statusCode", 500))
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="ClientErrors" if status < 500 else "ServerErrors",
            unit=MetricUnit.Count,
            value=1 if status >= 400 else 0,
        )
        return response

    imported()
    return handler
