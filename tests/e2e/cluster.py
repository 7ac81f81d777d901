"""The services as separate processes over RabbitMQ, S3 (SeaweedFS) and an ES-API index."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx

from tests.servers import free_port

AMQP_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Cluster:
    workdir: Path
    env: dict[str, str]
    exchange: str
    queue_prefix: str
    ingest_url: str = ""
    search_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, module: str, port: int | None = None) -> subprocess.Popen[bytes]:
        env = {**self.env, "PCAPTOTAL_DATA_DIR": str(self.workdir / name)}
        if port is not None:
            env["PCAPTOTAL_HTTP_PORT"] = str(port)
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]

    def kill9(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], cluster: Cluster, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {cluster.log(name)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready: {cluster.log(name)}")


def start_cluster(
    workdir: Path,
    s3_url: str,
    es_url: str,
    parsers: int = 2,
    *,
    amqp_url: str = AMQP_URL,
    env: dict[str, str] | None = None,
) -> Cluster:
    """``amqp_url`` / ``s3_url`` may point at a ``tests.faults.TcpProxy`` to cut; ``env``
    adds settings (shorter reconcile intervals for fault tests)."""
    run = uuid.uuid4().hex[:10]
    base_s3 = s3_url.rsplit("/", 1)[0]
    full_env = {
        **os.environ,
        **(env or {}),
        "PCAPTOTAL_BUS_URL": amqp_url,
        "PCAPTOTAL_BUS_EXCHANGE": f"e2e.{run}",
        "PCAPTOTAL_BUS_QUEUE_PREFIX": f"e2e.{run}.",
        "PCAPTOTAL_BLOB_URL": f"{base_s3}/e2e-{run}",
        "PCAPTOTAL_INDEX_URL": f"{es_url}?prefix=e2e-{run}",
        "PCAPTOTAL_HTTP_HOST": "127.0.0.1",
    }
    cluster = Cluster(workdir, full_env, f"e2e.{run}", f"e2e.{run}.")
    ingest_port, search_port = free_port(), free_port()
    ingest = cluster.spawn("ingest", "pcaptotal_ingest", ingest_port)
    search = cluster.spawn("search", "pcaptotal_search_api", search_port)
    for i in range(parsers):
        cluster.spawn(f"parser{i}", "pcaptotal_parser")
    cluster.spawn("enricher", "pcaptotal_enricher", free_port())
    cluster.ingest_url = f"http://127.0.0.1:{ingest_port}"
    cluster.search_url = f"http://127.0.0.1:{search_port}"
    _wait_ready(cluster.ingest_url, ingest, cluster, "ingest")
    _wait_ready(cluster.search_url, search, cluster, "search")
    return cluster


async def _delete_queues(cluster: Cluster) -> None:
    conn = await aio_pika.connect(AMQP_URL, timeout=10)
    async with conn:
        channel = await conn.channel()
        for q in ("parser", "enricher", "events"):
            for name in (cluster.queue_prefix + q, cluster.queue_prefix + q + ".dead"):
                try:
                    await channel.queue_delete(name)
                except Exception:
                    channel = await conn.channel()
        for ex in (cluster.exchange, cluster.exchange + ".dlx"):
            try:
                await channel.exchange_delete(ex)
            except Exception:
                channel = await conn.channel()


def cleanup(cluster: Cluster) -> None:
    cluster.stop_all()
    asyncio.run(_delete_queues(cluster))


def wait_all(cluster: Cluster, ids: dict[str, str], timeout: float = 600) -> dict[str, Any]:
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


def upload(cluster: Cluster, path: Path) -> str:
    with path.open("rb") as fh:
        r = httpx.post(
            f"{cluster.ingest_url}/v1/captures", files={"file": (path.name, fh)}, timeout=60
        )
    assert r.status_code in (200, 202), r.text
    cid: str = r.json()["id"]
    return cid
