"""e2e fault tier, on the ``make up`` stack (the services as separate processes behind the
one API origin, over RabbitMQ, SeaweedFS and osmem), with faults injected. Whatever fails,
every capture ends ``done`` or ``failed`` with a reason, and the index holds exactly what a
clean run gives.

- a parser killed with SIGKILL three times on one capture (what repeated OOM kills do): that
  capture fails with the reason, the others flow on;
- the broker unreachable during uploads (a TCP proxy between services and broker is cut; the
  machine's broker itself is never touched): each upload is accepted or a 503, and every
  accepted one ends done once the broker is back;
- S3 unreachable for 30 s mid-run: every capture ends done after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import aio_pika
import httpx
import psutil
import pytest

from tests.e2e.makeup import MadeUp, make_down, make_up, upload, wait_all
from tests.faults import SyntheticCapture, TcpProxy, write_udp_capture
from tests.paths import PCAPS
from tests.servers import free_port
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e

SMALL = [
    PCAPS / name
    for name in (
        "zeek_wikipedia-dns-http.pcap",
        "zeek_dns-txt-multiple.pcap",
        "zeek_tls12-chrome34-google.pcap",
        "zeek_icmp-5-pings.pcap",
        "zeek_smtp.pcap",
    )
]
# Short reconcile cycles so an outage's aftermath is visible within a test's patience.
FAST_RECONCILE = {
    "PCAPTOTAL_RECONCILE_INTERVAL_S": "2",
    "PCAPTOTAL_OUTBOX_GRACE_S": "2",
    "PCAPTOTAL_PUBLISH_TIMEOUT_S": "3",
    "PCAPTOTAL_PARSER_SPLIT_MIN_MB": "1024",  # one tshark per capture: one process to find
}


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCapture:
    """200k packets over 2,000 UDP flows: seconds of tshark, time to kill it mid-parse."""
    return write_udp_capture(tmp_path_factory.mktemp("big") / "many-flows.pcap", 200_000)


AMQP_URL = os.environ.get("PCAPTOTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _assert_clean(
    stack: MadeUp,
    docs: dict[str, dict[str, object]],
    paths: list[Path],
    known: dict[str, dict[str, object]] | None = None,
) -> None:
    """Each capture as after a clean run: done, tshark's numbers (or, for a synthetic capture,
    what it holds by construction), one document per flow."""
    with httpx.Client(base_url=stack.api, timeout=30) as client:
        for path in paths:
            doc = docs[path.name]
            assert doc["status"] == "done", doc
            summary = doc["summary"]
            expected = (known or {}).get(path.name) or oracle_summary(path)
            assert summary == expected, path.name
            assert isinstance(summary, dict)
            flows = summary["flows"]
            r = client.get(
                "/v1/search",
                params={"capture": str(doc["capture_id"]), "dataset": "flow", "limit": 10000},
            )
            body = r.json()
            seen = [h["event.id"] for h in body["hits"]]
            assert len(seen) == len(set(seen)), f"duplicate flow documents in {path.name}"
            assert body["total"] == flows["tcp"] + flows["udp"] + flows["other"], path.name


def _parser_running_tshark(stack: MadeUp, min_age_s: float, timeout: float = 120) -> str:
    """The parser whose tshark child has run for ``min_age_s`` (the big capture: the small
    ones are parsed in well under that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, pid in stack.procs.items():
            if not name.startswith("parser"):
                continue
            try:
                for child in psutil.Process(pid).children(recursive=True):
                    if "tshark" in child.name() and time.time() - child.create_time() >= min_age_s:
                        return name
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no parser ran tshark on the big capture: {stack.log('parser-0')}")


def test_parser_killed_three_times_fails_that_capture_others_flow_on(
    tmp_path: Path, big_capture: SyntheticCapture
) -> None:
    big = big_capture.path
    stack = make_up(tmp_path / "run", **FAST_RECONCILE)
    try:
        big_id = upload(stack, big)
        ids: dict[str, str] = {}
        for kill in range(3):
            stack.restart(_parser_running_tshark(stack, min_age_s=1.5))  # a restarted pod
            if kill == 0:  # uploaded while the poison capture keeps killing parsers
                ids = {p.name: upload(stack, p) for p in SMALL}
        docs = wait_all(stack, {**ids, big.name: big_id}, timeout=300)
        failed = docs[big.name]
        assert failed["status"] == "failed", failed
        error = str(failed["error"])
        assert "parse stage gave up" in error and "3 times" in error, error
        _assert_clean(stack, docs, SMALL)
    finally:
        make_down(stack)


def _wait_ready(url: str, ready: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (httpx.get(f"{url}/readyz", timeout=5).status_code == 200) is ready:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} readiness never became {ready}")


async def _collect_analyzed(exchange: str, stop: asyncio.Event, got: list[str]) -> None:
    """A subscriber of our own on the broker: capture.analyzed events."""
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


async def _delete_topology(exchange: str, prefix: str) -> None:
    """What the stack declared on the machine's broker under our unique names (never anyone
    else's queues, and never the broker itself)."""
    conn = await aio_pika.connect(AMQP_URL, timeout=10)
    async with conn:
        for name in ("parser", "enricher"):
            for queue in (prefix + name, prefix + name + ".dead"):
                with contextlib.suppress(Exception):
                    await (await conn.channel()).queue_delete(queue)
        for ex in (exchange, exchange + ".dlx"):
            with contextlib.suppress(Exception):
                await (await conn.channel()).exchange_delete(ex)


def test_broker_unreachable_during_uploads(tmp_path: Path) -> None:
    broker = urlparse(AMQP_URL)
    proxy = TcpProxy(broker.hostname or "127.0.0.1", broker.port or 5672).start()
    amqp = AMQP_URL.replace(f":{broker.port or 5672}", f":{proxy.port}", 1)
    run = f"faults{free_port()}"
    exchange, prefix = f"e2e.{run}", f"e2e.{run}."
    stack = make_up(
        tmp_path / "run",
        PCAPTOTAL_BUS_URL=amqp,  # the machine's broker, through a proxy the test can cut
        PCAPTOTAL_BUS_EXCHANGE=exchange,
        PCAPTOTAL_BUS_QUEUE_PREFIX=prefix,
        **FAST_RECONCILE,
    )
    ingest = stack.urls["ingest"]
    try:
        first = upload(stack, SMALL[0])
        proxy.cut()
        _wait_ready(ingest, ready=False)  # readiness reflects the bus
        accepted: dict[str, str] = {SMALL[0].name: first}
        for path in SMALL[1:]:
            start = time.monotonic()
            url = f"{stack.api}/v1/captures"
            r = httpx.post(url, content=path.read_bytes(), timeout=60)
            assert time.monotonic() - start < 20, "an upload waited on the dead broker"
            assert r.status_code in (202, 503), r.text
            if r.status_code == 503:
                assert int(r.headers["retry-after"]) > 0
            else:
                accepted[path.name] = r.json()["capture_id"]
        time.sleep(3)
        proxy.restore()
        _wait_ready(ingest, ready=True)
        docs = wait_all(stack, accepted, timeout=240)
        _assert_clean(stack, docs, [p for p in SMALL if p.name in accepted])
        assert len(accepted) == len(SMALL), "the bus was down, not the blob store or index"

        # Workers reconnected: a re-analysis after the outage reaches a fresh subscriber.
        stop = asyncio.Event()
        got: list[str] = []

        async def reanalyse() -> None:
            listener = asyncio.create_task(_collect_analyzed(exchange, stop, got))
            await asyncio.sleep(1)
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.post(
                    f"{stack.api}/v1/captures",
                    params={"reanalyze": "true"},
                    content=SMALL[1].read_bytes(),
                )
                assert r.status_code == 202, r.text
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and r.json()["capture_id"] not in got:  # noqa: ASYNC110
                    await asyncio.sleep(0.3)
            stop.set()
            await listener

        asyncio.run(reanalyse())
        assert accepted[SMALL[1].name] in got
    finally:
        make_down(stack)
        proxy.stop()
        asyncio.run(_delete_topology(exchange, prefix))


def test_s3_unreachable_for_30s_mid_run(
    tmp_path: Path, seaweed_s3_url: str, big_capture: SyntheticCapture
) -> None:
    s3 = urlparse(seaweed_s3_url)
    proxy = TcpProxy(s3.hostname or "127.0.0.1", s3.port or 8333).start()
    bucket = f"faults{free_port()}"
    proxied = seaweed_s3_url.replace(f":{s3.port}/", f":{proxy.port}/", 1).rsplit("/", 1)[0]
    stack = make_up(tmp_path / "run", PCAPTOTAL_BLOB_URL=f"{proxied}/{bucket}", **FAST_RECONCILE)
    try:
        paths = [big_capture.path, *SMALL]
        ids = {p.name: upload(stack, p) for p in paths}
        proxy.cut()
        time.sleep(30)
        proxy.restore()
        docs = wait_all(stack, ids, timeout=400)
        _assert_clean(stack, docs, paths, {big_capture.path.name: big_capture.summary})
    finally:
        make_down(stack)
        proxy.stop()
