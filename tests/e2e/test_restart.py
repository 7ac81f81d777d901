"""Data survives a restart of the all-in-one runner."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_server, stop_server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e


def test_data_survives_restart(tmp_path: Path) -> None:
    path = PCAPS / "zeek_tls12-chrome34-google.pcap"
    srv = start_server(tmp_path / "data", tmp_path / "a.log")
    try:
        r = httpx.post(f"{srv.base_url}/v1/captures", content=path.read_bytes(), timeout=30)
        cid = r.json()["id"]
        before = wait_finished(srv.base_url, cid)
        hits = httpx.get(
            f"{srv.base_url}/v1/search", params={"q": "tls.client.server_name:google.de"}
        ).json()
    finally:
        stop_server(srv)
    srv = start_server(tmp_path / "data", tmp_path / "b.log")
    try:
        after = httpx.get(f"{srv.base_url}/v1/captures/{cid}", timeout=10).json()
        assert after["status"] == "done" and after["summary"] == before["summary"]
        again = httpx.get(
            f"{srv.base_url}/v1/search", params={"q": "tls.client.server_name:google.de"}
        ).json()
        assert again == hits and again["total"] >= 1
        dl = httpx.get(f"{srv.base_url}/v1/captures/{cid}/download", timeout=10)
        assert dl.content == path.read_bytes()
    finally:
        stop_server(srv)
