"""API benchmark: the embedded runner over HTTP with >= 1,000,000 documents and 32 clients.

1. Templates: the shared captures (``tests/data/pcaps``) go once through a real runner
   (parser + enricher, ``PCAPTOTAL_AUTH=off`` on loopback, a throw-away data dir); every record
   of every capture and the capture documents are read back over HTTP. ``--cache FILE`` keeps
   them (keyed by nothing: delete the file after a parser/enricher change).
2. Load: replays the templates into ``<data>/index`` through the ``Index`` port
   (``TantivyIndex.add_flows`` / ``put_capture``) until ``--docs`` records are indexed. One
   replayed capture = a deterministic subset of the templates (3 to 8 of them); every replay
   gets its own capture id, record ids (``<capture>-t<template>-<key>``), addresses (each
   address maps through a hash of (replay or group of 8 replays, address), so about half the
   addresses recur across neighbouring replays like shared infrastructure) and traffic times
   (spread over two years). Its capture document is the first template's with the summary
   counts of the subset, the worst verdict, and the new ids, so ``GET /v1/captures/{id}`` and
   ``/v1/stats`` see done captures. ``--data DIR`` keeps the loaded dir: a later run with the
   same ``--data`` and ``--docs`` skips the load.
3. Serve: ``python -m pcaptotal_runner`` (what ``make run`` starts) on a free loopback port
   over that dir, with access control on and ``PCAPTOTAL_BOOTSTRAP_ADMIN_KEY`` (as a user
   runs it); every request carries that key.
4. Drive, from a separate process (``bench/api.py drive``), ``--clients`` concurrent clients
   (one keep-alive connection each; aiohttp when installed, else httpx):
   a. mixed, ``--duration`` s: each client loops over a request picked at random:
      85 % ``/v1/search`` (an IP term, a DNS name, a wildcard on names, ``event.dataset:http
      AND http.response.status_code:>=400``, a verdict, each with the default limit 50),
      5 % ``/v1/stats`` (default interval), 10 % ``GET /v1/captures/{id}``;
   b. capture GET only, ``--get-duration`` s: requests/s over every client;
   c. searches only (the mix's searches), ``--search-duration`` s: latencies and the runner's
      CPU per search (every record kind: the searches name none).
   Latencies are per request, from send to the last body byte; errors are counted and
   printed (a non-200 answer is an error, never a latency).

Last line: ``search_p50_ms=.. search_p99_ms=.. stats_p99_ms=.. get_capture_rps=..``.

    python bench/api.py [--docs 1000000] [--data DIR] [--cache FILE] [--clients 32]

Not a test: it prints, it asserts nothing. The machine's other load shows in the numbers: run
it a few times and take medians.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pcaptotal.adapters.tantivy_docs import capture_document  # noqa: E402
from pcaptotal.adapters.tantivy_index import TantivyIndex  # noqa: E402
from pcaptotal.fields import FLOW_FIELDS, FieldType  # noqa: E402
from pcaptotal_search_api.capture_view import STORED_NAMES  # noqa: E402

from tests.paths import shared_captures  # noqa: E402

IP_FIELDS = tuple(f.name for f in FLOW_FIELDS if f.type is FieldType.IP)
TIME_FIELDS = ("@timestamp", "event.start", "event.end")  # traffic times; certificates keep theirs
VERDICT_RANK = {"clean": 0, "suspicious": 1, "malicious": 2}
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
LOAD_MARK = "bench-api-loaded.json"


# -- 1. templates ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Runner:
    base: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_runner(data: Path, log: Path, **env: str) -> Runner:
    port = free_port()
    full = {
        **os.environ,
        "PCAPTOTAL_DATA_DIR": str(data),
        "PCAPTOTAL_HTTP_HOST": "127.0.0.1",
        "PCAPTOTAL_HTTP_PORT": str(port),
        **env,
    }
    out = log.open("ab")
    cmd = [sys.executable, "-m", "pcaptotal_runner"]
    proc = subprocess.Popen(cmd, env=full, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # opening a large index takes a moment
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"runner exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return Runner(base, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    Runner(base, proc).stop()
    raise RuntimeError(f"runner not ready: {log.read_text()[-3000:]}")


def make_templates(work: Path) -> list[dict[str, Any]]:
    """Every shared capture through the real pipeline: [{capture: doc, records: [...]}]."""
    runner = start_runner(work / "templates", work / "templates.log", PCAPTOTAL_AUTH="off")
    try:
        ids = []
        with httpx.Client(base_url=runner.base, timeout=120) as client:
            for path in shared_captures():
                with path.open("rb") as fh:
                    r = client.post("/v1/captures", files={"file": (path.name, fh)})
                r.raise_for_status()
                ids.append(r.json()["capture_id"])
            templates = []
            for cid in dict.fromkeys(ids):
                doc = wait_done(client, cid)
                if doc["status"] != "done":
                    continue
                q = {"q": "event.dataset:*", "capture": cid, "limit": 10_000}
                r = client.get("/v1/search", params=q)
                r.raise_for_status()
                records = r.json()["hits"]
                if records:
                    templates.append({"capture": _stored(doc), "records": records})
        return templates
    finally:
        runner.stop()


def _stored(view: dict[str, Any]) -> dict[str, Any]:
    """The capture document as stored, from its API view (``capture_id`` -> ``id``, ...)."""
    stored = {api: key for key, api in STORED_NAMES.items()}
    return {stored.get(k, k): v for k, v in view.items()}


def wait_done(client: httpx.Client, cid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/v1/captures/{cid}").json()
        if doc["status"] in ("done", "failed"):
            return doc
        time.sleep(0.2)
    raise TimeoutError(cid)


# -- 2. load ---------------------------------------------------------------------------------


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()


class Addresses:
    """Deterministic address rewriting of one replay; half the addresses are shared by a group
    of 8 neighbouring replays (recurring servers), the rest are the replay's own."""

    def __init__(self, replay: int) -> None:
        self.replay = replay
        self.seen: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        new = self.seen.get(value)
        if new is None:
            new = self.seen[value] = self._map(value)
        return new

    def _map(self, value: str) -> str:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return value
        shared = _digest("shared?", value)[0] & 1
        h = int.from_bytes(_digest(self.replay // 8 if shared else self.replay, value), "big")
        if ip.version == 4:  # 1.0.0.0 - 223.255.255.255, no multicast or reserved
            return str(ipaddress.IPv4Address((1 << 24) + h % (222 << 24)))
        return str(ipaddress.IPv6Address((0x2001 << 112) | (h & ((1 << 112) - 1))))


def _shift(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str):
        return value
    when = datetime.fromisoformat(value) + delta
    return when.isoformat().replace("+00:00", "Z")


def _first_time(records: list[dict[str, Any]]) -> datetime:
    times = [r["@timestamp"] for r in records if isinstance(r.get("@timestamp"), str)]
    return datetime.fromisoformat(min(times)) if times else EPOCH


def capture_id(replay: int) -> str:
    return hashlib.sha256(f"bench-api replay {replay}".encode()).hexdigest()


@dataclass
class Template:
    capture: dict[str, Any]
    records_json: list[bytes]  # each record, serialized once
    first: datetime
    cid: str


def replay(
    templates: list[Template], replay: int, replays: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One replayed capture: its capture document and records."""
    rnd = random.Random(replay)
    picked = sorted(rnd.sample(range(len(templates)), rnd.randint(3, min(8, len(templates)))))
    new_cid = capture_id(replay)
    addresses = Addresses(replay)
    start = EPOCH + SPAN * (replay / max(replays, 1))
    records: list[dict[str, Any]] = []
    for t in picked:
        tpl = templates[t]
        delta = start - tpl.first + timedelta(seconds=rnd.randint(0, 3600))
        old_key, new_key = f'"{tpl.cid}-'.encode(), f'"{new_cid}-t{t}-'.encode()
        old_id, new_id = f'"{tpl.cid}"'.encode(), f'"{new_cid}"'.encode()
        for raw in tpl.records_json:
            doc = orjson.loads(raw.replace(old_key, new_key).replace(old_id, new_id))
            for name in IP_FIELDS:
                v = doc.get(name)
                if isinstance(v, str):
                    doc[name] = addresses(v)
                elif isinstance(v, list):
                    doc[name] = [addresses(x) if isinstance(x, str) else x for x in v]
            for name in TIME_FIELDS:
                if name in doc:
                    doc[name] = _shift(doc[name], delta)
            records.append(doc)
    return _capture_doc(templates, picked, new_cid, replay, len(records)), records


def _capture_doc(
    templates: list[Template], picked: list[int], new_cid: str, replay: int, n: int
) -> dict[str, Any]:
    first = templates[picked[0]]
    raw = orjson.dumps(first.capture).replace(first.cid.encode(), new_cid.encode())
    doc: dict[str, Any] = orjson.loads(raw)
    caps = [templates[t].capture for t in picked]
    worst = max(caps, key=lambda c: VERDICT_RANK.get(c.get("verdict") or "clean", 0))
    for name in ("verdict", "score", "reasons", "tags", "finding_summary"):
        doc[name] = worst.get(name)
    summary = doc.get("summary") or {}
    for name in ("packets", "bytes", "dns_query_names", "http_requests", "tls_server_names"):
        if isinstance(summary.get(name), int):
            summary[name] = sum((c.get("summary") or {}).get(name) or 0 for c in caps)
    doc["size"] = sum(c.get("size") or 0 for c in caps)
    doc["filename"] = f"replay-{replay:06d}.pcap"
    doc["record_count"] = n
    doc["finding_count"] = sum(c.get("finding_count") or 0 for c in caps)
    doc["flows_indexed"] = sum(c.get("flows_indexed") or 0 for c in caps)
    verdicts: dict[str, int] = {}
    for c in caps:
        for k, v in (c.get("flow_verdicts") or {}).items():
            verdicts[k] = verdicts.get(k, 0) + v
    doc["flow_verdicts"] = verdicts
    return doc


async def put_captures(index: TantivyIndex, docs: list[dict[str, Any]]) -> None:
    """``put_capture`` for many documents with one commit (``put_capture`` commits each, about
    0.1 s apiece here): the adapter's own document conversion on its writer thread."""
    store = index._captures  # a bulk load the Index port does not offer
    assert store is not None and store.writer is not None
    writer = store.writer

    def write() -> None:
        for doc in docs:
            writer.delete_documents_by_term("id", doc["id"])
            writer.add_document(capture_document(doc))
        store.commit()

    await index._write(write)


async def load(data: Path, templates_raw: list[dict[str, Any]], docs: int) -> dict[str, Any]:
    templates = [
        Template(
            capture=t["capture"],
            records_json=[orjson.dumps(r) for r in t["records"]],
            first=_first_time(t["records"]),
            cid=t["capture"]["id"],
        )
        for t in templates_raw
    ]
    mean = sum(len(t.records_json) for t in templates) / len(templates)
    replays = int(docs / (mean * 5.5)) + 1  # 5.5: the mean subset size (3..8)
    index = TantivyIndex(data / "index", heap_size=1_000_000_000)
    await index.start()
    total = made = 0
    batch: list[dict[str, Any]] = []
    captures: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        while total < docs:
            cap, records = replay(templates, made, replays)
            made += 1
            captures.append(cap)
            batch.extend(records)
            total += len(records)
            if len(batch) >= 50_000:
                await index.add_flows(batch)
                batch = []
                print(
                    f"  {total:,} records, {made} captures, {time.perf_counter() - started:.0f} s"
                )
        if batch:
            await index.add_flows(batch)
        await put_captures(index, captures)  # after their records, as a capture gets done
    finally:
        await index.close()
    return {"records": total, "captures": made, "seconds": round(time.perf_counter() - started)}


def query_plan(templates: list[dict[str, Any]], replays: int) -> dict[str, Any]:
    """Values the clients query: addresses of some replays, names, capture ids."""
    tpls = [
        Template(t["capture"], [orjson.dumps(r) for r in t["records"]], EPOCH, t["capture"]["id"])
        for t in templates
    ]
    ips: set[str] = set()
    for n in range(0, replays, max(replays // 200, 1)):
        _, records = replay(tpls, n, replays)
        for r in records:
            for name in ("source.ip", "destination.ip"):
                if isinstance(r.get(name), str):
                    ips.add(r[name])
    names: set[str] = set()
    for t in templates:
        for r in t["records"]:
            for q in r.get("dns.question") or []:
                if isinstance(q, dict) and isinstance(q.get("name"), str) and "." in q["name"]:
                    names.add(q["name"])
    suffixes = sorted({".".join(n.split(".")[-2:]) for n in names})
    return {
        "ips": sorted(ips),
        "names": sorted(names),
        "wildcards": [f"*.{s}" for s in suffixes],
        "captures": [capture_id(n) for n in range(replays)],
    }


def fields_version() -> str:
    """The declared fields: an index or templates made under other fields are made again
    (the tantivy schema follows the fields, and the runner refuses an index of another)."""
    spec = [(f.name, f.type.value, f.multi) for f in FLOW_FIELDS]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def loaded(data: Path, docs: int) -> dict[str, Any] | None:
    mark = data / LOAD_MARK
    if not mark.exists():
        return None
    info: dict[str, Any] = json.loads(mark.read_text())
    same = info.get("docs") == docs and info.get("fields") == fields_version()
    return info if same else None


# -- 3./4. serve and drive ---------------------------------------------------------------------


SEARCH_KINDS = ("ip", "name", "wildcard", "http-errors", "verdict")


def search_query(rnd: random.Random, plan: dict[str, Any]) -> tuple[str, str]:
    """(kind, query) of one search, the kinds equally often."""
    kind = rnd.choice(SEARCH_KINDS)
    if kind == "ip":
        q = f'{rnd.choice(("source.ip", "destination.ip"))}:"{rnd.choice(plan["ips"])}"'
    elif kind == "name":
        q = f'dns.question.name:"{rnd.choice(plan["names"])}"'
    elif kind == "wildcard":
        q = f"dns.question.name:{rnd.choice(plan['wildcards'])}"
    elif kind == "http-errors":
        q = "event.dataset:http AND http.response.status_code:>=400"
    else:
        q = f"pcaptotal.verdict:{rnd.choice(('malicious', 'suspicious', 'clean'))}"
    return kind, q


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, seconds: float, status: int) -> None:
        if status == 200:
            self.latencies.setdefault(kind, []).append(seconds)
        else:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            key = f"{kind}:{status}"
            self.statuses[key] = self.statuses.get(key, 0) + 1


async def _client_aiohttp(base: str, key: str, deadline: float, pick: Any, tally: Tally) -> None:
    import aiohttp

    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(base, connector=conn, headers={"x-api-key": key}) as s:
        while time.perf_counter() < deadline:
            kind, path, params = pick()
            t0 = time.perf_counter()
            try:
                async with s.get(path, params=params) as r:
                    await r.read()
                    status = r.status
            except aiohttp.ClientError:
                status = 0
            tally.add(kind, time.perf_counter() - t0, status)


async def _client_httpx(base: str, key: str, deadline: float, pick: Any, tally: Tally) -> None:
    limits = httpx.Limits(max_connections=1)
    headers = {"x-api-key": key}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as c:
        while time.perf_counter() < deadline:
            kind, path, params = pick()
            t0 = time.perf_counter()
            try:
                r = await c.get(path, params=params)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            tally.add(kind, time.perf_counter() - t0, status)


async def drive_phase(
    base: str, key: str, plan: dict[str, Any], clients: int, seconds: float, mix: str
) -> tuple[Tally, float]:
    """``mix``: "mixed" (the 85/5/10 mix), "search" (searches only) or "get" (GETs only)."""
    try:
        import aiohttp  # noqa: F401

        client = _client_aiohttp
    except ImportError:  # the project depends on httpx only
        client = _client_httpx
    tally = Tally()

    def pick_for(rnd: random.Random) -> Any:
        def pick() -> tuple[str, str, dict[str, Any]]:
            roll = {"mixed": rnd.random(), "search": 0.0}.get(mix, 1.0)
            if roll < 0.85:
                kind, q = search_query(rnd, plan)
                return f"search:{kind}", "/v1/search", {"q": q}
            if roll < 0.90:
                return "stats", "/v1/stats", {}
            return "get", f"/v1/captures/{rnd.choice(plan['captures'])}", {}

        return pick

    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(client(base, key, deadline, pick_for(random.Random(i)), tally) for i in range(clients))
    )
    return tally, time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def drive_main(args: argparse.Namespace) -> None:
    """The client process: prints one JSON line with the measurements."""
    plan = json.loads(Path(args.plan).read_text())
    key = os.environ["BENCH_API_KEY"]
    server = psutil.Process(args.pid)  # the runner's CPU time per request: load-independent

    def cpu() -> float:
        t = server.cpu_times()
        return float(t.user + t.system)

    def own_cpu() -> float:
        t = os.times()
        return t.user + t.system

    cpu0 = cpu()
    mixed, _ = asyncio.run(drive_phase(args.url, key, plan, args.clients, args.duration, "mixed"))
    cpu1 = cpu()
    kinds = [k for k in mixed.latencies if k.startswith("search:")]
    searches = [x for k in kinds for x in mixed.latencies[k]]
    gets, took = asyncio.run(
        drive_phase(args.url, key, plan, args.clients, args.get_duration, "get")
    )
    cpu2 = cpu()
    mine2 = own_cpu()
    only, _ = asyncio.run(
        drive_phase(args.url, key, plan, args.clients, args.search_duration, "search")
    )
    cpu3 = cpu()
    mine3 = own_cpu()
    only_all = [x for v in only.latencies.values() for x in v]
    n_mixed = sum(len(v) for v in mixed.latencies.values())
    n_gets = len(gets.latencies.get("get", []))
    out = {
        "mixed": {k: len(v) for k, v in mixed.latencies.items()},
        "errors": {**mixed.statuses, **{f"get-only {k}": v for k, v in gets.statuses.items()}},
        "search_p50_ms": pct(searches, 50),
        "search_p99_ms": pct(searches, 99),
        "search_kinds_p50_ms": {k: round(pct(mixed.latencies[k], 50)) for k in sorted(kinds)},
        "stats_p50_ms": pct(mixed.latencies.get("stats", []), 50),
        "stats_p99_ms": pct(mixed.latencies.get("stats", []), 99),
        "get_mixed_p99_ms": pct(mixed.latencies.get("get", []), 99),
        "get_p50_ms": pct(gets.latencies.get("get", []), 50),
        "get_p99_ms": pct(gets.latencies.get("get", []), 99),
        "get_capture_rps": n_gets / took,
        "cpu_ms_per_mixed_request": (cpu1 - cpu0) * 1000 / max(n_mixed, 1),
        "cpu_ms_per_get": (cpu2 - cpu1) * 1000 / max(n_gets, 1),
        "search_only_p50_ms": pct(only_all, 50),
        "search_only_p99_ms": pct(only_all, 99),
        "search_only_rps": len(only_all) / max(args.search_duration, 1e-9),
        "cpu_ms_per_search": (cpu3 - cpu2) * 1000 / max(len(only_all), 1),
        # the clients share the machine's cores with the runner
        "driver_cpu_ms_per_search": (mine3 - mine2) * 1000 / max(len(only_all), 1),
    }
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = ap.add_subparsers(dest="cmd")
    ap.add_argument("--docs", type=int, default=1_000_000, help="records to index (at least)")
    ap.add_argument("--data", type=Path, help="data dir to load (kept; reused if loaded)")
    ap.add_argument("--cache", type=Path, help="templates JSON (made if missing)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of the mixed phase")
    ap.add_argument("--get-duration", type=float, default=15.0, help="seconds of GET only")
    ap.add_argument("--search-duration", type=float, default=10.0, help="seconds of searches only")
    ap.add_argument("--profile", type=Path, help="py-spy record the runner into this SVG")
    drive = sub.add_parser("drive", help="(internal) the client process")
    drive.add_argument("--url", required=True)
    drive.add_argument("--plan", required=True)
    drive.add_argument("--pid", type=int, required=True, help="the runner's process id")
    drive.add_argument("--clients", type=int, default=32)
    drive.add_argument("--duration", type=float, default=30.0)
    drive.add_argument("--get-duration", type=float, default=15.0)
    drive.add_argument("--search-duration", type=float, default=10.0)
    args = ap.parse_args()
    if args.cmd == "drive":
        drive_main(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    data = args.data or work / "data"
    try:
        run(args, work, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, data: Path) -> None:
    info = loaded(data, args.docs)
    if info is None:
        cached = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
        if cached.get("fields") == fields_version():
            templates = cached["templates"]
        else:
            t0 = time.perf_counter()
            templates = make_templates(work)
            print(f"templates: {len(templates)} captures in {time.perf_counter() - t0:.0f} s")
            if args.cache:
                cache = {"fields": fields_version(), "templates": templates}
                args.cache.write_text(json.dumps(cache))
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        stats = asyncio.run(load(data, templates, args.docs))
        plan = query_plan(templates, stats["captures"])
        info = {"docs": args.docs, "fields": fields_version(), **stats, "plan": plan}
        (data / LOAD_MARK).write_text(json.dumps(info))
    n_tpl = len(info["plan"]["names"])
    print(
        f"loaded: {info['records']:,} records in {info['captures']:,} captures "
        f"({info['seconds']} s to load; {len(info['plan']['ips'])} query addresses, "
        f"{n_tpl} names)"
    )
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(info["plan"]))
    # A first start, as a user's: no keys yet, the bootstrap key becomes the admin key.
    shutil.rmtree(data / "auth", ignore_errors=True)
    shutil.rmtree(data / "blobs" / "keys", ignore_errors=True)
    key = "pt_bench_" + secrets.token_hex(16)
    env = {"PCAPTOTAL_AUTH": "on", "PCAPTOTAL_BOOTSTRAP_ADMIN_KEY": key}
    t0 = time.perf_counter()
    runner = start_runner(data, work / "runner.log", **env)
    print(f"runner ready in {time.perf_counter() - t0:.1f} s at {runner.base}")
    spy = None
    try:
        # warm: the first searches open the index files and fill the page cache
        with httpx.Client(base_url=runner.base, headers={"x-api-key": key}, timeout=120) as c:
            c.get("/v1/stats").raise_for_status()
            c.get("/v1/search", params={"q": "pcaptotal.verdict:clean"}).raise_for_status()
            size = len(c.get(f"/v1/captures/{info['plan']['captures'][0]}").content)
        print(f"capture document: {size} bytes")
        if args.profile:
            fmt = "flamegraph" if args.profile.suffix == ".svg" else "raw"  # raw: collapsed
            spy_bin = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy_cmd = [
                spy_bin,
                "record",
                "-r",
                "50",
                "--nonblocking",
                "--threads",
                *os.environ.get("BENCH_SPY_ARGS", "").split(),
            ]
            spy = subprocess.Popen(
                [*spy_cmd, "-o", str(args.profile), "-f", fmt, "-p", str(runner.proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "drive",
            "--url",
            runner.base,
            "--plan",
            str(plan_path),
            "--pid",
            str(runner.proc.pid),
            "--clients",
            str(args.clients),
            "--duration",
            str(args.duration),
            "--get-duration",
            str(args.get_duration),
            "--search-duration",
            str(args.search_duration),
        ]
        out = subprocess.run(
            cmd,
            env={**os.environ, "BENCH_API_KEY": key},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        runner.stop()
    result = json.loads(out.strip().splitlines()[-1])
    print(f"mixed phase requests: {result['mixed']}; errors: {result['errors'] or 'none'}")
    print(f"search p50 ms by kind: {result['search_kinds_p50_ms']}")
    print(
        f"runner CPU per request: {result['cpu_ms_per_mixed_request']:.1f} ms (mixed), "
        f"{result['cpu_ms_per_get']:.2f} ms (capture GET)"
    )
    print(
        f"stats_p50_ms={result['stats_p50_ms']:.0f} get_p50_ms={result['get_p50_ms']:.1f} "
        f"get_p99_ms={result['get_p99_ms']:.1f} get_in_mix_p99_ms={result['get_mixed_p99_ms']:.0f}"
    )
    print(
        f"searches only: p50 {result['search_only_p50_ms']:.0f} ms, "
        f"p99 {result['search_only_p99_ms']:.0f} ms, {result['search_only_rps']:.0f}/s, "
        f"runner CPU per search {result['cpu_ms_per_search']:.2f} ms, "
        f"clients' CPU per search {result['driver_cpu_ms_per_search']:.2f} ms"
    )
    print(
        f"search_p50_ms={result['search_p50_ms']:.0f} search_p99_ms={result['search_p99_ms']:.0f} "
        f"stats_p99_ms={result['stats_p99_ms']:.0f} "
        f"get_capture_rps={result['get_capture_rps']:.0f}"
    )


if __name__ == "__main__":
    main()
