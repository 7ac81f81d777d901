"""``/v1/search`` (records and ``group=capture``) and ``/v1/search/export`` over HTTP on the
all-in-one runner (tantivy), over real captures: a plain search takes every record kind, its
cursor pages give the one-page order and stay put when a capture is indexed between pages, the
grouping agrees with per-kind searches and its cursor pages give the one-page order, and the
export streams exactly the hits a search returns, in order, as NDJSON and CSV (paging across
index pages: the contract suite and the unit tests)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pcaptotal_search_api.search_export import COLUMNS

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

NAMES = [
    "zeek_wikipedia-dns-http.pcap",
    "zeek_tls12-chrome34-google.pcap",
    "zeek_http-bro.org-browse.pcap",
]
EVERY = "event.dataset:*"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("export")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def ids(server: Server) -> dict[str, str]:
    out: dict[str, str] = {}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for name in NAMES:
            r = client.post(
                "/v1/captures", params={"filename": name}, content=(PCAPS / name).read_bytes()
            )
            assert r.status_code in (200, 202), r.text
            out[name] = r.json()["capture_id"]
    for cid in out.values():
        assert wait_finished(server.base_url, cid)["status"] == "done"
    return out


def _get(server: Server, path: str, **params: Any) -> httpx.Response:
    r = httpx.get(f"{server.base_url}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r


def test_group_agrees_with_per_kind_searches(server: Server, ids: dict[str, str]) -> None:
    body = _get(server, "/v1/search", group="capture", limit=100).json()
    assert body["total"] == len(NAMES) and body["complete"] is True
    every = _get(server, "/v1/search", q=EVERY, limit=0).json()["total"]
    assert body["records_total"] == every
    by_id = {c["capture_id"]: c for c in body["captures"]}
    assert set(by_id) == set(ids.values())
    for name, cid in ids.items():
        got = {v["view"]: v["hits"] for v in by_id[cid]["views"]}
        for kind in ("flow", "dns", "http", "tls", "file", "finding"):
            total = _get(server, "/v1/search", q=f"event.dataset:{kind}", capture=cid, limit=0)
            assert got.get(kind, 0) == total.json()["total"], (name, kind)
        assert by_id[cid]["filename"] == name and by_id[cid]["verdict"] is not None
    scores = [(-c["score"], c["capture_id"]) for c in body["captures"]]
    assert scores == sorted(scores)
    # a query that only one capture matches, in the views that hold the value
    wiki = _get(server, "/v1/search", group="capture", q="url.domain:www.wikipedia.org").json()
    assert [c["capture_id"] for c in wiki["captures"]] == [ids[NAMES[0]]]
    assert {v["view"] for v in wiki["captures"][0]["views"]} == {"flow", "http"}


def test_group_cursor_pages_give_the_one_page_order(server: Server, ids: dict[str, str]) -> None:
    whole = [
        c["capture_id"] for c in _get(server, "/v1/search", group="capture").json()["captures"]
    ]
    paged: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"group": "capture", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        body = _get(server, "/v1/search", **params).json()
        paged += [c["capture_id"] for c in body["captures"]]
        cursor = body["cursor"]
        if cursor is None:
            break
    assert paged == whole and len(whole) == len(ids)


def test_export_streams_every_hit_in_search_order(server: Server, ids: dict[str, str]) -> None:
    hits = _get(server, "/v1/search", q=EVERY, limit=10000).json()["hits"]
    r = _get(server, "/v1/search/export", q=EVERY)
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines == hits
    r = _get(server, "/v1/search/export", q=EVERY, format="csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == list(COLUMNS)
    at = {name: i for i, name in enumerate(COLUMNS)}
    assert [row[at["event.id"]] for row in rows[1:]] == [h["event.id"] for h in hits]
    assert {row[at["pcaptotal.capture_id"]] for row in rows[1:]} == set(ids.values())
    flows = _get(server, "/v1/search/export", capture=ids[NAMES[0]]).text.splitlines()
    wiki = _get(server, "/v1/search", capture=ids[NAMES[0]], limit=1000).json()["hits"]
    assert [json.loads(x) for x in flows] == wiki  # every kind, as /v1/search


def test_plain_search_takes_every_kind(server: Server, ids: dict[str, str]) -> None:
    plain = _get(server, "/v1/search", limit=10000).json()
    assert plain == _get(server, "/v1/search", q=EVERY, limit=10000).json()
    kinds = {h["event.dataset"] for h in plain["hits"]}
    assert {"flow", "dns", "http", "tls", "file"} <= kinds
    assert plain["total"] == len(plain["hits"]) and plain["next_cursor"] is None
    dns = _get(server, "/v1/search", dataset="dns", limit=10000).json()
    assert dns["hits"] == [h for h in plain["hits"] if h["event.dataset"] == "dns"]
    two = _get(server, "/v1/search", dataset=["dns", "tls"], limit=10000).json()
    assert two["total"] == sum(h["event.dataset"] in ("dns", "tls") for h in plain["hits"])


def _walk(server: Server, limit: int, between: Any = None, **params: Any) -> list[dict[str, Any]]:
    body = _get(server, "/v1/search", limit=limit, **params).json()
    hits = list(body["hits"])
    if between is not None:
        between()
    while body["next_cursor"] is not None:
        body = _get(server, "/v1/search", limit=limit, cursor=body["next_cursor"], **params).json()
        assert body["hits"], "a cursor is only given when hits are left"
        hits += body["hits"]
    return hits


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_cursor_pages_give_the_one_page_order(
    server: Server, ids: dict[str, str], limit: int
) -> None:
    whole = _get(server, "/v1/search", limit=10000).json()["hits"]
    assert len(whole) > 50
    if limit == 1:  # one record a request: a capture's worth is plenty
        capture = ids[NAMES[1]]
        assert _walk(server, 1, capture=capture) == [
            h for h in whole if h["pcaptotal.capture_id"] == capture
        ]
    else:
        assert _walk(server, limit) == whole
    # an offset window answers its cursor too, which goes on right after it
    window = _get(server, "/v1/search", limit=limit, offset=10).json()
    assert window["hits"] == whole[10 : 10 + limit]
    rest = _get(server, "/v1/search", limit=10000, cursor=window["next_cursor"]).json()
    assert rest["hits"] == whole[10 + limit :] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"cursor": "not-a-cursor!"}, "bad-cursor"),
        ({"cursor": "WzEsMl0"}, "bad-cursor"),  # valid base64 JSON, not (value, id)
        ({"cursor": "not-a-cursor!", "group": "capture"}, "bad-cursor"),
        ({"cursor": "WzEsImEiXQ", "offset": 5}, "bad-paging"),
        ({"offset": 5, "group": "capture"}, "bad-paging"),
    ],
)
def test_bad_paging_is_a_problem(server: Server, params: dict[str, Any], kind: str) -> None:
    r = httpx.get(f"{server.base_url}/v1/search", params=params, timeout=60)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"urn:pcaptotal:problem:{kind}"


def test_cursor_pages_stay_put_when_a_capture_lands(server: Server, ids: dict[str, str]) -> None:
    """A capture indexed between pages repeats or hides none of the records that were there;
    the last test of the module (it adds a capture)."""
    before = _get(server, "/v1/search", limit=10000).json()["hits"]
    name = "zeek_dns-txt-multiple.pcap"

    def upload() -> None:
        r = httpx.post(
            f"{server.base_url}/v1/captures",
            params={"filename": name},
            content=(PCAPS / name).read_bytes(),
            timeout=60,
        )
        assert r.status_code in (200, 202), r.text
        assert wait_finished(server.base_url, r.json()["capture_id"])["status"] == "done"

    seen = _walk(server, 40, between=upload)
    seen_ids = [h["event.id"] for h in seen]
    assert len(seen_ids) == len(set(seen_ids))
    assert {h["event.id"] for h in before} <= set(seen_ids)
    after = [h["event.id"] for h in _get(server, "/v1/search", limit=10000).json()["hits"]]
    assert seen_ids == [x for x in after if x in set(seen_ids)]  # still in one order
