"""Captures as ingest hands them on after spooling, for tests that register uploads directly."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from pcaptotal_ingest.magic import CaptureFormat
from pcaptotal_ingest.spool import SpooledCapture


def spooled(data: bytes, work: Path, filename: str) -> SpooledCapture:
    """``data`` (a little-endian pcap) written to a fresh spool file under ``work``: register
    moves it, so each upload needs its own copy."""
    path = work / f"upload-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return SpooledCapture(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        compressed=False,
        format=CaptureFormat(kind="pcap", byte_order="little", min_size=24),
        filename=filename,
    )
