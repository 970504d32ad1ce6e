"""Amazon Bedrock batch inference (model invocation jobs) behind the OpenAI Files and Batch API.

Uploads are converted, line by line, into Bedrock records staged in the account's S3 (the bucket
Bedrock reads: ``storage_config.s3`` or BATCHBRIDGE_BEDROCK_BUCKET); batches are model invocation
jobs; results are the job's ``.jsonl.out`` files, converted by the finalizer. AWS endpoints,
region and credentials come from boto3's own environment (``AWS_ENDPOINT_URL_BEDROCK``, …): Bedrock
runs on the gateway's AWS identity, not on the client's key.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Final

from batchbridge.aws import tagging as expiry_tagging  # (botocore is loaded already: the gateway's blob store)
from batchbridge.config import Settings
from batchbridge.domain import codec
from batchbridge.domain.custom_ids import map_line, read_map
from batchbridge.domain.endpoints import translation
from batchbridge.domain.errors import GatewayError, bad_provider_response, bad_request, not_found, provider_status
from batchbridge.domain.images import ImageFetcher, ImageInliner
from batchbridge.domain.jsonl import MAX_CUSTOM_ID_CHARS, iter_lines, iter_lines_at, line_translation, parsed_lines
from batchbridge.domain.lifecycle import ENDED_CANCELLED, ENDED_COMPLETED, ENDED_EXPIRED, Observation
from batchbridge.domain.parts import JobLimits, JobPart, plan_parts
from batchbridge.domain.ports import (
    FIND_SLACK_SECONDS,
    BatchRequest,
    Credentials,
    ProviderBatch,
    ProviderFile,
    ResultContext,
    ResultItem,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import FileRecord, ProviderJob, blob_expiry_days
from batchbridge.domain.staging import (
    BUCKET_NAME,
    INPUT_NAME,
    StagedObject,
    check_prefix,
    is_part_object,
    is_staged_input_of,
    nested,
    part_objects,
    record_ids_of,
    split_s3_uri,
    staged_input,
)
from batchbridge.domain.streams import reader
from batchbridge.domain.translate.bedrock import REQUESTS, RESULTS, image_media_types
from batchbridge.providers import bedrock_on_demand, bedrock_parts, registry

if TYPE_CHECKING:
    from batchbridge.domain.executor import BatchExecutor

logger = logging.getLogger(__name__)
DEFAULT_PREFIX: Final = "batchbridge/bedrock"  # staged input in the gateway's bucket (its IAM grants this area)
OUTPUT_PREFIX: Final = "batchbridge/bedrock-output"  # job output in the gateway's bucket
DEFAULT_TIMEOUT_SECONDS: Final = 25.0
TIMEOUT_HOURS: Final = 24  # Bedrock takes 24..168; OpenAI's window is 24 h
SPOOL_BYTES: Final = 8 * 1024 * 1024
# Once a spool is on disk, it is written in writes this large, not 8 KiB ones: a spool is written a line at a
# time, and the default buffer's system calls cost a third of its CPU.
SPOOL_WRITE_BYTES: Final = 1024 * 1024
STAGED_CHUNK_BYTES: Final = 1024 * 1024  # staged copies are read in chunks this large (a part's skips whole ones)
# A create that failed with one of these may have reached Bedrock (no answer was read): a part's staged objects stay
# for the job find_batch may find (none found: release_unused_part_input removes them)
UNANSWERED: Final = frozenset({"provider_timeout", "provider_unreachable"})

ClientFactory = Callable[[str, str | None], Any]  # (service, region) -> boto3 client

# The provider, as the registry and the services know it (see providers.registry). Bedrock runs on the gateway's
# AWS identity: no key of its own, and its endpoints are boto3's.
SPEC: Final = ProviderSpec(
    name="bedrock",
    keeps_results=True,  # its jobs' output in the gateway's bucket (release_results)
    states={
        "Submitted": Observation("validating"),
        "Validating": Observation("validating"),
        "Scheduled": Observation("validating"),
        "InProgress": Observation("in_progress"),
        "Completed": ENDED_COMPLETED,
        "PartiallyCompleted": ENDED_COMPLETED,
        "Failed": Observation("failed"),
        "Stopping": Observation("cancelling"),
        "Stopped": ENDED_CANCELLED,
        "Expired": ENDED_EXPIRED,
    },
    # Bedrock refuses a create beyond its quota of concurrent jobs so (a 400): a part of a split batch waits
    queue_full_codes=frozenset({"ServiceQuotaExceededException"}),
)


def build(settings: Settings, parts: registry.Parts) -> BedrockAdapter:
    timeout = settings.upstream_timeout_seconds
    adapter = BedrockAdapter(
        bucket=settings.bedrock_bucket,
        role_arn=settings.bedrock_role_arn,
        min_records=settings.bedrock_min_records,
        timeout=timeout,
        client=partial(_boto3_client, timeout=timeout, make=parts.aws_client),
        operator_only=settings.gateway_keys_mode,
        allowed_buckets=settings.bedrock_allowed_buckets,
        allowed_role_arns=settings.bedrock_allowed_role_arns,
        image_fetcher=parts.image_fetcher if settings.fetch_image_urls else None,
        on_demand=parts.executor if settings.bedrock_small_batches == "on_demand" else None,
        max_concurrent_jobs=settings.bedrock_max_concurrent_jobs,
    )
    adapter.job_limits = registry.job_limits(settings, SPEC)
    return adapter


def _boto3_client(
    service: str,
    region: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    make: Callable[..., Any] | None = None,
) -> Any:
    """A client of ``service`` in ``region`` (None: boto3's), made by ``make`` (``batchbridge.aws.client``'s
    signature; by default, that)."""
    from botocore.config import Config

    if make is None:
        from batchbridge import aws

        make = aws.client

    # Bounded like every upstream call (botocore would wait 60 s per read). Its retries are safe: creates carry a
    # clientRequestToken, so a retried create cannot start a second job.
    config = Config(
        connect_timeout=min(timeout, 10.0), read_timeout=timeout, retries={"mode": "standard", "total_max_attempts": 3}
    )
    return make(service, config=config, **({"region_name": region} if region else {}))


class BedrockAdapter:
    name = "bedrock"
    spec = SPEC
    max_batch_requests = 50_000  # Bedrock's commonly cited per-job record quota
    job_limits: JobLimits = SPEC.setup.job_limits or JobLimits(50_000)  # (build sets the settings')
    results_may_omit = True  # PartiallyCompleted, Stopped and Expired jobs leave records out
    lines_need_model = True
    custom_id_max_chars: int | None = MAX_CUSTOM_ID_CHARS
    judges_lines = False

    def __init__(
        self,
        *,
        bucket: str | None,
        role_arn: str | None,
        min_records: int,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        client: ClientFactory | None = None,
        operator_only: bool = False,
        allowed_buckets: frozenset[str] = frozenset(),
        allowed_role_arns: frozenset[str] = frozenset(),
        image_fetcher: Callable[[], ImageFetcher] | None = None,
        on_demand: Callable[[], BatchExecutor] | None = None,
        max_concurrent_jobs: int = 10,
    ) -> None:
        """``operator_only`` (gateway-key mode): the IAM role, the staging bucket and the output location are the
        operator's to choose: a request may name only the gateway's own or those of ``allowed_buckets`` /
        ``allowed_role_arns``. ``image_fetcher``: what fetches the images lines give by https URL, inlined for
        Claude (Bedrock reads base64 images only); None: such lines are refused (BATCHBRIDGE_FETCH_IMAGE_URLS
        off). ``on_demand``: the executor that runs a file below ``min_records`` request by request
        (``bedrock_on_demand``); None: such a file is refused (BATCHBRIDGE_BEDROCK_SMALL_BATCHES=reject).
        ``max_concurrent_jobs``: Bedrock's quota of jobs running at once per model and region (``room``)."""
        self._bucket = bucket
        self._role_arn = role_arn
        self._min_records = min_records
        self._client: ClientFactory = client or partial(_boto3_client, timeout=timeout)
        self._operator_only = operator_only
        self._allowed_buckets = allowed_buckets
        self._allowed_role_arns = allowed_role_arns
        self._image_fetcher = image_fetcher
        self._on_demand = on_demand
        self._max_concurrent_jobs = max_concurrent_jobs

    # files: staged in S3 as Bedrock records
    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        if request.purpose != "batch":
            raise bad_request("Bedrock files are batch input files: use purpose 'batch'.", param="purpose")
        s3_config = _storage(request.extras)
        bucket = s3_config.get("bucket") or self._bucket
        if not bucket:
            raise bad_request(
                "Bedrock stages batch input in the account's S3: give storage_config.s3.bucket (and region), "
                "or set BATCHBRIDGE_BEDROCK_BUCKET.",
                param="storage_config",
                code="missing_storage_config",
            )
        self._check_bucket(bucket, "storage_config.s3.bucket")
        region = s3_config.get("region") or None
        if region and self._operator_only and bucket not in self._allowed_buckets:
            raise bad_request(
                "storage_config.s3.region applies to an allowed bucket of the operator's only: the gateway's own "
                "staging bucket is in the gateway's region.",
                param="storage_config.s3.region",
                code="region_not_allowed",
            )
        prefix = s3_config.get("prefix", "")
        # In the gateway's own bucket a tenant's prefix stays inside the staging area (what its IAM grants).
        prefix = nested(DEFAULT_PREFIX, prefix) if bucket == self._bucket else (prefix or DEFAULT_PREFIX)
        staged = staged_input(bucket, prefix, request.file_id)
        record_ids = record_ids_of(staged)
        # Staged objects in the gateway's bucket live as long as their file (removed by its lifecycle rules).
        tagging = expiry_tagging(blob_expiry_days(request.expires_after_seconds)) if bucket == self._bucket else {}
        with request.converted_lines(BedrockRecords, self.line_conversion) as records:
            spool, id_map = records.target, records.id_map
            spool.seek(0)
            id_map.seek(0)
            s3 = self._s3_call(bucket, lambda: self._client("s3", region))
            self._s3_call(
                bucket,
                lambda: s3.upload_fileobj(
                    spool, staged.bucket, staged.key, ExtraArgs=tagging or None, Config=_transfer_config()
                ),
            )
            try:
                self._s3_call(
                    bucket,
                    lambda: s3.upload_fileobj(
                        id_map, record_ids.bucket, record_ids.key, ExtraArgs=tagging or None, Config=_transfer_config()
                    ),
                )
            except GatewayError:
                # nothing half-staged
                self._s3_call(bucket, lambda: s3.delete_object(Bucket=staged.bucket, Key=staged.key))
                raise
        return ProviderFile(
            id=staged.uri,
            bytes=request.size,
            created_at=0,
            filename=request.filename,
            purpose="batch",
            region=region,
            staged_bucket=staged.bucket,
            staged_key=staged.key,
        )

    def line_conversion(self) -> BedrockRecords:
        # Both spooled (to /tmp past SPOOL_BYTES): the records, and the map of their ids back to custom_ids, which
        # for a file of short lines is a good part of its size.
        images = ImageInliner(self._image_fetcher) if self._image_fetcher is not None else None
        return BedrockRecords(_spool(), _spool(), images)

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile:
        raise not_found("file", provider_file_id)

    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        staged = _staged(file)
        if staged is None:
            # Not a location this file wrote (a record from before locations were checked): touch nothing.
            logger.warning("file %s: staged location %r is not its own; left alone", file.id, file.provider_file_id)
            return
        s3 = self._client("s3", file.provider_region)
        for target in (staged, record_ids_of(staged)):
            self._delete(s3, target)
        # and what parts of its batches staged beside it that their batches' release left (none, as a rule)
        folder = staged.key[: -len(INPUT_NAME)]
        try:
            listed = [
                StagedObject(staged.bucket, item["Key"])
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=staged.bucket, Prefix=folder)
                for item in page.get("Contents", [])
            ]
        except (BotoCoreError, ClientError) as exc:  # (parts in the gateway's bucket carry its expiry tag anyway)
            logger.warning("file %s: its folder could not be listed for parts' objects: %s", file.id, exc)
            return
        for target in listed:
            if is_part_object(target, file.id):
                self._delete(s3, target)

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]:
        raise not_found("file", provider_file_id)

    # batches
    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        """A model invocation job of the file's staged records (of a part: its records, staged as objects of their
        own, ``bedrock_parts``); below Bedrock's minimum of records, a run on the executor (or a 400)."""
        input_file, model = self._checked_input(request)
        part = request.part
        records = part.count if part is not None else input_file.request_count or 0
        on_demand = records < self._min_records  # run request by request (below a job's minimum), or refused
        if on_demand and self._on_demand is None:
            held = f"Part {part.number} of the batch has" if part is not None else "The file has"
            raise bad_request(
                f"{held} {records} records; a Bedrock batch job needs at least {self._min_records} "
                "(BATCHBRIDGE_BEDROCK_MIN_RECORDS).",
                param="input_file_id",
                code="too_few_records",
            )
        role_arn = "" if on_demand else self._role(request.extras.get("role_arn"))
        staged = _staged(input_file)
        if staged is None:
            raise bad_request(
                f"File {input_file.id!r} has no staged copy this gateway can use; upload it again.",
                param="input_file_id",
                code="invalid_input_file",
            )
        self._check_bucket(staged.bucket, "input_file_id")  # (a file staged before the allowlist, somewhere else)
        if on_demand:
            return self._run_on_demand(request, input_file, staged, model)
        output = self._output(request.extras.get("output_s3_uri"), staged.bucket, request.batch_id)
        region = input_file.provider_region
        if part is None:
            job_input, record_ids = staged, self._record_ids(staged, region)
        else:
            job_input, record_ids = self._stage_part(staged, region, part, _expiry_days(input_file))
        try:
            job_arn = self._create_job(request, model, role_arn, job_input, output, region)
        except GatewayError as exc:
            if part is not None and exc.code not in UNANSWERED:  # no job reads the part's objects
                self._remove_part(staged, part.number, region)
            raise
        report = ProviderBatch(id=job_arn, raw_status="Submitted", input_location=job_input.uri if part else None)
        return report.as_created(model, record_ids)

    def _checked_input(self, request: BatchRequest) -> tuple[FileRecord, str]:
        """The batch's input file and model, checked: a file uploaded for Bedrock, an endpoint it runs, one model."""
        input_file = request.input_file
        if input_file is None or input_file.provider_file_id is None:
            raise bad_request(
                "Bedrock batches need an input file uploaded for provider 'bedrock'.", param="input_file_id"
            )
        translation(REQUESTS, request.endpoint, "Bedrock batches run {endpoints} only.")
        model = request.extras.get("model") or input_file.model
        if not isinstance(model, str) or not model:
            raise bad_request("Name the Bedrock model: extra_body {'model': ...}.", param="model")
        if input_file.model and model != input_file.model:
            raise bad_request(
                f"model {model!r} does not match the file's lines, which use {input_file.model!r}.",
                param="model",
                code="model_mismatch",
            )
        return input_file, model

    def _create_job(
        self, request: BatchRequest, model: str, role_arn: str, job_input: StagedObject, output: str, region: str | None
    ) -> str:
        """The model invocation job of ``job_input``'s records, created; its ARN. Named for the batch (and its
        part), so find_batch finds it."""
        bedrock = self._client("bedrock", region)
        created = self._bedrock_call(
            lambda: bedrock.create_model_invocation_job(
                jobName=bedrock_parts.job_name(request.batch_id, request.part),
                roleArn=role_arn,
                # a retried create cannot start a second job
                clientRequestToken=bedrock_parts.token(request.batch_id, request.part),
                modelId=model,
                inputDataConfig={"s3InputDataConfig": {"s3Uri": job_input.uri, "s3InputFormat": "JSONL"}},
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": output}},
                timeoutDurationInHours=TIMEOUT_HOURS,
            )
        )
        # No further call here: if it failed, the client would see an error for a job that runs anyway.
        job_arn = created.get("jobArn") if isinstance(created, dict) else None
        if not isinstance(job_arn, str) or not job_arn:
            # e.g. an answer cut short: the job may exist all the same (the reconcile job looks for it)
            raise bad_provider_response("The bedrock provider answered without a jobArn.")
        return job_arn

    def _run_on_demand(
        self, request: BatchRequest, input_file: FileRecord, staged: StagedObject, model: str
    ) -> ProviderBatch:
        """A file (or a part) below Bedrock's minimum: its staged records run on the executor, their ``modelInput``
        sent as they are to InvokeModel in the staged file's region (``bedrock_on_demand``). Read from S3 as they
        stream into the executor's own copy."""
        executor = self._executor()
        region = input_file.provider_region
        with self._staged_lines(staged, region, request.part) as records:
            state = executor.start_lines(
                bedrock_on_demand.run_id(request.batch_id, request.part),
                bedrock_on_demand.request_lines(records),
                model,
                bedrock_on_demand.target_name(region, model),
            )
        return bedrock_on_demand.report(state).as_created(model, self._part_record_ids(staged, region, request.part))

    def _executor(self) -> BatchExecutor:
        if self._on_demand is None:
            raise RuntimeError("this gateway runs no on-demand Bedrock batches")
        return self._on_demand()

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        # The job's name carries our ID and the part's number (its clientRequestToken too); an on-demand run is
        # keyed by them.
        input_file = request.input_file
        staged = _staged(input_file) if input_file is not None else None
        if input_file is None or staged is None:
            return None
        part, region = request.part, input_file.provider_region
        records = part.count if part is not None else input_file.request_count or 0
        if records < self._min_records and self._on_demand is not None:
            state = self._executor().find(bedrock_on_demand.run_id(request.batch_id, part))
            if state is None:
                return None
            found = bedrock_on_demand.report(state)
            return found.as_created(found.model or "", self._part_record_ids(staged, region, part))
        bedrock = self._client("bedrock", region)
        name = bedrock_parts.job_name(request.batch_id, part)
        listed = self._bedrock_call(
            lambda: bedrock.list_model_invocation_jobs(
                nameContains=name, submitTimeAfter=datetime.fromtimestamp(created_at - FIND_SLACK_SECONDS, UTC)
            )
        )
        for summary in listed.get("invocationJobSummaries") or []:
            if summary.get("jobName") == name:  # (a part's name holds its batch's: only the same name is its job)
                model = str(summary.get("modelId") or request.extras.get("model") or input_file.model or "")
                job = _job(summary)
                if part is None:
                    return job.as_created(model, self._record_ids(staged, region))
                job_input, record_ids = part_objects(staged, part.number)
                job.input_location = job_input.uri
                return job.as_created(model, self._record_ids(record_ids, region, whole=False))
        return None

    # parts of a batch beyond one job (``bedrock_parts``)
    def plan_parts(
        self, credentials: Credentials, input_file: FileRecord, lines: Iterator[tuple[int, int]], limits: JobLimits
    ) -> list[JobPart]:
        """The parts of ``input_file`` by its staged records (their count and bytes: what Bedrock limits), read
        beside the original ``lines``. A file whose staged copy cannot be read is planned by its lines (each
        part's create then refuses it, saying why)."""
        staged = _staged(input_file)
        if staged is None:
            return plan_parts(lines, limits)
        s3 = self._client("s3", input_file.provider_region)
        try:
            body = self._s3_call(staged.bucket, lambda: s3.get_object(Bucket=staged.bucket, Key=staged.key))["Body"]
        except GatewayError as exc:
            if exc.status != 400:  # (a passing failure: the start_parts job runs again)
                raise
            return plan_parts(lines, limits)
        try:
            records = iter_lines_at(body.iter_chunks(STAGED_CHUNK_BYTES), bedrock_parts.STAGED_LINE_BYTES)
            sizes = (size for _, size, _ in records)
            return bedrock_parts.plan(lines, sizes, limits, self._min_records)
        except ValueError:
            raise bad_request(
                f"File {input_file.id!r}: its staged copy does not match its lines; upload it again.",
                param="input_file_id",
                code="invalid_input_file",
            ) from None
        finally:
            body.close()

    def room(self, credentials: Credentials, request: BatchRequest) -> int:
        """How many more jobs of the batch's model may start in its staged file's region: Bedrock's quota of
        concurrent jobs per model (BATCHBRIDGE_BEDROCK_MAX_CONCURRENT_JOBS) less the jobs of that model running
        there, whoever started them (the quota is the account's)."""
        input_file = request.input_file
        model = request.extras.get("model") or (input_file.model if input_file is not None else None) or ""
        bedrock = self._client("bedrock", input_file.provider_region if input_file is not None else None)
        paginator = bedrock.get_paginator("list_model_invocation_jobs")
        running = 0
        for status in bedrock_parts.RUNNING_STATES:  # (one status a call: Bedrock filters by one)
            listing = partial(paginator.paginate, statusEquals=status, PaginationConfig={"PageSize": 1000})
            pages: list[dict[str, Any]] = self._bedrock_call(partial(_pages, listing))
            summaries = [summary for page in pages for summary in page.get("invocationJobSummaries") or []]
            running += sum(1 for summary in summaries if bedrock_parts.same_model(summary.get("modelId"), model))
        return max(0, self._max_concurrent_jobs - running)

    def release_part_input(self, credentials: Credentials, job: ProviderJob) -> None:
        """A part's staged records and map (``create_batch`` staged them beside its file's), deleted once the batch
        is final; only objects a part's create writes (checked as ``delete_file`` checks a file's). An on-demand
        part staged none."""
        if job.part is None or not job.input_location:
            return
        try:
            job_input = StagedObject(*split_s3_uri(job.input_location, "input_location"))
        except GatewayError:
            job_input = StagedObject("", "")
        if not is_part_object(job_input) or not job_input.key.endswith(f"/input-part-{job.part['number']}.jsonl"):
            logger.warning("part input %r is not one a part staged; left alone", job.input_location)
            return
        staged = StagedObject(job_input.bucket, job_input.key.rpartition("/")[0] + "/" + INPUT_NAME)
        self._remove_part(staged, int(job.part["number"]), _region(job.id) if job.id else None)

    def release_unused_part_input(self, credentials: Credentials, request: BatchRequest, created_at: int) -> None:
        """The objects an unanswered create of ``request``'s part staged, though it left no job (find_batch found
        none), deleted."""
        input_file = request.input_file
        staged = _staged(input_file) if input_file is not None else None
        if input_file is not None and request.part is not None and staged is not None:
            self._remove_part(staged, request.part.number, input_file.provider_region)

    def _stage_part(
        self, staged: StagedObject, region: str | None, part: JobPart, expire_days: int | None
    ) -> tuple[StagedObject, dict[str, str]]:
        """The part's records and their record-ID map staged beside the file's (``staging.part_objects``), each read
        off the file's staged copy a range at a time; the part's object, and its map."""
        job_input, record_ids = part_objects(staged, part.number)
        # Staged objects in the gateway's bucket live as long as their file (removed by its lifecycle rules).
        tagging = expiry_tagging(expire_days) if staged.bucket == self._bucket else {}
        s3 = self._s3_call(staged.bucket, lambda: self._client("s3", region))
        with _spool() as id_map:
            back: dict[str, str] = {}
            with self._staged_lines(record_ids_of(staged), region, part, bedrock_parts.map_range) as lines:
                for line in iter_lines(lines):
                    record_id, custom_id = codec.loads(line)
                    back[str(record_id)] = str(custom_id)
                    id_map.write(line + b"\n")
            id_map.seek(0)
            self._put(s3, record_ids, id_map, tagging)
        with self._staged_lines(staged, region, part) as records:
            self._put(s3, job_input, reader(records), tagging)
        return job_input, back

    def _put(self, s3: Any, target: StagedObject, body: IO[bytes], tagging: dict[str, str]) -> None:
        try:
            self._s3_call(
                target.bucket,
                lambda: s3.upload_fileobj(
                    body, target.bucket, target.key, ExtraArgs=tagging or None, Config=_transfer_config()
                ),
            )
        except ValueError:  # (the staged copy ended before the part's lines)
            raise bad_request(
                "The file's staged copy holds fewer records than the batch; upload it again.",
                param="input_file_id",
                code="invalid_input_file",
            ) from None

    def _remove_part(self, staged: StagedObject, number: int, region: str | None) -> None:
        """Part ``number``'s staged objects deleted (gone is deleted)."""
        s3 = self._client("s3", region)
        for target in part_objects(staged, number):
            self._delete(s3, target)

    def _delete(self, s3: Any, target: StagedObject) -> None:
        from botocore.exceptions import ClientError

        try:
            s3.delete_object(Bucket=target.bucket, Key=target.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchBucket", "NoSuchKey"):  # gone is deleted
                self._s3_call(target.bucket, partial(s3.delete_object, Bucket=target.bucket, Key=target.key))

    @contextmanager
    def _staged_lines(
        self,
        staged: StagedObject,
        region: str | None,
        part: JobPart | None,
        lines_of: Callable[[Iterable[bytes], int, int], Iterator[bytes]] = bedrock_parts.line_range,
    ) -> Iterator[Iterator[bytes]]:
        """The bytes of a staged object (records or their map) as chunks: the part's lines only, with a part."""
        s3 = self._client("s3", region)
        body = self._s3_call(staged.bucket, lambda: s3.get_object(Bucket=staged.bucket, Key=staged.key))["Body"]
        try:
            chunks: Iterator[bytes] = body.iter_chunks(STAGED_CHUNK_BYTES)
            yield chunks if part is None else lines_of(chunks, part.first_index, part.count)
        finally:
            body.close()

    def _part_record_ids(self, staged: StagedObject, region: str | None, part: JobPart | None) -> dict[str, str]:
        """The record IDs -> the user's custom_ids of the file's records, or of the part's (a slice of the file's)."""
        if part is None:
            return self._record_ids(staged, region)
        with self._staged_lines(record_ids_of(staged), region, part, bedrock_parts.map_range) as lines:
            try:
                return read_map(lines)
            except ValueError:
                raise bad_request(
                    "The file's staged copy holds fewer records than the batch; upload it again.",
                    param="input_file_id",
                    code="invalid_input_file",
                ) from None

    def _record_ids(self, staged: StagedObject, region: str | None, *, whole: bool = True) -> dict[str, str]:
        """The staged file's record IDs -> the user's custom_ids, every record in input order (``whole`` False:
        those of the record-ID map at ``staged``)."""
        mapped = record_ids_of(staged) if whole else staged
        s3 = self._client("s3", region)
        body = self._s3_call(mapped.bucket, lambda: s3.get_object(Bucket=mapped.bucket, Key=mapped.key))["Body"]
        try:
            return read_map(body.iter_chunks(64 * 1024))
        finally:
            body.close()

    # operator-only settings (gateway-key mode)
    def _check_bucket(self, bucket: str, param: str) -> None:
        if self._operator_only and bucket != self._bucket and bucket not in self._allowed_buckets:
            raise bad_request(
                f"{param}: bucket {bucket!r} is not one this gateway may use (BATCHBRIDGE_BEDROCK_ALLOWED_BUCKETS).",
                param=param,
                code="bucket_not_allowed",
            )

    def _role(self, requested: Any) -> str:
        if requested is not None and requested != "":
            if not isinstance(requested, str):
                raise bad_request("role_arn must be a string.", param="role_arn")
            if self._operator_only and requested != self._role_arn and requested not in self._allowed_role_arns:
                raise bad_request(
                    "role_arn: that role is not one this gateway may pass to Bedrock "
                    "(BATCHBRIDGE_BEDROCK_ALLOWED_ROLE_ARNS).",
                    param="role_arn",
                    code="role_not_allowed",
                )
            return requested
        if not self._role_arn:
            raise bad_request(
                "Bedrock needs a service role: extra_body {'role_arn': ...} or BATCHBRIDGE_BEDROCK_ROLE_ARN.",
                param="role_arn",
            )
        return self._role_arn

    def _output(self, requested: Any, input_bucket: str, batch_id: str) -> str:
        """Where the job writes its results: ``output_s3_uri`` (checked), else the gateway's bucket (where the
        finalizer reads them). In the gateway's bucket every output lies under OUTPUT_PREFIX."""
        if requested is None or requested == "":
            bucket, prefix = self._bucket or input_bucket, batch_id
        else:
            if not isinstance(requested, str):
                raise bad_request("output_s3_uri must be an s3:// URI.", param="output_s3_uri")
            bucket, prefix = split_s3_uri(requested, "output_s3_uri")
            self._check_bucket(bucket, "output_s3_uri")
        if bucket == self._bucket or (requested is None or requested == ""):
            prefix = nested(OUTPUT_PREFIX, prefix)
        return f"s3://{bucket}/{prefix}/"

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        if bedrock_on_demand.is_run_id(provider_batch_id):
            return bedrock_on_demand.report(self._executor().state(provider_batch_id))
        bedrock = self._client("bedrock", _region(provider_batch_id))
        return _job(self._bedrock_call(lambda: bedrock.get_model_invocation_job(jobIdentifier=provider_batch_id)))

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        if bedrock_on_demand.is_run_id(provider_batch_id):
            return bedrock_on_demand.report(self._executor().cancel(provider_batch_id))
        bedrock = self._client("bedrock", _region(provider_batch_id))
        try:
            self._bedrock_call(lambda: bedrock.stop_model_invocation_job(jobIdentifier=provider_batch_id))
        except GatewayError as exc:
            if exc.status != 400:  # 400: the job ended first (Validation/Conflict); its state tells the rest
                raise
        return self.get_batch(credentials, provider_batch_id)

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[ResultItem]:
        if bedrock_on_demand.is_run_id(provider_batch_id):
            # every request: its stored answer (a record), or (never run: cancelled, expired) an UnrunResult
            return self._executor().results(provider_batch_id)
        region = _region(provider_batch_id)
        bedrock = self._client("bedrock", region)
        job = self._bedrock_call(lambda: bedrock.get_model_invocation_job(jobIdentifier=provider_batch_id))
        output = self._job_output(job, provider_batch_id)
        s3 = self._client("s3", region)
        paginator = s3.get_paginator("list_objects_v2")
        pages = self._s3_call(output.bucket, lambda: list(paginator.paginate(Bucket=output.bucket, Prefix=output.key)))
        keys = [
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            # only what this job wrote, under its own folder
            if item["Key"].startswith(output.key) and item["Key"].endswith(".jsonl.out")
        ]
        return _records(s3, output.bucket, sorted(keys), self._s3_call)

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        """Remove what the job wrote, when the gateway chose where (its own bucket, or the default location): the
        results are the batch's output files now. Output a request sent to a bucket of its own stays there. An
        on-demand run's stored answers and working copies go."""
        if bedrock_on_demand.is_run_id(provider_batch_id):
            self._executor().release(provider_batch_id)
            return
        region = _region(provider_batch_id)
        bedrock = self._client("bedrock", region)
        job = self._bedrock_call(lambda: bedrock.get_model_invocation_job(jobIdentifier=provider_batch_id))
        output = self._job_output(job, provider_batch_id)
        default = f"{OUTPUT_PREFIX}/batch_{bedrock_parts.batch_token_of(str(job.get('jobName', '')))}/"
        if output.bucket != self._bucket and not output.key.startswith(default):
            return
        s3 = self._client("s3", region)
        paginator = s3.get_paginator("list_objects_v2")
        pages = self._s3_call(output.bucket, lambda: list(paginator.paginate(Bucket=output.bucket, Prefix=output.key)))
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"].startswith(output.key):
                    self._s3_call(output.bucket, partial(s3.delete_object, Bucket=output.bucket, Key=item["Key"]))

    def _job_output(self, job: dict[str, Any], provider_batch_id: str) -> StagedObject:
        """The folder a job wrote its results into (``{output prefix}/{job id}/``), from the URI the gateway gave
        it, checked again (a URI that does not pass is not read)."""
        try:
            bucket, prefix = split_s3_uri(str(job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]), "s3Uri")
        except (GatewayError, KeyError, TypeError):
            raise bad_provider_response("Bedrock reported an output location the gateway did not give.") from None
        job_id = provider_batch_id.rsplit("/", 1)[-1]
        if not job_id.isalnum():
            raise bad_provider_response("Bedrock reported a malformed job ARN.")
        return StagedObject(bucket, f"{prefix}/{job_id}/".lstrip("/"))

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        """A record of the job, read by its model's family (``context.model``: the job's, as Bedrock reports it); an
        on-demand run's stored answer holds such a record (``bedrock_on_demand.output_line``)."""
        if "recordId" not in raw:
            return bedrock_on_demand.output_line(raw, context, RESULTS[context.endpoint])
        return RESULTS[context.endpoint](raw, context)

    # errors
    def _s3_call(self, bucket: str, call: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        try:
            return call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            named = "its own staging bucket" if bucket == self._bucket else f"S3 bucket {bucket!r}"
            raise bad_request(
                f"The gateway cannot use {named} for Bedrock staging ({code}): check that it exists, "
                "and that the gateway may read and write it.",
                param="storage_config",
                code="storage_unusable",
            ) from None
        except ParamValidationError as exc:
            raise bad_request(f"S3 refused the staging request: {exc}", param="storage_config") from None
        except BotoCoreError as exc:
            raise GatewayError(
                502,
                f"S3 could not be reached for Bedrock staging ({type(exc).__name__}).",
                type="upstream_error",
                code="provider_unreachable",
            ) from None

    @staticmethod
    def _bedrock_call(call: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
            code = str(error.get("Code") or "provider_error")
            message = str(error.get("Message") or code)
            logger.warning("Bedrock refused a call: %s %s: %s", status, code, message)  # the operator's view
            if status == 403 or "AccessDenied" in code:
                # AWS's text names the account, the gateway's role and the policy: the operator's business only.
                message = ACCESS_DENIED
            raise GatewayError(
                provider_status(status) if 400 <= status < 600 else 502,
                f"Bedrock: {_shown(message)}",
                type="upstream_error",
                code=code,
            ) from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise GatewayError(
                504, "The bedrock provider did not answer in time.", type="upstream_error", code="provider_timeout"
            ) from None
        except BotoCoreError as exc:
            tried = getattr(exc, "kwargs", {}).get("endpoint_url")  # set on connection failures
            raise GatewayError(
                502,
                f"The bedrock provider could not be reached{f' at {tried}' if tried else ''} ({type(exc).__name__}).",
                type="upstream_error",
                code="provider_unreachable",
            ) from None


def _transfer_config() -> Any:
    """Sized on purpose: boto3's default (10 threads x 8 MB chunks in flight) holds ~80 MB per staged file."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=16 * 1024 * 1024,
        multipart_chunksize=8 * 1024 * 1024,
        max_concurrency=2,
        use_threads=True,
    )
    config.max_in_memory_upload_chunks = 2  # s3transfer reads 10 chunks ahead otherwise, whatever the concurrency
    return config


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, buffering=SPOOL_WRITE_BYTES)


def convert(source: BinaryIO, target: IO[bytes], id_map: IO[bytes]) -> int:
    """OpenAI batch lines (already checked as JSONL) read from ``source`` -> Bedrock records (``BedrockRecords``).
    Returns how many records."""
    records = BedrockRecords(target, id_map)
    for line in parsed_lines(iter(lambda: source.read(64 * 1024), b"")):
        records.add(line)
    records.finish()
    return records.count


class BedrockRecords:
    """OpenAI batch lines (each checked as JSONL) -> Bedrock records, one at a time, into ``target``; their map
    back (record ID -> custom_id, ``custom_ids.map_lines``' form) into ``id_map``. A line Bedrock cannot take is a
    400 naming its custom_id. (The upload's ``LineConversion``.)

    With ``images`` (lines' https image URLs fetched and inlined for Claude), a line with images waits for them
    while the next lines are read and their images fetched (LOOKAHEAD_LINES at most); records are still written,
    and errors raised, in the file's order."""

    LOOKAHEAD_LINES: Final = 16

    def __init__(self, target: IO[bytes], id_map: IO[bytes], images: ImageInliner | None = None) -> None:
        self.target = target
        self.id_map = id_map
        self.images = images
        self.count = 0  # records written
        self._model: str | None = None  # the first line's: a job runs one model
        self._waiting: deque[tuple[dict[str, Any], Callable[[], dict[str, Any]]]] = deque()

    def add(self, line: dict[str, Any]) -> None:
        body = line["body"]
        ready = None
        if self.images is not None and (media_types := image_media_types(body["model"])):
            ready = self.images.prefetch(body, line["custom_id"], media_types)
        if ready is None and not self._waiting:  # the usual line: written at once
            self._write(line, body)
            return
        self._waiting.append((line, ready or (lambda: body)))
        while len(self._waiting) > self.LOOKAHEAD_LINES or (self._waiting and self.images and self.images.busy):
            self._write_next()

    def finish(self) -> None:
        while self._waiting:
            self._write_next()

    def _write_next(self) -> None:
        line, ready = self._waiting.popleft()
        self._write(line, ready())

    def _write(self, line: dict[str, Any], body: dict[str, Any]) -> None:
        custom_id = line["custom_id"]
        to_model_input = line_translation(line, "Bedrock", REQUESTS)
        model = self._model
        if model is None:
            model = self._model = body["model"]
        elif body["model"] != model:
            raise bad_request(
                f"custom_id {custom_id!r}: model {body['model']!r} differs from {model!r}; "
                "a Bedrock job runs one model.",
                param="file",
                code="model_mismatch",
            )
        record_id = f"r{self.count:010d}"  # alphanumeric, as Bedrock's docs ask; mapped back at the end
        model_input = to_model_input(body, custom_id=custom_id, model_id=model)
        self.target.write(codec.dumps_line({"recordId": record_id, "modelInput": model_input}))
        self.id_map.write(map_line(record_id, custom_id))
        self.count += 1

    def close(self) -> None:
        if self.images is not None:
            self.images.close()
        self.target.close()
        self.id_map.close()


REGION_NAME: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}\Z")


def _storage(extras: dict[str, Any]) -> dict[str, str]:
    """storage_config.s3 as strings, each checked: bucket and region names as S3 and AWS spell them, a prefix
    of S3-safe characters (``staging.check_prefix``)."""
    config = extras.get("storage_config") or {}
    s3 = config.get("s3") if isinstance(config, dict) else None
    if config and not isinstance(s3, dict):
        raise bad_request("storage_config must be {'s3': {'bucket', 'region', 'prefix'}}.", param="storage_config")
    checked: dict[str, str] = {}
    for name, value in (s3 or {}).items():
        if name not in ("bucket", "region", "prefix"):
            raise bad_request(
                f"storage_config.s3.{name} is not a setting (bucket, region, prefix).", param="storage_config"
            )
        if not isinstance(value, str):
            raise bad_request(f"storage_config.s3.{name} must be a string.", param=f"storage_config.s3.{name}")
        checked[name] = value
    if checked.get("bucket") and not BUCKET_NAME.match(checked["bucket"]):
        raise bad_request(f"{checked['bucket']!r} is not an S3 bucket name.", param="storage_config.s3.bucket")
    if checked.get("region") and not REGION_NAME.match(checked["region"]):
        raise bad_request(f"{checked['region']!r} is not an AWS region.", param="storage_config.s3.region")
    if "prefix" in checked:
        checked["prefix"] = check_prefix(checked["prefix"], "storage_config.s3.prefix")
    return checked


ARN: Final = re.compile(r"arn:aws[a-z-]*:[^\s\"',;]+")
ACCOUNT_ID: Final = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def _redacted(message: str) -> str:
    """An AWS error text without the ARNs and account IDs it may quote (roles, jobs, the account)."""
    return ACCOUNT_ID.sub("<account>", ARN.sub("<arn>", message))


ACCESS_DENIED: Final = "access denied to the gateway's AWS identity (its operator can see why in the gateway's logs)"


ABOUT_ACCESS: Final = re.compile(r"access ?denied|not authori[sz]ed", re.IGNORECASE)


def _shown(message: str) -> str:
    """An AWS text as a tenant sees it: about access, only that it was denied; otherwise without ARNs and account
    IDs. The original goes to the operator's logs."""
    shown = ACCESS_DENIED if ABOUT_ACCESS.search(message) else _redacted(message)
    if shown != message:
        logger.warning("Bedrock said: %s", message)
    return shown


shown = _shown  # (the runtime's refusals of an on-demand run's requests are shown by the same rule)


def _staged(file: FileRecord) -> StagedObject | None:
    """Where ``file``'s input was staged, if that is a place this file wrote (checked: never another's key)."""
    if file.staged_bucket and file.staged_key:
        staged = StagedObject(file.staged_bucket, file.staged_key)
    elif file.provider_file_id:  # a record from before the location was kept as bucket and key
        try:
            staged = StagedObject(*split_s3_uri(file.provider_file_id, "input_file_id"))
        except GatewayError:
            return None
    else:
        return None
    return staged if is_staged_input_of(staged, file.id) else None


def _region(job_arn: str) -> str | None:
    parts = job_arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def _unix(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return None


def _pages(listing: Callable[[], Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    return list(listing())


def _expiry_days(file: FileRecord) -> int | None:
    """The expiry tag of what is staged for ``file`` (its objects live as long as it does)."""
    return blob_expiry_days(file.expires_at - file.created_at) if file.expires_at is not None else None


def _job(job: dict[str, Any]) -> ProviderBatch:
    status = str(job.get("status") or "Submitted")
    timestamps: dict[str, int] = {}
    expiry = _unix(job.get("jobExpirationTime"))
    if expiry is not None:
        timestamps["expires_at"] = expiry
    ended = _unix(job.get("endTime"))
    if ended is not None:
        # The end stamps the status it ended in; a failed job never reached finalizing.
        finished = (
            ("failed_at",) if status == "Failed" else ("finalizing_at", "completed_at", "cancelled_at", "expired_at")
        )
        for name in finished:
            timestamps[name] = ended
    counts = None
    if job.get("totalRecordCount") is not None:
        total = int(job["totalRecordCount"])
        counts = {
            "total": total,
            "completed": int(job.get("successRecordCount") or 0),
            "failed": int(job.get("errorRecordCount") or 0),
        }
    errors = None
    if status == "Failed" and job.get("message"):
        errors = {"object": "list", "data": [{"code": "bedrock_job_failed", "message": _shown(str(job["message"]))}]}
    return ProviderBatch(
        id=str(job["jobArn"]),
        raw_status=status,
        timestamps=timestamps,
        request_counts=counts,
        errors=errors,
        model=str(job.get("modelId")) if job.get("modelId") else None,
    )


OUT_LINE_BYTES: Final = 64 * 1024 * 1024  # .out lines repeat the modelInput beside the output


def _records(
    s3: Any, bucket: str, keys: list[str], s3_call: Callable[[str, Callable[[], Any]], Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in keys:
        body = s3_call(bucket, partial(s3.get_object, Bucket=bucket, Key=key))["Body"]
        try:
            for raw in iter_lines(body.iter_chunks(64 * 1024), max_line_bytes=OUT_LINE_BYTES):
                try:
                    record = codec.loads(raw)
                except ValueError:  # its record is then accounted for as not run (results_may_omit)
                    logger.warning("unreadable line in %s skipped", key)
                    continue
                if not isinstance(record, dict) or not record.get("recordId"):
                    logger.warning("result line without a recordId in %s skipped", key)
                    continue
                yield str(record["recordId"]), record
        finally:
            body.close()
