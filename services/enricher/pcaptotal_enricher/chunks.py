"""The analysis's chunk files: its records for the worker to index and publish, each made ready
where the record is. Four lines a record: what the index reads of it and its encoding for the
index (``null`` for none), the record (``pcaptotal.prepared``), then a flow's JSON as its
``flows.enriched`` batch carries it (``null`` for other records; ``Bus.publish_items``). The
worker decodes none of the records: it passes them on. (Lines rather than one JSON row of all
four: they are JSON themselves, and decoding them from inside a string cost the worker as much
as indexing them.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcaptotal.adapters.record_formats import Encoder
from pcaptotal.messages import VERDICTS, Verdict
from pcaptotal.prepared import PreparedRecord
from pcaptotal.records import RecordsWriter, iter_lines

from pcaptotal_enricher.events import event_json, flow_verdict
from pcaptotal_enricher.records import is_flow

# Read once, soon, on this machine: compression is CPU the worker shares.
ZSTD_LEVEL = 1
_NONE = b"null"
_VERDICTS: dict[bytes, Verdict] = {v.encode(): v for v in VERDICTS}


@dataclass(slots=True)
class ChunkRows:
    records: list[PreparedRecord] = field(default_factory=list)
    # the chunk's flows, in order, as (verdict, event JSON)
    events: list[tuple[Verdict, bytes]] = field(default_factory=list)


def write_chunk(path: Path, records: Sequence[dict[str, Any]], encode: Encoder) -> None:
    with RecordsWriter(path, level=ZSTD_LEVEL) as writer:
        lines: list[bytes] = []
        for record in records:
            encoded = encode(record)
            prepared = PreparedRecord.of(encoded, record)
            lines.append(prepared.head_line())
            lines.append(_NONE if encoded is None else encoded.encode())
            lines.append(prepared.raw)
            if is_flow(record):
                lines.append(b"%s %s" % (flow_verdict(record).encode(), event_json(record)))
            else:
                lines.append(_NONE)
        writer.write_lines(lines)


def read_chunk(path: Path) -> ChunkRows:
    """Blocking: the records ``write_chunk`` wrote, ready for the index, and the flows'
    events."""
    rows = ChunkRows()
    lines = iter_lines(path)
    for head in lines:
        encoded, raw, event = (next(lines).rstrip(b"\n") for _ in range(3))
        line = None if encoded == _NONE else encoded
        rows.records.append(PreparedRecord.from_lines(head, line, raw))
        if event != _NONE:
            verdict, _, item = event.partition(b" ")
            rows.events.append((_VERDICTS[verdict], item))
    return rows
