"""Private captures, enforced once, below the routes.

A capture is ``public`` or ``private`` (chosen at upload); its document keeps ``visibility``
and ``owner``, and every record indexed for it carries ``pcaptotal.visibility`` and
``pcaptotal.owner`` (``stamping`` adds them on every ``add_flows``, whoever writes).

Requests see the Index and the BlobStore through ``VisibleIndex`` / ``VisibleBlobs``, which read
the caller from ``current_identity``: admins see everything; anyone else sees public documents
and their own private ones. Every index query gets ``NOT pcaptotal.visibility:private OR
pcaptotal.owner:"<caller>"`` added; documents fetched by id are checked the same way. A read
method this module does not know is scoped generically when it takes a ValidatedQuery, and
refused otherwise (fail closed), so a new port method cannot leak.

Ids: a public capture's id is the SHA-256 of its bytes. A private capture's id is
``sha256("pcaptotal-private\\0<owner>\\0<sha256 of the bytes>")``: uploading bytes that another
owner keeps private creates a new capture instead of finding theirs, so nothing reveals that
they exist; the same owner uploading them again finds their own capture (dedup is per
visibility and, for private, per owner). Documents written before visibility existed have no
such field and count as public (everything was public then).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pcaptotal import fields
from pcaptotal.access.identity import Identity, current_identity
from pcaptotal.access.stamping import OWNER_FIELD, VIS_FIELD
from pcaptotal.ports import BlobInfo, BlobStore, Index
from pcaptotal.query import ValidatedQuery, ir, parse_query

Visibility = Literal["public", "private"]
PUBLIC: Visibility = "public"
PRIVATE: Visibility = "private"
# find_captures over-fetches to fill a page after filtering, up to this many documents.
_FIND_MAX = 10_000
# Index methods that write or manage the adapter: they pass as they are (no caller data comes
# back, but for change_capture, whose callers checked access to that capture first).
_INDEX_PASS = frozenset(
    {
        "start",
        "close",
        "ping",
        "put_capture",
        "change_capture",
        "add_flows",
        "add_prepared",
        "delete_flows",
    }
)
_BLOB_PASS = frozenset({"start", "close", "put_file", "put_bytes", "delete"})
# Blob prefixes requests read that belong to no capture (ingest's outbox; the curated
# archives, whose members are capture ids each read through the scoped index).
_BLOB_INTERNAL = ("outbox/", "archives/")
# md5/<md5>/<capture id>: the md5 lookup (PacketTotal compatibility), visible as its capture.
MD5_PREFIX = "md5/"
# owned/<owner>/...: records a caller keeps for itself (deep search results), its own only.
OWNED_PREFIX = "owned/"

T = TypeVar("T")


class UnscopedRead(PermissionError):
    """A read this module cannot scope to the caller: refused rather than risk a leak."""


def private_capture_id(owner: str, sha256: str) -> str:
    return hashlib.sha256(f"pcaptotal-private\0{owner}\0{sha256}".encode()).hexdigest()


def capture_id_for(sha256: str, visibility: Visibility, owner: str) -> str:
    return sha256 if visibility == PUBLIC else private_capture_id(owner, sha256)


def can_see(visibility: Any, owner: Any, who: Identity | None) -> bool:
    if who is not None and who.is_admin:
        return True
    if visibility != PRIVATE:
        return True
    return who is not None and owner == who.owner


def capture_visible(doc: dict[str, Any], who: Identity | None) -> bool:
    return can_see(doc.get("visibility"), doc.get("owner"), who)


@lru_cache(maxsize=1024)
def _scope_ir(owner: str | None) -> ir.Node:
    text = f"NOT {VIS_FIELD}:{PRIVATE}"
    if owner is not None:
        text += f' OR {OWNER_FIELD}:"{owner}"'  # owners never hold quotes or backslashes
    return parse_query(text).ir


def scoped(query: ValidatedQuery, who: Identity | None) -> ValidatedQuery:
    """``query`` restricted to what ``who`` may see (unchanged for admins)."""
    if who is not None and who.is_admin:
        return query
    out = replace(query)
    # ``ir`` is a cached property: prime it with the conjunction the adapters compile.
    out.__dict__["ir"] = ir.And((query.ir, _scope_ir(who.owner if who else None)))
    return out


def _scope_call(
    args: tuple[Any, ...], kwargs: dict[str, Any], who: Identity | None
) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
    kwargs = dict(kwargs)
    new_args = tuple(scoped(a, who) if isinstance(a, ValidatedQuery) else a for a in args)
    found = any(isinstance(a, ValidatedQuery) for a in args)
    for k, v in kwargs.items():
        if isinstance(v, ValidatedQuery):
            kwargs[k] = scoped(v, who)
            found = True
    return new_args, kwargs, found


class VisibleIndex:
    """The Index as the current caller may see it (see the module docstring)."""

    def __init__(self, inner: Index) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in _INDEX_PASS or not callable(attr):
            return attr

        async def fail_closed(*args: Any, **kwargs: Any) -> Any:
            who = current_identity.get()
            if who is not None and who.is_admin:
                return await attr(*args, **kwargs)
            args, kwargs, found = _scope_call(args, kwargs, who)
            if not found:
                raise UnscopedRead(f"Index.{name} is not scoped to the caller's visibility")
            return await attr(*args, **kwargs)

        return fail_closed

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        doc = await self._inner.get_capture(capture_id)
        if doc is None or not capture_visible(doc, current_identity.get()):
            return None
        return doc

    async def find_captures(
        self, statuses: Sequence[str] | None = None, limit: int = 100, **kw: Any
    ) -> list[dict[str, Any]]:
        who = current_identity.get()
        if who is not None and who.is_admin:
            return await self._inner.find_captures(statuses, limit, **kw)
        n = limit
        while True:  # fetch more until the visible ones fill the page or nothing is left
            docs = await self._inner.find_captures(statuses, n, **kw)
            seen = [d for d in docs if capture_visible(d, who)]
            if len(seen) >= limit or len(docs) < n or n >= _FIND_MAX:
                return seen[:limit]
            n = min(_FIND_MAX, n * 4)

    async def get_flow(self, doc_id: str) -> dict[str, Any] | None:
        rec = await self._inner.get_flow(doc_id)
        if rec is None or await self._record_visible(rec, current_identity.get()):
            return rec
        return None

    async def _record_visible(self, rec: dict[str, Any], who: Identity | None) -> bool:
        vis = fields.values_of(rec, VIS_FIELD)
        if vis:
            return can_see(vis[0], next(iter(fields.values_of(rec, OWNER_FIELD)), None), who)
        cid = next(iter(fields.values_of(rec, "pcaptotal.capture_id")), None)
        doc = await self._inner.get_capture(str(cid)) if cid else None
        return doc is None or capture_visible(doc, who)

    async def search_flows(self, query: ValidatedQuery, **kw: Any) -> Any:
        return await self._inner.search_flows(scoped(query, current_identity.get()), **kw)

    async def search_page(self, query: ValidatedQuery, **kw: Any) -> Any:
        return await self._inner.search_page(scoped(query, current_identity.get()), **kw)

    async def aggregate(self, query: ValidatedQuery, aggs: Any, **kw: Any) -> Any:
        return await self._inner.aggregate(scoped(query, current_identity.get()), aggs, **kw)


class VisibleBlobs:
    """The BlobStore as the current caller may see it: a capture's blobs (``captures/``,
    ``parsed/``) only with its document; a carved file (``files/<sha256>``) only when a file
    record the caller may see names it; an md5 lookup entry with its capture; ``owned/<owner>/``
    to that owner. Other keys are refused to non-admins."""

    def __init__(self, inner: BlobStore, index: Index) -> None:
        self._inner = inner
        self._index = index  # unscoped: visibility is decided here

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in _BLOB_PASS or not callable(attr):
            return attr
        if inspect.isasyncgenfunction(attr) or name == "iter_chunks":

            async def chunks(key: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                await self._check(key)
                async for chunk in attr(key, *args, **kwargs):
                    yield chunk

            return chunks

        async def checked(key: str, *args: Any, **kwargs: Any) -> Any:
            await self._check(key)
            return await attr(key, *args, **kwargs)

        return checked

    async def stat(self, key: str) -> BlobInfo | None:
        if not await self._visible(key):
            return None
        return await self._inner.stat(key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        return [k for k in await self._inner.list_keys(prefix) if await self._visible(k)]

    async def _check(self, key: str) -> None:
        from pcaptotal.ports import BlobNotFound

        if not await self._visible(key):
            raise BlobNotFound(key)  # the same answer as for a key that does not exist

    async def _visible(self, key: str) -> bool:
        who = current_identity.get()
        if who is not None and who.is_admin:
            return True
        if key.startswith(_BLOB_INTERNAL):
            return True
        if key.startswith(OWNED_PREFIX):  # owned/<owner>/...: that owner's own records
            return who is not None and key.split("/", 2)[1] == who.owner
        if key.startswith(MD5_PREFIX):  # md5/<md5>/<capture id>: as the capture
            cid = key.rsplit("/", 1)[-1]
            doc = await self._index.get_capture(cid) if cid.isalnum() else None
            return doc is not None and capture_visible(doc, who)
        for prefix in ("captures/", "parsed/"):
            if key.startswith(prefix):
                cid = key.removeprefix(prefix).split(".", 1)[0]
                doc = await self._index.get_capture(cid)
                return doc is not None and capture_visible(doc, who)
        if key.startswith("files/"):
            sha = key.removeprefix("files/")
            if not sha.isalnum():
                return False
            q = scoped(parse_query(f"file.hash.sha256:{sha}"), who)
            return (await self._index.search_flows(q, limit=1)).total > 0
        return False
