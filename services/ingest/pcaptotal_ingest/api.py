"""HTTP upload endpoint: thin glue between the request stream, the spooler and registration."""

from __future__ import annotations

import time
from typing import Annotated, cast

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pcaptotal.access.identity import current_identity
from pcaptotal.access.usage import upload_ledger
from pcaptotal.access.visibility import PUBLIC, Visibility
from pcaptotal.capture_context import CaptureContext, Sector
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.metrics import STAGE_SECONDS, UPLOADS
from pcaptotal.web import Responses, binary_upload_body, error_responses, get_context
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect

from pcaptotal_ingest.errors import (
    EmptyUpload,
    MalformedUpload,
    NotACapture,
    TruncatedCapture,
    UploadRejected,
    UploadTooLarge,
)
from pcaptotal_ingest.framing import Framing, MultipartFraming, RawFraming, multipart_boundary
from pcaptotal_ingest.service import register_capture
from pcaptotal_ingest.spool import CaptureSpooler, body_limit

log = structlog.get_logger(__name__)

_STATUS: dict[type[UploadRejected], int] = {
    EmptyUpload: status.HTTP_400_BAD_REQUEST,
    MalformedUpload: status.HTTP_400_BAD_REQUEST,
    TruncatedCapture: status.HTTP_400_BAD_REQUEST,
    NotACapture: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    UploadTooLarge: status.HTTP_413_CONTENT_TOO_LARGE,
}


class CaptureAccepted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capture_id: str = Field(
        description="the capture's id (GET /v1/captures/{capture_id}; capture_id in events)",
        pattern="^[0-9a-f]{64}$",
    )
    status: Status = Field(description="stored (queued), or where an earlier upload's run is")


_REQUEST_BODY = binary_upload_body(
    "A pcap or pcapng capture, optionally gzip-compressed: either the raw body or the `file` "
    "field of a multipart/form-data form.",
    "application/vnd.tcpdump.pcap",
)


def _rejected(exc: UploadRejected) -> HTTPException:
    code = next((c for kind, c in _STATUS.items() if isinstance(exc, kind)), 400)
    return HTTPException(status_code=code, detail=str(exc))


def _framing(request: Request, filename: str | None) -> Framing:
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    if boundary is None:
        return RawFraming(filename)
    return MultipartFraming(boundary, fallback_filename=filename)


def _visibility(query: Visibility | None, framing: Framing) -> Visibility:
    form = framing.fields.get("visibility") if isinstance(framing, MultipartFraming) else None
    if form is not None and form not in ("public", "private"):
        raise MalformedUpload("visibility must be public or private")
    if form is not None and query is not None and form != query:
        raise MalformedUpload("visibility differs between the query and the form")
    return cast(Visibility, form or query or PUBLIC)


def _context(
    tags: list[str] | None,
    source: str | None,
    description: str | None,
    sector: Sector | None,
) -> CaptureContext | None:
    """The uploader's context from the query; None when it gives none."""
    given = {
        name: value
        for name, value in (
            ("tags", tags),
            ("source", source),
            ("description", description),
            ("sector", sector),
        )
        if value is not None
    }
    if not given:
        return None
    try:
        return CaptureContext.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedUpload(f"context {where}: {first['msg']}") from None


def _check_content_length(request: Request, limit: int) -> None:
    """Refuse before reading a byte when the declared length already decides it."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return
    if int(declared) == 0:
        raise EmptyUpload("empty upload: the body holds no capture bytes")
    if int(declared) > body_limit(limit):
        raise UploadTooLarge(limit)


async def upload_capture(
    request: Request,
    response: Response,
    ctx: Annotated[Context, Depends(get_context)],
    filename: Annotated[str | None, Query(description="name to show for a raw-body upload")] = None,
    reanalyze: Annotated[
        bool, Query(description="analyse again even if these bytes were uploaded before")
    ] = False,
    visibility: Annotated[
        Visibility | None,
        Query(
            description="private: only the uploader and admins see the capture and all that "
            "is derived from it (also accepted as a multipart form field). Default public"
        ),
    ] = None,
    tags: Annotated[
        list[str] | None, Query(description="the uploader's tags (repeat the parameter)")
    ] = None,
    source: Annotated[str | None, Query(description="where the capture comes from")] = None,
    description: Annotated[str | None, Query(description="free text")] = None,
    sector: Annotated[
        Sector | None, Query(description="targeted sector (STIX 2.1 industry-sector-ov)")
    ] = None,
) -> CaptureAccepted:
    """Store a capture and queue it for analysis.

    202 when it was queued; 200 with the existing status when the same bytes were uploaded
    before (pass ``reanalyze=true`` to queue them again). The context (tags, source,
    description, sector; query parameters) can be edited later by the owner with
    ``PATCH /v1/captures/{id}/context``.
    """
    limit = ctx.settings.max_upload_bytes
    started = time.perf_counter()
    usage = upload_ledger(request)
    try:
        if usage is not None:
            await usage.check_upload(current_identity.get())  # nothing left today: 429 at once
        _check_content_length(request, limit)
        context = _context(tags, source, description, sector)  # refuse before reading
        framing = _framing(request, filename)
        async with CaptureSpooler(ctx.settings.tmp_dir, limit, framing) as spooler:
            async for chunk in request.stream():
                await spooler.feed(chunk)
            capture = await spooler.finish()
            chosen = _visibility(visibility, framing)
            who = current_identity.get()
            if usage is not None:  # counted (or refused with 429) before it is registered
                await usage.record_upload(who, capture.size)
            # Registered while the temp file still exists: the blob store copies from it.
            reg = await register_capture(
                ctx,
                capture,
                reanalyze=reanalyze,
                visibility=chosen,
                owner=who.owner if who else "anonymous",
                context=context,
            )
    except UploadRejected as exc:
        UPLOADS.labels("rejected").inc()
        raise _rejected(exc) from None
    except ClientDisconnect:
        UPLOADS.labels("rejected").inc()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "client disconnected") from None
    STAGE_SECONDS.labels("store").observe(time.perf_counter() - started)
    UPLOADS.labels("queued" if reg.queued else "duplicate").inc()
    # Ids and sizes only: never the capture's name or contents.
    log.info(
        "upload accepted",
        capture_id=reg.capture_id,
        size=capture.size,
        queued=reg.queued,
        status=reg.status,
    )
    response.status_code = status.HTTP_202_ACCEPTED if reg.queued else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/captures/{reg.capture_id}"
    return CaptureAccepted(capture_id=reg.capture_id, status=reg.status)


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ingest"])
    location = {"Location": {"schema": {"type": "string"}, "required": True}}
    responses: Responses = {
        202: {"description": "stored and queued for analysis", "headers": location},
        200: {
            "model": CaptureAccepted,
            "description": "already uploaded: the existing capture",
            "headers": location,
        },
        **error_responses(
            {
                400: "empty, truncated or malformed upload",
                413: "capture over the size limit (decompressed)",
                415: "not a pcap or pcapng capture",
                503: "the upload cannot be accepted now (message bus down); retry later",
            },
            retry_after=[503],
        ),
    }
    router.add_api_route(
        "/captures",
        upload_capture,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CaptureAccepted,
        responses=responses,
        summary="Upload a capture",
        openapi_extra=_REQUEST_BODY,
    )
    return router
