"""CPU seconds of each step of the enrich path over one capture's records, in one process.

Reads the records, runs heuristics and verdicts, makes the finding records, builds the tantivy
documents and writes them to a temp index (one commit per 10,000 as the worker does), sizes
and encodes the ``flows.enriched`` events, and builds the Elasticsearch bulk bodies: each
step's process CPU time, medians of ``--runs``. Run it from two checkouts in turn for same-run
ratios. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
for sub in ("shared", "services/enricher"):
    sys.path.insert(0, str(REPO / sub))

import tantivy  # noqa: E402
from pcaptotal.adapters import tantivy_docs  # noqa: E402
from pcaptotal.adapters.es_bulk import bulk_bodies  # noqa: E402
from pcaptotal.messages import Envelope, encode, encode_items  # noqa: E402
from pcaptotal.records import iter_records  # noqa: E402
from pcaptotal_enricher.events import Published, Run, publish_enriched  # noqa: E402
from pcaptotal_enricher.heuristics.config import DetectionConfig  # noqa: E402
from pcaptotal_enricher.records import finding_records, split_records  # noqa: E402
from pcaptotal_enricher.verdict import analyse_capture  # noqa: E402

BATCH = 10_000


class _Encode:
    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        encode(event)  # what a real bus does with it

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        encode_items(event, field, items)


def _timed(times: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    cpu = time.process_time()
    out = fn()
    times.setdefault(name, []).append(time.process_time() - cpu)
    return out


def _docs(records: list[dict[str, Any]]) -> list[tantivy.Document]:
    build = getattr(tantivy_docs, "flow_documents", None)
    out: list[tantivy.Document] = []
    for i in range(0, len(records), BATCH):
        part = records[i : i + BATCH]
        out += build(part) if build else [tantivy_docs.flow_document(d) for d in part]
    return out


def _write(records: list[dict[str, Any]], docs: list[tantivy.Document], path: str) -> None:
    index = tantivy.Index(tantivy_docs.tantivy_schema(), path=path)
    writer = index.writer(64_000_000, 1)
    for i in range(0, len(records), BATCH):
        for rec, doc in zip(records[i : i + BATCH], docs[i : i + BATCH], strict=True):
            writer.delete_documents_by_term("event.id", rec["event.id"])
            writer.add_document(doc)
        writer.commit()
    writer.wait_merging_threads()


def _es(records: list[dict[str, Any]]) -> int:
    n = 0
    for i in range(0, len(records), BATCH):
        chunks = bulk_bodies(records[i : i + BATCH], 1000, 5_000_000)  # the adapter defaults
        n += sum(len(c) for c in chunks)
    return n


def one(path: Path, times: dict[str, list[float]]) -> None:
    raw = _timed(times, "read", lambda: list(iter_records(path)))
    flows, others = split_records(raw)
    analysis = _timed(times, "analyse", lambda: analyse_capture(flows, DetectionConfig()))
    cid = "e" * 64
    findings = _timed(
        times, "findings", lambda: finding_records(cid, analysis.flows, analysis.findings)
    )
    records = [*analysis.flows, *others, *findings]
    docs = _timed(times, "tantivy_docs", lambda: _docs(records))
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        _timed(times, "tantivy_write", lambda: _write(records, docs, tmp))
    run = Run(cid, uuid.UUID(int=1), 1)
    bus = _Encode()
    _timed(
        times,
        "publish",
        lambda: asyncio.run(publish_enriched(bus, run, analysis.flows, Published())),  # type: ignore[arg-type]
    )
    _timed(times, "es_bulk", lambda: _es(records))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records", type=Path, help="a parsed/<id>.ndjson.zst blob")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = {}
    for _ in range(args.runs):
        one(args.records, times)
    total = 0.0
    for name, xs in times.items():
        med = statistics.median(xs)
        total += med if name != "es_bulk" else 0.0
        print(f"{name:14s} {med:7.2f} CPU-s  ({', '.join(f'{x:.2f}' for x in xs)})")
    print(f"{'tantivy path':14s} {total:7.2f} CPU-s (all but es_bulk)")


if __name__ == "__main__":
    main()
