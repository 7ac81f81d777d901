"""Parsing a test capture in one pass or split (``split_min_bytes=0``: any size is split when
``workers`` > 1), as the split and prefilter tests compare them."""

from __future__ import annotations

from pathlib import Path

from pcaptotal_parser.parse import ParseResult, parse_capture


async def parse_split(
    path: Path,
    tmp_path: Path,
    workers: int,
    *,
    part_max_bytes: int = 1 << 30,
    prefilter: bool = True,
) -> ParseResult:
    return await parse_capture(
        path,
        "c" * 64,
        work_dir=tmp_path,
        timeout_s=300,
        workers=workers,
        split_min_bytes=0,
        part_max_bytes=part_max_bytes,
        prefilter=prefilter,
    )
