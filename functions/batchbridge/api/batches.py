"""Batches routes. Each Batch object carries the jobs that run it (``provider_jobs``, ``domain.job_views``) where
it is not OpenAI's own batch."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from batchbridge.api.idempotency import created_once, idempotency_key
from batchbridge.api.request import (
    blocking,
    gateway_of,
    json_params,
    list_body,
    provider_hint,
    query_params,
)
from batchbridge.domain.job_views import with_provider_jobs
from batchbridge.domain.records import BatchRecord


async def batches_create(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    key = idempotency_key(request.headers)
    params = await json_params(request, "batches_create")
    provider = provider_hint(gateway, params)  # none named: the input file's

    def create() -> dict[str, Any]:
        return _batch(gateway.batches.create(caller, provider, params))

    return JSONResponse(await created_once(request, gateway, caller, "batches_create", key, create, params))


async def batches_list(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    params = query_params(request)
    provider = provider_hint(gateway, params)
    page = await blocking(request, gateway.batches.list, caller, provider, params)
    return JSONResponse(list_body([_batch(record) for record in page.items], page.has_more))


async def batches_retrieve(request: Request) -> JSONResponse:
    batch_id = request.path_params["batch_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, query_params(request))
    record = await blocking(request, gateway.batches.retrieve, caller, batch_id, provider)
    return JSONResponse(_batch(record))


async def batches_cancel(request: Request) -> JSONResponse:
    batch_id = request.path_params["batch_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, await json_params(request, "batches_cancel"))
    record = await blocking(request, gateway.batches.cancel, caller, batch_id, provider)
    return JSONResponse(_batch(record))


def _batch(record: BatchRecord) -> dict[str, Any]:
    """The record's OpenAI Batch object, with its ``provider_jobs``."""
    return with_provider_jobs(record, record.to_openai())
