"""Data survives a restart of the all-in-one runner."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_server, stop_server, wait_finished
from tests.paths import PCAPS
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e


def test_data_survives_restart(tmp_path: Path) -> None:
    path = PCAPS / "zeek_tls12-chrome34-google.pcap"
    srv = start_server(tmp_path / "data", tmp_path / "a.log")
    try:
        r = httpx.post(f"{srv.base_url}/v1/captures", content=path.read_bytes(), timeout=30)
        cid = r.json()["capture_id"]
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


def test_unfinished_capture_resumes_after_crash(tmp_path: Path) -> None:
    """A capture left mid-pipeline by a crash (status ``parsing``) is finished on restart."""
    import asyncio
    import hashlib

    from pcaptotal.adapters.file_blobstore import FileBlobStore
    from pcaptotal.adapters.tantivy_index import TantivyIndex
    from pcaptotal.captures import CaptureRepository, Status
    from pcaptotal.keys import capture_key

    path = PCAPS / "zeek_dns-edns-ecs.pcap"
    cid = hashlib.sha256(path.read_bytes()).hexdigest()
    data = tmp_path / "data"

    async def stage_crashed_state() -> None:
        blobs, index = FileBlobStore(data / "blobs"), TantivyIndex(data / "index")
        await blobs.start()
        await index.start()
        await blobs.put_file(capture_key(cid), path)
        repo = CaptureRepository(index)
        await repo.create(cid, size=path.stat().st_size, filename=path.name)
        await repo.update(cid, Status.PARSING)
        await index.close()

    asyncio.run(stage_crashed_state())
    srv = start_server(data, tmp_path / "c.log")
    try:
        doc = wait_finished(srv.base_url, cid)
        assert doc["status"] == "done", doc
        assert doc["summary"] == oracle_summary(path)
    finally:
        stop_server(srv)
