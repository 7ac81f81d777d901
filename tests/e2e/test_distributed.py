"""e2e: ingest, 2 parsers, enricher and search-api as separate processes over RabbitMQ,
SeaweedFS S3 and osmem (ES API). A parser is killed with SIGKILL mid-run and the broker is
restarted: every capture still ends analysed, exactly once in the index."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from tests.e2e.cluster import AMQP_URL, Cluster, cleanup, start_cluster
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


def _wait_all(cluster: Cluster, ids: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    docs: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=cluster.search_url, timeout=20) as client:
        while time.monotonic() < deadline:
            for name, cid in ids.items():
                if name in docs:
                    continue
                r = client.get(f"/v1/captures/{cid}")
                if r.status_code == 200 and r.json()["status"] in ("done", "failed"):
                    docs[name] = r.json()
            if len(docs) == len(ids):
                return docs
            time.sleep(0.5)
    missing = sorted(set(ids) - set(docs))
    logs = {n: cluster.log(n)[-800:] for n in cluster.procs}
    raise AssertionError(f"not finished: {missing}\n{json.dumps(logs, indent=1)}")


def _upload(cluster: Cluster, path: Path) -> str:
    with path.open("rb") as fh:
        r = httpx.post(
            f"{cluster.ingest_url}/v1/captures", files={"file": (path.name, fh)}, timeout=60
        )
    assert r.status_code in (200, 202), r.text
    cid: str = r.json()["id"]
    return cid


async def _collect_analyzed(exchange: str, stop: asyncio.Event, got: list[str]) -> None:
    """A subscriber of our own: binds an exclusive queue to ``capture.analyzed``."""
    conn = await aio_pika.connect_robust(AMQP_URL, timeout=10)
    async with conn:
        ch = await conn.channel()
        ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await ch.declare_queue(exclusive=True)
        await q.bind(ex, "capture.analyzed")

        async def on_message(msg: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with msg.process():
                got.append(json.loads(msg.body)["capture_id"])

        await q.consume(on_message)
        await stop.wait()


def test_kill9_parser_nothing_lost_or_duplicated(cluster: Cluster) -> None:
    ids: dict[str, str] = {}
    for i, path in enumerate(CAPTURES):
        ids[path.name] = _upload(cluster, path)
        if i == 8:
            cluster.kill9("parser0")  # mid-run: its unacked deliveries go to parser1
    cluster.spawn("parser2", "pcaptotal_parser")
    docs = _wait_all(cluster, ids)
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
            ids_seen = [h["_id"] for h in body["hits"]]
            assert len(ids_seen) == len(set(ids_seen)), "duplicate flow documents"
            assert body["total"] == flows["tcp"] + flows["udp"] + flows["other"], path.name


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True)


def test_broker_restart_workers_reconnect(cluster: Cluster) -> None:
    _rabbitmqctl("stop_app")
    _rabbitmqctl("start_app")
    _rabbitmqctl("await_startup")
    stop = asyncio.Event()
    got: list[str] = []

    async def scenario() -> str:
        # A new subscriber after the restart; the workers' connections must have recovered.
        listener = asyncio.create_task(_collect_analyzed(cluster.exchange, stop, got))
        await asyncio.sleep(1)
        path = next(p for p in CAPTURES if p.name == "zeek_dns-txt-multiple.pcap")
        async with httpx.AsyncClient(timeout=120) as client:
            r = await client.post(
                f"{cluster.ingest_url}/v1/captures",
                params={"reanalyze": "true"},
                content=path.read_bytes(),
            )
        assert r.status_code == 202, r.text
        cid: str = r.json()["id"]
        deadline = time.monotonic() + 180
        async with httpx.AsyncClient(base_url=cluster.search_url, timeout=20) as client:
            while time.monotonic() < deadline and cid not in got:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            doc = (await client.get(f"/v1/captures/{cid}")).json()
        stop.set()
        await listener
        assert doc["status"] == "done", doc
        return cid

    cid = asyncio.run(scenario())
    assert cid in got, {n: cluster.log(n)[-600:] for n in cluster.procs}
