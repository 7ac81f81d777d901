"""e2e: ``make up`` (scripts/stack.py) starts the distributed stack — a private RabbitMQ node,
SeaweedFS, osmem, ingest, search-api, 2 parsers, an enricher and the gateway; captures uploaded
through the one API origin get tshark's summaries; every service serves /metrics and the
counters moved by the right amounts; ``make down`` leaves no process behind."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.paths import REPO, shared_captures
from tests.servers import free_port
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.e2e

STACK = REPO / "scripts" / "stack.py"
sys.path.insert(0, str(STACK.parent))
import stack as stack_script  # noqa: E402  (scripts/ is not a package)

# Small and varied: TCP/UDP/ICMP, DNS, HTTP, TLS, pcapng.
NAMES = (
    "zeek_wikipedia-dns-http.pcap",
    "zeek_tls12-chrome34-google.pcap",
    "zeek_icmp-5-pings.pcap",
    "zeek_pcapng-multi-interface.pcapng",
    "tcpdump_dns-over-tcp.pcap",
)
CAPTURES = [p for p in shared_captures() if p.name in NAMES]


@dataclass
class Stack:
    run_dir: Path
    api: str
    urls: dict[str, str]
    pids: list[int]
    env: dict[str, str]


def _run(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STACK), cmd], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("stack")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PCAPTOTAL_")},
        "RUN_DIR": str(run_dir),
        "PCAPTOTAL_HTTP_PORT": str(free_port()),
        "PARSERS": "2",
        "ENRICHERS": "1",
        # every capture parsed in a process of its own (pcaptotal_parser.isolated), which
        # small captures otherwise skip: that path too on the real servers
        "PCAPTOTAL_PARSER_ISOLATE_MIN_MB": "0",
    }
    started = _run("up", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        state = json.loads((run_dir / "state.json").read_text())
        urls = state["urls"]
        yield Stack(run_dir, urls["api"], urls, [p["pid"] for p in state["procs"]], env)
    finally:
        _run("down", env)  # a no-op when the last test brought it down


def _key(stack: Stack) -> dict[str, str]:
    """The admin key ``make up`` created (auth is on, as for a user)."""
    return {"x-api-key": (stack.run_dir / "admin-key").read_text().strip()}


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        v
        for (n, lab), v in samples.items()
        if n == name and all(dict(lab).get(k) == want for k, want in labels.items())
    )


def _wait_done(client: httpx.Client, ids: dict[str, str]) -> dict[str, Any]:
    docs: dict[str, Any] = {}
    deadline = time.monotonic() + 240
    while len(docs) < len(ids) and time.monotonic() < deadline:
        for name, cid in ids.items():
            r = client.get(f"/v1/captures/{cid}")
            if r.status_code == 200 and r.json()["status"] in ("done", "failed"):
                docs[name] = r.json()
        time.sleep(0.5)
    assert len(docs) == len(ids), f"not finished: {sorted(set(ids) - set(docs))}"
    return docs


def test_one_origin_same_summaries_and_metrics_moved(stack: Stack) -> None:
    worker_urls = [u for n, u in stack.urls.items() if n.startswith(("parser", "enricher"))]
    services = [stack.urls["ingest"], stack.urls["search-api"], *worker_urls, stack.api]
    before = {u: _samples(u) for u in services}  # every service, workers too, serves /metrics
    ids: dict[str, str] = {}
    with httpx.Client(base_url=stack.api, timeout=60, headers=_key(stack)) as client:
        for path in CAPTURES:
            r = client.post("/v1/captures", files={"file": (path.name, path.read_bytes())})
            assert r.status_code == 202, r.text
            ids[path.name] = r.json()["capture_id"]
        docs = _wait_done(client, ids)
        # Reads, feeds and health through the same origin.
        assert client.get("/v1/captures").status_code == 200
        assert client.get("/v1/intel/feeds").status_code == 200
        assert client.get("/readyz").json()["status"] == "ready"
    for path in CAPTURES:
        assert docs[path.name]["status"] == "done", docs[path.name]
        assert docs[path.name]["summary"] == oracle_summary(path), path.name

    after = {u: _samples(u) for u in services}
    n = len(CAPTURES)

    def moved(urls: list[str], name: str, **labels: str) -> float:
        return sum(
            _total(after[u], name, **labels) - _total(before[u], name, **labels) for u in urls
        )

    parsers = [u for n_, u in stack.urls.items() if n_.startswith("parser")]
    enrichers = [u for n_, u in stack.urls.items() if n_.startswith("enricher")]
    packets = sum(docs[p.name]["summary"]["packets"] for p in CAPTURES)
    size = sum(docs[p.name]["summary"]["bytes"] for p in CAPTURES)
    assert moved(parsers, "pcaptotal_packets_parsed_total") == packets
    assert moved(parsers, "pcaptotal_bytes_parsed_total") == size
    assert moved(parsers, "pcaptotal_stage_seconds_count", stage="parse") == n
    assert moved(parsers, "pcaptotal_tshark_seconds_count") >= n
    assert moved(enrichers, "pcaptotal_stage_seconds_count", stage="enrich") == n
    assert moved(enrichers, "pcaptotal_stage_seconds_count", stage="index") == n
    assert moved([stack.urls["ingest"]], "pcaptotal_stage_seconds_count", stage="store") == n
    assert moved([stack.urls["ingest"]], "pcaptotal_uploads_total", outcome="queued") == n
    assert moved(parsers, "pcaptotal_bus_consumed_total") == n
    assert moved(parsers, "pcaptotal_bus_deliveries_total", outcome="ack") == n
    assert moved(enrichers, "pcaptotal_bus_deliveries_total", outcome="ack") == n
    assert moved(worker_urls, "pcaptotal_bus_deliveries_total", outcome="dead") == 0
    assert moved(services, "pcaptotal_capture_status_transitions_total", status="done") == n
    upload_route = dict(service="ingest", method="POST", route="/v1/captures", status="202")
    assert (
        moved(
            [stack.urls["ingest"]], "pcaptotal_http_request_duration_seconds_count", **upload_route
        )
        == n
    )
    gw = dict(service="gateway", method="POST", status="202")
    assert moved([stack.api], "pcaptotal_http_request_duration_seconds_count", **gw) == n

    # Queue depth as the workers see it, work queues and dead-letter queues alike.
    depth = {
        dict(lab)["queue"]
        for u in parsers
        for (name, lab) in after[u]
        if name == "pcaptotal_queue_depth_messages"
    }
    assert depth == {"parser", "parser.dead"}, depth

    # One trace id per capture, on its lines in ingest, a parser and the enricher.
    logs = {p.stem: p.read_text() for p in (stack.run_dir / "logs").glob("*.log")}
    ours = ("ingest", "search-api", "gateway", "parser-0", "parser-1", "enricher-0")
    for name in ours:
        for line in logs[name].splitlines():
            record = json.loads(line)  # every line JSON, uvicorn's and the libraries' too
            assert record["level"] != "debug" and record.get("logger") != "uvicorn.access"
            # No file names, blob keys or credentials.
            assert not any(p.name in line for p in CAPTURES), line
            assert "captures/" not in line and "s3://" not in line and "amqp://" not in line
            assert _key(stack)["x-api-key"] not in line  # keys never reach the logs
    for cid in ids.values():
        lines = [
            json.loads(line)
            for text in logs.values()
            for line in text.splitlines()
            if line.startswith("{") and cid in line
        ]
        traces = {line.get("trace_id") for line in lines if line.get("capture_id") == cid}
        assert len(traces) == 1 and None not in traces, (cid, traces)


def test_packettotal_compat_across_services(stack: Stack) -> None:
    """The PacketTotal API through the one origin: the base64 upload goes to ingest, the md5
    lookups to search-api, and /usage (search-api) counts the upload ingest made, from the
    counters both keep in the shared blob store."""
    path = CAPTURES[0]
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    pt = "/compat/packettotal/v1"
    with httpx.Client(base_url=stack.api, timeout=60, headers=_key(stack)) as admin:
        made = admin.post("/v1/keys", json={"owner": "compat", "role": "submitter"})
        assert made.status_code == 201, made.text
    key = {"x-api-key": made.json()["key"]}
    body = {"pcap_base64": base64.b64encode(path.read_bytes()).decode(), "visibility": "private"}
    with httpx.Client(base_url=stack.api, timeout=60, headers=key) as client:
        r = client.post(f"{pt}/analyze/base64", json=body)
        assert r.status_code == 202, r.text
        assert r.json()["id"] == md5
        deadline = time.monotonic() + 120
        # Earlier tests uploaded the same bytes as public: until this private copy is
        # analysed, the lookup answers with that one (own copies come first once analysed).
        while (info := client.get(f"{pt}/pcaps/{md5}")).status_code == 404 or (
            info.json()["pcap_metadata"]["visibility"] != "private"
        ):
            assert time.monotonic() < deadline, "not analysed in time"
            time.sleep(0.5)
        assert info.status_code == 200, info.text
        usage = client.get(f"{pt}/usage").json()
        assert usage["uploads"] == {"count": 1, "bytes": path.stat().st_size}
        assert usage["requests_made"] >= 2


def test_kill9_parser_loses_nothing(stack: Stack) -> None:
    """The fault tier's first case on the make-up stack: a parser killed with SIGKILL while
    captures are queued; the other parser takes its unacknowledged work."""
    state = json.loads((stack.run_dir / "state.json").read_text())
    victim = next(p["pid"] for p in state["procs"] if p["name"] == "parser-1")
    others = [p for p in shared_captures() if p.name not in NAMES][:8]
    ids: dict[str, str] = {}
    with httpx.Client(base_url=stack.api, timeout=60, headers=_key(stack)) as client:
        for i, path in enumerate(others):
            r = client.post("/v1/captures", files={"file": (path.name, path.read_bytes())})
            assert r.status_code in (200, 202), r.text
            ids[path.name] = r.json()["capture_id"]
            if i == 3:
                os.kill(victim, signal.SIGKILL)
        docs = _wait_done(client, ids)
    for path in others:
        assert docs[path.name]["status"] == "done", docs[path.name]
        assert docs[path.name]["summary"] == oracle_summary(path), path.name
    # every parse has ended: none was left behind by the killed parser (they die with it)
    parses = [
        pid
        for pid in stack_script.marked_pids(stack.run_dir)
        if b"pcaptotal_parser.isolated" in _cmdline(pid)
    ]
    assert parses == []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_down_stops_every_process_it_started(stack: Stack) -> None:
    """``down`` ends every process ``up`` started, children of children included (Erlang's
    helpers start their own sessions: they are found by the run dir in their environment)."""
    marked = stack_script.marked_pids(stack.run_dir)
    alive = [pid for pid in stack.pids if Path(f"/proc/{pid}").exists()]
    assert len(alive) == len(stack.pids) - 1  # all but the parser the last test killed
    assert set(alive) <= set(marked)
    assert len(marked) > len(stack.pids)  # erl_child_setup and friends
    stopped = _run("down", stack.env)
    assert stopped.returncode == 0, stopped.stderr
    assert stack_script.marked_pids(stack.run_dir) == []
    assert not (stack.run_dir / "state.json").exists()
