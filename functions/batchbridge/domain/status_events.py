"""Batches reaching a status, told to whoever listens (the Lambda entry points count them as a metric:
handlers._metrics). A listener's failure never fails the write that changed the status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)
LISTENERS: list[Callable[[Any], None]] = []  # each called with the BatchRecord just written


def announce(record: Any) -> None:
    for listener in LISTENERS:
        try:
            listener(record)
        except Exception:
            logger.warning("a batch status listener failed", exc_info=True)
