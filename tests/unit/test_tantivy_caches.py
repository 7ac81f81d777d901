"""The tantivy adapter's caches: a capture GET returns the last committed document and an
aggregation the answer over the last committed records, whatever was cached before, and
callers cannot alter what is cached; pages keep their order when equal times are ordered in
memory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.query import parse_query
from pcaptotal.views import TermsAgg

CID = "a" * 64


def _doc(**fields: Any) -> dict[str, Any]:
    return {"id": CID, "status": "done", "verdict": "clean", "created": "2024-01-01T00:00:00Z"} | (
        fields
    )


async def test_reads_follow_writes_and_deletes(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        assert await index.get_capture(CID) is None
        await index.put_capture(_doc(score=1))
        first = await index.get_capture(CID)
        assert first is not None and first["score"] == 1
        first["score"] = 99  # the caller's copy: the cache keeps its own
        again = await index.get_capture(CID)
        assert again is not None and again["score"] == 1
        await index.put_capture(_doc(score=2, verdict="malicious"))
        updated = await index.get_capture(CID)
        assert updated is not None and (updated["score"], updated["verdict"]) == (2, "malicious")
        await index.delete_capture(CID)
        assert await index.get_capture(CID) is None
    finally:
        await index.close()


async def test_a_read_racing_a_write_never_caches_the_older_document(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        await index.put_capture(_doc(score=1))
        # Reads and writes interleaved on the loop: whichever order the threads run them in,
        # the read after the last write sees the last document.
        for n in range(2, 12):
            await asyncio.gather(
                *(index.get_capture(CID) for _ in range(3)),
                index.put_capture(_doc(score=n)),
                *(index.get_capture(CID) for _ in range(3)),
            )
            doc = await index.get_capture(CID)
            assert doc is not None and doc["score"] == n
    finally:
        await index.close()


async def test_a_cancelled_write_still_invalidates_once_it_lands(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        await index.put_capture(_doc(score=1))
        assert (await index.get_capture(CID) or {}).get("score") == 1  # cached
        task = asyncio.create_task(index.put_capture(_doc(score=2)))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0.5)  # the write finishes on its thread regardless
        # The cached answer is what the index holds (find_captures reads it uncached),
        # whether the cancelled write landed or not.
        stored = await index.find_captures(None, 10)
        assert [await index.get_capture(CID)] == stored
        await index.put_capture(_doc(score=3))
        assert (await index.get_capture(CID) or {}).get("score") == 3
    finally:
        await index.close()


def _flow(n: int, capture: str, ip: str) -> dict[str, Any]:
    return {
        "event.id": f"{capture}-{n}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": capture,
        "destination.ip": ip,
        "@timestamp": f"2024-01-01T00:00:{n:02d}Z",
    }


async def test_aggregations_follow_record_writes_and_deletes(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    every = parse_query("")
    aggs = {"dst": TermsAgg("destination.ip", 10)}

    async def tops() -> list[tuple[object, int]]:
        out = await index.aggregate(every, aggs)
        return [(b.key, b.count) for b in out.terms["dst"]]

    try:
        await index.add_flows([_flow(n, CID, "10.0.0.1") for n in range(3)])
        assert await tops() == [("10.0.0.1", 3)]
        first = await index.aggregate(every, aggs)
        first.terms["dst"].clear()  # the caller's objects: the next answer is whole
        assert await tops() == [("10.0.0.1", 3)]
        other = "b" * 64
        await index.add_flows([_flow(n, other, "10.0.0.2") for n in range(4)])
        assert await tops() == [("10.0.0.2", 4), ("10.0.0.1", 3)]
        assert (await index.aggregate(every, aggs, capture_id=CID)).total == 3
        await index.delete_flows(other)
        assert await tops() == [("10.0.0.1", 3)]
        assert (await index.aggregate(every, aggs)).total == 3
    finally:
        await index.close()


async def test_listings_follow_capture_writes(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()

    async def done() -> list[tuple[str, object]]:
        return [(d["id"], d.get("score")) for d in await index.find_captures(["done"], 10)]

    try:
        await index.put_capture(_doc(score=1))
        assert await done() == [(CID, 1)]
        (await index.find_captures(["done"], 10))[0]["score"] = 99  # the caller's copy
        assert await done() == [(CID, 1)]
        other = "b" * 64
        await index.put_capture(_doc(id=other, created="2024-02-01T00:00:00Z", score=2))
        assert await done() == [(other, 2), (CID, 1)]
        await index.put_capture(_doc(status="failed"))
        assert await done() == [(other, 2)]
        await index.delete_capture(other)
        assert await done() == []
    finally:
        await index.close()


async def test_pages_order_runs_of_equal_times_by_id(tmp_path: Path) -> None:
    """Runs of equal @timestamp go by event.id on every page, whether the run lies wholly in
    the hits fetched (ordered in memory) or is cut by the page end (ordered by a query)."""
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    flows = [
        _flow(n // 4, CID, "10.0.0.1") | {"event.id": f"{CID}-{n * 7919 % 97:02d}"}
        for n in range(23)
    ]
    # a run longer than what a page fetches past its end: ordered by a query
    flows += [
        _flow(7, CID, "10.0.0.1") | {"event.id": f"{CID}-L{n * 37 % 40:02d}"} for n in range(40)
    ]
    flows.append(_flow(0, CID, "10.0.0.1") | {"event.id": f"{CID}-none"})
    del flows[-1]["@timestamp"]  # no time: after every timed record
    expected = sorted(
        (f["event.id"] for f in flows),
        key=lambda i: next((f.get("@timestamp") or "~", i) for f in flows if f["event.id"] == i),
    )
    try:
        await index.add_flows(flows)
        every = parse_query("")
        for limit in (1, 3, 5, 24, 70):
            got: list[str] = []
            for offset in range(0, len(flows), limit):
                page = await index.search_flows(every, limit=limit, offset=offset)
                got += [h["event.id"] for h in page.hits]
            assert got == expected, limit
    finally:
        await index.close()


async def test_a_miss_is_cached_only_until_that_capture_is_written(tmp_path: Path) -> None:
    """Misses are cached (a missing id must cost what a hidden one does), and a miss read
    while the capture was being created is never kept."""
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        for n in range(5):
            cid = f"{n:064x}"
            assert await index.get_capture(cid) is None
            assert await index.get_capture(cid) is None  # from the cache now
            made = {**_doc(score=n), "id": cid}
            await asyncio.gather(
                *(index.get_capture(cid) for _ in range(3)),
                index.put_capture(made),
                *(index.get_capture(cid) for _ in range(3)),
            )
            doc = await index.get_capture(cid)
            assert doc is not None and doc["score"] == n
    finally:
        await index.close()


class _FailingCommit:
    """A writer whose next commit fails (the disk, a lost file descriptor), then works."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.fail = True

    def commit(self) -> None:
        if self.fail:
            self.fail = False
            raise ValueError("Internal error: 'Bad file descriptor (os error 9)'")
        self._writer.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


async def test_a_capture_write_that_failed_changes_nothing(tmp_path: Path) -> None:
    index = TantivyIndex(tmp_path / "index")
    await index.start()
    try:
        await index.put_capture(_doc(score=1))
        store = index._captures
        assert store is not None
        store.writer = _FailingCommit(store.writer)  # type: ignore[assignment]
        try:
            await index.change_capture(CID, lambda doc: (doc or {}) | {"score": 2})
        except ValueError:
            pass
        else:
            raise AssertionError("the commit did not fail")
        assert (await index.get_capture(CID) or {}).get("score") == 1
        # the next write commits only itself: the failed one's delete and add are gone
        other = "b" * 64
        await index.put_capture(_doc(id=other, score=3))
        index._capture_cache.changed(CID)
        after = await index.get_capture(CID)
        assert after is not None and after["score"] == 1
        assert (await index.get_capture(other) or {}).get("score") == 3
        assert len(await index.find_captures()) == 2
    finally:
        await index.close()
