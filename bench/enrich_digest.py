"""Outcome digest of the enrich path, for checking that a speed-up changed nothing.

Runs what the enricher worker does to one capture's records, with a fixed capture id and
analysis id: split, heuristics and verdicts, finding records, the tantivy document of every
record (``Document.to_dict()``: every indexed field and value, and ``_source``), the
Elasticsearch bulk body of every record, and the ``flows.enriched`` event bodies. Writes one
line per item (``--out``, for diffing) and prints a sha256 per part and overall; run it before
and after a change and compare. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
for sub in ("shared", "services/enricher"):
    sys.path.insert(0, str(REPO / sub))

from pcaptotal.adapters.es_index import ElasticsearchIndex  # noqa: E402
from pcaptotal.adapters.tantivy_docs import flow_document  # noqa: E402
from pcaptotal.messages import Envelope, encode, encode_items  # noqa: E402
from pcaptotal.records import iter_records  # noqa: E402
from pcaptotal_enricher.events import Published, Run, publish_enriched  # noqa: E402
from pcaptotal_enricher.heuristics.config import DetectionConfig  # noqa: E402
from pcaptotal_enricher.records import finding_records, finding_summary, split_records  # noqa: E402
from pcaptotal_enricher.verdict import analyse_capture  # noqa: E402

CAPTURE_ID = "d" * 64
ANALYSIS_ID = uuid.UUID(int=12)


class _Collect:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def publish(self, event: Envelope, routing_key: str | None = None) -> None:
        self._keep(encode(event))

    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        self._keep(encode_items(event, field, items))

    def _keep(self, raw: bytes) -> None:
        body = orjson.loads(raw)
        body.pop("time", None)  # when it was sent: the one field that differs run to run
        self.bodies.append(_canon(body))


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr)


def _tantivy(doc: Any) -> bytes:
    d = doc.to_dict()
    # each field's values in the order added, _source as its raw bytes
    return _canon({k: [v.hex() if isinstance(v, bytes) else v for v in vs] for k, vs in d.items()})


def _tantivy_docs(records: list[dict[str, Any]]) -> list[bytes]:
    """As ``add_flows`` builds them (batches of 10,000), checked against one-by-one."""
    try:
        from pcaptotal.adapters.tantivy_docs import flow_documents
    except ImportError:  # before the batch builder
        return [_tantivy(flow_document(r)) for r in records]
    out = []
    for i in range(0, len(records), 10_000):
        out += [_tantivy(d) for d in flow_documents(records[i : i + 10_000])]
    slow = [_tantivy(flow_document(r)) for r in records]
    print(f"tantivy batch == one by one: {out == slow}")
    return out


def digest(records_path: Path, out: Path | None) -> dict[str, str]:
    # the records carry the parser's capture id: re-key them as the worker would see them
    flows, others = split_records(list(iter_records(records_path)))
    analysis = analyse_capture(flows, DetectionConfig())
    findings = finding_records(CAPTURE_ID, analysis.flows, analysis.findings)
    records = [*analysis.flows, *others, *findings]
    es = ElasticsearchIndex.__new__(ElasticsearchIndex)
    es._bulk_docs, es._bulk_bytes = 1000, 5_000_000  # the adapter defaults
    bus = _Collect()
    run = Run(CAPTURE_ID, ANALYSIS_ID, 1)
    asyncio.run(publish_enriched(bus, run, analysis.flows, Published()))  # type: ignore[arg-type]
    summary = {
        "verdict": analysis.verdict.value,
        "score": analysis.score,
        "reasons": analysis.reasons,
        "tags": analysis.tags,
        "flow_verdicts": analysis.flow_verdicts,
        "findings": analysis.findings,
        "finding_summary": finding_summary(findings),
    }
    parts: dict[str, list[bytes]] = {
        "summary": [_canon(summary)],
        "records": [_canon(r) for r in records],
        "tantivy": _tantivy_docs(records),
        # the NDJSON lines in order (where bodies split depends on the batch size)
        "es_bulk": b"".join(_es_bulk(es, records)).splitlines(),
        "events": bus.bodies,
    }
    result = {k: hashlib.sha256(b"\n".join(v)).hexdigest() for k, v in parts.items()}
    result["all"] = hashlib.sha256("".join(result.values()).encode()).hexdigest()
    if out:
        with out.open("wb") as fh:
            for name, lines in parts.items():
                for line in lines:
                    fh.write(name.encode() + b" " + line.rstrip(b"\n") + b"\n")
    return result


def _es_bulk(es: ElasticsearchIndex, records: list[dict[str, Any]]) -> list[bytes]:
    """The bulk bodies ``add_flows`` sends for batches of 10,000 records."""
    try:
        from pcaptotal.adapters.es_bulk import bulk_bodies
    except ImportError:  # before es_bulk: the adapter's own _chunks over flow_source
        from pcaptotal.adapters.es_mapping import flow_source

        out: list[bytes] = []
        for i in range(0, len(records), 10_000):
            latest = dict(flow_source(r) for r in records[i : i + 10_000])
            out += es._chunks(latest)  # type: ignore[attr-defined]
        return out
    return [
        b
        for i in range(0, len(records), 10_000)
        for b in bulk_bodies(records[i : i + 10_000], 1000, 5_000_000)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records", type=Path, help="a parsed/<id>.ndjson.zst blob")
    ap.add_argument("--out", type=Path, help="write every item, one per line, for diffing")
    args = ap.parse_args()
    for name, value in digest(args.records, args.out).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
