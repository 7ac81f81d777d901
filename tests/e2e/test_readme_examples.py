"""The README's example queries, read from README.md itself, each find flows in its capture.

Two places in the README hold example queries: every ``--data-urlencode 'q=…'`` of its curl
commands, and the table between ``<!-- example-queries`` and ``<!-- /example-queries -->``.
They run against the runner (``make run``) after uploading the README's example capture; when
the README changes, this test reads the new queries.
"""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from tests.e2e.conftest import Server, wait_finished
from tests.paths import README_CAPTURE, REPO

pytestmark = pytest.mark.e2e

README = (REPO / "README.md").read_text()
CURL_QUERY = re.compile(r"--data-urlencode '(?:q=)([^']*)'")
TABLE_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def readme_queries(text: str) -> list[str]:
    start = text.index("<!-- example-queries")
    end = text.index("<!-- /example-queries -->", start)
    table = TABLE_ROW.findall(text[start:end])
    return list(dict.fromkeys(CURL_QUERY.findall(text) + table))


QUERIES = readme_queries(README)


def test_the_readme_names_its_capture_and_its_id() -> None:
    assert README_CAPTURE.name in README
    (readme_id,) = set(re.findall(r"^\$ ID=([0-9a-f]{64})$", README, re.MULTILINE))
    assert readme_id == hashlib.sha256(README_CAPTURE.read_bytes()).hexdigest()
    assert len(QUERIES) >= 15  # the table and the curl commands were both found


@pytest.fixture(scope="module")
def analysed(server: Server) -> str:
    with README_CAPTURE.open("rb") as f:
        r = httpx.post(
            f"{server.base_url}/v1/captures",
            files={"file": (README_CAPTURE.name, f, "application/vnd.tcpdump.pcap")},
            timeout=60,
        )
    assert r.status_code in (200, 202), r.text
    capture_id: str = r.json()["capture_id"]
    doc = wait_finished(server.base_url, capture_id)
    assert doc["status"] == "done", doc
    return capture_id


@pytest.mark.parametrize("query", QUERIES)
def test_readme_query_finds_flows(server: Server, analysed: str, query: str) -> None:
    r = httpx.get(
        f"{server.base_url}/v1/search",
        params={"q": query, "capture": analysed, "limit": 1},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= 1, f"README example {query!r} finds nothing in {README_CAPTURE.name}"
    assert body["hits"][0]["pcaptotal.capture_id"] == analysed
