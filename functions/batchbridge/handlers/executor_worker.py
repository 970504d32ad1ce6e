"""Lambda entry point of the executor's worker (function CompatWorkerFunction; it runs the openai-compatible
batches): SQS messages ``{"kind": "chunk", "batch_id": "<batch>#<n>"}``, one chunk of a self-run batch per message
(its own queue, and a reserved concurrency of its own).

A chunk that fails is reported back (partial batch failure), so SQS redelivers it and the rerun skips the
requests already answered; after the queue's maxReceiveCount it moves to the dead-letter queue, whose consumer
(executor_dead_letters) turns its unanswered requests into error lines.
"""

from __future__ import annotations

from batchbridge.handlers.finalizer import handler

__all__ = ["handler"]
