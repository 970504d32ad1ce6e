"""The composition root: settings, stores and provider adapters wired into the services."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.owner import owner_of, tenant_owner
from batchbridge.domain.ports import (
    BlobStore,
    Caller,
    Credentials,
    ProviderRegistry,
    RecordStore,
    Vault,
    WebhookSender,
    WorkQueue,
)
from batchbridge.domain.services.files import FileService
from batchbridge.store.keys import KeySource

if TYPE_CHECKING:
    from batchbridge.domain.executor import BatchExecutor, RequestSender
    from batchbridge.domain.services.batches import BatchService
    from batchbridge.domain.services.jobs import BatchJobs
    from batchbridge.domain.services.uploads import UploadService

logger = logging.getLogger(__name__)


def _ascii_header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name, "").strip()
    if value and not (value.isascii() and value.isprintable()):
        raise GatewayError(400, f"Invalid {name} header: it must be printable ASCII.", param=name)
    return value or None


def now_ns() -> int:
    return time.time_ns()


@dataclass
class Gateway:
    settings: Settings
    records: RecordStore
    blobs: BlobStore
    providers: ProviderRegistry
    owner_secret: bytes
    vault: Vault
    queue: WorkQueue
    webhook_sender: WebhookSender | None = None
    key_source: KeySource | None = None  # set in gateway-key mode
    idempotency_store_factory: Callable[[], Any] | None = None  # Powertools persistence on our table
    # the executor (the batches the gateway runs itself), built on first use; None: this gateway runs none
    executor_factory: Callable[[], BatchExecutor] | None = None

    @cached_property
    def idempotency_store(self) -> Any:
        if self.idempotency_store_factory is None:
            raise RuntimeError("this gateway keeps no idempotency records")
        return self.idempotency_store_factory()

    # Services are built on first use, so a Lambda function imports only the ones its operation needs.
    def __post_init__(self) -> None:
        if self.settings.webhook_url:
            if not self.settings.webhook_secret:
                raise RuntimeError(
                    "BATCHBRIDGE_WEBHOOK_URL is set, so BATCHBRIDGE_WEBHOOK_SECRET (whsec_...) or its _ARN must be."
                )
            from batchbridge.domain import webhooks

            webhooks.secret_key(self.settings.webhook_secret)  # fail at start on a malformed secret

    @property
    def executor(self) -> BatchExecutor | None:
        """The executor its background jobs run chunks on (the openai-compatible provider's batches)."""
        return None if self.executor_factory is None else self.executor_factory()

    @cached_property
    def files(self) -> FileService:
        return FileService(
            self.records,
            self.blobs,
            self.providers,
            now_ns,
            inline_max_bytes=self.settings.inline_content_max_bytes,
            max_requests_per_batch=self.settings.max_requests_per_batch,
        )

    @cached_property
    def batches(self) -> BatchService:
        from batchbridge.domain.services.batches import BatchService

        fresh_ns = int(self.settings.refresh_seconds * 1e9)
        return BatchService(
            self.records,
            self.blobs,
            self.providers,
            now_ns,
            self.vault,
            self.queue,
            fresh_ns,
            max_requests_per_batch=self.settings.max_requests_per_batch,
        )

    @cached_property
    def uploads(self) -> UploadService:
        from batchbridge.domain.services.uploads import UploadService

        return UploadService(self.records, self.blobs, self.files, now_ns, self.vault, self.queue)

    @cached_property
    def jobs(self) -> BatchJobs:
        from batchbridge.domain.services.jobs import BatchJobs, WebhookConfig

        webhook = None
        if self.settings.webhook_url and self.settings.webhook_secret:
            webhook = WebhookConfig(
                self.settings.webhook_url,
                self.settings.webhook_secret,
                first_backoff_seconds=self.settings.webhook_retry_seconds,
            )
        return BatchJobs(
            self.records,
            self.blobs,
            self.providers,
            self.vault,
            self.queue,
            now_ns,
            webhook=webhook,
            sender=self.webhook_sender,
            executor=self.executor_factory,
            max_requests_per_batch=self.settings.max_requests_per_batch,
        )

    def caller(self, headers: Mapping[str, str]) -> Caller:
        """The caller from its bearer key: the key goes to the provider, its keyed hash owns records."""
        scheme, _, key = headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise GatewayError(
                401,
                "Missing API key: send it as 'Authorization: Bearer <key>' (the OpenAI SDK's api_key).",
                code="missing_api_key",
            )
        if not key.isascii() or not key.isprintable():
            raise GatewayError(401, "Invalid API key: it must be printable ASCII.", code="invalid_api_key")
        if self.key_source is not None:
            # Gateway-key mode: the key must be one of ours (compared in constant time); providers get the
            # gateway's own keys, so nothing of the client's goes upstream.
            accepted, tenant = False, None
            for gateway_key, named in self.key_source.gateway_keys().items():
                match = hmac.compare_digest(key.encode(), gateway_key.encode())
                accepted |= match
                if match:
                    tenant = named
            if not accepted:
                raise GatewayError(
                    401,
                    "Incorrect API key provided: this gateway takes its own API keys, not a provider's.",
                    type="authentication_error",
                    code="invalid_api_key",
                )
            # A named tenant owns its records whichever of its keys is used: its keys can be rotated.
            owner = tenant_owner(tenant, self.owner_secret) if tenant is not None else owner_of(key, self.owner_secret)
            return Caller(owner=owner, credentials=Credentials(api_key=""))
        credentials = Credentials(
            api_key=key,
            organization=_ascii_header(headers, "openai-organization"),
            project=_ascii_header(headers, "openai-project"),
        )
        return Caller(owner=owner_of(key, self.owner_secret), credentials=credentials)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        aws: Any = None,
        queue: WorkQueue | None = None,
        chunk_queue: WorkQueue | None = None,
    ) -> Gateway:
        """Wire the gateway.

        ``aws`` is the embedded store (its own endpoint); None means boto3's environment. ``queue``
        is where background jobs go; None means the SQS queue at BATCHBRIDGE_WORK_QUEUE_URL. ``chunk_queue``: where
        the executor's chunks go; None means BATCHBRIDGE_COMPAT_QUEUE_URL's SQS queue, else ``queue``.
        """
        from batchbridge import aws as aws_clients
        from batchbridge.providers.registry import Parts, Registry, factories
        from batchbridge.store.blobs import S3BlobStore
        from batchbridge.store.keys import compat_key, with_secrets
        from batchbridge.store.queue import SqsWorkQueue
        from batchbridge.store.records import DynamoRecordStore
        from batchbridge.store.vault import KmsVault, NoVault
        from batchbridge.tracing import traced

        def client(service: str) -> Any:
            # endpoints, region and credentials from boto3's own environment (AWS_ENDPOINT_URL_*, …)
            return aws.client(service) if aws is not None else aws_clients.client(service)

        settings = with_secrets(settings)
        dynamodb = client("dynamodb")
        key_source = KeySource(settings) if settings.gateway_keys_mode else None
        if queue is None:
            if not settings.work_queue_url:
                raise RuntimeError("BATCHBRIDGE_WORK_QUEUE_URL must name the SQS queue of background jobs.")
            queue = traced(SqsWorkQueue(lambda: client("sqs"), settings.work_queue_url), "queue")
        if settings.owner_secret:
            secret = settings.owner_secret.encode()
        elif settings.storage == "embedded":
            # The embedded store lives as long as the process, so a per-process key loses nothing.
            secret = secrets.token_bytes(32)
        else:
            raise RuntimeError(
                "BATCHBRIDGE_OWNER_SECRET (or BATCHBRIDGE_OWNER_SECRET_ARN) must be set with BATCHBRIDGE_STORAGE=aws: "
                "it keys the owner hashes of stored records, so it has to stay the same across restarts."
            )
        blobs = traced(S3BlobStore(lambda: client("s3"), settings.bucket), "blobs")
        # Chunks of self-run batches: their own SQS queue in the deployment (a worker with its own concurrency),
        # the same in-process queue under `serve`.
        if chunk_queue is None:
            chunk_queue = queue
            if settings.executor_queue_url:
                chunk_queue = traced(SqsWorkQueue(lambda: client("sqs"), settings.executor_queue_url), "chunk_queue")
        chunks: WorkQueue = chunk_queue  # (narrowed for the closure below)

        @cache
        def executor() -> BatchExecutor:
            # One executor, for the background jobs (its chunks) and the providers whose batches it runs (their
            # provider face): the endpoints openai-compatible configures, over its HTTP sender, and Bedrock's
            # on-demand runs (a target per region and model, made from its name), over InvokeModel. Each sender is
            # built on its first send.
            from batchbridge.domain.executor import BatchExecutor
            from batchbridge.domain.executor.routing import RoutingSender, Targets
            from batchbridge.providers import bedrock_on_demand
            from batchbridge.providers.compat import send_targets
            from batchbridge.store.executor_state import DynamoChunkStore

            def http_sender() -> RequestSender:
                from batchbridge.providers.compat import HttpSender

                return HttpSender(key_of=lambda variable: compat_key(settings, variable))

            def bedrock_runtime_sender() -> RequestSender:
                from batchbridge.providers.bedrock_runtime import BedrockRuntimeSender

                return BedrockRuntimeSender(parts.aws_client)  # boto3's environment, as Bedrock's control plane

            built = BatchExecutor(
                Targets(
                    send_targets(settings.compat_endpoints),
                    {bedrock_on_demand.TARGET_KIND: bedrock_on_demand.send_target},
                ),
                store=traced(DynamoChunkStore(dynamodb, settings.table), "executor_state"),
                blobs=blobs,
                queue=chunks,
                sender=RoutingSender({"http": http_sender, bedrock_on_demand.TARGET_KIND: bedrock_runtime_sender}),
                clock=now_ns,
                stall_seconds=settings.executor_stall_seconds,
            )
            return traced(built, "executor")

        # Bedrock's AWS clients are boto3's own (its environment), never the embedded store's.
        parts = Parts(aws_client=aws_clients.client, executor=executor)

        return cls(
            settings=settings,
            records=traced(DynamoRecordStore(dynamodb, settings.table), "records"),
            blobs=blobs,
            providers=Registry(
                settings, factories(parts), provider_key=key_source.provider_key if key_source else None
            ),
            owner_secret=secret,
            vault=NoVault()
            if key_source is not None
            else traced(KmsVault(lambda: client("kms"), settings.kms_key), "vault"),
            queue=queue,
            webhook_sender=_webhook_sender() if settings.webhook_url else None,
            key_source=key_source,
            idempotency_store_factory=lambda: _idempotency_store(settings.table, dynamodb),
            executor_factory=executor,
        )


def _idempotency_store(table: str, dynamodb: Any) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    # The records' own table: its key is `pk`; the idempotency items' keys cannot meet FILE#/BATCH#/… items.
    return DynamoDBPersistenceLayer(table_name=table, key_attr="pk", boto3_client=dynamodb)


def _webhook_sender() -> WebhookSender:
    from batchbridge.notify import HttpxWebhookSender

    return HttpxWebhookSender()


@cache
def default_gateway() -> Gateway:
    """Lambda: the gateway built once per execution environment, from the function's environment."""
    return Gateway.from_settings(Settings.from_env())
