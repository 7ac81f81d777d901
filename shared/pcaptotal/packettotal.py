"""PacketTotal API compatibility: what ingest and the search API both answer about a capture.

PacketTotal named a capture by the md5 of its bytes; ingest keeps ``md5`` on the capture
document and an ``md5/<md5>/<capture id>`` marker in the blob store (``pcaptotal.keys``), which
the access layer shows only with its capture. The routes live in ``pcaptotal_ingest.compat``
(uploads) and ``pcaptotal_search_api.compat`` (everything else), under ``PREFIX``.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "/compat/packettotal/v1"
MD5 = re.compile(r"^[0-9a-f]{32}$")


def pcap_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """PacketTotal's ``pcap_metadata`` object from a capture document."""
    times = doc.get("status_times") or {}
    context = doc.get("context") or {}
    md5 = doc.get("md5")
    return {
        "md5": md5,
        "sha256": doc.get("sha256") or doc.get("id"),
        "capture_id": doc.get("id"),
        "name": doc.get("filename") or md5,
        "file_size": doc.get("size"),
        "visibility": doc.get("visibility") or "public",
        "status": doc.get("status"),
        "submitted": doc.get("created"),
        "analysis_started": times.get("parsing"),
        "analysis_completed": times.get("done") or times.get("failed"),
        "sources": [s for s in (context.get("source"),) if s],
    }
