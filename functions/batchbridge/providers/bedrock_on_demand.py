"""Bedrock batches below Bedrock's minimum of records (BATCHBRIDGE_BEDROCK_MIN_RECORDS), run on the gateway's own
executor (``domain.executor``) instead of a model invocation job: each staged record's ``modelInput`` is sent as it
is to Bedrock's runtime ``InvokeModel`` (``providers.bedrock_runtime``, loaded only where a chunk runs), at
on-demand prices, and each answer is stored as a Bedrock record, which the adapter's ``output_line`` reads as it
reads a job's records.

A run is the executor's batch, keyed by the job it stands for (``run_id``: the batch ID for a whole-input job, the
batch ID and its part's number for a part), so a batch's parts can each run this way. Its target names the region
of the staged file and the model (``target_name``): the executor makes the target from that name
(``send_target``), and the report names the model from it. Its reports use Bedrock's own job states, so the
Bedrock adapter's state table reads them as it reads a job's.

No boto3 here: the adapter reads the staged file, this module turns its records into the executor's request lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from batchbridge.domain import codec
from batchbridge.domain.executor import RunState, SendTarget, views
from batchbridge.domain.jsonl import iter_lines
from batchbridge.domain.parts import JobPart
from batchbridge.domain.ports import ProviderBatch, ResultContext
from batchbridge.domain.translate import ResultTranslation

KIND: Final = "on_demand"  # ProviderJob.kind of a job run this way
TARGET_KIND: Final = "bedrock-runtime"  # its targets' names start with it; SendTarget.sender
# One request may take this long (a long generation runs for minutes: the worker is not bound by API Gateway's 29 s;
# two sends of it fit in one run of the worker function, as an openai-compatible endpoint's default does).
TIMEOUT_SECONDS: Final = 300.0
MAX_CONCURRENCY: Final = 4  # requests of one run in flight at once (the executor's default for an endpoint)
STAGED_LINE_BYTES: Final = 64 * 1024 * 1024  # a staged record carries its images inline
# The executor's states as Bedrock names a job's (the adapter's SPEC reads them)
JOB_STATES: Final = {
    "in_progress": "InProgress",
    "cancelling": "Stopping",
    "completed": "Completed",
    "cancelled": "Stopped",
    "expired": "Expired",
    "failed": "Failed",
}


def run_id(batch_id: str, part: JobPart | None) -> str:
    """The executor's run of a job: the batch's ID for a job of the whole input, with ``.p<number>`` for a part."""
    return batch_id if part is None else f"{batch_id}.p{part.number}"


def is_run_id(provider_batch_id: str) -> bool:
    """Whether a Bedrock job's ID is an on-demand run's (a model invocation job's is its ARN)."""
    return not provider_batch_id.startswith("arn:")


def target_name(region: str | None, model: str) -> str:
    """The executor's target for a run: Bedrock's runtime in ``region`` (None: boto3's own), calling ``model``."""
    return f"{TARGET_KIND}/{region or ''}/{model}"


def _named(name: str) -> tuple[str | None, str] | None:
    """(region, model) of a target's name; None when it is not a Bedrock runtime target's."""
    kind, _, rest = name.partition("/")
    region, slash, model = rest.partition("/")
    if kind != TARGET_KIND or not slash or not model:
        return None
    return region or None, model


def send_target(name: str) -> SendTarget | None:
    """The executor's target named ``name`` (``target_name``'s), made from its name (a ``routing.TargetMaker``)."""
    named = _named(name)
    if named is None:
        return None
    return SendTarget(
        name=name,
        base_url="",
        timeout_seconds=TIMEOUT_SECONDS,
        max_concurrency=MAX_CONCURRENCY,
        sender=TARGET_KIND,
        region=named[0],
    )


def request_lines(staged: Iterable[bytes]) -> Iterator[bytes]:
    """The staged records (``{"recordId", "modelInput"}`` lines, in chunks as S3 reads them) as the executor's
    request lines: the record ID as the custom_id (the job's custom_id map restores the user's), its ``modelInput``
    as the body, unchanged."""
    for raw in iter_lines(staged, max_line_bytes=STAGED_LINE_BYTES):
        record = codec.loads(raw)
        yield codec.dumps_line({"custom_id": record["recordId"], "body": record["modelInput"]})


def report(state: RunState) -> ProviderBatch:
    """A run as a Bedrock job reports: in Bedrock's job states, with the run's model, kind ``on_demand``."""
    reported = views.report(state)
    reported.raw_status = JOB_STATES[state.status]
    reported.job_kind = KIND
    named = _named(state.endpoint_name)
    reported.model = named[1] if named is not None else None
    if reported.errors is not None:  # the executor fails a run only when it has no target for it
        reported.errors = {
            "object": "list",
            "data": [{"code": "bedrock_on_demand_failed", "message": "The gateway could not run the requests."}],
        }
    return reported


def answer(record_id: str, output: dict[str, Any], request_id: str) -> dict[str, Any]:
    """A request InvokeModel answered: a record of the output as a Bedrock job writes one, in the executor's line."""
    return views.answer_line(
        line_id="",
        custom_id=record_id,
        status=200,
        body={"recordId": record_id, "modelOutput": output},
        request_id=request_id,
        error=None,
    )


def refusal(record_id: str, status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    """A request InvokeModel refused (its exception's ``code``, HTTP ``status`` and message): an error record as a
    Bedrock job writes one, in the executor's line."""
    return views.answer_line(
        line_id="",
        custom_id=record_id,
        status=status,
        body={"recordId": record_id, "error": {"errorCode": code, "errorMessage": message}},
        request_id=request_id,
        error=None,
    )


def output_line(
    stored: dict[str, Any], context: ResultContext, translation: ResultTranslation
) -> tuple[str, dict[str, Any]]:
    """A stored answer of a run as a line of the batch's files: its record read by ``translation`` (the adapter's
    RESULTS, as a job's records are); a request that got no answer (never reached Bedrock, or a dead chunk's) as
    the executor wrote its line."""
    response = stored.get("response")
    record = response.get("body") if isinstance(response, dict) else None
    if isinstance(record, dict) and "recordId" in record:
        return translation(record, context)
    return views.output_line(stored, custom_id=context.custom_id, line_id=context.line_id)
