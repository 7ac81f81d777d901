"""e2e: the ``make up`` stack (ingest, 2 parsers, an enricher, search-api and the gateway as
separate processes over a private RabbitMQ node, SeaweedFS S3 and osmem). Every shared capture
is uploaded through the one origin while a parser is killed with SIGKILL: every capture still
ends analysed with tshark's numbers, exactly once in the index. Broker and S3 outages are in
``test_faults``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.makeup import MadeUp, make_down, make_up, upload, wait_all
from tests.paths import shared_captures
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e

CAPTURES = shared_captures()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeUp]:
    s = make_up(tmp_path_factory.mktemp("stack"))
    yield s
    make_down(s)


def test_kill9_parser_nothing_lost_or_duplicated(stack: MadeUp) -> None:
    ids: dict[str, str] = {}
    for i, path in enumerate(CAPTURES):
        ids[path.name] = upload(stack, path)
        if i == 8:
            stack.restart("parser-0")  # mid-run: its unacked deliveries go to parser-1
    docs = wait_all(stack, ids)
    for path in CAPTURES:
        doc = docs[path.name]
        assert doc["status"] == "done", doc
        assert doc["summary"] == oracle_summary(path), path.name
    with httpx.Client(base_url=stack.api, timeout=30) as client:
        for path in CAPTURES:
            doc = docs[path.name]
            flows = doc["summary"]["flows"]
            r = client.get(
                "/v1/search",
                params={"capture": doc["capture_id"], "dataset": "flow", "limit": 10000},
            )
            body = r.json()
            ids_seen = [h["event.id"] for h in body["hits"]]
            assert len(ids_seen) == len(set(ids_seen)), "duplicate flow documents"
            assert body["total"] == flows["tcp"] + flows["udp"] + flows["other"], path.name
