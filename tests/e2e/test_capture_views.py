"""Per-capture views and the analysis report over HTTP, on the all-in-one runner (tantivy):
the README capture uploaded once, every view listed and paged with its cursor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, wait_finished
from tests.paths import README_CAPTURE

pytestmark = pytest.mark.e2e

VIEWS = {
    "flows": "flow",
    "dns": "dns",
    "http": "http",
    "tls": "tls",
    "files": "file",
    "findings": "finding",
}


@pytest.fixture(scope="module")
def capture(server: Server) -> str:
    with README_CAPTURE.open("rb") as f:
        r = httpx.post(
            f"{server.base_url}/v1/captures",
            files={"file": (README_CAPTURE.name, f, "application/vnd.tcpdump.pcap")},
            timeout=60,
        )
    assert r.status_code in (200, 202), r.text
    capture_id: str = r.json()["capture_id"]
    assert wait_finished(server.base_url, capture_id)["status"] == "done"
    return capture_id


def _get(server: Server, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, timeout=30)


def _walk(server: Server, path: str, limit: int, **params: Any) -> tuple[int, list[str]]:
    ids: list[str] = []
    cursor = None
    total = -1
    for _ in range(1000):
        extra: dict[str, Any] = {"cursor": cursor} if cursor else {}
        r = _get(server, path, limit=limit, **params, **extra)
        assert r.status_code == 200, r.text
        body = r.json()
        total = body["total"]
        ids += [h["event.id"] for h in body["hits"]]
        cursor = body["cursor"]
        if cursor is None:
            return total, ids
    raise AssertionError("no end")


def test_views_list_their_records_and_pages_walk_them(server: Server, capture: str) -> None:
    counts = {}
    for view, dataset in VIEWS.items():
        r = _get(server, f"/v1/captures/{capture}/{view}", limit=1000)
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(h["event.dataset"] == dataset for h in body["hits"])
        assert all(h["pcaptotal.capture_id"] == capture and "_id" not in h for h in body["hits"])
        counts[view] = body["total"]
        assert len(body["hits"]) == body["total"] and body["cursor"] is None
    assert counts["flows"] == 34 and counts["http"] == 15 and counts["dns"] > 0
    # paging by 7 gives the same records, in the same order, as one page
    full = [
        h["event.id"]
        for h in _get(server, f"/v1/captures/{capture}/timeline", limit=1000).json()["hits"]
    ]
    total, paged = _walk(server, f"/v1/captures/{capture}/timeline", 7)
    assert paged == full and total == len(full) == sum(counts.values())
    # sort by bytes, largest first, with a query
    _, by_bytes = _walk(
        server, f"/v1/captures/{capture}/flows", 5, sort="-network.bytes", q="network.transport:tcp"
    )
    flows = _get(
        server,
        f"/v1/captures/{capture}/flows",
        limit=1000,
        sort="-network.bytes",
        q="network.transport:tcp",
    ).json()["hits"]
    assert by_bytes == [h["event.id"] for h in flows] and len(flows) == 10
    sizes = [h["network.bytes"] for h in flows]
    assert sizes == sorted(sizes, reverse=True)


def test_http_view_answers_status_queries(server: Server, capture: str) -> None:
    r = _get(server, f"/v1/captures/{capture}/http", q="http.response.status_code:>=300")
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits and all(h["http.response.status_code"] >= 300 for h in hits)
    assert all(h["url.original"].startswith("http://") for h in hits)


@pytest.mark.parametrize(
    ("params", "status"),
    [({"sort": "dns.question.name"}, 400), ({"cursor": "nope"}, 400), ({"q": "a:("}, 400)],
)
def test_bad_parameters_are_400s(
    server: Server, capture: str, params: dict[str, str], status: int
) -> None:
    r = _get(server, f"/v1/captures/{capture}/dns", **params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unknown_capture_is_404(server: Server) -> None:
    assert _get(server, "/v1/captures/" + "0" * 64 + "/timeline").status_code == 404
    assert _get(server, "/v1/captures/" + "0" * 64 + "/analysis").status_code == 404
    assert _get(server, "/v1/captures/nope/analysis").status_code == 400


def test_analysis_report(server: Server, capture: str) -> None:
    r = _get(server, f"/v1/captures/{capture}/analysis")
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["capture_id"] == capture and a["status"] == "done" and a["verdict"]
    assert a["flows"]["count"] == 34
    assert {b["key"] for b in a["flows"]["transports"]} == {"tcp", "udp"}
    talkers = a["flows"]["top_talkers_by_bytes"]
    assert talkers[0]["sum"] >= talkers[-1]["sum"] and talkers[0]["key"] == "141.142.220.118"
    assert a["http"]["count"] == 15 and a["http"]["methods"] == [
        {"key": "GET", "count": 15, "sum": None}
    ]
    assert any(b["key"] == "bits.wikimedia.org" for b in a["http"]["hosts"])
    assert a["dns"]["count"] > 0 and a["dns"]["top_names"]
    assert a["dns"]["nxdomain_ratio"] is not None
    assert a["tls"]["count"] == 0 and a["tls"]["server_names"] == []
