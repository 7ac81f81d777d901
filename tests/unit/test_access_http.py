"""Per-key rate limits (the bucket, 429 with Retry-After over HTTP) and cross-site changes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.access.apikeys import KeyStore
from pcaptotal.access.http import AccessState, install_access
from pcaptotal.access.ratelimit import RateLimiter
from pcaptotal.access.roles import Role
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.web import install_problem_details


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock)  # one a second, bursts of 60
    assert [limiter.take("a") for _ in range(60)] == [0] * 60
    assert limiter.take("a") == 1  # empty: a token in one second
    assert limiter.take("b") == 0  # keys are counted apart
    clock.now += 1.0
    assert limiter.take("a") == 0
    assert limiter.take("a") == 1
    slow = RateLimiter(2, clock)  # one every 30 s
    assert slow.take("c") == 0 and slow.take("c") == 0
    assert slow.take("c") == 30
    clock.now += 29.5
    assert slow.take("c") == 1
    clock.now += 0.5
    assert slow.take("c") == 0


def test_over_the_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    app = FastAPI()
    install_access(app)
    install_problem_details(app)

    @app.get("/v1/captures")
    async def listing() -> dict[str, Any]:
        return {}

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return {}

    store = KeyStore(FileBlobStore(tmp_path / "b"), b"k" * 32)
    a = asyncio.run(store.create("a", Role.READER))[1]
    b = asyncio.run(store.create("b", Role.READER))[1]
    app.state.access = AccessState(auth_on=True, store=store, limiter=RateLimiter(3))
    with TestClient(app) as c:
        codes = [c.get("/v1/captures", headers={"x-api-key": a}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/captures", headers={"x-api-key": a})
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "urn:pcaptotal:problem:rate-limited"
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert c.get("/v1/captures", headers={"x-api-key": b}).status_code == 200  # per key
        assert all(c.get("/healthz").status_code == 200 for _ in range(10))  # probes: no key
        doc = c.get("/openapi.json").json()
        assert "Retry-After" in doc["paths"]["/v1/captures"]["get"]["responses"]["429"]["headers"]


def test_cross_site_change_without_a_key_is_refused_even_with_auth_off(tmp_path: Path) -> None:
    app = FastAPI()
    install_access(app)
    install_problem_details(app)

    @app.post("/v1/captures")
    async def upload() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/v1/captures")
    async def listing() -> dict[str, Any]:
        return {}

    store = KeyStore(FileBlobStore(tmp_path / "b"), b"k" * 32)
    app.state.access = AccessState(auth_on=False, store=store)
    text = {"content-type": "text/plain"}
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        assert c.post("/v1/captures", content=b"x", headers=text).status_code == 200  # curl
        same = {"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"}
        assert c.post("/v1/captures", content=b"x", headers={**text, **same}).status_code == 200
        for evil in (
            {"origin": "https://evil.example"},
            {"sec-fetch-site": "cross-site"},
            {"origin": "http://127.0.0.1:3000", "sec-fetch-site": "same-site"},
        ):
            r = c.post("/v1/captures", content=b"x", headers={**text, **evil})
            assert r.status_code == 403, evil
            assert r.headers["content-type"] == "application/problem+json"
        # reads are not refused (CORS keeps their answers from the other page)
        assert c.get("/v1/captures", headers={"origin": "https://evil.example"}).status_code == 200
