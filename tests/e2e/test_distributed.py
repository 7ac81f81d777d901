"""e2e: ingest, 2 parsers, enricher and search-api as separate processes over RabbitMQ,
SeaweedFS S3 and osmem (ES API). A parser is killed with SIGKILL mid-run: every capture still
ends analysed, exactly once in the index. Broker and S3 outages are in ``test_faults``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.cluster import Cluster, cleanup, start_cluster, upload, wait_all
from tests.paths import shared_captures
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e

CAPTURES = shared_captures()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, seaweed_s3_url: str, es_url: str
) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("cluster"), seaweed_s3_url, es_url)
    yield c
    cleanup(c)


def test_kill9_parser_nothing_lost_or_duplicated(cluster: Cluster) -> None:
    ids: dict[str, str] = {}
    for i, path in enumerate(CAPTURES):
        ids[path.name] = upload(cluster, path)
        if i == 8:
            cluster.kill9("parser0")  # mid-run: its unacked deliveries go to parser1
    cluster.spawn("parser2", "pcaptotal_parser")
    docs = wait_all(cluster, ids)
    for path in CAPTURES:
        doc = docs[path.name]
        assert doc["status"] == "done", doc
        assert doc["summary"] == oracle_summary(path), path.name
    with httpx.Client(base_url=cluster.search_url, timeout=30) as client:
        for path in CAPTURES:
            doc = docs[path.name]
            flows = doc["summary"]["flows"]
            r = client.get("/v1/search", params={"capture": doc["id"], "limit": 10000})
            body = r.json()
            ids_seen = [h["event.id"] for h in body["hits"]]
            assert len(ids_seen) == len(set(ids_seen)), "duplicate flow documents"
            assert body["total"] == flows["tcp"] + flows["udp"] + flows["other"], path.name
