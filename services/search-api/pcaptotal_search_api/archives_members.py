"""Who is in an archive, as the caller may see it: the automatic members (captures with a
record matching the archive's query) and the curated ones (``archives_store``), merged.

Both come from the visibility-scoped index: automatic members and curated members with
records from one terms aggregation each (capture id, first/last record time); curated members
without records (not analysed yet) from their capture documents, read through the scoped
repository. A capture the caller may not see is simply not a member for them, and counts in
no total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from pcaptotal.context import Context
from pcaptotal.query import ir
from pcaptotal.views import MAX_BUCKETS, TermsAgg
from pcaptotal.web import quote_input

from pcaptotal_search_api import archives_store as store
from pcaptotal_search_api.archives_query import KINDS, automatic_query
from pcaptotal_search_api.cross import CAPTURE_FIELD, capture_docs, query, within

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Member:
    capture_id: str
    first: datetime | None = None
    last: datetime | None = None
    added: datetime | None = None  # when an admin put it in (curated members)


@dataclass(slots=True)
class Resolved:
    name: str
    automatic: bool  # the name is an automatic archive's (<kind>/<value>)
    curated: store.Curated | None
    members: list[Member] = field(default_factory=list)  # most recent traffic first


def _spans(found: Any) -> dict[str, Member]:
    return {str(b.key): Member(str(b.key), b.first, b.last) for b in found.terms["c"]}


def _order(member: Member) -> tuple[float, str]:
    return (-(member.last or EPOCH).timestamp(), member.capture_id)


async def curated_visible(
    ctx: Context,
    ids: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Member]:
    """The captures of ``ids`` the caller may see, with their first/last record time. With a
    time range, only those with traffic in it."""
    if not ids:
        return {}
    span = TermsAgg(CAPTURE_FIELD, MAX_BUCKETS, span_field="@timestamp")
    found = await ctx.index.aggregate(
        query(within(ir.MatchAll(), since, until)), {"c": span}, capture_ids=ids
    )
    out = _spans(found)
    rest = [cid for cid in ids if cid not in out]
    if rest and since is None and until is None:  # no records yet: the document decides
        out.update({cid: Member(cid) for cid in await capture_docs(ctx, rest)})
    return out


async def resolve(
    ctx: Context,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Resolved:
    """The archive ``name`` with its members the caller may see; 404 when it is neither an
    automatic nor a curated archive."""
    auto = automatic_query(name)
    curated = await store.load(ctx.blobs, name) if store.NAME.fullmatch(name) else None
    if auto is None and curated is None:
        raise HTTPException(
            404,
            f"no archive {quote_input(name)}: automatic archives are "
            + ", ".join(f"{k}/<value>" for k in KINDS)
            + "; others are curated (PUT /v1/archives/{name})",
        )
    members: dict[str, Member] = {}
    if auto is not None:
        node, datasets = auto
        span = TermsAgg(CAPTURE_FIELD, MAX_BUCKETS, span_field="@timestamp")
        found = await ctx.index.aggregate(
            query(within(node, since, until)), {"c": span}, datasets=list(datasets)
        )
        members = _spans(found)
    if curated is not None:
        visible = await curated_visible(ctx, list(curated.captures), since, until)
        for cid, member in visible.items():
            member.added = curated.captures[cid]
            have = members.get(cid)
            if have is not None and member.last is None:  # (the curated span covers every
                member.first, member.last = have.first, have.last  # record, so it wins)
            members[cid] = member
    return Resolved(
        name=name,
        automatic=auto is not None,
        curated=curated,
        members=sorted(members.values(), key=_order),
    )
