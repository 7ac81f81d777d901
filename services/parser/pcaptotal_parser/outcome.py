"""One capture's parse as a job and its outcome: what the worker stores and publishes.

The parse itself (tshark, flows, carving) runs in the worker's process or in a child process
(``isolated``); either way it ends in a ``ParseOutcome`` and files on disk (the records file
and the carved files under the job's work directory), so the worker's handling is the same.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pcaptotal.messages import CaptureSummary
from pcaptotal.progress import Counter
from pcaptotal.records import write_ndjson_zst
from pydantic import BaseModel, ConfigDict

from pcaptotal_parser import sandbox
from pcaptotal_parser.parse import MIB, parse_capture


class ParseJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    capture: Path
    capture_id: str
    work_dir: Path  # carved files and the records file are left here for the worker
    records_path: Path
    tshark_path: str = "tshark"
    timeout_s: float = 900.0
    memory_limit_mb: int = 4096  # per tshark
    workers: int = 1
    split_min_bytes: int = 64 * MIB
    part_max_bytes: int = 256 * MIB
    prefilter: bool = True  # see parse.parse_capture
    sandbox_user: str = sandbox.DEFAULT_USER


class FileToStore(BaseModel):
    """A carved file waiting under the work directory to be stored as ``files/<sha256>``."""

    path: Path
    sha256: str
    mime_type: str
    size: int


class ParseOutcome(BaseModel):
    summary: CaptureSummary
    warnings: list[str]
    flow_count: int
    record_count: int
    files: list[FileToStore]
    tshark_seconds: float
    parts: int  # tshark processes the capture was split over
    withheld: int = 0  # packets the prefilter counted instead of tshark


async def produce(job: ParseJob, progress: Counter | None = None) -> ParseOutcome:
    """Parse ``job.capture`` and write its records to ``job.records_path``.

    Raises ``TsharkError`` (the capture cannot be parsed: a reason for the person who
    uploaded it).
    """
    parsed = await parse_capture(
        job.capture,
        job.capture_id,
        tshark_path=job.tshark_path,
        timeout_s=job.timeout_s,
        memory_limit_mb=job.memory_limit_mb,
        work_dir=job.work_dir,
        workers=job.workers,
        split_min_bytes=job.split_min_bytes,
        part_max_bytes=job.part_max_bytes,
        prefilter=job.prefilter,
        sandbox_user=job.sandbox_user,
        progress=progress,
    )
    # Serialising and compressing is CPU work: keep it off the event loop.
    count = await asyncio.to_thread(write_ndjson_zst, parsed.records(), job.records_path)
    return ParseOutcome(
        summary=parsed.summary,
        warnings=parsed.warnings,
        flow_count=parsed.flows.flow_count,
        record_count=count,
        files=[
            FileToStore(path=f.path, sha256=f.sha256, mime_type=f.mime_type, size=f.size)
            for f in parsed.files
        ],
        tshark_seconds=parsed.tshark.seconds,
        parts=parsed.parts,
        withheld=parsed.withheld,
    )
