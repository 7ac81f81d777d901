"""``GET /v1/indicators/{value}``: every capture and record where a value was seen.

The value's kind is inferred from its shape (an explicit ``kind`` overrides it) and picks the
fields searched. Feeds: in the all-in-one runner the enricher's FeedStore is
``app.state.intel`` and the value is matched against the loaded feeds exactly as a flow field
would be. In distributed mode the search API loads no feeds (they live in the enricher), so
``feeds`` is null and ``feeds_available`` false; what feeds said at analysis time is still in
the answer as ``feeds_at_analysis`` (the providers of the capture's finding records that name
the value), in both modes.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from enum import StrEnum
from ipaddress import ip_address
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pcaptotal.captures import Status
from pcaptotal.messages import Verdict
from pcaptotal.query import QueryGuard, ir
from pcaptotal.views import MAX_BUCKETS, TermsAgg
from pcaptotal.web import error_responses, quote_input
from pydantic import Field

from pcaptotal_search_api.cross import (
    CAPTURE_FIELD,
    Strict,
    any_of,
    capture_docs,
    guarded,
    query,
)
from pcaptotal_search_api.params import CtxDep
from pcaptotal_search_api.record_models import RecordDoc
from pcaptotal_search_api.view_models import BucketView
from pcaptotal_search_api.views import GuardFor


class Kind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
    MD5_OR_JA3 = "md5-or-ja3"  # 32 hex digits: a file MD5, a JA3 or a JA3S
    SHA1 = "sha1"
    SHA256 = "sha256"
    JA4 = "ja4"
    USER_AGENT = "user-agent"


# the record fields each kind is looked up in
FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.IP: ("source.ip", "destination.ip", "dns.resolved_ip"),
    Kind.DOMAIN: (
        "dns.question.name",
        "tls.client.server_name",
        "url.domain",
        "dns.answers.data",
        "tls.server.x509.alternative_names",
    ),
    Kind.URL: ("url.original",),
    Kind.MD5_OR_JA3: ("file.hash.md5", "tls.client.ja3", "tls.server.ja3s"),
    Kind.SHA1: (
        "file.hash.sha1",
        "tls.server.hash.sha1",
        "tls.client.hash.sha1",
        "pcaptotal.tls.server.chain.hash.sha1",
    ),
    Kind.SHA256: ("file.hash.sha256",),
    Kind.JA4: ("tls.client.ja4",),
    Kind.USER_AGENT: ("user_agent.original",),
}
_HEX = {32: Kind.MD5_OR_JA3, 40: Kind.SHA1, 64: Kind.SHA256}
_JA4 = re.compile(r"^[tqd][0-9s]{2}[di][0-9]{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{1,63}$")
MAX_VALUE_CHARS = 2048
MAX_CAPTURES = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def infer_kind(value: str) -> Kind:
    """What ``value`` looks like: an address, a hex digest, a JA4, a URL, a DNS name, or else
    a user agent (free text)."""
    try:
        ip_address(value)
        return Kind.IP
    except ValueError:
        pass
    lowered = value.lower()
    if re.fullmatch(r"[0-9a-f]+", lowered) and len(lowered) in _HEX:
        return _HEX[len(lowered)]
    if _JA4.fullmatch(lowered):
        return Kind.JA4
    if re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
        return Kind.URL
    if _DOMAIN.fullmatch(lowered.rstrip(".")):
        return Kind.DOMAIN
    return Kind.USER_AGENT


def normalise(kind: Kind, value: str) -> Any:
    """The value as the records hold it (400 when it is not of the kind asked for)."""
    try:
        if kind is Kind.IP:
            ip = ip_address(value)
            return getattr(ip, "ipv4_mapped", None) or ip
    except ValueError:
        raise HTTPException(400, f"not an IP address: {quote_input(value)}") from None
    if kind in (Kind.MD5_OR_JA3, Kind.SHA1, Kind.SHA256, Kind.JA4, Kind.DOMAIN):
        value = value.lower()
    return value.rstrip(".") if kind is Kind.DOMAIN else value


def lookup_node(kind: Kind, value: Any) -> ir.Node:
    if kind is Kind.IP:  # dns.answers.data is a keyword: the address as text there
        return ir.Or(
            (*(any_of(f, [value]) for f in FIELDS[kind]), any_of("dns.answers.data", [str(value)]))
        )
    return ir.Or(tuple(any_of(f, [value]) for f in FIELDS[kind]))


# -- feeds ----------------------------------------------------------------------------------------


class _Hit(Protocol):
    indicator: str
    type: str
    feed: str
    field: str
    family: str | None
    tags: tuple[str, ...]
    confidence: str


class _Indicators(Protocol):
    def match_flow(self, flow: dict[str, Any]) -> list[Any]: ...


class _FeedStore(Protocol):  # pcaptotal_enricher.intel.FeedStore, not imported: no dependency
    def indicators(self) -> _Indicators: ...


def _probe_flow(kind: Kind, value: Any) -> dict[str, Any]:
    """A flow holding ``value`` where the enricher would look for it."""
    text = str(value)
    if kind is Kind.IP:
        return {"destination.ip": text}
    if kind is Kind.DOMAIN:
        return {"dns.question.name": text}
    if kind is Kind.URL:
        parts = urlsplit(text)
        return {"url.domain": parts.hostname or "", "url.original": text}
    if kind is Kind.SHA256:
        return {"file.hash.sha256": text}
    if kind is Kind.SHA1:
        return {"file.hash.sha1": text, "tls.server.hash.sha1": text}
    if kind is Kind.MD5_OR_JA3:
        return {"file.hash.md5": text, "tls.client.ja3": text, "tls.server.ja3s": text}
    if kind is Kind.USER_AGENT:
        return {"user_agent.original": text}
    return {}  # JA4: no feed format carries it yet


class FeedMatch(Strict):
    feed: str
    indicator: str = Field(description="the listed value (a parent domain or network too)")
    type: str = Field(description="indicator type (ipv4-addr, domain-name, ja3, ...)")
    field: str = Field(description="the record field it would match")
    family: str | None
    tags: list[str]
    confidence: str


def feed_matches(request: Request, kind: Kind, value: Any) -> list[FeedMatch] | None:
    store: _FeedStore | None = getattr(request.app.state, "intel", None)
    if store is None or not hasattr(store, "indicators"):
        return None
    hits: list[_Hit] = store.indicators().match_flow(_probe_flow(kind, value))
    seen: dict[tuple[str, str, str], FeedMatch] = {}
    for h in hits:
        key = (h.feed, h.indicator, str(h.type))
        seen.setdefault(
            key,
            FeedMatch(
                feed=h.feed,
                indicator=h.indicator,
                type=str(h.type),
                field=h.field,
                family=h.family,
                tags=list(h.tags),
                confidence=str(h.confidence),
            ),
        )
    return sorted(seen.values(), key=lambda m: (m.feed, m.indicator, m.type))


# -- the answer -----------------------------------------------------------------------------------


class CaptureSighting(Strict):
    capture_id: str
    status: Status | None = Field(description="null when the capture document is gone")
    verdict: Verdict | None
    filename: str | None
    records: int = Field(description="records of this capture holding the value")
    datasets: list[BucketView] = Field(description="those records by event.dataset")
    first_seen: datetime | None
    last_seen: datetime | None


class IndicatorView(Strict):
    value: str
    kind: Kind
    fields: list[str] = Field(description="the record fields searched")
    records_total: int
    captures_total: int
    first_seen: datetime | None = Field(description="earliest @timestamp of those records")
    last_seen: datetime | None = Field(description="latest @timestamp of those records")
    verdicts: list[BucketView] = Field(description="the captures' verdicts, counted")
    captures: list[CaptureSighting] = Field(description="most recently seen first")
    records: list[RecordDoc] = Field(description="one page of the records, oldest first")
    cursor: str | None = Field(description="?cursor= for the next page of records")
    feeds_available: bool = Field(
        description="whether this process has the feeds loaded (the all-in-one runner); the "
        "distributed search API does not"
    )
    feeds: list[FeedMatch] | None = Field(description="loaded feeds that name the value")
    feeds_at_analysis: list[BucketView] = Field(
        description="feeds (providers) whose hits on this value were recorded when captures "
        "were analysed (finding records), by records"
    )


_ERRORS = error_responses({400: "a value that is not of the kind asked for, or too long", 503: ""})


def add_indicator_routes(router: APIRouter, guard_for: GuardFor) -> None:
    @router.get(
        "/v1/indicators/{value:path}",
        response_model=IndicatorView,
        tags=["search"],
        responses=_ERRORS,
    )
    async def indicator(
        request: Request,
        ctx: CtxDep,
        value: Annotated[
            str,
            Path(description="an IP, domain, URL, JA3/JA4, MD5/SHA-1/SHA-256 or user agent"),
        ],
        kind: Annotated[Kind | None, Query(description="override the inferred kind")] = None,
        limit: Annotated[int, Query(ge=0, le=1000, description="records per page")] = 50,
        cursor: Annotated[str | None, Query(description="the previous page's cursor")] = None,
        captures_limit: Annotated[int, Query(ge=1, le=MAX_CAPTURES)] = 100,
    ) -> IndicatorView:
        """Every capture and record where the value was seen, first and last seen, the
        captures' verdicts, and the feeds that name it."""
        if not value or len(value) > MAX_VALUE_CHARS:
            raise HTTPException(400, f"a value of 1 to {MAX_VALUE_CHARS} characters")
        chosen = kind or infer_kind(value)
        typed = normalise(chosen, value)
        q = query(lookup_node(chosen, typed))
        guard: QueryGuard = guard_for(ctx)
        span = TermsAgg(
            CAPTURE_FIELD,
            MAX_BUCKETS,
            span_field="@timestamp",
            by=TermsAgg("event.dataset", 10),
        )
        recorded = query(any_of("threat.enrichments.indicator.name", [str(typed)]))

        async def run() -> Any:
            return await asyncio.gather(
                ctx.index.aggregate(q, {"captures": span}),
                ctx.index.search_page(q, limit=limit, cursor=cursor),
                ctx.index.aggregate(
                    recorded,
                    {"providers": TermsAgg("threat.enrichments.indicator.provider", 100)},
                    datasets=["finding"],
                ),
            )

        aggs, page, providers = await guarded(guard, run)
        buckets = aggs.terms["captures"]
        firsts = [b.first for b in buckets if b.first is not None]
        lasts = [b.last for b in buckets if b.last is not None]
        buckets.sort(key=lambda b: (b.last or _EPOCH, str(b.key)), reverse=True)
        shown = buckets[:captures_limit]
        docs = await capture_docs(ctx, [str(b.key) for b in buckets])
        verdicts: dict[str, int] = {}
        for doc in docs.values():
            name = str(doc.get("verdict") or "none")
            verdicts[name] = verdicts.get(name, 0) + 1
        return IndicatorView(
            value=str(typed),
            kind=chosen,
            fields=[*FIELDS[chosen], *(("dns.answers.data",) if chosen is Kind.IP else ())],
            records_total=page.total,
            captures_total=len(buckets),
            first_seen=min(firsts, default=None),
            last_seen=max(lasts, default=None),
            verdicts=[
                BucketView(key=k, count=n)
                for k, n in sorted(verdicts.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            captures=[_sighting(b, docs.get(str(b.key))) for b in shown],
            records=page.hits,
            cursor=page.cursor,
            feeds_available=getattr(request.app.state, "intel", None) is not None,
            feeds=feed_matches(request, chosen, typed),
            feeds_at_analysis=[
                BucketView(key=b.key, count=b.count) for b in providers.terms["providers"]
            ],
        )


def _sighting(b: Any, doc: dict[str, Any] | None) -> CaptureSighting:
    return CaptureSighting(
        capture_id=str(b.key),
        status=doc.get("status") if doc else None,
        verdict=doc.get("verdict") if doc else None,
        filename=doc.get("filename") if doc else None,
        records=b.count,
        datasets=[BucketView(key=s.key, count=s.count) for s in b.sub or []],
        first_seen=b.first,
        last_seen=b.last,
    )
