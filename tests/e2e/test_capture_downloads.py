"""One capture over HTTP on the all-in-one runner: downloads, one packet, delete, progress.

Real tshark is the oracle: a flow's pcap holds exactly the packets tshark selects for that
stream; ``/packets/{n}`` answers frame n; the bundle's CSVs have as many rows as the views
count; the carved file's zip opens with ``infected`` and hashes to its name; a delete leaves no
document, blob or orphaned file, while a file another capture shares survives.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyzipper

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.faults import write_udp_capture
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

MULTI = PCAPS / "zeek_wikipedia-dns-http.pcap"  # tcp and udp flows, dns and http records
CARVED = PCAPS / "zeek_http-zip-download.pcap"  # one carved file (a zip over HTTP)
VIEWS = ("flows", "dns", "http", "tls", "files", "findings")
ALL_DATASETS = "event.dataset:(flow OR dns OR http OR tls OR file OR finding)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("downloads")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as c:
        yield c


def upload(client: httpx.Client, server: Server, data: bytes, name: str) -> str:
    r = client.post("/v1/captures", content=data, params={"filename": name})
    assert r.status_code in (200, 202), r.text
    cid: str = r.json()["capture_id"]
    assert wait_finished(server.base_url, cid, timeout=300)["status"] == "done"
    return cid


@pytest.fixture(scope="module")
def multi(client: httpx.Client, server: Server) -> str:
    return upload(client, server, MULTI.read_bytes(), MULTI.name)


def tshark_count(path: Path, display_filter: str | None = None) -> int:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout
    return len(out.split())


def records(client: httpx.Client, cid: str, view: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/captures/{cid}/{view}", params={"limit": 1000})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["cursor"] is None or len(page["hits"]) == 1000
    hits: list[dict[str, Any]] = page["hits"]
    return hits


def test_pcap_and_its_alias_return_the_original(client: httpx.Client, multi: str) -> None:
    original = MULTI.read_bytes()
    for path in ("pcap", "download"):
        r = client.get(f"/v1/captures/{multi}/{path}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/vnd.tcpdump.pcap"
        assert r.content == original


def test_flow_pcap_holds_exactly_that_flows_packets(
    client: httpx.Client, multi: str, tmp_path: Path
) -> None:
    flows = records(client, multi, "flows")
    by_transport: dict[str, list[dict[str, Any]]] = {}
    for flow in flows:
        by_transport.setdefault(str(flow["pcaptotal.flow_key"]).split("-")[0], []).append(flow)
    assert {"tcp", "udp"} <= set(by_transport)
    picked = [*by_transport["tcp"][:3], *by_transport["udp"][:3]]
    for flow in picked:
        key = str(flow["pcaptotal.flow_key"])
        r = client.get(f"/v1/captures/{multi}/flows/{flow['event.id']}/pcap")
        assert r.status_code == 200, r.text
        cut = tmp_path / f"{key}.pcap"
        cut.write_bytes(r.content)
        transport, stream = key.split("-")
        expected = tshark_count(MULTI, f"{transport}.stream eq {stream}")
        assert tshark_count(cut) == expected > 0
        assert expected == flow["network.packets"]
    bad = client.get(f"/v1/captures/{multi}/flows/{multi}-tcp-999999/pcap")
    assert bad.status_code == 404
    injected = client.get(f"/v1/captures/{multi}/flows/tcp-1 or 1/pcap")
    assert injected.status_code == 400


def test_packet_n_is_frame_n(client: httpx.Client, multi: str) -> None:
    total = tshark_count(MULTI)
    for n in (1, 7, total):
        r = client.get(f"/v1/captures/{multi}/packets/{n}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["number"] == n
        assert body["layers"]["frame"]["frame.number"] == str(n)
        assert "eth" in body["layers"]
    assert client.get(f"/v1/captures/{multi}/packets/{total + 1}").status_code == 404
    assert client.get(f"/v1/captures/{multi}/packets/0").status_code == 422


def test_bundle_has_the_capture_one_csv_per_view_the_analysis_and_the_files(
    client: httpx.Client, server: Server
) -> None:
    cid = upload(client, server, CARVED.read_bytes(), CARVED.name)
    multi_id = upload(client, server, MULTI.read_bytes(), MULTI.name)
    for capture_id, source in ((cid, CARVED), (multi_id, MULTI)):
        r = client.get(f"/v1/captures/{capture_id}/bundle.zip")
        assert r.status_code == 200
        z = zipfile.ZipFile(io.BytesIO(r.content))
        names = set(z.namelist())
        assert z.read("capture.pcap") == source.read_bytes()
        for view in VIEWS:
            rows = list(csv.reader(io.StringIO(z.read(f"{view}.csv").decode())))
            total = client.get(f"/v1/captures/{capture_id}/{view}", params={"limit": 1}).json()
            assert len(rows) - 1 == total["total"], view
            if total["total"]:
                ids = {row[rows[0].index("event.id")] for row in rows[1:]}
                assert len(ids) == total["total"]
        analysis = client.get(f"/v1/captures/{capture_id}/analysis").json()
        assert json.loads(z.read("analysis.json")) == analysis
        files = records(client, capture_id, "files")
        assert {n for n in names if n.startswith("files/")} == {
            f"files/{f['file.hash.sha256']}" for f in files
        }
        for f in files:
            content = z.read(f"files/{f['file.hash.sha256']}")
            assert hashlib.sha256(content).hexdigest() == f["file.hash.sha256"]
    assert records(client, cid, "files"), "the HTTP download capture carves a file"


def test_carved_file_zip_opens_with_infected(client: httpx.Client, server: Server) -> None:
    cid = upload(client, server, CARVED.read_bytes(), CARVED.name)
    (record,) = records(client, cid, "files")
    sha = record["file.hash.sha256"]
    r = client.get(f"/v1/captures/{cid}/files/{sha}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as z:
        assert z.namelist() == [sha]
        with pytest.raises(RuntimeError):
            z.read(sha, pwd=b"wrong")
        content = z.read(sha, pwd=b"infected")
    assert hashlib.sha256(content).hexdigest() == sha
    assert len(content) == record["file.size"]
    assert client.get(f"/v1/captures/{cid}/files/{'0' * 64}").status_code == 404
    assert client.get(f"/v1/captures/{cid}/files/not-a-hash").status_code == 400


def _blob_keys(server: Server) -> set[str]:
    root = server.data_dir / "blobs"
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def _documents(client: httpx.Client, cid: str) -> int:
    r = client.get("/v1/search", params={"q": ALL_DATASETS, "capture": cid, "limit": 0})
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def test_delete_leaves_nothing_but_shared_files(client: httpx.Client, server: Server) -> None:
    a = upload(client, server, CARVED.read_bytes(), CARVED.name)
    (record,) = records(client, a, "files")
    sha = record["file.hash.sha256"]
    # a second capture that carries the same file: the flow that carried it, cut out
    flow_id = record["pcaptotal.flow_id"][0]
    cut = client.get(f"/v1/captures/{a}/flows/{flow_id}/pcap").content
    b = upload(client, server, _with_extra_packet(cut), "flow.pcap")
    assert b != a
    assert {f["file.hash.sha256"] for f in records(client, b, "files")} == {sha}
    assert _documents(client, a) > 0

    r = client.delete(f"/v1/captures/{a}")
    assert r.status_code == 200, r.text
    assert r.json()["files_kept"] == [sha] and r.json()["capture_id"] == a
    assert client.get(f"/v1/captures/{a}").status_code == 404
    assert _documents(client, a) == 0
    keys = _blob_keys(server)
    assert not [k for k in keys if a in k], keys
    assert f"files/{sha}" in keys  # B still has it
    assert client.get(f"/v1/captures/{b}/files/{sha}").status_code == 200
    assert client.delete(f"/v1/captures/{a}").status_code == 404

    r = client.delete(f"/v1/captures/{b}")
    assert r.status_code == 200
    assert f"files/{sha}" in r.json()["blobs"]
    keys = _blob_keys(server)
    assert f"files/{sha}" not in keys
    assert not [k for k in keys if b in k], keys
    assert _documents(client, b) == 0


def _with_extra_packet(pcap: bytes) -> bytes:
    """The pcap with its first packet repeated at the end (another capture, same file)."""
    header, rest = pcap[:24], pcap[24:]
    caplen = int.from_bytes(rest[8:12], "little")
    return header + rest + rest[: 16 + caplen]


def test_progress_moves_during_a_large_capture_and_ends_at_100(
    client: httpx.Client, server: Server, tmp_path: Path
) -> None:
    synthetic = write_udp_capture(tmp_path / "big.pcap", packets=1_200_000)
    r = client.post("/v1/captures", content=synthetic.path.read_bytes(), params={"filename": "b"})
    assert r.status_code == 202, r.text
    cid = r.json()["capture_id"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/captures/{cid}").json()
        if doc.get("progress"):
            seen.append(doc["progress"])
        if doc["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert doc["status"] == "done", doc.get("error")
    final = doc["progress"]
    packets = synthetic.summary["packets"]
    assert final["stage"] == "done" and final["percent"] == 100
    assert final["packets_processed"] == final["packets_total"] == packets
    assert final["bytes_processed"] == final["bytes_total"] == synthetic.path.stat().st_size
    parsing = [p for p in seen if p["stage"] == "parsing" and 0 < p["percent"] < 100]
    assert len({p["packets_processed"] for p in parsing}) >= 2, seen
    counts = [p["packets_processed"] for p in parsing]
    assert counts == sorted(counts)
    assert all(p["eta_seconds"] is not None and p["packets_total"] is None for p in parsing)
    # one write at least every 2 s while the parse moves
    stamps = sorted({p["updated"] for p in seen if p["stage"] == "parsing"})
    times = [datetime.fromisoformat(s).timestamp() for s in stamps]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and max(gaps) <= 2.5, gaps
