"""PacketTotal-compatible uploads: ``POST /compat/packettotal/v1/analyze/base64`` (the latest
public SDK) and ``/pcaps/analyze`` (older SDK releases), JSON ``{"pcap_base64", "pcap_name",
"sources"}``.

The capture goes through the same spooler, checks, quota and registration as
``POST /v1/captures``; the answer is PacketTotal's: 202 ``{"id": <md5>, ...}`` when queued, 200
with ``pcap_metadata`` when these bytes were submitted before. A JSON body is read whole, so it
is bounded (``COMPAT_MAX_UPLOAD_BYTES`` or the upload limit if lower, base64-encoded) before a
byte is decoded.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pcaptotal.access.identity import current_identity
from pcaptotal.access.usage import upload_ledger
from pcaptotal.access.visibility import PUBLIC, Visibility
from pcaptotal.capture_context import CaptureContext
from pcaptotal.context import Context
from pcaptotal.metrics import UPLOADS
from pcaptotal.packettotal import PREFIX, pcap_metadata
from pcaptotal.web import Responses, error_responses, get_context
from pydantic import BaseModel, Field, ValidationError

from pcaptotal_ingest.errors import MalformedUpload, NotACapture, UploadRejected, UploadTooLarge
from pcaptotal_ingest.framing import RawFraming
from pcaptotal_ingest.service import register_capture
from pcaptotal_ingest.spool import CaptureSpooler, body_limit

log = structlog.get_logger(__name__)

_DECODE_CHUNK = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
_MAX_SOURCES = 50
# The JSON body is held in memory while it is decoded, so this route takes smaller captures
# than POST /v1/captures, which streams: at most this many bytes (or the upload limit).
COMPAT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class AnalyzeBody(BaseModel):
    pcap_base64: str = Field(description="the capture (pcap or pcapng, may be gzipped), base64")
    pcap_name: str | None = Field(default=None, max_length=255, description="display name")
    sources: list[Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None, max_length=_MAX_SOURCES, description="URLs that refer to the capture"
    )
    visibility: Visibility = Field(
        default=PUBLIC, description="a PcapTotal extension: private keeps it to its owner"
    )


class Analyzed(BaseModel):
    id: str = Field(description="the capture's md5: what the other compat routes take")
    capture_id: str = Field(description="the PcapTotal capture id (/v1/captures/{id})")
    message: str
    pcap_metadata: dict[str, Any] | None = None


def _json_limit(capture_limit: int) -> int:
    return body_limit(capture_limit) * 4 // 3 + 64 * 1024


async def _read_body(request: Request, limit: int) -> AnalyzeBody:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _json_limit(limit):
        raise UploadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _json_limit(limit):
            raise UploadTooLarge(limit)
        chunks.append(chunk)
    try:
        return AnalyzeBody.model_validate(json.loads(b"".join(chunks)))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not JSON"
        raise MalformedUpload(
            f"body must be JSON {{pcap_base64, pcap_name, sources}}: {first}"
        ) from None


def _context(sources: list[str] | None) -> CaptureContext | None:
    if not sources:
        return None
    more = "\n".join(sources) if len(sources) > 1 else None
    try:
        return CaptureContext(source=sources[0][:200], description=more and more[:4000])
    except ValidationError:
        raise MalformedUpload("sources: not usable as the capture's source") from None


async def analyze(
    request: Request, response: Response, ctx: Annotated[Context, Depends(get_context)]
) -> Analyzed:
    """Store a base64-encoded capture and queue it for analysis (PacketTotal's ``analyze``)."""
    limit = min(ctx.settings.max_upload_bytes, COMPAT_MAX_UPLOAD_BYTES)
    who = current_identity.get()
    usage = upload_ledger(request)
    try:
        if usage is not None:
            await usage.check_upload(who)  # before reading: a key with nothing left today
        body = await _read_body(request, limit)
        context = _context(body.sources)
        async with CaptureSpooler(ctx.settings.tmp_dir, limit, RawFraming(body.pcap_name)) as sp:
            text = body.pcap_base64  # decoded a slice at a time into the spool file
            for i in range(0, len(text), _DECODE_CHUNK):
                try:
                    await sp.feed(base64.b64decode(text[i : i + _DECODE_CHUNK], validate=True))
                except ValueError:  # binascii.Error, or characters beyond ASCII
                    raise MalformedUpload("pcap_base64 is not valid base64") from None
            capture = await sp.finish()
            if usage is not None:
                await usage.record_upload(who, capture.size)
            reg = await register_capture(
                ctx,
                capture,
                visibility=body.visibility,
                owner=who.owner if who else "anonymous",
                context=context,
            )
    except UploadRejected as exc:
        UPLOADS.labels("rejected").inc()
        code = 413 if isinstance(exc, UploadTooLarge) else 400
        code = 415 if isinstance(exc, NotACapture) else code
        raise HTTPException(code, str(exc)) from None
    UPLOADS.labels("queued" if reg.queued else "duplicate").inc()
    log.info("compat upload accepted", capture_id=reg.capture_id, size=capture.size)
    response.headers["Location"] = f"{PREFIX}/pcaps/{capture.md5}"
    if reg.queued:
        response.status_code = status.HTTP_202_ACCEPTED
        return Analyzed(id=capture.md5, capture_id=reg.capture_id, message="queued for analysis")
    doc = await ctx.captures.get(reg.capture_id) or {}
    response.status_code = status.HTTP_200_OK
    return Analyzed(
        id=capture.md5,
        capture_id=reg.capture_id,
        message=f"submitted before; analysis {reg.status}",
        pcap_metadata=pcap_metadata(doc),
    )


_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AnalyzeBody.model_json_schema()}},
    }
}


def create_compat_upload_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["packettotal"])
    responses: Responses = {
        202: {"model": Analyzed, "description": "stored and queued for analysis"},
        200: {"model": Analyzed, "description": "submitted before: its metadata"},
        **error_responses(
            {
                400: "not JSON, bad base64, or an empty/truncated capture",
                413: "capture over the size limit",
                415: "not a pcap or pcapng capture",
                503: "the upload cannot be accepted now; retry later",
            }
        ),
    }
    for path, summary in (
        ("/analyze/base64", "Analyze a base64-encoded capture (PacketTotal SDK)"),
        ("/pcaps/analyze", "Analyze a base64-encoded capture (older PacketTotal SDKs)"),
    ):
        router.add_api_route(
            path,
            analyze,
            methods=["POST"],
            status_code=status.HTTP_202_ACCEPTED,
            response_model=Analyzed,
            responses=responses,
            summary=summary,
            openapi_extra=_BODY,
            operation_id="packettotal_" + path.strip("/").replace("/", "_"),
        )
    return router
