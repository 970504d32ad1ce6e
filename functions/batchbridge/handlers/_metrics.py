"""The gateway's own metrics for the dashboard (namespace POWERTOOLS_METRICS_NAMESPACE): ``Batches``, a batch
reaching a status, and ``ActiveBatches``, those not yet final at each sweep, both by provider and status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from batchbridge.domain import status_events
from batchbridge.handlers._observability import NAMESPACE


def _count(name: str, value: int, provider: str, status: str) -> None:
    # one metric per provider and status: each its own dimension set, so each its own EMF line
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="provider", value=provider)
        metric.add_dimension(name="status", value=status)


def batch_reached_status(record: Any) -> None:
    _count("Batches", 1, record.provider, record.status)


def count_status_changes() -> None:
    if batch_reached_status not in status_events.LISTENERS:
        status_events.LISTENERS.append(batch_reached_status)


def active_batches(counts: Mapping[tuple[str, str], int]) -> None:
    for (provider, status), value in sorted(counts.items()):
        _count("ActiveBatches", value, provider, status)
