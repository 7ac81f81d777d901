"""The PacketTotal-compatible API over HTTP with access control on, driven the way the public
PacketTotal SDK (``packettotal_sdk/packettotal_api.py``) drives it: the same paths, headers,
bodies and query strings (the stray ``"`` it appends to ``/search``'s ``pretty`` included).

Also: the per-key upload quota answers 429 with Retry-After, counted across both upload
routes; another owner's private capture is invisible by md5; /usage counts the key's requests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.paths import PCAPS, README_CAPTURE, REPO

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-compat-" + secrets.token_hex(16)
BASE = "/compat/packettotal/"  # what PACKETTOTAL_API_BASE_URL is set to (plus the host)
V = "v1"
CAPTURE = PCAPS / "zeek_http-zip-download.pcap"  # HTTP, a carved zip
OTHER = PCAPS / "zeek_wikipedia-dns-http.pcap"
PRIVATE = PCAPS / "zeek_icmp-5-pings.pcap"
QUOTA = 4  # uploads a day per key
README = REPO / "README.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("compat")
    env = {
        "PCAPTOTAL_AUTH": "on",
        "PCAPTOTAL_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "PCAPTOTAL_UPLOAD_QUOTA_PER_DAY": str(QUOTA),
    }
    srv = start_server(d / "data", d / "server.log", **env)
    yield srv
    stop_server(srv)
    assert ADMIN_KEY not in srv.log_path.read_text()


@pytest.fixture(scope="module")
def keys(server: Server) -> dict[str, str]:
    out = {"admin": ADMIN_KEY}
    with httpx.Client(base_url=server.base_url, headers={"x-api-key": ADMIN_KEY}) as c:
        for owner, role in (("alice", "submitter"), ("bob", "submitter"), ("carol", "reader")):
            r = c.post("/v1/keys", json={"owner": owner, "role": role})
            assert r.status_code == 201, r.text
            out[owner] = r.json()["key"]
    return out


class Sdk:
    """The requests PacketTotalApi sends, spelled as it spells them."""

    def __init__(self, server: Server, key: str) -> None:
        self.base = server.base_url + BASE
        self.headers = {"x-api-key": key}

    def analyze(self, path: Path, name: str | None = None, route: str = "/analyze/base64") -> Any:
        body: dict[str, Any] = {"pcap_base64": base64.b64encode(path.read_bytes()).decode()}
        if name:
            body["pcap_name"] = name
        body["sources"] = ["https://example.org/a-report"]
        headers = {**self.headers, "Content-Type": "application/json"}
        return httpx.post(self.base + V + route, headers=headers, content=json.dumps(body))

    def get(self, url: str) -> httpx.Response:
        return httpx.get(self.base + V + url, headers=self.headers, timeout=60)

    def search(self, query: str, pretty: bool = False) -> httpx.Response:
        pretty_str = f"&pretty={str(pretty).lower()}"
        return self.get(f'/search?query={query}{pretty_str}"')

    def similar(self, md5: str) -> httpx.Response:
        return self.get(
            f"/pcaps/{md5}/similar?intensity=low&weighting_mode=behavior"
            "&prioritize_uncommon_fields=false&pretty=false"
        )

    def deep_search_create(self, query: str) -> httpx.Response:
        return httpx.post(
            self.base + V + "/search/deep",
            headers=self.headers,
            content=json.dumps({"query": query}),
        )


def _poll_info(sdk: Sdk, md5: str, timeout: float = 45) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = sdk.get(f"/pcaps/{md5}")
        if r.status_code != 404:
            return r
        time.sleep(0.2)
    raise TimeoutError(f"{md5} not analysed in {timeout}s")


def test_the_sdk_flow(server: Server, keys: dict[str, str]) -> None:
    alice = Sdk(server, keys["alice"])
    md5 = hashlib.md5(CAPTURE.read_bytes()).hexdigest()
    r = alice.analyze(CAPTURE, "download.pcap")
    assert r.status_code == 202, r.text
    assert r.json()["id"] == md5
    assert r.headers["location"] == f"{BASE}{V}/pcaps/{md5}"
    other = alice.analyze(OTHER, route="/pcaps/analyze")  # the older SDKs' path
    assert other.status_code == 202, other.text
    info = _poll_info(alice, md5)
    assert info.status_code == 200, info.text
    meta = info.json()["pcap_metadata"]
    assert meta["md5"] == md5 and meta["name"] == "download.pcap"
    assert meta["sha256"] == hashlib.sha256(CAPTURE.read_bytes()).hexdigest()
    assert meta["sources"] == ["https://example.org/a-report"]
    assert meta["status"] == "done" and meta["file_size"] == CAPTURE.stat().st_size
    # Submitting the same bytes again: 200 with the metadata (the SDK's search_by_pcap path).
    again = alice.analyze(CAPTURE)
    assert again.status_code == 200 and again.json()["pcap_metadata"]["md5"] == md5

    analysis = alice.get(f"/pcaps/{md5}/analysis").json()
    assert analysis["analysis"]["http"]["count"] >= 1
    assert analysis["analysis"]["files"]["count"] >= 1
    assert analysis["analysis_summary"]["summary"]["http_requests"] >= 1

    dl = alice.get(f"/pcaps/{md5}/download")
    assert dl.status_code == 200 and dl.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(dl.content)) as z:
        names = set(z.namelist())
        assert z.read("capture.pcap") == CAPTURE.read_bytes()
        assert {"flows.csv", "http.csv", "dns.csv", "tls.csv", "files.csv"} <= names
        carved = [n for n in names if n.startswith("files/")]
        assert carved and all(
            hashlib.sha256(z.read(n)).hexdigest() == n.removeprefix("files/") for n in carved
        )

    _poll_info(alice, hashlib.md5(OTHER.read_bytes()).hexdigest())
    similar = alice.similar(md5)
    assert similar.status_code == 200, similar.text
    graph = similar.json()
    assert graph["intensity"] == "low" and graph["prioritize_uncommon_fields"] is False
    assert graph["pcap_metadata"]["md5"] == md5
    assert similar.text == json.dumps(graph, separators=(",", ":"), ensure_ascii=False)

    found = alice.search("http.request.method:GET", pretty=True)  # ...&pretty=true"
    assert found.status_code == 200, found.text
    assert found.text.startswith("{\n  ")  # pretty-printed
    body = found.json()
    assert body["total"] >= 1
    assert md5 in {hit["pcap_md5"] for hit in body["results"]}
    bare = alice.search(f'"{meta["capture_id"]}"')
    assert bare.status_code == 200
    assert alice.search("no.such.field:1").status_code == 400

    created = alice.deep_search_create("http.request.method:GET")
    assert created.status_code == 202, created.text
    search_id = created.json()["search_id"]
    deadline = time.monotonic() + 20
    while True:
        res = alice.get(f"/search/deep/results/{search_id}?pretty=false").json()
        if res["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert res["status"] == "done", res
    assert res["total"] == body["total"] and len(res["results"]) == body["total"]
    # A deep search is its owner's: another key finds no such search.
    bob = Sdk(server, keys["bob"])
    assert bob.get(f"/search/deep/results/{search_id}").status_code == 404

    usage = alice.get("/usage").json()
    assert usage["owner"] == "alice" and usage["role"] == "submitter"
    assert usage["uploads"] == {
        "count": 3,
        "bytes": 2 * CAPTURE.stat().st_size + OTHER.stat().st_size,
    }
    assert usage["quota"]["uploads_per_day"] == QUOTA
    assert usage["requests_made"] >= 10


def test_private_capture_is_not_found_by_md5_for_others(
    server: Server, keys: dict[str, str]
) -> None:
    bob, carol = Sdk(server, keys["bob"]), Sdk(server, keys["carol"])
    md5 = hashlib.md5(PRIVATE.read_bytes()).hexdigest()
    body = {"pcap_base64": base64.b64encode(PRIVATE.read_bytes()).decode(), "visibility": "private"}
    r = httpx.post(f"{bob.base}{V}/analyze/base64", headers=bob.headers, json=body)
    assert r.status_code == 202, r.text
    assert _poll_info(bob, md5).json()["pcap_metadata"]["visibility"] == "private"
    unknown = secrets.token_hex(16)
    for path in ("", "/analysis", "/download", "/similar"):
        mine = carol.get(f"/pcaps/{md5}{path}")
        none = carol.get(f"/pcaps/{unknown}{path}")
        assert mine.status_code == none.status_code == 404
        assert mine.json()["detail"].replace(md5, "X") == none.json()["detail"].replace(
            unknown, "X"
        )
    hits = carol.search(md5).json()  # a bare term: nothing of Bob's private capture
    assert all(h["pcap_md5"] != md5 for h in hits["results"])
    # A reader cannot upload; a missing key is a 401.
    assert carol.analyze(PRIVATE).status_code == 403
    assert httpx.get(f"{bob.base}{V}/usage").status_code == 401


def test_the_upload_quota_answers_429(server: Server, keys: dict[str, str]) -> None:
    alice = Sdk(server, keys["alice"])
    used = alice.get("/usage").json()["uploads"]["count"]
    for _ in range(QUOTA - used):  # what is left today, through either upload route
        with PRIVATE.open("rb") as f:
            r = httpx.post(
                f"{server.base_url}/v1/captures",
                headers=alice.headers,
                files={"file": (PRIVATE.name, f)},
            )
        assert r.status_code in (200, 202), r.text
    over = alice.analyze(PRIVATE)
    assert over.status_code == 429
    assert over.headers["content-type"] == "application/problem+json"
    assert 0 < int(over.headers["retry-after"]) <= 86_400
    with PRIVATE.open("rb") as f:
        v1 = httpx.post(
            f"{server.base_url}/v1/captures",
            headers=alice.headers,
            files={"file": (PRIVATE.name, f)},
        )
    assert v1.status_code == 429 and "retry-after" in v1.headers
    # Admins are exempt by default; other keys have their own count.
    assert Sdk(server, keys["admin"]).analyze(PRIVATE).status_code in (200, 202)
    assert alice.get("/usage").json()["uploads"]["count"] == QUOTA


def _readme_commands() -> str:
    text = README.read_text()
    start = text.index("<!-- packettotal-examples -->")
    block = text[start : text.index("<!-- /packettotal-examples -->", start)]
    lines: list[str] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            lines.append(line[2:])
        elif lines and lines[-1].endswith("\\"):  # a continuation of the command above
            lines.append(line)
    return "\n".join(lines)


def test_the_readme_examples_run(server: Server, keys: dict[str, str], tmp_path: Path) -> None:
    with httpx.Client(base_url=server.base_url, headers={"x-api-key": ADMIN_KEY}) as c:
        key = c.post("/v1/keys", json={"owner": "dave", "role": "submitter"}).json()["key"]
    (tmp_path / README_CAPTURE.name).write_bytes(README_CAPTURE.read_bytes())
    script = _readme_commands().replace("http://127.0.0.1:8080", server.base_url)
    script = script.replace("curl -s ", "curl -sSf ")  # any HTTP error fails the script
    run = subprocess.run(
        ["timeout", "60", "bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "K": key},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert '"search_id":' in run.stdout  # the deep search's state, running or done
    assert zipfile.is_zipfile(tmp_path / "wiki.zip")
    assert '"requests_made":' in run.stdout.splitlines()[-1]
