"""One capture file → flow builder + summary + carved files + warnings.

Small captures take one tshark pass. Larger ones (``split_min_bytes``, with ``workers`` > 1) are
split by host pair (``partition``) into at least ``workers`` parts of at most
``part_max_bytes`` each, decoded by up to ``workers`` tshark processes at once, and merged
(``FlowBuilder.merged``) into exactly what one pass gives; each tshark's memory is then bounded
by its part's size instead of the capture's.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pcaptotal.messages import CaptureSummary

from pcaptotal_parser.attribution import attach_files
from pcaptotal_parser.carving import CarvedFile, collect, export_arguments
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.partition import Part, split_capture
from pcaptotal_parser.tshark import TsharkResult, run_tshark

MIB = 1024 * 1024
MIN_PART_BYTES = 8 * MIB  # below this a part costs more in tshark start-up than it saves


@dataclass(slots=True)
class ParseResult:
    flows: FlowBuilder
    summary: CaptureSummary
    tshark: TsharkResult
    warnings: list[str] = field(default_factory=list)
    files: list[CarvedFile] = field(default_factory=list)  # content under objects_dir
    objects_dir: Path | None = None
    parts: int = 1  # tshark processes the capture was split over

    async def discard_files(self) -> None:
        """Remove the carved files' directory (the caller is done uploading them)."""
        if self.objects_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.objects_dir, True)
            self.objects_dir = None


@dataclass(frozen=True, slots=True)
class TsharkOptions:
    tshark_path: str = "tshark"
    timeout_s: float = 900.0
    memory_limit_mb: int = 4096


async def _pass(
    capture: Path,
    builder: FlowBuilder,
    options: TsharkOptions,
    work_dir: Path | None,
    objects_dir: Path | None,
) -> tuple[TsharkResult, list[CarvedFile]]:
    result = await run_tshark(
        capture,
        builder.add_lines,
        tshark_path=options.tshark_path,
        timeout_s=options.timeout_s,
        memory_limit_mb=options.memory_limit_mb,
        work_dir=work_dir,
        extra_args=export_arguments(objects_dir) if objects_dir else (),
    )
    files = await asyncio.to_thread(collect, objects_dir) if objects_dir else []
    return result, files


async def parse_capture(
    capture: Path,
    capture_id: str,
    *,
    tshark_path: str = "tshark",
    timeout_s: float = 900.0,
    memory_limit_mb: int = 4096,
    work_dir: Path | None = None,
    carve: bool = True,
    workers: int = 1,
    split_min_bytes: int = 64 * MIB,
    part_max_bytes: int = 256 * MIB,
) -> ParseResult:
    """Parse ``capture`` (in one pass or split, see the module docstring).

    Raises ``TsharkError``. Carved files are left in a private directory under ``work_dir``
    (``result.objects_dir``) for the caller to store; ``discard_files`` (or removing
    ``work_dir``) cleans them up.
    """
    options = TsharkOptions(tshark_path, timeout_s, memory_limit_mb)
    objects_dir: Path | None = None
    if carve:
        objects_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "objects-", work_dir))
    try:
        size = await asyncio.to_thread(os.path.getsize, capture)
        split = None
        if workers > 1 and size >= split_min_bytes:
            # a few parts per worker even it out when host pairs differ in size
            count = max(workers, min(workers * 4, size // MIN_PART_BYTES))
            count = max(count, math.ceil(size / part_max_bytes))
            split = await _split_parse(
                capture, capture_id, count, workers, options, work_dir, objects_dir
            )
        if split is not None:
            builder, result, files, parts = split
        else:
            builder, parts = FlowBuilder(capture_id), 1
            result, files = await _pass(capture, builder, options, work_dir, objects_dir)
    except BaseException:
        if objects_dir is not None:
            await asyncio.to_thread(shutil.rmtree, objects_dir, True)
        raise
    warnings = list(result.warnings)
    orphans = attach_files(builder, files)
    if orphans:
        warnings.append(f"{len(orphans)} carved files could not be tied to a flow")
    if builder.malformed_rows:
        warnings.append(f"{builder.malformed_rows} packets could not be read from tshark's output")
    if builder.unreassembled_fragments:
        warnings.append(
            f"{builder.unreassembled_fragments} IP fragments were never reassembled; "
            "they count in the capture totals but in no flow"
        )
    summary = builder.summary()
    return ParseResult(builder, summary, result, warnings, files, objects_dir, parts)


async def _split_parse(
    capture: Path,
    capture_id: str,
    count: int,
    workers: int,
    options: TsharkOptions,
    work_dir: Path | None,
    objects_dir: Path | None,
) -> tuple[FlowBuilder, TsharkResult, list[CarvedFile], int] | None:
    """Split, decode the parts concurrently, merge; ``None`` when the file cannot be split."""
    started = time.monotonic()
    parts_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "parts-", work_dir))
    try:
        parts = await asyncio.to_thread(split_capture, capture, parts_dir, count)
        if parts is None:
            return None
        limit = asyncio.Semaphore(workers)

        async def one(index: int, part: Part) -> tuple[FlowBuilder, TsharkResult, list[CarvedFile]]:
            builder = FlowBuilder(capture_id)
            async with limit:
                if not part.packets:
                    return builder, TsharkResult(0, 0, 0.0), []
                part_objects = objects_dir / f"part-{index:03d}" if objects_dir else None
                result, files = await _pass(part.path, builder, options, work_dir, part_objects)
                await asyncio.to_thread(part.path.unlink)  # disk: keep only parts not yet read
                return builder, result, files

        done = await asyncio.gather(*(one(i, p) for i, p in enumerate(parts)))
    finally:
        await asyncio.to_thread(shutil.rmtree, parts_dir, True)
    builder = FlowBuilder.merged(
        capture_id, [(b, part.frames) for (b, _, _), part in zip(done, parts, strict=True)]
    )
    warnings = [w for _, result, _ in done for w in result.warnings]
    result = TsharkResult(
        packets=sum(r.packets for _, r, _ in done),
        exit_code=max(r.exit_code for _, r, _ in done),
        seconds=time.monotonic() - started,
        warnings=list(dict.fromkeys(warnings)),
    )
    files = [f for _, _, part_files in done for f in part_files]
    return builder, result, files, len(parts)
