"""FeedStore (directory load, reload on change) and the /v1/intel/feeds admin API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pcaptotal_enricher.intel import FeedStore, create_intel_router

FEODO = (
    '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    '"2025-12-30 13:56:31","50.16.16.211","443","online","2026-03-12","QakBot"\n'
)


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (up to 5 s) for the watcher to have acted."""
    for _ in range(250):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the feed watcher did not pick the change up within 5 s")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeedStore]:
    s = FeedStore(tmp_path / "intel", poll_interval_s=0.05, settle_s=0.01)
    await s.start()
    yield s
    await s.stop()


def hits(store: FeedStore, ip: str) -> list[str]:
    return [h.feed for h in store.indicators().match_flow({"destination.ip": ip})]


async def test_loads_directory_and_reloads_on_change(store: FeedStore) -> None:
    assert store.feeds() == [] and store.directory.is_dir()
    (store.directory / "feodo.csv").write_text(FEODO)
    await eventually(lambda: hits(store, "50.16.16.211") == ["feodo.csv"])
    entry = store.feed("feodo.csv")
    assert entry is not None and entry.stats.format == "feodo-csv"
    first_set = store.indicators()

    (store.directory / "feodo.csv").write_text(FEODO.replace("50.16.16.211", "50.16.16.212"))
    await eventually(lambda: hits(store, "50.16.16.212") == ["feodo.csv"])
    assert hits(store, "50.16.16.211") == []
    assert first_set is not store.indicators()  # swapped, not mutated
    assert first_set.match_flow({"destination.ip": "50.16.16.211"})  # old readers unaffected

    (store.directory / ".partial-upload").write_text("1.2.3.4\n")  # hidden: ignored
    (store.directory / "feodo.csv").unlink()
    await eventually(lambda: store.feeds() == [])
    assert len(store.indicators()) == 0


async def test_unchanged_directory_is_not_reloaded(store: FeedStore) -> None:
    (store.directory / "list.txt").write_text("evil.example.com\n")
    assert await store.reload() is True
    assert await store.reload() is False
    os.utime(store.directory / "list.txt", ns=(1, 1))
    assert await store.reload() is True


async def test_enrichment_follows_the_current_set(store: FeedStore) -> None:
    step = store.enrichment()
    flow = {"dns.question.name": ["a.evil.example.com"]}
    assert "threat.enrichments" not in step([dict(flow)])[0]
    (store.directory / "domains.txt").write_text("evil.example.com\n")
    await store.reload(force=True)
    (hit,) = step([dict(flow)])[0]["threat.enrichments"]
    assert hit["indicator"]["name"] == "evil.example.com"


@pytest.fixture
async def client(store: FeedStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.intel = store
    app.include_router(create_intel_router(max_upload_bytes=4096))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_api_upload_list_show_delete(client: httpx.AsyncClient, store: FeedStore) -> None:
    r = await client.post("/v1/intel/feeds", files={"file": ("feodo.csv", FEODO.encode())})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["name"], body["format"], body["indicators"]) == ("feodo.csv", "feodo-csv", 1)
    assert body["by_type"] == {"ipv4-addr": 1} and body["loaded_at"]
    assert hits(store, "50.16.16.211") == ["feodo.csv"]

    raw = b"# list\nevil.example.com\nhttp://evil.example.com/x\nnot valid!\n"
    r = await client.post("/v1/intel/feeds?name=mixed.txt", content=raw)
    assert r.status_code == 201, r.text
    assert r.json()["malformed"] == 1
    assert r.json()["errors"] == [
        {"line": 4, "error": "not an IP, CIDR, domain, URL or hash: 'not'"}
    ]

    r = await client.get("/v1/intel/feeds")
    listing = r.json()
    assert [f["name"] for f in listing["feeds"]] == ["feodo.csv", "mixed.txt"]
    assert listing["indicators"] == 3

    assert (await client.get("/v1/intel/feeds/mixed.txt")).json()["format"] == "plain"
    assert (await client.get("/v1/intel/feeds/nope.txt")).status_code == 404

    assert (await client.delete("/v1/intel/feeds/feodo.csv")).status_code == 204
    assert not (store.directory / "feodo.csv").exists()
    assert hits(store, "50.16.16.211") == []
    assert (await client.delete("/v1/intel/feeds/feodo.csv")).status_code == 404


async def test_api_conflict_and_replace(client: httpx.AsyncClient, store: FeedStore) -> None:
    assert (
        await client.post("/v1/intel/feeds?name=l.txt", content=b"1.2.3.4\n")
    ).status_code == 201
    r = await client.post("/v1/intel/feeds?name=l.txt", content=b"5.6.7.8\n")
    assert r.status_code == 409
    assert hits(store, "1.2.3.4") == ["l.txt"]
    r = await client.post("/v1/intel/feeds?name=l.txt&replace=true", content=b"5.6.7.8\n")
    assert r.status_code == 201
    assert hits(store, "1.2.3.4") == [] and hits(store, "5.6.7.8") == ["l.txt"]


@pytest.mark.parametrize("name", ["../escape.txt", ".hidden", "a/b.txt", "..", "x" * 200])
async def test_api_rejects_bad_names(
    client: httpx.AsyncClient, store: FeedStore, tmp_path: Path, name: str
) -> None:
    r = await client.post("/v1/intel/feeds", params={"name": name}, content=b"1.2.3.4\n")
    assert r.status_code == 400, r.text
    r = await client.post("/v1/intel/feeds", files={"file": (name, b"1.2.3.4\n")})
    assert r.status_code in (400, 201)  # multipart parsers may reduce a path to its last part
    assert not (tmp_path / "escape.txt").exists()
    assert all(p.parent == store.directory for p in store.directory.iterdir())


async def test_api_rejects_unloadable_and_oversized_feeds(
    client: httpx.AsyncClient, store: FeedStore
) -> None:
    r = await client.post("/v1/intel/feeds?name=bundle.json", content=b'{"type": "bundle", ')
    assert r.status_code == 422
    assert r.json()["format"] == "json" and "invalid JSON" in r.json()["detail"]
    r = await client.post("/v1/intel/feeds?name=junk.txt", content=b"what\never\n")
    assert r.status_code == 422 and r.json()["malformed"] == 2
    r = await client.post("/v1/intel/feeds?name=big.txt", content=b"1.2.3.4\n" * 1000)
    assert r.status_code == 413
    assert (await client.post("/v1/intel/feeds", content=b"1.2.3.4\n")).status_code == 400
    assert sorted(p.name for p in store.directory.iterdir()) == []
