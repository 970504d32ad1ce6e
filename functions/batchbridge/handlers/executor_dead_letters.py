"""Lambda entry point of the executor's dead-letter queue (function CompatDeadLettersFunction): an
openai-compatible chunk that kept failing becomes error lines for its unanswered requests, and its batch goes on
with the next chunk (``chunk_dead``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchbridge.gateway import default_gateway
from batchbridge.handlers import _observability as observability
from batchbridge.handlers import started
from batchbridge.handlers._retry import retry_soon
from batchbridge.store.queue import DEAD_LETTER_JOBS

logger = observability.logger()
processor = BatchProcessor(event_type=EventType.SQS)


def settle(record: SQSRecord) -> None:
    try:
        _settle(record)
    except Exception:
        retry_soon(record)
        raise


def _settle(record: SQSRecord) -> None:
    message = json.loads(record.body)
    kind, ref = str(message["kind"]), str(message["batch_id"])
    dead = DEAD_LETTER_JOBS.get(kind)
    if dead is None:
        logger.warning("dead letter of a %s job left as it is", kind, extra={"ref": ref})
        return
    logger.append_keys(batch_id=ref, job=dead)
    default_gateway().jobs.run(dead, ref)


@logger.inject_lambda_context(clear_state=True)
@observability.traced_handler("executor_dead_letters")
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=settle, processor=processor, context=context)


started()  # see batchbridge.handlers
