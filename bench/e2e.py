"""End-to-end benchmark: upload -> done through the embedded default (the real runner, on
loopback), on the flow-heavy capture (``bench/flowheavy.py``).

Per run (``--runs``, default 3; each run uploads a capture of its own: the same builder with
other ``tcprewrite`` seeds, so the index grows and nothing is a re-upload):

- e2e seconds from the first byte of the upload to ``status: done``, as seconds per GB;
- parse seconds (``parsing`` -> ``enriching`` in the capture's ``status_times``) against a plain
  tshark pass with the parser's fields (and export objects) over the same file, measured in
  the same run: ``parse_vs_tshark`` = tshark / parse (> 1: the parser beats tshark alone);
- enrich+index flows/s (``enriching`` -> ``done``, flows indexed);
- the runner's resident memory, sampled from ``/proc/<pid>/status`` (VmRSS, and VmHWM for the
  runner itself) for the runner and, separately, for its children (tshark, the parse and the
  analysis processes, each also with the runner at the same moment; the flows index's writer
  process, with its mapped files), and the runner's peak while the capture was ``parsing``
  and while it was ``enriching``;

then nfstream (if it imports) over the same capture as a peer figure (flows/s). Medians of the
runs. Last line: ``e2e_s_per_gb=.. parse_vs_tshark=.. enrich_flows_per_s=.. runner_peak_rss_mb=..
runner_with_parse_process_peak_rss_mb=.. index_writer_peak_rss_mb=..`` (the runner and its parse
process at the same moment; the index writer process alone)

Run: ``python bench/e2e.py [--mb 200] [--runs 3]``. Not a test: it prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
for sub in ("shared", "services/parser"):
    sys.path.insert(0, str(REPO / sub))

from flowheavy import build  # noqa: E402
from pcaptotal_parser.carving import export_arguments  # noqa: E402
from pcaptotal_parser.tshark import tshark_command  # noqa: E402

MIB = 1024 * 1024
GB = 1e9


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _runs(pid: int, module: str) -> bool:
    try:
        return module in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    except OSError:
        return False


PARSE_CHILD = "pcaptotal_parser.isolated"
ANALYSIS_CHILD = "pcaptotal_enricher.isolated"
WRITER_CHILD = "pcaptotal.adapters.tantivy_writer"  # the flows index's writer, long-lived


@dataclass
class Sampler:
    """Peak VmRSS of the runner and, separately, of its children (largest single child and
    largest sum), every ``interval`` seconds."""

    pid: int
    interval: float = 0.05
    runner_peak_kb: int = 0
    runner_peak_file_kb: int = 0  # of the peak, mapped files (the index's segments)
    phase: str = "uploading"  # the capture's status, set by the poller
    phase_peak_kb: dict[str, int] = field(default_factory=dict)  # runner peak per status
    child_peak_kb: int = 0
    children_sum_peak_kb: int = 0
    # the parser's child process (pcaptotal_parser.isolated), and it with the runner
    parse_process_peak_kb: int = 0
    with_parse_peak_kb: int = 0
    # the enricher's (pcaptotal_enricher.isolated), and it with the runner
    analysis_process_peak_kb: int = 0
    with_analysis_peak_kb: int = 0
    # the index writer's process, and of its peak, mapped files (the merges' doc store reads)
    writer_peak_kb: int = 0
    writer_peak_file_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            rss = _status_kb(self.pid, "VmRSS")
            if rss > self.runner_peak_kb:
                self.runner_peak_kb = rss
                self.runner_peak_file_kb = _status_kb(self.pid, "RssFile")
            self.phase_peak_kb[self.phase] = max(self.phase_peak_kb.get(self.phase, 0), rss)
            try:
                kids = [c.pid for c in proc.children(recursive=True)]
            except psutil.Error:
                kids = []
            sizes = [_status_kb(k, "VmRSS") for k in kids]
            if sizes:
                self.child_peak_kb = max(self.child_peak_kb, *sizes)
                self.children_sum_peak_kb = max(self.children_sum_peak_kb, sum(sizes))
            parse = sum(s for k, s in zip(kids, sizes, strict=True) if _runs(k, PARSE_CHILD))
            self.parse_process_peak_kb = max(self.parse_process_peak_kb, parse)
            self.with_parse_peak_kb = max(self.with_parse_peak_kb, rss + parse)
            analysis = sum(s for k, s in zip(kids, sizes, strict=True) if _runs(k, ANALYSIS_CHILD))
            self.analysis_process_peak_kb = max(self.analysis_process_peak_kb, analysis)
            self.with_analysis_peak_kb = max(self.with_analysis_peak_kb, rss + analysis)
            for kid, size in zip(kids, sizes, strict=True):
                if size > self.writer_peak_kb and _runs(kid, WRITER_CHILD):
                    self.writer_peak_kb = size
                    self.writer_peak_file_kb = _status_kb(kid, "RssFile")
            self._stop.wait(self.interval)

    def reset(self) -> None:
        self.runner_peak_kb = self.child_peak_kb = self.children_sum_peak_kb = 0
        self.parse_process_peak_kb = self.with_parse_peak_kb = 0
        self.analysis_process_peak_kb = self.with_analysis_peak_kb = 0
        self.runner_peak_file_kb = self.writer_peak_kb = self.writer_peak_file_kb = 0
        self.phase, self.phase_peak_kb = "uploading", {}

    def stop(self) -> None:
        self._stop.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_runner(data: Path, port: int, max_upload: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        PCAPTOTAL_DATA_DIR=str(data),
        PCAPTOTAL_HTTP_PORT=str(port),
        PCAPTOTAL_AUTH="off",
        PCAPTOTAL_LOG_LEVEL="warning",
        PCAPTOTAL_MAX_UPLOAD_BYTES=str(max_upload),
        PYTHONPATH=os.pathsep.join(
            str(REPO / p)
            for p in (
                "shared",
                "services/ingest",
                "services/parser",
                "services/enricher",
                "services/search-api",
                "services/runner",
            )
        ),
    )
    log = (data / "runner.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcaptotal_runner"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"runner did not start; see {data / 'runner.log'}")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def upload_until_done(base: str, capture: Path, sampler: Sampler) -> dict[str, Any]:
    started = time.perf_counter()
    with capture.open("rb") as body, httpx.Client(timeout=600) as client:
        r = client.post(f"{base}/v1/captures?filename={capture.name}", content=body)
        r.raise_for_status()
        answer = r.json()
        cid = answer.get("id") or answer.get("capture_id")
        if not cid:
            raise SystemExit(f"upload answered {r.status_code}: {r.text[:500]}")
        while True:
            doc = client.get(f"{base}/v1/captures/{cid}").json()
            sampler.phase = doc["status"]  # where the runner's peak is reached
            if doc["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    if doc["status"] != "done":
        raise SystemExit(f"capture failed: {doc.get('error')}")
    t = doc["status_times"]
    return {
        "e2e": elapsed,
        "parse": _ts(t["enriching"]) - _ts(t["parsing"]),
        "enrich": _ts(t["done"]) - _ts(t["enriching"]),
        "flows": int(doc.get("flows_indexed") or 0),
        "records": int(doc.get("record_count") or 0),
    }


def tshark_alone(capture: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as objects:
        cmd = tshark_command("tshark", capture, export_arguments(Path(objects)))
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - started


def nfstream_run(capture: Path) -> tuple[float, int] | None:
    try:
        from nfstream import NFStreamer
    except ImportError:
        return None
    started = time.perf_counter()
    flows = sum(1 for _ in NFStreamer(source=str(capture)))
    return time.perf_counter() - started, flows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="capture size in MiB (200 or 1024)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-nfstream", action="store_true")
    args = ap.parse_args()
    captures = [build(args.mb, variant=i) for i in range(args.runs)]
    size = captures[0].stat().st_size
    print(f"capture: {size / MIB:.0f} MiB x {args.runs} ({captures[0].name} ...)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        port = free_port()
        runner = start_runner(Path(tmp), port, max_upload=2 * size + MIB)
        sampler = Sampler(runner.pid)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        try:
            for i, capture in enumerate(captures):
                sampler.reset()
                row = upload_until_done(f"http://127.0.0.1:{port}", capture, sampler)
                time.sleep(5)  # "done" is written before the enricher hands memory back
                row["rss_after"] = _status_kb(runner.pid, "VmRSS") / 1024
                row["rss_after_file"] = _status_kb(runner.pid, "RssFile") / 1024
                row["runner_peak"] = sampler.runner_peak_kb / 1024
                row["runner_peak_file"] = sampler.runner_peak_file_kb / 1024
                phases = {k: v / 1024 for k, v in sampler.phase_peak_kb.items()}
                row["parse_peak"] = phases.get("parsing", 0.0)
                row["enrich_peak"] = phases.get("enriching", 0.0)
                row["child_peak"] = sampler.child_peak_kb / 1024
                row["children_peak"] = sampler.children_sum_peak_kb / 1024
                row["parse_process_peak"] = sampler.parse_process_peak_kb / 1024
                row["with_parse_peak"] = sampler.with_parse_peak_kb / 1024
                row["analysis_process_peak"] = sampler.analysis_process_peak_kb / 1024
                row["with_analysis_peak"] = sampler.with_analysis_peak_kb / 1024
                row["writer_peak"] = sampler.writer_peak_kb / 1024
                row["writer_peak_file"] = sampler.writer_peak_file_kb / 1024
                row["tshark"] = tshark_alone(capture)
                rows.append(row)
                print(
                    f"run {i + 1}: e2e {row['e2e']:.1f} s ({row['e2e'] * GB / size:.0f} s/GB), "
                    f"parse {row['parse']:.1f} s vs tshark alone {row['tshark']:.1f} s, "
                    f"enrich+index {row['enrich']:.1f} s for {row['flows']} flows "
                    f"({row['records']} records, {row['flows'] / row['enrich']:,.0f} flows/s); "
                    f"runner RSS peak {row['runner_peak']:.0f} MB ("
                    f"{row['runner_peak_file']:.0f} of it mapped files; parsing "
                    f"{row['parse_peak']:.0f}, enriching {row['enrich_peak']:.0f}), after "
                    f"{row['rss_after']:.0f} MB ({row['rss_after_file']:.0f} mapped files); "
                    f"children peak {row['child_peak']:.0f} MB (sum "
                    f"{row['children_peak']:.0f} MB); parse process peak "
                    f"{row['parse_process_peak']:.0f} MB, runner + parse process peak "
                    f"{row['with_parse_peak']:.0f} MB; analysis process peak "
                    f"{row['analysis_process_peak']:.0f} MB, runner + analysis process peak "
                    f"{row['with_analysis_peak']:.0f} MB; index writer process peak "
                    f"{row['writer_peak']:.0f} MB ({row['writer_peak_file']:.0f} mapped files)",
                    flush=True,
                )
            hwm = _status_kb(runner.pid, "VmHWM") / 1024
        finally:
            sampler.stop()
            runner.terminate()
            try:
                runner.wait(30)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    e2e_per_gb = med["e2e"] * GB / size
    ratio = statistics.median(r["tshark"] / r["parse"] for r in rows)
    flows_per_s = statistics.median(r["flows"] / r["enrich"] for r in rows)
    peak = max(r["runner_peak"] for r in rows)
    with_parse = max(r["with_parse_peak"] for r in rows)
    writer = max(r["writer_peak"] for r in rows)
    print(
        f"median: e2e {med['e2e']:.1f} s, parse {med['parse']:.1f} s, tshark alone "
        f"{med['tshark']:.1f} s, enrich+index {med['enrich']:.1f} s; runner VmHWM {hwm:.0f} MB"
    )
    peer = None if args.no_nfstream else nfstream_run(captures[0])
    if peer is None:
        print("nfstream: n/a (not installed)")
    else:
        seconds, flows = peer
        print(
            f"nfstream: {seconds:.1f} s for {flows} flows ({flows / seconds:,.0f} flows/s, "
            f"{seconds * GB / size:.0f} s/GB) vs ours {med['e2e']:.1f} s for "
            f"{med['flows']:.0f} flows ({med['flows'] / med['e2e']:,.0f} flows/s end to end)"
        )
    print(
        f"e2e_s_per_gb={e2e_per_gb:.0f} parse_vs_tshark={ratio:.2f} "
        f"enrich_flows_per_s={flows_per_s:.0f} runner_peak_rss_mb={peak:.0f} "
        f"runner_with_parse_process_peak_rss_mb={with_parse:.0f} "
        f"index_writer_peak_rss_mb={writer:.0f}"
    )


if __name__ == "__main__":
    main()
