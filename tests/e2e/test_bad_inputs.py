"""Bad uploads get clear 4xx answers, nothing half-stored, and the service keeps serving."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def _stored_state(server: Server) -> tuple[set[str], list[str]]:
    blobs = server.data_dir / "blobs" / "captures"
    keys = {p.name for p in blobs.iterdir()} if blobs.exists() else set()
    tmp = server.data_dir / "tmp"
    leftovers = [p.name for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []
    return keys, leftovers


def _assert_serving(server: Server) -> None:
    path = PCAPS / "zeek_icmp-5-pings.pcap"
    r = httpx.post(f"{server.base_url}/v1/captures", content=path.read_bytes(), timeout=30)
    assert r.status_code in (200, 202), r.text
    assert wait_finished(server.base_url, r.json()["capture_id"])["status"] == "done"


def _pcap_header() -> bytes:
    return (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes()[:24]


@pytest.mark.parametrize(
    ("name", "body", "status", "needle"),
    [
        ("text", b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n" * 10, 415, "pcap"),
        ("empty", b"", 400, "empty"),
        ("truncated-header", (PCAPS / "zeek_icmp-5-pings.pcap").read_bytes()[:10], None, ""),
        ("zip", b"PK\x03\x04" + os.urandom(200), 415, "pcap"),
    ],
)
def test_rejected_and_nothing_stored(
    server: Server, name: str, body: bytes, status: int | None, needle: str
) -> None:
    before = _stored_state(server)[0]
    r = httpx.post(f"{server.base_url}/v1/captures", content=body, timeout=30)
    if status is None:
        assert 400 <= r.status_code < 500, r.text
    else:
        assert r.status_code == status, r.text
    assert needle in r.json()["detail"].lower()
    after, leftovers = _stored_state(server)
    assert after == before and leftovers == []
    _assert_serving(server)


def test_random_bytes_with_pcap_magic_fail_with_reason(server: Server) -> None:
    body = bytes.fromhex("d4c3b2a1") + os.urandom(4000)
    r = httpx.post(f"{server.base_url}/v1/captures", content=body, timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["capture_id"] == hashlib.sha256(body).hexdigest()
    doc = wait_finished(server.base_url, r.json()["capture_id"])
    assert doc["status"] == "failed"
    assert doc["error"] and "tshark" in str(doc["error"]).lower()
    _assert_serving(server)


def test_600_mib_body_is_413(server: Server) -> None:
    before = _stored_state(server)[0]

    def body() -> Iterator[bytes]:
        yield _pcap_header()
        chunk = b"\0" * MIB
        for _ in range(600):
            yield chunk

    try:
        r = httpx.post(f"{server.base_url}/v1/captures", content=body(), timeout=120)
        assert r.status_code == 413, r.text
    except httpx.HTTPError:
        # The server may close the connection once it has answered 413 mid-upload.
        pass
    # Same body announced with Content-Length: refused before reading it.
    r = httpx.post(
        f"{server.base_url}/v1/captures",
        content=body(),
        headers={"Content-Length": str(24 + 600 * MIB)},
        timeout=120,
    )
    assert r.status_code == 413
    after, leftovers = _stored_state(server)
    assert after == before and leftovers == []
    _assert_serving(server)


def test_gzip_upload_same_id(server: Server, tmp_path: Path) -> None:
    import gzip

    raw = (PCAPS / "zeek_dns-txt-multiple.pcap").read_bytes()
    r = httpx.post(f"{server.base_url}/v1/captures", content=gzip.compress(raw), timeout=30)
    assert r.status_code in (200, 202), r.text
    assert r.json()["capture_id"] == hashlib.sha256(raw).hexdigest()
    assert wait_finished(server.base_url, r.json()["capture_id"])["status"] == "done"
