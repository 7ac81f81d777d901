"""Parser benchmark: the PcapTotal parser against raw tshark and pyshark, in the same run.

Uses the flow-heavy capture of ``--mb`` MiB (``bench/flowheavy.py``: copies of
``tests/data/pcaps`` re-addressed by ``tcprewrite --seed=N`` and joined by ``mergecap -a``, so
flows are as dense as in real traffic; built once and cached), then measures:

(a) tshark alone, the same invocation the parser runs (fields + export objects), output to
    /dev/null;
(b) the parser with ONE tshark process, producing its full output (flows with facts, carved
    files hashed and typed, records written as ndjson.zst);
(c) the same split by host pair over ``--workers`` tshark processes (default: the cores);
(d) pyshark (default mode) iterating a slice of the capture, extrapolated to all packets;

and polls (psutil) the resident set of the parser's process and its children during (c).
Last line: ``parser_vs_tshark=(a)/(b) parser_vs_pyshark=(d)/(b) parallel_speedup=(b)/(c)
peak_rss_mb=M`` (M: the largest RSS of any one process of the parser during (c)).

``--compare-prefilter RUNS`` times only (c), with the prefilter (``pcaptotal_parser.prefilter``)
off and on alternately, and prints wall and CPU seconds (the parser's process and its
children) and the ratios of their medians.

Run: ``python bench/parser.py`` (``--help`` for options). Not a test: it prints, it asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
for sub in ("shared", "services/parser"):
    sys.path.insert(0, str(REPO / sub))

from flowheavy import build  # noqa: E402
from pcaptotal.records import write_ndjson_zst  # noqa: E402
from pcaptotal_parser.carving import export_arguments  # noqa: E402
from pcaptotal_parser.parse import parse_capture  # noqa: E402
from pcaptotal_parser.tshark import tshark_command  # noqa: E402

MIB = 1024 * 1024


def build_capture(mb: int) -> tuple[Path, int]:
    """The flow-heavy capture (``bench/flowheavy.py``: re-addressed copies of the test
    captures, one flow per ~13 packets), cached between runs."""
    path: Path = build(mb)
    return path, count_packets(path)


def count_packets(path: Path) -> int:
    out = subprocess.run(
        ["capinfos", "-c", "-M", "-T", "-r", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split("\t")[-1])


def tshark_alone(capture: Path, work: Path) -> float:
    objects = Path(tempfile.mkdtemp(prefix="objects-", dir=work))
    cmd = tshark_command("tshark", capture, export_arguments(objects))
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


async def parser_run(
    capture: Path, work: Path, workers: int, part_max_bytes: int = 1 << 40, prefilter: bool = True
) -> tuple[float, int, int]:
    """Seconds for a full parse (+ writing the records); returns (seconds, flows, parts)."""
    started = time.perf_counter()
    result = await parse_capture(
        capture,
        "b" * 64,
        work_dir=work,
        timeout_s=3600,
        workers=workers,
        split_min_bytes=0,
        part_max_bytes=part_max_bytes,
        prefilter=prefilter,
    )
    flows = await asyncio.to_thread(write_ndjson_zst, result.flows.flows(), work / "records.zst")
    seconds = time.perf_counter() - started
    await result.discard_files()
    return seconds, flows, result.parts


def pyshark_per_packet(capture: Path, work: Path, packets: int) -> float:
    """Seconds per packet for pyshark iterating the first ``packets`` packets."""
    import pyshark

    asyncio.set_event_loop(asyncio.new_event_loop())  # pyshark drives its own loop
    part = work / "slice.pcapng"
    subprocess.run(["editcap", "-r", str(capture), str(part), f"1-{packets}"], check=True)
    cap = pyshark.FileCapture(str(part))
    started = time.perf_counter()
    seen = 0
    for packet in cap:
        _ = packet.highest_layer  # touch the decoded packet
        seen += 1
    seconds = time.perf_counter() - started
    cap.close()
    return seconds / max(seen, 1)


@dataclass
class RssPoller:
    """Largest RSS of this process and of any of its descendants, sampled every ``interval``."""

    interval: float = 0.02
    peak: int = 0
    peak_self: int = 0
    _stop: bool = False

    def run(self) -> None:
        me = psutil.Process()
        while not self._stop:
            try:
                procs = [me, *me.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                self.peak = max(self.peak, rss)
                if proc.pid == me.pid:
                    self.peak_self = max(self.peak_self, rss)
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="flow-heavy capture size in MiB")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--pyshark-packets", type=int, default=1500, help="pyshark slice size")
    ap.add_argument(
        "--part-max-mb", type=int, default=0, help="largest part in (c) (default: no limit)"
    )
    ap.add_argument(
        "--compare-prefilter",
        type=int,
        default=0,
        metavar="RUNS",
        help="only time (c) with the prefilter off and on, alternately, RUNS times each",
    )
    args = ap.parse_args()
    if args.compare_prefilter:
        compare_prefilter(args.mb, args.workers, args.compare_prefilter)
        return
    with tempfile.TemporaryDirectory(prefix="bench-parser-") as tmp:
        work = Path(tmp)
        capture, packets = build_capture(args.mb)
        size_mb = capture.stat().st_size / MIB
        print(f"capture: {packets} packets, {size_mb:.1f} MB ({capture.name})")

        a = tshark_alone(capture, work)
        print(f"(a) tshark alone:           {a:7.2f} s  {packets / a:9,.0f} packets/s")

        b, flows, _ = asyncio.run(parser_run(capture, work, 1))
        print(
            f"(b) parser, one tshark:     {b:7.2f} s  {packets / b:9,.0f} packets/s, {flows} flows"
        )

        poller = RssPoller()
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        part_max = args.part_max_mb * MIB if args.part_max_mb else 1 << 40
        c, _, parts = asyncio.run(parser_run(capture, work, args.workers, part_max))
        poller.stop()
        thread.join()
        print(
            f"(c) parser, split:          {c:7.2f} s  {packets / c:9,.0f} packets/s, "
            f"{parts} tshark processes; peak RSS {poller.peak / MIB:.0f} MB "
            f"(parser's Python process {poller.peak_self / MIB:.0f} MB)"
        )

        per_packet = pyshark_per_packet(capture, work, args.pyshark_packets)
        d = per_packet * packets
        print(
            f"(d) pyshark (extrapolated): {d:7.2f} s  {1 / per_packet:9,.0f} packets/s "
            f"(slice of {args.pyshark_packets})"
        )
    print(
        f"parser_vs_tshark={a / b:.2f} parser_vs_pyshark={d / b:.1f} "
        f"parallel_speedup={b / c:.2f} peak_rss_mb={poller.peak / MIB:.0f}"
    )


def compare_prefilter(mb: int, workers: int, runs: int) -> None:
    """(c) with the prefilter off, then on, ``runs`` times; wall and CPU seconds (this process
    and its children: splitter, parse, tsharks), medians and their ratios."""
    capture, packets = build_capture(mb)
    print(f"capture: {packets} packets ({capture.name}), {workers} workers")
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-parser-") as tmp:
        for run in range(runs):
            for prefilter in (False, True):
                before = os.times()
                wall, flows, _ = asyncio.run(
                    parser_run(capture, Path(tmp), workers, prefilter=prefilter)
                )
                after = os.times()
                cpu = sum(after[:4]) - sum(before[:4])
                times[prefilter].append((wall, cpu))
                print(
                    f"run {run + 1} prefilter {'on ' if prefilter else 'off'}: {wall:6.2f} s wall, "
                    f"{cpu:6.2f} s CPU, {flows} flows"
                )
    off_wall, on_wall = (statistics.median(w for w, _ in times[k]) for k in (False, True))
    off_cpu, on_cpu = (statistics.median(c for _, c in times[k]) for k in (False, True))
    print(
        f"prefilter_wall_ratio={on_wall / off_wall:.2f} prefilter_cpu_ratio={on_cpu / off_cpu:.2f} "
        f"off_wall_s={off_wall:.1f} on_wall_s={on_wall:.1f} off_cpu_s={off_cpu:.1f} "
        f"on_cpu_s={on_cpu:.1f}"
    )


if __name__ == "__main__":
    main()
