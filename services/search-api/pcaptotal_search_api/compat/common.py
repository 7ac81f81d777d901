"""What the compat routes share: md5 lookups through the access layer, PacketTotal's loose
query parameters, and JSON answers that ``pretty=true`` indents."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query
from fastapi.responses import Response
from pcaptotal.access.identity import current_identity
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.keys import md5_prefix
from pcaptotal.packettotal import MD5, pcap_metadata
from pcaptotal.web import quote_input
from pydantic import BaseModel

from pcaptotal_search_api.compat.models import AnalysisSummary, PcapMetadata
from pcaptotal_search_api.cross import capture_docs

Md5 = Annotated[
    str,
    Path(description="the md5 of the capture's bytes", json_schema_extra={"pattern": MD5.pattern}),
]
Pretty = Annotated[
    str | None,
    Query(
        description="true: indented JSON. Quotes around or after the value are ignored (the "
        "PacketTotal SDK appends one to /search)"
    ),
]
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_ANALYSED = (Status.DONE.value, Status.FAILED.value)


def flag(value: str | None, name: str, default: bool = False) -> bool:
    """A PacketTotal boolean: true/false in any case, stray quotes and spaces ignored."""
    if value is None:
        return default
    text = value.strip().strip("'\"").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise HTTPException(400, f"{name} must be true or false, got {quote_input(value)}")


def answer(body: BaseModel | dict[str, Any], pretty: str | None, status: int = 200) -> Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    if flag(pretty, "pretty"):
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    else:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return Response(text, status, media_type="application/json")


def check_md5(md5: str) -> str:
    if not MD5.fullmatch(md5):
        raise HTTPException(400, f"md5 must be 32 lowercase hex digits, got {quote_input(md5)}")
    return md5


async def visible_by_md5(ctx: Context, md5: str) -> list[dict[str, Any]]:
    """The capture documents with these bytes that the caller may see (the blob store shows a
    marker only with its capture), the caller's own first, then newest first."""
    keys = await ctx.blobs.list_keys(md5_prefix(check_md5(md5)))
    docs = list((await capture_docs(ctx, [k.rsplit("/", 1)[-1] for k in keys])).values())
    who = current_identity.get()
    mine = who.owner if who else None
    docs.sort(key=lambda d: str(d.get("created") or ""), reverse=True)
    docs.sort(key=lambda d: d.get("owner") != mine)  # stable: own first, each newest first
    return docs


async def analysed_pcap(ctx: Context, md5: str) -> dict[str, Any]:
    """The capture PacketTotal's ``/pcaps/{md5}`` means: 404 while none is analysed (the SDK
    polls on 404), the same 404 whether it is unknown, hidden or still being analysed."""
    docs = await visible_by_md5(ctx, md5)
    done = [d for d in docs if d.get("status") in _ANALYSED]
    if not done:
        raise HTTPException(404, f"no analysed pcap with md5 {md5} (yet)")
    return done[0]


def metadata(doc: dict[str, Any]) -> PcapMetadata:
    return PcapMetadata.model_validate(pcap_metadata(doc))


def summary(doc: dict[str, Any]) -> AnalysisSummary:
    return AnalysisSummary(
        verdict=doc.get("verdict"),
        score=doc.get("score"),
        reasons=list(doc.get("reasons") or []),
        tags=list(doc.get("tags") or []),
        signature_count=int(doc.get("finding_count") or 0),
        signatures=list(doc.get("finding_summary") or []),
        summary=dict(doc.get("summary") or {}),
        warnings=list(doc.get("warnings") or []),
        error=doc.get("error"),
    )
