"""Archives over HTTP on the all-in-one runner, from real captures and no feed: the AsyncRAT
capture's family comes from its finding (the RAT's default server certificate) and fills
``malware/AsyncRAT``; an admin curates ``teaching/tls-basics`` from two captures; the page,
stats and the bundle (the uploaded bytes, the analysis, the manifest) answer for it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

RAT = PCAPS / "corelight_asyncrat-c2.pcap"
TLS = PCAPS / "zeek_tls12-chrome34-google.pcap"
NAME = "teaching/tls-basics"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("archives")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        ids: dict[str, str] = {}
        for path in (RAT, TLS):
            r = client.post(
                "/v1/captures", content=path.read_bytes(), params={"filename": path.name}
            )
            assert r.status_code == 202, r.text
            ids[path.name] = r.json()["capture_id"]
        for cid in ids.values():
            assert wait_finished(server.base_url, cid)["status"] == "done"
        yield client, ids


def test_family_from_a_finding_fills_the_automatic_archive(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, ids = api
    rat = ids[RAT.name]
    doc = client.get(f"/v1/captures/{rat}").json()
    assert "AsyncRAT" in doc["tags"]
    listed = {a["name"]: a for a in client.get("/v1/archives").json()["archives"]}
    assert listed["malware/AsyncRAT"]["captures"] == 1 and listed["malware/AsyncRAT"]["automatic"]
    page = client.get("/v1/archives/malware/AsyncRAT").json()
    assert [c["capture_id"] for c in page["captures"]] == [rat]
    assert page["captures"][0]["families"] == ["AsyncRAT"]
    hits = client.get(
        "/v1/search", params={"q": "event.dataset:finding AND threat.software.name:AsyncRAT"}
    ).json()
    assert hits["total"] >= 1
    assert {h["pcaptotal.finding.name"] for h in hits["hits"]} == {"tls-c2-default-certificate"}


def test_curated_archive_page_stats_and_bundle(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, ids = api
    r = client.put(f"/v1/archives/{NAME}", json={"title": "TLS basics", "description": "read"})
    assert r.status_code == 201, r.text
    for cid in ids.values():
        assert client.put(f"/v1/archives/{NAME}/captures/{cid}").status_code == 200
    page = client.get(f"/v1/archives/{NAME}").json()
    assert page["curated"]["title"] == "TLS basics" and not page["automatic"]
    assert {c["capture_id"] for c in page["captures"]} == set(ids.values())
    assert all(c["first_seen"] and c["added"] for c in page["captures"])
    stats = client.get("/v1/stats", params={"archive": NAME}).json()
    assert stats["captures_total"] == 2
    assert {b["key"] for b in stats["family_totals"]} == {"AsyncRAT"}

    r = client.get(f"/v1/archives/{NAME}/bundle.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None
    by_id = {cid: name for name, cid in ids.items()}
    expected = {"manifest.json", "manifest.csv"}
    expected |= {f"{cid}/{m}" for cid in ids.values() for m in ("capture.pcap", "analysis.json")}
    assert set(z.namelist()) == expected
    for cid, name in by_id.items():
        assert z.read(f"{cid}/capture.pcap") == (PCAPS / name).read_bytes()
        analysis = json.loads(z.read(f"{cid}/analysis.json"))
        assert analysis["capture_id"] == cid and analysis["status"] == "done"
    manifest = json.loads(z.read("manifest.json"))
    assert [c["capture_id"] for c in manifest["captures"]] == [
        c["capture_id"] for c in page["captures"]
    ]
    rows = list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
    assert {r["capture_id"]: r["filename"] for r in rows} == by_id
    assert {r["families"] for r in rows} == {"AsyncRAT", ""}
    assert all(r["verdict"] in ("clean", "suspicious", "malicious") for r in rows)

    assert client.delete(f"/v1/archives/{NAME}").status_code == 204
    assert client.get(f"/v1/archives/{NAME}").status_code == 404
