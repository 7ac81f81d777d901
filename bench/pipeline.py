"""Distributed scaling benchmark: 1 and then 2 parser processes over RabbitMQ, SeaweedFS and
osmem (the ``make up`` stack of ``scripts/stack.py``: a private RabbitMQ node, ``weed mini``,
osmem-server, every service on loopback), on a set of flow-heavy captures
(``bench/flowheavy.py``, one ``tcprewrite`` variant each, so no capture is a re-upload and two
parsers both have work).

For PARSERS=1 and then PARSERS=2 (each a fresh stack in a temporary run dir; each parser runs
one tshark, ``PCAPTOTAL_PARSER_WORKERS=1``, so the processes are the unit of scaling): upload
every capture with the parsers stopped (SIGSTOP, so the uploads, which ingest hashes and
stores one after another, are not inside the parsers' time; the ``capture.stored`` messages
wait in their queue), then continue the parsers and time until every capture's document
carries the parser's ``summary`` with its packet count (records and carved files stored;
ingest writes a zero summary at upload). ``--time-uploads`` times from the first upload
instead, with the parsers running (what the earlier figures measured).
The stack's enricher is stopped (SIGSTOP) while the parsers are timed and continued before
``make down``: on 2 cores an enricher indexing into osmem takes the CPU the parsers are
measured on (``--keep-enricher`` lets it run), and a capture stays ``parsing`` until an
enricher picks it up, so ``status_times`` cannot tell when its parse ended. Prints captures/s per
configuration.

Last line: ``parsers_1_s=.. parsers_2_s=.. speedup=..`` (speedup = 1-parser s / 2-parser s).
Run: ``python bench/pipeline.py [--mb 200] [--captures 4]``. Not a test: prints, asserts
nothing; stays out of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from e2e import free_port  # noqa: E402
from flowheavy import build  # noqa: E402

STACK = REPO / "scripts" / "stack.py"


def _stack(command: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(STACK), command], env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"stack {command} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _upload(client: httpx.Client, capture: Path) -> str:
    with capture.open("rb") as body:
        r = client.post(f"/v1/captures?filename={capture.name}", content=body)
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    cid = answer.get("id") or answer.get("capture_id")
    if not isinstance(cid, str):
        raise SystemExit(f"upload answered {r.status_code}: {r.text[:500]}")
    return cid


def run(
    parsers: int, pause_enricher: bool, captures: list[Path], timeout_s: float, time_uploads: bool
) -> float:
    """Seconds from the parsers' start (or the first upload) until every capture is parsed
    (or failed)."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        run_dir = Path(tmp) / "run"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PCAPTOTAL_")},
            "RUN_DIR": str(run_dir),
            "PCAPTOTAL_HTTP_PORT": str(free_port()),
            "PARSERS": str(parsers),
            "ENRICHERS": "1",  # the gateway needs one
            "PCAPTOTAL_AUTH": "off",
            "PCAPTOTAL_LOG_LEVEL": "warning",
            "PCAPTOTAL_PARSER_WORKERS": "1",
            "PCAPTOTAL_MAX_UPLOAD_BYTES": str(4 * 1024**3),
        }
        _stack("up", env)
        paused: list[int] = []
        try:
            state = json.loads((run_dir / "state.json").read_text())
            enricher = next(int(p["pid"]) for p in state["procs"] if p["name"] == "enricher-0")
            workers = [int(p["pid"]) for p in state["procs"] if p["name"].startswith("parser-")]
            if pause_enricher:
                os.kill(enricher, signal.SIGSTOP)
            paused += [] if time_uploads else workers
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            started = time.perf_counter()
            with httpx.Client(base_url=state["urls"]["api"], timeout=600) as client:
                ids = [_upload(client, c) for c in captures]
                if paused:
                    for pid in paused:
                        os.kill(pid, signal.SIGCONT)
                    started = time.perf_counter()
                docs: dict[str, dict[str, Any]] = {}  # parsed or failed
                deadline = time.monotonic() + timeout_s
                while len(docs) < len(ids):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"not parsed after {timeout_s} s: {len(docs)}/{len(ids)}")
                    for cid in ids:
                        if cid not in docs:
                            doc = client.get(f"/v1/captures/{cid}").json()
                            if (doc.get("summary") or {}).get("packets") or doc[
                                "status"
                            ] == "failed":
                                docs[cid] = doc
                    time.sleep(0.2)
            wall = time.perf_counter() - started
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)  # harmless if already running
            if pause_enricher:
                os.kill(enricher, signal.SIGCONT)
            _stack("down", env)
    failed = [d.get("error") for d in docs.values() if d["status"] == "failed"]
    if failed:
        raise SystemExit(f"captures failed: {failed}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="size of each capture in MiB")
    ap.add_argument("--captures", type=int, default=4, help="how many captures (variants)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per configuration")
    ap.add_argument("--keep-enricher", action="store_true", help="let the enricher run")
    ap.add_argument("--time-uploads", action="store_true", help="time from the first upload")
    args = ap.parse_args()
    captures = [build(args.mb, variant) for variant in range(args.captures)]
    seconds: dict[int, float] = {}
    for parsers in (1, 2):
        wall = seconds[parsers] = run(
            parsers, not args.keep_enricher, captures, args.timeout, args.time_uploads
        )
        print(
            f"parsers={parsers}: {len(captures)} x {args.mb} MiB parsed in {wall:.1f} s "
            f"({len(captures) / wall:.3f} captures/s; load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    one, two = seconds[1], seconds[2]
    print(f"parsers_1_s={one:.1f} parsers_2_s={two:.1f} speedup={one / two:.2f}")


if __name__ == "__main__":
    main()
