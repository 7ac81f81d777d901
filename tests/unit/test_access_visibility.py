"""Private captures below the routes: records stamped at indexing, every read scoped to the
caller (tantivy index and file blob store, in process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.access.identity import Identity, current_identity
from pcaptotal.access.roles import Role
from pcaptotal.access.stamping import stamped
from pcaptotal.access.visibility import (
    UnscopedRead,
    VisibleBlobs,
    VisibleIndex,
    capture_id_for,
    private_capture_id,
)
from pcaptotal.adapters.factory import make_context, start_context
from pcaptotal.adapters.record_formats import encoder
from pcaptotal.captures import new_capture_doc
from pcaptotal.context import Context
from pcaptotal.keys import capture_key, file_key
from pcaptotal.ports import BlobNotFound
from pcaptotal.prepared import PreparedRecord
from pcaptotal.query import parse_query
from pcaptotal.settings import Settings
from pcaptotal.views import TermsAgg

ALICE = Identity("alice", Role.SUBMITTER, "a" * 16)
BOB = Identity("bob", Role.READER, "b" * 16)
ADMIN = Identity("root", Role.ADMIN, "c" * 16)
SHA = "ab" * 32
PRIV = private_capture_id("alice", SHA)
PUB = "cd" * 32
FILE = "ef" * 32


def _record(cid: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event.id": f"{cid}-tcp-{n}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": cid,
        "@timestamp": "2024-01-01T00:00:00Z",
        "source.ip": "10.0.0.1",
        **extra,
    }


async def _setup(tmp: Path) -> Context:
    base = make_context(Settings(data_dir=tmp))
    await start_context(base)
    ctx = base.with_retry(1.0)  # what workers write through: stamps records
    for cid, vis in ((PRIV, "private"), (PUB, "public")):
        doc = new_capture_doc(cid, size=1, filename=None) | {"visibility": vis, "owner": "alice"}
        await ctx.index.put_capture(doc)
        await ctx.blobs.put_bytes(capture_key(cid), b"bytes of " + cid.encode())
    await ctx.index.add_flows([_record(PRIV, 1), _record(PRIV, 2), _record(PUB, 1)])
    await ctx.index.add_flows(
        [{**_record(PRIV, 3), "event.dataset": "file", "file.hash.sha256": [FILE]}]
    )
    await ctx.blobs.put_bytes(file_key(FILE), b"carved")
    return ctx


def run_as(who: Identity | None, fn: Callable[[], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        current_identity.set(who)
        return await fn()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    return asyncio.run(_setup(tmp_path_factory.mktemp("vis")))


def test_private_ids_are_per_owner_and_differ_from_the_public_id() -> None:
    assert capture_id_for(SHA, "public", "alice") == SHA
    assert capture_id_for(SHA, "private", "alice") == PRIV != SHA
    assert capture_id_for(SHA, "private", "bob") not in (PRIV, SHA)


def test_records_are_stamped(ctx: Context) -> None:
    rec = asyncio.run(ctx.index.get_flow(f"{PRIV}-tcp-1"))
    assert rec is not None
    assert rec["pcaptotal.visibility"] == "private" and rec["pcaptotal.owner"] == "alice"


def test_prepared_records_are_stamped_as_their_capture_is_now(tmp_path: Path) -> None:
    """``add_prepared`` takes records stamped (and encoded) by their maker; one whose stamp
    is not its capture's now (made public, the capture since private; or never stamped) is
    stamped again and indexed from the record, not from its stale encoding."""

    async def go() -> list[dict[str, Any] | None]:
        base = make_context(Settings(data_dir=tmp_path))
        await start_context(base)
        ctx = base.with_retry(1.0)
        doc = new_capture_doc(PRIV, size=1, filename=None)
        await ctx.index.put_capture(doc | {"visibility": "private", "owner": "alice"})
        encode = encoder(ctx.index.record_format)
        stale = stamped(_record(PRIV, 1), "public", None)
        right = stamped(_record(PRIV, 2), "private", "alice")
        bare = _record(PRIV, 3)
        await ctx.index.add_prepared(
            [PreparedRecord.of(encode(r), r) for r in (stale, right, bare)]
        )
        return [await ctx.index.get_flow(f"{PRIV}-tcp-{n}") for n in (1, 2, 3)]

    for rec in asyncio.run(go()):
        assert rec is not None
        assert rec["pcaptotal.visibility"] == "private" and rec["pcaptotal.owner"] == "alice"


@pytest.mark.parametrize(
    ("who", "sees_private"), [(ALICE, True), (ADMIN, True), (BOB, False), (None, False)]
)
def test_every_read_is_scoped(ctx: Context, who: Identity | None, sees_private: bool) -> None:
    index: Any = VisibleIndex(ctx.index)
    blobs: Any = VisibleBlobs(ctx.blobs, ctx.index)
    q = parse_query("")

    async def reads() -> dict[str, Any]:
        page = await index.search_page(q, limit=10)
        aggs = await index.aggregate(q, {"c": TermsAgg("pcaptotal.capture_id", 10)})
        return {
            "get": await index.get_capture(PRIV) is not None,
            "find": {d["id"] for d in await index.find_captures(None, 10)},
            "flow": await index.get_flow(f"{PRIV}-tcp-1") is not None,
            "search": (await index.search_flows(q, limit=10)).total,
            "search_capture": (await index.search_flows(q, capture_id=PRIV)).total,
            "page": page.total,
            "aggs": {b.key for b in aggs.terms["c"]},
            "stat": await blobs.stat(capture_key(PRIV)) is not None,
            "file": await blobs.stat(file_key(FILE)) is not None,
        }

    got = run_as(who, reads)
    if sees_private:
        assert got == {
            "get": True, "find": {PRIV, PUB}, "flow": True, "search": 4, "search_capture": 3,
            "page": 4, "aggs": {PRIV, PUB}, "stat": True, "file": True,
        }  # fmt: skip
    else:  # exactly what a capture that does not exist gives
        assert got == {
            "get": False, "find": {PUB}, "flow": False, "search": 1, "search_capture": 0,
            "page": 1, "aggs": {PUB}, "stat": False, "file": False,
        }  # fmt: skip

        async def download() -> None:
            async for _ in blobs.iter_chunks(capture_key(PRIV)):
                pass

        with pytest.raises(BlobNotFound):
            run_as(who, download)
        with pytest.raises(BlobNotFound):
            run_as(who, lambda: blobs.get_bytes(capture_key(PRIV)))


def test_find_captures_fills_the_page_past_hidden_ones(tmp_path: Path) -> None:
    async def go() -> list[str]:
        c = make_context(Settings(data_dir=tmp_path))
        await start_context(c)
        for i in range(9):
            cid = f"{i:064x}"
            vis = "public" if i == 0 else "private"  # the oldest is the only public one
            doc = new_capture_doc(cid, size=1, filename=None) | {"visibility": vis, "owner": "x"}
            doc["created"] = f"2024-01-01T00:00:0{i}+00:00"
            await c.index.put_capture(doc)
        current_identity.set(BOB)
        return [d["id"] for d in await VisibleIndex(c.index).find_captures(None, 1)]

    assert asyncio.run(go()) == [f"{0:064x}"]


def test_unknown_read_method_fails_closed(ctx: Context) -> None:
    class Grown:
        """An index whose port grew two methods this module does not know."""

        async def count(self, query: Any) -> int:
            return 42

        async def capture_names(self) -> list[str]:
            return ["secret"]

    index: Any = VisibleIndex(Grown())  # type: ignore[arg-type]
    with pytest.raises(UnscopedRead):
        run_as(BOB, index.capture_names)
    assert run_as(ADMIN, index.capture_names) == ["secret"]
    seen: list[Any] = []

    class Spy(Grown):
        async def count(self, query: Any) -> int:
            seen.append(query.ir)
            return 1

    run_as(BOB, lambda: VisibleIndex(Spy()).count(parse_query("source.port:80")))  # type: ignore[arg-type]
    assert "pcaptotal.visibility" in repr(seen[0])  # the query got the visibility clause
