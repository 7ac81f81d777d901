"""``/v1/search/export`` and ``/v1/search?group=capture`` in process (tantivy, API keys on):
the CSV cells and quoting, NDJSON lines, the declared media types, the errors before the
stream starts, and that neither the export nor the grouping shows another owner's private
captures (the identity reaches the streamed body)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.access.apikeys import KeyStore
from pcaptotal.access.http import AccessState, install_access
from pcaptotal.access.roles import Role
from pcaptotal.access.visibility import private_capture_id
from pcaptotal.adapters.factory import make_context, start_context
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.captures import new_capture_doc
from pcaptotal.settings import Settings
from pcaptotal.web import PROBLEM_MEDIA_TYPE, install_problem_details
from pcaptotal_search_api import search_export, search_route
from pcaptotal_search_api.routes import create_router
from pcaptotal_search_api.search_export import COLUMNS, SEPARATOR, csv_lines, csv_row

PRIV = private_capture_id("alice", "ab" * 32)
PUB = "cd" * 32


def _rec(cid: str, kind: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event.id": f"{cid}-{kind}-{n}",
        "event.dataset": kind,
        "pcaptotal.capture_id": cid,
        "@timestamp": f"2024-01-01T00:00:0{n}Z",
        "source.ip": "10.0.0.1",
        **extra,
    }


RECORDS = [
    _rec(PRIV, "flow", 1),
    _rec(PRIV, "dns", 2, **{"dns.question": [{"name": "secret.test", "type": "A"}]}),
    _rec(PUB, "flow", 3, **{"network.protocol": ["dns", "http"]}),
    _rec(PUB, "dns", 4, **{"dns.question": [{"name": "public.test", "type": "A"}]}),
    _rec(
        PUB,
        "http",
        5,
        **{"url.original": ['http://x.test/a,"b"\nc'], "user_agent.original": ["=1+2"]},
    ),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("export")
    app = FastAPI()
    install_access(app)
    install_problem_details(app)
    app.include_router(create_router())

    async def setup() -> dict[str, str]:
        base = make_context(Settings(data_dir=tmp / "data"))
        await start_context(base)
        ctx = base.with_retry(1.0)  # stamps records with their capture's visibility
        for cid, vis in ((PRIV, "private"), (PUB, "public")):
            doc = new_capture_doc(cid, size=1, filename=f"{vis}.pcap")
            await ctx.index.put_capture(doc | {"visibility": vis, "owner": "alice"})
        await ctx.index.add_flows(RECORDS)
        app.state.ctx = base.visible()
        store = KeyStore(FileBlobStore(tmp / "keys"), b"k" * 32)
        app.state.access = AccessState(auth_on=True, store=store)
        return {
            who: (await store.create(who, role))[1]
            for who, role in (("alice", Role.SUBMITTER), ("bob", Role.READER), ("root", Role.ADMIN))
        }

    made = asyncio.run(setup())
    with TestClient(app) as client:
        yield client, made


def _get(keys: tuple[TestClient, dict[str, str]], who: str, path: str, **params: Any) -> Any:
    client, made = keys
    return client.get(path, params=params, headers={"x-api-key": made[who]})


def test_csv_cells_flatten_lists_and_read_nested_fields() -> None:
    rec = RECORDS[3] | {"tags": ["a", "b"], "pcaptotal.dns.answered": True}
    row = dict(zip(COLUMNS, csv_row(rec), strict=True))
    assert row["dns.question.name"] == "public.test" and row["dns.question.type"] == "A"
    assert row["source.ip"] == "10.0.0.1" and row["destination.ip"] == ""
    multi = dict(zip(COLUMNS, csv_row(RECORDS[2]), strict=True))
    assert multi["network.protocol"] == f"dns{SEPARATOR}http"


def test_csv_quotes_and_defuses_formulas() -> None:
    text = csv_lines([RECORDS[4]], header=True).decode()
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == list(COLUMNS)
    cells = dict(zip(header, row, strict=True))
    assert cells["url.original"] == 'http://x.test/a,"b"\nc'  # comma, quote, newline survive
    assert cells["user_agent.original"] == "'=1+2"  # a spreadsheet must not run it
    assert text.endswith("\r\n")


@pytest.mark.parametrize(("who", "private"), [("alice", True), ("root", True), ("bob", False)])
def test_export_shows_only_what_the_caller_may_see(
    keys: tuple[TestClient, dict[str, str]],
    who: str,
    private: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_export, "PAGE", 2)  # later pages read in the streamed body
    r = _get(keys, who, "/v1/search/export", q="event.dataset:*")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    assert 'filename="pcaptotal-search.ndjson"' in r.headers["content-disposition"]
    lines = [json.loads(line) for line in r.text.splitlines()]
    want = [d["event.id"] for d in RECORDS if private or d["pcaptotal.capture_id"] == PUB]
    assert [d["event.id"] for d in lines] == want  # search order: @timestamp, event.id
    r = _get(keys, who, "/v1/search/export", q="event.dataset:*", format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["event.id"] for row in rows] == want
    group = _get(keys, who, "/v1/search", group="capture").json()
    assert {c["capture_id"] for c in group["captures"]} == ({PRIV, PUB} if private else {PUB})
    assert group["records_total"] == len(want)


def test_export_defaults_and_restrictions(keys: tuple[TestClient, dict[str, str]]) -> None:
    every = _get(keys, "root", "/v1/search/export").text.splitlines()  # every kind by default
    assert [json.loads(x)["event.id"] for x in every] == [d["event.id"] for d in RECORDS]
    flows = _get(keys, "root", "/v1/search/export", dataset=["flow"]).text.splitlines()
    assert [json.loads(x)["event.id"] for x in flows] == [f"{PRIV}-flow-1", f"{PUB}-flow-3"]
    dns = _get(keys, "root", "/v1/search/export", dataset=["dns"], capture=PUB, limit=5)
    assert [json.loads(x)["event.id"] for x in dns.text.splitlines()] == [f"{PUB}-dns-4"]
    two = _get(keys, "root", "/v1/search/export", q="event.dataset:*", limit=2)
    assert len(two.text.splitlines()) == 2
    empty = _get(keys, "root", "/v1/search/export", q="source.ip:10.9.9.9", format="csv")
    assert empty.text == ",".join(COLUMNS) + "\r\n"  # the header alone


def test_group_answers_views_hits_score_and_capture_fields(
    keys: tuple[TestClient, dict[str, str]],
) -> None:
    body = _get(keys, "root", "/v1/search", group="capture", limit=1).json()
    assert body["total"] == 2 and body["complete"] is True and body["cursor"]
    (top,) = body["captures"]
    assert top["capture_id"] == PUB and top["filename"] == "public.pcap"
    assert top["views"] == [
        {"view": "dns", "hits": 1},
        {"view": "flow", "hits": 1},
        {"view": "http", "hits": 1},
    ]
    assert top["hits"] == 3 and top["score"] == round(3 * math.log(2), 6)
    nxt = _get(keys, "root", "/v1/search", group="capture", cursor=body["cursor"]).json()
    assert [c["capture_id"] for c in nxt["captures"]] == [PRIV] and nxt["cursor"] is None


def test_group_pages_are_capped(
    keys: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_route, "MAX_PAGE", 1)
    body = _get(keys, "root", "/v1/search", group="capture", limit=50).json()
    assert len(body["captures"]) == 1 and body["total"] == 2 and body["cursor"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "nosuch.field:1"},
        {"q": "", "capture": "nothex"},
        {"q": "", "group": "capture", "offset": 5},
        {"q": "", "group": "capture", "cursor": "bm90IG91cnM"},
        {"q": "", "cursor": "bm90IG91cnM"},
    ],
)
def test_bad_requests_are_400_before_any_body(
    keys: tuple[TestClient, dict[str, str]], params: dict[str, Any]
) -> None:
    path = "/v1/search" if "group" in params or "cursor" in params else "/v1/search/export"
    r = _get(keys, "bob", path, **params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_export_needs_a_key_and_declares_both_media_types(
    keys: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = keys
    assert client.get("/v1/search/export").status_code == 401
    op = client.app.openapi()["paths"]["/v1/search/export"]["get"]  # type: ignore[attr-defined]
    assert set(op["responses"]["200"]["content"]) == set(search_export.MEDIA_TYPES.values())
    assert {"400", "401", "403", "422", "503"} <= set(op["responses"])
