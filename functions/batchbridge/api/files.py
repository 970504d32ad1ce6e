"""Files routes."""

from __future__ import annotations

import io
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from batchbridge.api.arguments import check_known
from batchbridge.api.idempotency import created_once, idempotency_key
from batchbridge.api.limits import MAX_REQUEST_BODY_BYTES, too_large
from batchbridge.api.params import json_objects, merge_params, unflatten
from batchbridge.api.request import blocking, created_on, gateway_of, list_body, provider_hint, query_params
from batchbridge.domain.errors import bad_request
from batchbridge.domain.services.files import DOWNLOAD_URL_SECONDS
from batchbridge.domain.streams import without_fileno

MAX_FORM_FIELDS = 100  # purpose, provider and the SDK's bracket keys of nested extras: a dozen at most in practice


async def files_create(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    key = idempotency_key(request.headers)
    # Field order varies by client (the Node SDK sends the file first): read the whole form.
    async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        fields = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        sent = json_objects(unflatten(fields), ("expires_after", "storage_config"))
        check_known("files_create", {key.split("[", 1)[0] for key in form})  # bracket keys: their top name
        params = merge_params(query_params(request), sent)
        upload = form.get("file")
        if isinstance(upload, str) and upload:
            # A file part sent without a filename arrives as a plain field (small: 1 MiB at most).
            upload = UploadFile(io.BytesIO(upload.encode()), size=len(upload.encode()), filename="upload")
        if not isinstance(upload, UploadFile):
            raise bad_request(
                "Missing required parameter: 'file' (a multipart/form-data file field).",
                param="file",
                code="missing_required_parameter",
            )
        provider = created_on(gateway, params)
        size = upload.size if upload.size is not None else _size(upload)
        if size > MAX_REQUEST_BODY_BYTES:  # a body sent without a Content-Length
            raise too_large("A file", size)
        file = upload

        def create() -> dict[str, Any]:
            return gateway.files.create(
                caller,
                provider,
                stream=without_fileno(file.file),  # stays in memory while it fits there
                size=size,
                filename=file.filename or "upload",
                content_type=file.content_type or "application/octet-stream",
                params=params,
            ).to_openai()

        described = params | {"filename": file.filename, "content_type": file.content_type}
        body = await created_once(request, gateway, caller, "files_create", key, create, described, file.file)
    return JSONResponse(body)


def _redirect(url: str) -> Response:
    """A 302 to the content, whose body says what to do for clients that do not follow redirects by themselves
    (curl without -L)."""
    return PlainTextResponse(
        f"This file is larger than one response of the gateway can carry: follow the redirect to download it "
        f"(the Location header; with curl, add -L). The link is valid for {DOWNLOAD_URL_SECONDS} seconds.\n",
        status_code=302,
        headers={"Location": url},
    )


def _size(upload: UploadFile) -> int:
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


async def files_list(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    params = query_params(request)
    provider = provider_hint(gateway, params)
    page = await blocking(request, gateway.files.list, caller, provider, params)
    return JSONResponse(list_body([record.to_openai() for record in page.items], page.has_more))


async def files_retrieve(request: Request) -> JSONResponse:
    file_id = request.path_params["file_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, query_params(request))
    record = await blocking(request, gateway.files.retrieve, caller, file_id, provider)
    return JSONResponse(record.to_openai())


async def files_delete(request: Request) -> JSONResponse:
    file_id = request.path_params["file_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, query_params(request))
    record = await blocking(request, gateway.files.delete, caller, file_id, provider)
    return JSONResponse({"id": record.id, "object": "file", "deleted": True})


async def files_content(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    gateway = gateway_of(request)
    caller = gateway.caller(request.headers)
    provider = provider_hint(gateway, query_params(request))
    url = await blocking(request, gateway.files.content_url, caller, file_id, provider)
    if url is not None:
        # Over what a Lambda response can carry: the client fetches it from S3 (the SDKs follow redirects and
        # drop Authorization across origins).
        return _redirect(url)
    record, chunks = await blocking(request, gateway.files.content, caller, file_id, provider)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(record.bytes)} if record.blob_key else None,
    )
