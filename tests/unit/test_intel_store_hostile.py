"""FeedStore and the feed API under hostile files: per-feed errors that stop nothing, incremental
reloads, safe concurrent uploads, 4xx answers without server paths, declared statuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pcaptotal.web import install_problem_details
from pcaptotal_enricher.intel import FeedStore, create_intel_router
from pcaptotal_enricher.intel.limits import FeedLimits

FEODO = (
    '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    '"2025-12-30 13:56:31","50.16.16.211","443","online","2026-03-12","QakBot"\n'
)
EMPTY_STIX = json.dumps(
    {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [{"type": "identity", "id": f"identity--{i}", "name": "x"} for i in range(99)],
    }
)
LIMITS = FeedLimits(max_feed_bytes=2_000_000, max_json_bytes=500_000, max_line_chars=4096)
HOSTILE: dict[str, bytes] = {
    "deep.json": b"[" * 100_000,
    "deep-object.json": b'{"Event": ' * 40_000,
    "nul.csv": FEODO.replace("50.16.16.211", "50.16.16.2\x0011").encode(),
    "nul-only.txt": b"\0" * 1000,
    "one-line.csv": FEODO.splitlines()[0].encode() + b",x" * 500_000,
    "too-big.txt": b"1.2.3.4\n" * 300_000,
    "empty-stix.json": EMPTY_STIX.encode(),
    "big.json": json.dumps([{"ip_address": "1.2.3.4"}] * 30_000).encode(),
}


def hits(store: FeedStore, ip: str) -> list[str]:
    return [h.feed for h in store.indicators().match_flow({"destination.ip": ip})]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FeedStore]:
    s = FeedStore(tmp_path / "intel", poll_interval_s=0.05, settle_s=0.01, limits=LIMITS)
    yield s
    await s.stop()


async def test_bad_files_in_the_directory_never_stop_startup_or_other_feeds(
    store: FeedStore,
) -> None:
    store.directory.mkdir(parents=True)
    for name, data in HOSTILE.items():
        (store.directory / name).write_bytes(data)
    (store.directory / "good.csv").write_text(FEODO)
    (store.directory / "dangling").symlink_to(store.directory / "nowhere")
    (store.directory / ".upload-left-by-a-crash").write_text("x")
    await store.start()

    assert hits(store, "50.16.16.211") == ["good.csv"]
    errors = {e.stats.name: e.stats.error for e in store.feeds()}
    assert errors.pop("good.csv") is None
    assert all(errors.values()), errors
    assert set(errors) == {*HOSTILE, "dangling"}
    assert errors["deep.json"] == "JSON nested deeper than 64 levels"
    assert "no indicators" in str(errors["empty-stix.json"])
    assert "over the 1.9 MiB limit" in str(errors["too-big.txt"])
    assert "limit for JSON" in str(errors["big.json"])
    assert errors["dangling"] == "a broken symbolic link"
    assert not any(str(store.directory) in str(e) for e in errors.values())
    assert not (store.directory / ".upload-left-by-a-crash").exists()


async def test_only_the_changed_feed_is_parsed_again(store: FeedStore) -> None:
    store.directory.mkdir(parents=True)
    (store.directory / "a.csv").write_text(FEODO)
    (store.directory / "b.txt").write_text("evil.example.com\n")
    await store.start()
    a_before, b_before = store.feed("a.csv"), store.feed("b.txt")
    assert a_before is not None and b_before is not None

    (store.directory / "b.txt").write_text("evil.example.org\n")
    assert await store.reload(force=True) is True
    assert store.feed("a.csv") is a_before  # not parsed again: the very same entry
    b_after = store.feed("b.txt")
    assert b_after is not None and b_after.loaded_at > b_before.loaded_at
    assert hits(store, "50.16.16.211") == ["a.csv"]
    flow = {"dns.question.name": "evil.example.org"}
    assert [h.feed for h in store.indicators().match_flow(flow)] == ["b.txt"]

    (store.directory / "b.txt").write_bytes(b"[" * 10_000)  # a feed turning bad
    await store.reload(force=True)
    assert store.feed("a.csv") is a_before and hits(store, "50.16.16.211") == ["a.csv"]
    assert store.indicators().match_flow(flow) == []
    assert await store.reload(force=True) is False  # nothing changed since


@pytest.fixture
async def client(store: FeedStore) -> AsyncIterator[httpx.AsyncClient]:
    await store.start()
    app = FastAPI()
    install_problem_details(app)
    app.state.intel = store
    app.include_router(create_intel_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(("name", "status", "needle"), [
    ("deep.json", 422, "nested deeper than 64"),
    ("deep-object.json", 422, "nested deeper than 64"),
    ("nul.csv", 422, "no indicators"),
    ("nul-only.txt", 422, "no indicators"),
    ("one-line.csv", 422, "no header line"),
    ("too-big.txt", 413, "limit"),
    ("empty-stix.json", 422, "the feed yields no indicators"),
    ("big.json", 422, "limit for JSON"),
])  # fmt: skip
async def test_hostile_uploads_are_4xx_without_paths(
    client: httpx.AsyncClient, store: FeedStore, name: str, status: int, needle: str
) -> None:
    for request in (
        client.post("/v1/intel/feeds", params={"name": name}, content=HOSTILE[name]),
        client.post("/v1/intel/feeds", files={"file": (name, HOSTILE[name])}),
    ):
        r = await request
        assert r.status_code == status, r.text
        assert needle in r.json()["detail"]
        assert str(store.directory) not in r.text and "/tmp" not in r.text
    assert [p.name for p in store.directory.iterdir()] == []
    assert store.feeds() == []


async def test_concurrent_uploads_of_one_name_end_consistent(
    client: httpx.AsyncClient, store: FeedStore
) -> None:
    bodies = ["".join(f"10.{i}.{j}.1\n" for j in range(200)).encode() for i in range(8)]
    answers = await asyncio.gather(
        *(
            client.post("/v1/intel/feeds", params={"name": "l.txt", "replace": "true"}, content=b)
            for b in bodies
        )
    )
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
    on_disk = (store.directory / "l.txt").read_bytes()
    winner = bodies.index(on_disk)  # the file is exactly one of the uploads, not a mix
    assert hits(store, f"10.{winner}.7.1") == ["l.txt"]
    assert [hits(store, f"10.{i}.7.1") for i in range(8) if i != winner] == [[]] * 7
    listed = (await client.get("/v1/intel/feeds/l.txt")).json()
    assert listed["indicators"] == 200 and listed["size"] == len(on_disk)
    assert [p.name for p in store.directory.iterdir()] == ["l.txt"]  # no staging leftovers

    answers = await asyncio.gather(
        *(client.post("/v1/intel/feeds", params={"name": "m.txt"}, content=b) for b in bodies)
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 7
    assert all("/" not in r.json()["detail"] for r in answers if r.status_code == 409)


async def test_every_answered_status_is_declared(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()["paths"]
    seen: list[tuple[str, str, int]] = []

    async def call(method: str, route: str, url: str, **kw: object) -> None:
        r = await client.request(method, url, **kw)  # type: ignore[arg-type]
        seen.append((route, method.lower(), r.status_code))

    feeds, one = "/v1/intel/feeds", "/v1/intel/feeds/{name}"
    await call("POST", feeds, feeds, params={"name": "a.csv"}, content=FEODO.encode())
    await call("POST", feeds, feeds, params={"name": "a.csv"}, content=FEODO.encode())
    await call("POST", feeds, feeds, params={"name": "../x"}, content=b"1.2.3.4\n")
    await call("POST", feeds, feeds, content=b"1.2.3.4\n")
    await call("POST", feeds, feeds, params={"name": "d.json"}, content=HOSTILE["deep.json"])
    await call("POST", feeds, feeds, params={"name": "b.txt"}, content=HOSTILE["too-big.txt"])
    await call("POST", feeds, feeds, params={"name": "c", "replace": "maybe"}, content=b"x")
    await call("GET", feeds, feeds)
    await call("GET", one, f"{feeds}/a.csv")
    await call("GET", one, f"{feeds}/nope")
    await call("DELETE", one, f"{feeds}/..x")
    await call("DELETE", one, f"{feeds}/a.csv")
    await call("DELETE", one, f"{feeds}/a.csv")
    assert {s for *_, s in seen} == {200, 201, 204, 400, 404, 409, 413, 422}
    for route, method, status in seen:
        assert str(status) in spec[route][method]["responses"], (route, method, status)
