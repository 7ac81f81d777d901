"""The analysis's chunk files: its records for the worker to index, each encoded for the index
ahead (``Index.add_prepared``). Two lines a record: its encoding (``null`` for none), then the
record. (Not one JSON row of both: the encoding is JSON itself, and decoding it from inside a
string cost the worker as much as indexing it.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pcaptotal.adapters.record_formats import Encoder
from pcaptotal.ports import PreparedRecord
from pcaptotal.records import RecordsWriter, dumps, iter_lines, loads

# Read once, soon, on this machine: compression is CPU the worker shares.
ZSTD_LEVEL = 1


def write_chunk(path: Path, records: Sequence[dict[str, Any]], encode: Encoder) -> None:
    with RecordsWriter(path, level=ZSTD_LEVEL) as writer:
        lines: list[bytes] = []
        for record in records:
            encoded = encode(record)
            lines.append(b"null" if encoded is None else encoded.encode())
            lines.append(dumps(record))
        writer.write_lines(lines)


def read_chunk(path: Path) -> list[PreparedRecord]:
    """Blocking: the (encoding, record) pairs ``write_chunk`` wrote."""
    rows: list[PreparedRecord] = []
    lines = iter_lines(path)
    for encoded in lines:
        record = loads(next(lines))
        rows.append((None if encoded.startswith(b"null") else encoded.decode(), record))
    return rows
