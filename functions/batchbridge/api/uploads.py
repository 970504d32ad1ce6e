"""Uploads routes: OpenAI's Uploads API, for files larger than one request can carry."""

from __future__ import annotations

import io
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from batchbridge.api.arguments import check_known
from batchbridge.api.idempotency import created_once, idempotency_key
from batchbridge.api.params import merge_params, unflatten
from batchbridge.api.request import blocking, created_on, gateway_of, json_params, provider_hint, query_params
from batchbridge.domain.errors import bad_request


async def uploads_create(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    key = idempotency_key(request.headers)
    params = await json_params(request, "uploads_create")
    provider = created_on(gateway, params)

    def create() -> dict[str, Any]:
        return gateway.uploads.create(caller, provider, params).to_openai(gateway.uploads.now())

    return JSONResponse(await created_once(request, gateway, caller, "uploads_create", key, create, params))


async def uploads_add_part(request: Request) -> JSONResponse:
    upload_id = request.path_params["upload_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    async with request.form(max_files=1, max_fields=16) as form:
        fields = [(key, value) for key, value in form.multi_items() if isinstance(value, str) and key != "data"]
        sent = unflatten(fields)
        check_known("uploads_add_part", {key.split("[", 1)[0] for key in form})  # bracket keys: their top name
        provider = provider_hint(gateway, merge_params(query_params(request), sent))
        data = form.get("data")
        if isinstance(data, str):
            if not data:
                raise bad_request(
                    "'data' arrived as an empty text field; send the part's bytes in it, best as a file field of the "
                    "multipart/form-data body (with a filename, as the SDKs' uploads.parts.create(data=...) does).",
                    param="data",
                    code="invalid_type",
                )
            # A text field holds the part's bytes too, as OpenAI's reference curl sends them (-F data="...").
            data = UploadFile(io.BytesIO(data.encode()), size=len(data.encode()), filename="part")
        if not isinstance(data, UploadFile):
            raise bad_request(
                "Missing required parameter: 'data' (a multipart/form-data file field with the part's bytes).",
                param="data",
                code="missing_required_parameter",
            )
        size = data.size if data.size is not None else len(await data.read())
        await data.seek(0)
        part = await blocking(
            request, gateway.uploads.add_part, caller, upload_id, provider, stream=data.file, size=size
        )
    return JSONResponse(part.to_openai())


async def uploads_complete(request: Request) -> JSONResponse:
    upload_id = request.path_params["upload_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    params = await json_params(request, "uploads_complete")
    provider = provider_hint(gateway, params)
    # another request's claim is a 409 with Retry-After: the SDKs wait and ask again
    record, file = await blocking(request, gateway.uploads.complete, caller, upload_id, provider, params)
    # A large upload is completed with its file "uploaded": usable once files.retrieve shows it "processed".
    return JSONResponse(record.to_openai(gateway.uploads.now(), file.to_openai()))


async def uploads_cancel(request: Request) -> JSONResponse:
    upload_id = request.path_params["upload_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, await json_params(request, "uploads_cancel"))
    record = await blocking(request, gateway.uploads.cancel, caller, upload_id, provider)
    return JSONResponse(record.to_openai(gateway.uploads.now()))
