"""Enrich+index benchmark: the enricher worker over one capture's parsed records, alone.

Drives the real ``EnricherWorker`` (heuristics, verdicts, finding records, indexing, events)
with a memory bus, a file blob store in a temp dir and an index: embedded tantivy by default,
or any Elasticsearch/OpenSearch URL (``--index-url http://127.0.0.1:PORT``, e.g. an
osmem-server). The records come from ``--records`` (a ``parsed/<id>.ndjson.zst`` blob) or are
made once by parsing the flow-heavy capture (``bench/flowheavy.py``) and cached beside it.

Prints flows/s and records (documents)/s per run (wall and CPU seconds: CPU time is the
steadier figure on a shared machine), the resident set after each run, and their medians;
``--profile out.prof`` writes a cProfile of the last run. Not a test: it prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
for sub in ("shared", "services/parser", "services/enricher"):
    sys.path.insert(0, str(REPO / sub))

from flowheavy import build, cache_dir  # noqa: E402
from pcaptotal.adapters.factory import close_context, make_context, start_context  # noqa: E402
from pcaptotal.context import Context  # noqa: E402
from pcaptotal.keys import parsed_key  # noqa: E402
from pcaptotal.memory import tune_malloc  # noqa: E402
from pcaptotal.messages import CaptureParsed, CaptureSummary  # noqa: E402
from pcaptotal.ports import Delivery  # noqa: E402
from pcaptotal.records import write_ndjson_zst  # noqa: E402
from pcaptotal.settings import Settings  # noqa: E402
from pcaptotal_enricher.worker import EnricherWorker  # noqa: E402
from pcaptotal_parser.parse import parse_capture  # noqa: E402


def parsed_records(mb: int) -> Path:
    """The flow-heavy capture's records as the parser writes them (cached)."""
    capture: Path = build(mb)
    out: Path = cache_dir() / (capture.stem + ".ndjson.zst")
    if out.exists():
        return out

    async def parse() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp:
            result = await parse_capture(capture, "c" * 64, work_dir=Path(tmp), timeout_s=3600)
            partial = Path(tmp) / "records.zst"
            await asyncio.to_thread(write_ndjson_zst, result.records(), partial)
            await result.discard_files()
            shutil.move(partial, out)

    asyncio.run(parse())
    return out


def _cpu_s() -> float:
    """This process's CPU seconds and its ended children's (the analysis process)."""
    return sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def _own_cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _rss_parts_mb() -> dict[str, float]:
    """VmRSS and its parts: anonymous memory, and mapped files (the index's segments)."""
    keys = ("VmRSS:", "RssAnon:", "RssFile:")
    lines = Path("/proc/self/status").read_text().splitlines()
    return {ln.split()[0][:-1]: int(ln.split()[1]) / 1024 for ln in lines if ln.startswith(keys)}


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds of each thread of this process, by "name:thread id" (the name is the
    kernel's ``comm``: Python's threads show the interpreter's, tantivy's their own)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        out[f"{name}:{tid}"] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _RssMarks:
    """Resident memory and seconds since the start at the enricher's steps (before/after the
    analysis, after each index call, at the start of publishing flows.enriched, which goes with
    the index calls, and the end), the peak with its parts, sampled every 20 ms on a thread
    while the block runs, and the CPU seconds of each of this process's threads in the flows
    pass (from "publishing" to the end): how many cores that pass keeps busy."""

    def __init__(self, worker: EnricherWorker, ctx: Context) -> None:
        self.marks: list[tuple[str, float, float]] = []  # (step, RSS MB, seconds in)
        self._t0 = time.perf_counter()
        self.peak = 0.0
        self.peak_parts: dict[str, float] = {}
        self._threads_then: dict[str, float] = {}
        self._process_then = 0.0
        self.flows_pass_cpu = 0.0  # the whole process's, threads that ended included
        # (thread name, CPU seconds) per thread, busiest first
        self.flows_pass_threads: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        analyse, add, add_prepared = worker._analyse, ctx.index.add_flows, ctx.index.add_prepared
        start = worker._start_publishing

        async def analysed(*args: Any) -> Any:
            self._mark("flows written")
            out = await analyse(*args)
            self._mark("analysed")
            return out

        async def added(records: Any) -> None:
            await add(records)
            self._mark("indexed")

        async def added_prepared(records: Any) -> None:
            await add_prepared(records)
            self._mark("indexed")

        async def publishing(*args: Any) -> Any:
            self._mark("publishing")
            self._threads_then = _thread_cpu_s()
            self._process_then = _own_cpu_s()
            return await start(*args)

        worker._analyse = analysed  # type: ignore[method-assign,assignment]
        worker._start_publishing = publishing  # type: ignore[method-assign,assignment]
        ctx.index.add_flows = added  # type: ignore[method-assign,assignment]
        ctx.index.add_prepared = added_prepared  # type: ignore[method-assign]

    def _mark(self, step: str) -> None:
        self.marks.append((step, _rss_mb(), time.perf_counter() - self._t0))

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = _rss_parts_mb()
            if rss["VmRSS"] > self.peak:
                self.peak, self.peak_parts = rss["VmRSS"], rss

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()
        self._mark("start")
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._mark("done")
        now = _thread_cpu_s()
        self.flows_pass_cpu = _own_cpu_s() - self._process_then
        used = ((t.split(":")[0], now[t] - self._threads_then.get(t, 0.0)) for t in now)
        self.flows_pass_threads = sorted((u for u in used if u[1] >= 0.05), key=lambda u: -u[1])
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in self.peak_parts.items() if k != "VmRSS")
        marks = ", ".join(f"{k} {v:.0f}@{t:.1f}s" for k, v, t in self.marks)
        passed = next((t for k, _, t in self.marks if k == "publishing"), 0.0)
        wall = self.marks[-1][2] - passed
        threads = ", ".join(f"{n} {c:.2f}" for n, c in self.flows_pass_threads)
        return (
            f"{marks}; peak {self.peak:.0f} ({parts})\n  flows pass: {wall:.2f} s, "
            f"{self.flows_pass_cpu:.2f} CPU-s in this process (threads still running: {threads}; "
            f"tantivy's indexing threads end at each commit: the rest)"
        )


async def one_run(ctx: Context, records: Path, size: int, run: int) -> dict[str, float]:
    """``EnricherWorker`` over the records of a fresh capture id (the same context each run,
    as in the runner, so what one capture leaves behind shows in the next)."""
    cid = hashlib.sha256(f"{records}-{run}-{time.time()}".encode()).hexdigest()
    await ctx.blobs.put_file(parsed_key(cid), records, metadata={})
    await ctx.captures.create(cid, size=size, filename="bench")
    event = CaptureParsed(
        capture_id=cid,
        analysis_id=uuid.uuid4(),
        generation=1,
        flow_count=0,
        summary=CaptureSummary(),
    )
    worker = EnricherWorker(ctx.with_retry(30))
    marks = _RssMarks(worker, ctx)
    started, cpu = time.perf_counter(), _cpu_s()
    with marks:
        await worker.handle(Delivery(event=event, attempt=1, max_attempts=1))
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    print(f"  RSS MB: {marks.summary()}", flush=True)
    doc = await ctx.captures.get(cid) or {}
    if doc.get("status") != "done":
        raise SystemExit(f"enrich did not finish: {doc.get('status')} {doc.get('error')}")
    return {
        "s": seconds,
        "cpu": cpu,
        "flows": float(doc["flows_indexed"]),
        "docs": float(doc["record_count"]),
        "rss": _rss_mb(),
    }


async def runs(args: argparse.Namespace, records: Path) -> list[dict[str, float]]:
    size = records.stat().st_size  # noqa: ASYNC240 (before any clock starts)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            index_url=args.index_url or f"tantivy://{tmp}/index",
            intel_dir=Path(tmp) / "intel",
        )
        ctx = make_context(settings)
        await start_context(ctx)
        try:
            for run in range(args.runs):
                profiler = cProfile.Profile() if args.profile and run == args.runs - 1 else None
                if profiler:
                    profiler.enable()
                row = await one_run(ctx, records, size, run)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                rows.append(row)
                print(
                    f"run {run + 1}: {row['s']:.2f} s ({row['cpu']:.2f} s CPU), "
                    f"{row['flows']:.0f} flows ({row['flows'] / row['s']:,.0f}/s), "
                    f"{row['docs']:.0f} records ({row['docs'] / row['s']:,.0f}/s); "
                    f"RSS after {row['rss']:.0f} MB",
                    flush=True,
                )
        finally:
            await close_context(ctx)
    return rows


def main() -> None:
    tune_malloc()  # as the services do at start
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=Path, help="a parsed/<id>.ndjson.zst blob")
    ap.add_argument("--mb", type=int, default=200, help="flow-heavy capture size (no --records)")
    ap.add_argument("--index-url", default="", help="default: tantivy in a temp dir")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", type=Path, help="write a cProfile of the last run here")
    args = ap.parse_args()
    records = args.records or parsed_records(args.mb)
    rows = asyncio.run(runs(args, records))
    med_s = statistics.median(r["s"] for r in rows)
    med_cpu = statistics.median(r["cpu"] for r in rows)
    flows, docs = rows[0]["flows"], rows[0]["docs"]
    print(
        f"enrich_flows_per_s={flows / med_s:.0f} enrich_docs_per_s={docs / med_s:.0f} "
        f"flows_per_cpu_s={flows / med_cpu:.0f} rss_after_mb={rows[-1]['rss']:.0f}"
    )


if __name__ == "__main__":
    main()
