"""What the cross-capture routes share: queries built from typed terms (no query text to
escape), the capture documents behind a set of ids, and the strict response base."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fastapi import HTTPException
from pcaptotal.context import Context
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import QueryError, QueryGuard, QueryTimeout, ValidatedQuery, ir
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")
RETRY_AFTER_S = "5"
CAPTURE_FIELD = "pcaptotal.capture_id"
_FETCH_CONCURRENCY = 16  # capture documents read at once


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class NodeQuery(ValidatedQuery):
    """A query built in code from the backend-neutral IR (values are typed, never parsed).

    ``ir`` stays the parent's cached property, primed here, so code that narrows a query by
    priming ``ir`` on a copy (``pcaptotal.access.visibility.scoped``) works on these too."""

    node: ir.Node = field(default_factory=ir.MatchAll)

    def __post_init__(self) -> None:
        self.__dict__["ir"] = self.node


def query(node: ir.Node, text: str = "") -> NodeQuery:
    return NodeQuery(text=text, node=node)


def any_of(name: str, values: Iterable[Any]) -> ir.Node:
    """``name`` equals one of ``values`` (a declared field; no values: nothing)."""
    f = FLOW_FIELDS_BY_NAME[name]
    terms = tuple(ir.Term(f, v) for v in values)
    if not terms:
        return ir.MatchNone()
    return terms[0] if len(terms) == 1 else ir.Or(terms)


def within(node: ir.Node, since: datetime | None, until: datetime | None) -> ir.Node:
    """``node`` and ``@timestamp`` in [since, until)."""
    if since is None and until is None:
        return node
    span = ir.Range(FLOW_FIELDS_BY_NAME["@timestamp"], since, until, True, False)
    return span if isinstance(node, ir.MatchAll) else ir.And((node, span))


async def guarded(guard: QueryGuard, run: Callable[[], Awaitable[T]]) -> T:
    """Run index work inside the search budget: 400 for what the index refuses, 503 when
    the budget is spent."""
    try:
        return await guard.search(run)
    except QueryError as exc:
        raise HTTPException(400, f"invalid query: {exc}") from exc
    except QueryTimeout as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": RETRY_AFTER_S}) from exc


async def capture_docs(ctx: Context, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The capture documents of ``ids`` that exist, read a few at a time."""
    gate = asyncio.Semaphore(_FETCH_CONCURRENCY)

    async def one(cid: str) -> tuple[str, dict[str, Any] | None]:
        async with gate:
            return cid, await ctx.captures.get(cid)

    found = await asyncio.gather(*(one(c) for c in dict.fromkeys(ids)))
    return {cid: doc for cid, doc in found if doc is not None}
