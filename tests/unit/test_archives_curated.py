"""Curated archives over HTTP on the runner's app (access control on, tantivy and file blob
store in process, no workers): admin-only curation (403 below admin), curated and automatic
members together, a family set by a finding filling ``malware/<family>``, private members
seen by their owner and admins only (listing, page, bundle, stats), the bundle's contents and
its bound (413), and removal."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pcaptotal.access.http import ADMIN_KEY_FILE
from pcaptotal.access.secret import auth_dir
from pcaptotal.access.visibility import private_capture_id
from pcaptotal.captures import new_capture_doc
from pcaptotal.context import Context
from pcaptotal.keys import capture_key
from pcaptotal.settings import Settings
from pcaptotal_runner.app import create_app

PUB = "ab" * 32
PRIV = private_capture_id("alice", "cd" * 32)
OTHER = "ef" * 32  # public, in no archive
NAME = "teaching/tls-basics"


def _flow(cid: str, vis: str, n: int, when: str) -> dict[str, Any]:
    return {
        "event.id": f"{cid}-tcp-{n}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": cid,
        "@timestamp": when,
        "destination.ip": "192.0.2.1",
        "network.protocol": "tls",
        "pcaptotal.visibility": vis,
        "pcaptotal.owner": "alice",
    }


async def _seed(ctx: Context) -> None:
    for cid, vis, day in ((PUB, "public", "01"), (PRIV, "private", "02"), (OTHER, "public", "03")):
        doc = new_capture_doc(cid, size=9, filename=f"{cid[:4]}.pcap")
        doc |= {"visibility": vis, "owner": "alice", "status": "done", "verdict": "clean"}
        if cid == PUB:
            doc |= {"verdict": "malicious", "tags": ["AsyncRAT"]}
        await ctx.index.put_capture(doc)
        await ctx.blobs.put_bytes(capture_key(cid), b"pcap of " + cid.encode())
        await ctx.index.add_flows([_flow(cid, vis, 1, f"2024-05-{day}T12:00:00Z")])
    # a heuristic finding that named the family (pcaptotal_enricher.families)
    finding = _flow(PUB, "public", 1, "2024-05-01T12:00:00Z") | {
        "event.id": f"{PUB}-finding-1",
        "event.dataset": "finding",
        "pcaptotal.finding.name": "tls-c2-default-certificate",
        "pcaptotal.finding.source": "heuristic",
        "threat.software.name": ["AsyncRAT"],
    }
    await ctx.index.add_flows([finding])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("curated")
    settings = Settings(data_dir=tmp, auth="on", archive_bundle_max_captures=1)
    app = create_app(settings, workers=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        admin = (auth_dir(settings) / ADMIN_KEY_FILE).read_text().strip()
        keys = {"admin": {"x-api-key": admin}}
        for owner, role in (("alice", "submitter"), ("bob", "reader")):
            r = c.post("/v1/keys", json={"owner": owner, "role": role}, headers=keys["admin"])
            assert r.status_code == 201, r.text
            keys[owner] = {"x-api-key": r.json()["key"]}
        assert c.portal is not None
        c.portal.call(_seed, app.state.ctx)
        yield c, keys


def _listing(c: TestClient, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = c.get("/v1/archives", headers=who)
    assert r.status_code == 200, r.text
    return {a["name"]: a for a in r.json()["archives"]}


def test_curation_is_admin_only(api: tuple[TestClient, dict[str, Any]]) -> None:
    c, keys = api
    body = {"title": "TLS basics", "description": "handshakes to read"}
    for who in ("alice", "bob"):
        assert c.put(f"/v1/archives/{NAME}", json=body, headers=keys[who]).status_code == 403
        path = f"/v1/archives/{NAME}/captures/{PUB}"
        assert c.put(path, headers=keys[who]).status_code == 403
        assert c.delete(path, headers=keys[who]).status_code == 403
        assert c.delete(f"/v1/archives/{NAME}", headers=keys[who]).status_code == 403
    assert c.put("/v1/archives/x", json=body, headers=keys["admin"]).status_code == 400
    bad = "/v1/archives/teaching/none/captures/" + PUB
    assert c.put(bad, headers=keys["admin"]).status_code == 404  # no such curated archive


def test_curated_and_automatic_members_as_each_caller_sees_them(
    api: tuple[TestClient, dict[str, Any]],
) -> None:
    c, keys = api
    admin = keys["admin"]
    body = {"title": "TLS basics", "description": "handshakes to read"}
    r = c.put(f"/v1/archives/{NAME}", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert c.put(f"/v1/archives/{NAME}", json=body, headers=admin).status_code == 200
    for cid in (PUB, PRIV, PUB):  # adding twice changes nothing
        r = c.put(f"/v1/archives/{NAME}/captures/{cid}", headers=admin)
        assert r.status_code == 200, r.text
    assert r.json()["capture_ids"] == [PUB, PRIV]
    assert c.put(f"/v1/archives/{NAME}/captures/{'0' * 64}", headers=admin).status_code == 404
    # the family a finding named fills malware/AsyncRAT; a curated overlay adds PRIV to it
    c.put("/v1/archives/malware/AsyncRAT", json={"title": "AsyncRAT"}, headers=admin)
    c.put(f"/v1/archives/malware/AsyncRAT/captures/{PRIV}", headers=admin)

    expect = {"admin": {PUB, PRIV}, "alice": {PUB, PRIV}, "bob": {PUB}}
    for who, ids in expect.items():
        listed = _listing(c, keys[who])
        assert listed[NAME]["captures"] == len(ids) and listed[NAME]["curated"]
        assert listed[NAME]["title"] == "TLS basics" and not listed[NAME]["automatic"]
        rat = listed["malware/AsyncRAT"]
        assert rat["automatic"] and rat["curated"] and rat["captures"] == len(ids)
        assert listed["protocol/tls"]["captures"] == len(ids) + 1  # OTHER too
        page = c.get(f"/v1/archives/{NAME}", headers=keys[who]).json()
        assert page["total"] == len(ids) and {x["capture_id"] for x in page["captures"]} == ids
        assert page["curated"]["title"] == "TLS basics" and page["curated"]["captures"] == 2
        first = page["captures"][-1]  # oldest traffic last: PUB (May 1st)
        assert first["capture_id"] == PUB and first["families"] == ["AsyncRAT"]
        assert first["verdict"] == "malicious" and first["added"]
        rat_page = c.get("/v1/archives/malware/AsyncRAT", headers=keys[who]).json()
        assert {x["capture_id"] for x in rat_page["captures"]} == ids
        stats = c.get("/v1/stats", params={"archive": NAME}, headers=keys[who]).json()
        assert stats["captures_total"] == len(ids)
    one = c.get(f"/v1/archives/{NAME}", params={"limit": 1, "offset": 1}, headers=admin).json()
    assert [x["capture_id"] for x in one["captures"]] == [PUB] and one["total"] == 2


def test_bundle_is_visibility_filtered_and_bounded(api: tuple[TestClient, dict[str, Any]]) -> None:
    c, keys = api
    r = c.get(f"/v1/archives/{NAME}/bundle.zip", headers=keys["bob"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == sorted(
        ["manifest.json", "manifest.csv", f"{PUB}/capture.pcap", f"{PUB}/analysis.json"]
    )
    assert z.read(f"{PUB}/capture.pcap") == b"pcap of " + PUB.encode()
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["curated"]["title"] == "TLS basics"
    assert [m["capture_id"] for m in manifest["captures"]] == [PUB]
    assert manifest["captures"][0]["families"] == ["AsyncRAT"]
    rows = z.read("manifest.csv").decode().splitlines()
    assert rows[0].startswith("capture_id,filename,verdict,families,sector")
    assert rows[1].startswith(f"{PUB},abab.pcap,malicious,AsyncRAT,")
    assert json.loads(z.read(f"{PUB}/analysis.json"))["capture_id"] == PUB
    # the admin sees both members: over archive_bundle_max_captures (1)
    r = c.get(f"/v1/archives/{NAME}/bundle.zip", headers=keys["admin"])
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert "archive_bundle_max_captures" in r.json()["detail"]


def test_remove_member_then_archive(api: tuple[TestClient, dict[str, Any]]) -> None:
    c, keys = api
    admin = keys["admin"]
    path = f"/v1/archives/{NAME}/captures/{PRIV}"
    r = c.delete(path, headers=admin)
    assert r.status_code == 200 and r.json()["capture_ids"] == [PUB]
    assert c.delete(path, headers=admin).status_code == 404
    assert c.get(f"/v1/archives/{NAME}", headers=keys["alice"]).json()["total"] == 1
    assert c.delete(f"/v1/archives/{NAME}", headers=admin).status_code == 204
    assert c.get(f"/v1/archives/{NAME}", headers=admin).status_code == 404
    assert NAME not in _listing(c, admin)
    assert c.delete(f"/v1/archives/{NAME}", headers=admin).status_code == 404
    assert c.get(f"/v1/captures/{PUB}", headers=admin).status_code == 200  # captures stay
