"""A record made ready for the index where it was made (``Index.add_prepared``).

It carries the record's encoding for the index (``Index.record_format``), what the index and
its stamping read of the record (id, capture, stamp), and the record itself as JSON, decoded
only where an adapter needs the object: the Elasticsearch bulk bodies, or a record the encoder
did not take. The enricher's worker, which passes on the records its analysis process made
ready, then decodes none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pcaptotal.access.stamps import OWNER_FIELD, VIS_FIELD, record_capture, stamped
from pcaptotal.record_json import dumps, loads

ID_FIELD = "event.id"


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    line: str | None  # the record as the index's format encodes it; None: not encoded
    raw: bytes  # the record's JSON (``record_json.dumps``)
    id: str | None  # its event.id, when that is a string
    capture_id: str | None
    visibility: str | None  # its stamp (``access.stamping``)
    owner: str | None

    @classmethod
    def of(cls, line: str | None, doc: dict[str, Any]) -> PreparedRecord:
        return cls(line, dumps(doc), *_head(doc))

    @classmethod
    def from_lines(cls, head: bytes, line: bytes | None, raw: bytes) -> PreparedRecord:
        """The record whose ``head_line``, ``line`` and ``raw`` these are (read back from a
        file)."""
        rid, cid, vis, owner = orjson.loads(head)
        return cls(None if line is None else line.decode(), raw, rid, cid, vis, owner)

    def head_line(self) -> bytes:
        return orjson.dumps([self.id, self.capture_id, self.visibility, self.owner])

    def doc(self) -> dict[str, Any]:
        """The record (decoded on each call)."""
        doc: dict[str, Any] = loads(self.raw)
        return doc

    def restamped(self, visibility: str, owner: str | None) -> PreparedRecord:
        """The record stamped ``visibility`` and ``owner``, not encoded (its encoding holds
        the old stamp)."""
        return PreparedRecord.of(None, stamped(self.doc(), visibility, owner))


def _head(doc: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    rid = doc.get(ID_FIELD)
    cid = record_capture(doc)
    vis, owner = doc.get(VIS_FIELD), doc.get(OWNER_FIELD)
    return (
        rid if isinstance(rid, str) else None,
        cid,
        vis if isinstance(vis, str) else None,
        owner if isinstance(owner, str) else None,
    )
