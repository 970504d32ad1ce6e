"""Bedrock's runtime ``InvokeModel`` as the executor's ``RequestSender`` (targets of kind ``bedrock-runtime``: the
on-demand runs of ``providers.bedrock_on_demand``). Loaded only where a chunk of such a run is sent.

Each request's body is its record's ``modelInput`` as it is; the answer, the model's native output, is stored as a
Bedrock record (``{recordId, modelOutput}``), a refusal as an error record (``{recordId, error: {errorCode,
errorMessage}}``), which the Bedrock adapter reads as it reads a job's records. The retries are this sender's, not
botocore's: throttling and Bedrock's passing failures are waited out, a request is sent again when it surely never
arrived, and once at most when its answer was lost (MAX_SENDS_UNANSWERED: never a blind series of paid
generations). The client comes from boto3's environment (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, …), one per region.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from batchbridge.domain import codec
from batchbridge.domain.executor import MAX_SENDS_UNANSWERED, SendTarget, views
from batchbridge.providers import bedrock_on_demand, http
from batchbridge.providers.bedrock import shown

ATTEMPTS: Final = 6  # per request: throttling and 5xx are waited out, well inside a worker's run
# InvokeModel's exceptions that say "not now" (throttled, or a passing failure of the service): sent again.
RETRIED: Final = frozenset(
    {"ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException"}
)
CONTENT_TYPE: Final = "application/json"


class BedrockRuntimeSender:
    """The executor's sender to Bedrock's runtime (see the module)."""

    def __init__(self, make: Callable[..., Any] | None = None) -> None:
        """``make``: boto3 clients, as ``batchbridge.aws.client`` makes them (service, keyword arguments)."""
        if make is None:
            from batchbridge import aws

            make = aws.client
        self._make = make
        self._clients: dict[tuple[str | None, float], Any] = {}
        self._lock = threading.Lock()

    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        """(``RequestSender.send``) InvokeModel of model ``path`` with ``body``: its answer or refusal as a record in
        the executor's line (``custom_id``: the record's ID)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
        )

        client = self._client(target)
        payload = codec.dumps(body)
        sent = 0  # sends that may have reached Bedrock: a generation it may charge for
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                answered = client.invoke_model(
                    modelId=path, body=payload, contentType=CONTENT_TYPE, accept=CONTENT_TYPE
                )
                raw = answered["body"].read()
            except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never reached it
                if not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return views.failed_line(custom_id, f"Bedrock could not be reached ({type(exc).__name__}).")
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code") or "InternalServerException")
                if code in RETRIED and not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                metadata = exc.response.get("ResponseMetadata", {})
                status = int(metadata.get("HTTPStatusCode") or 500)
                message = shown(str(error.get("Message") or code))
                return bedrock_on_demand.refusal(custom_id, status, code, message, str(metadata.get("RequestId") or ""))
            except BotoCoreError as exc:
                # Sent, and no answer read (a read timeout, a dropped connection, a body cut short): Bedrock may be
                # generating it still. One more send at most.
                sent += 1
                if sent < MAX_SENDS_UNANSWERED and not last:
                    http.sleep(http.retry_delay(attempt, None) or 0.0)
                    continue
                return views.failed_line(
                    custom_id, f"Bedrock did not answer ({type(exc).__name__}) after {sent} sends."
                )
            try:
                output = codec.loads(raw)
            except ValueError:
                output = None
            if not isinstance(output, dict):
                return views.failed_line(custom_id, "Bedrock answered with a body that is not a JSON object.")
            request_id = str(answered.get("ResponseMetadata", {}).get("RequestId") or "")
            return bedrock_on_demand.answer(custom_id, output, request_id)
        raise AssertionError("unreachable")

    def _client(self, target: SendTarget) -> Any:
        """The runtime client of the target's region, its timeouts the target's; botocore retries nothing (see the
        module)."""
        key = (target.region, target.timeout_seconds)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from botocore.config import Config

                config = Config(
                    connect_timeout=min(target.timeout_seconds, 10.0),
                    read_timeout=target.timeout_seconds,
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
                regional = {"region_name": target.region} if target.region else {}
                client = self._clients[key] = self._make("bedrock-runtime", config=config, **regional)
            return client
