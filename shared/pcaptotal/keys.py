"""Blob-store key layout (claim-check)."""

from __future__ import annotations


def capture_key(capture_id: str) -> str:
    return f"captures/{capture_id}"


def parsed_key(capture_id: str) -> str:
    return f"parsed/{capture_id}.ndjson.zst"


def flow_doc_id(capture_id: str, flow_key: str) -> str:
    return f"{capture_id}-{flow_key}"


def file_key(sha256: str) -> str:
    """Carved file, content-addressed: the same file from any capture is one blob."""
    return f"files/{sha256}"


def md5_key(md5: str, capture_id: str) -> str:
    """An empty marker: the capture ``capture_id`` holds bytes with this md5 (PacketTotal's
    lookups are by md5). One md5 can name several captures (public, and private per owner)."""
    return f"md5/{md5}/{capture_id}"


def md5_prefix(md5: str) -> str:
    return f"md5/{md5}/"
