"""One capture file → flow builder + summary + carved files + warnings.

Small captures take one tshark pass. Larger ones (``split_min_bytes``, with ``workers`` > 1) are
split by host pair (``partition``) into ``workers`` parts (more when a part would exceed
``part_max_bytes``), each piped straight into its own tshark while the file is read (no part
files, the split overlaps the decoding), and the parts' flows are merged
(``FlowBuilder.merged``) into exactly what one pass gives. Each tshark's memory is bounded by
its part's size instead of the capture's. While splitting, the prefilter (``prefilter``,
``prefilter=True``) keeps from tshark the packets it would find nothing in; each part's side
channel brings them to its builder in frame order (``lockstep``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pcaptotal.messages import CaptureSummary
from pcaptotal.progress import Counter

from pcaptotal_parser import sandbox
from pcaptotal_parser.attribution import attach_files, file_records
from pcaptotal_parser.carving import CarvedFile, collect, renumber_unnamed
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.lockstep import Lockstep
from pcaptotal_parser.partition import capture_format, read_frames, side_path
from pcaptotal_parser.prefilter import SideReader
from pcaptotal_parser.tshark import PIPE_BYTES, PIPE_SET_SIZE, TsharkResult, run_tshark

MIB = 1024 * 1024
# bytes of file framing per packet (pcap record header; pcapng enhanced packet block), added
# to the packet bytes to estimate how far into the file the parse is
FRAMING = {"pcap": 16, "pcapng": 32}


@dataclass(slots=True)
class ParseResult:
    flows: FlowBuilder
    summary: CaptureSummary
    tshark: TsharkResult
    warnings: list[str] = field(default_factory=list)
    files: list[CarvedFile] = field(default_factory=list)  # content under objects_dir
    objects_dir: Path | None = None
    parts: int = 1  # tshark processes the capture was split over
    # (carved file, keys of the flows it came from); no keys for a file tied to none
    file_targets: list[tuple[CarvedFile, list[str]]] = field(default_factory=list)
    withheld: int = 0  # packets the prefilter kept from tshark (counted from their headers)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the capture: each flow with its dns/http/tls records, then one
        ``file`` record per distinct carved file."""
        yield from self.flows.records()
        yield from file_records(self.flows, self.file_targets)

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
    sandbox_user: str = sandbox.DEFAULT_USER  # whom tshark runs as when we are root
    progress: Counter | None = None
    framing: int = 0  # file bytes per packet beyond the packet's own (for progress)


async def _pass(
    capture: Path,
    builder: FlowBuilder,
    options: TsharkOptions,
    work_dir: Path | None,
    objects_dir: Path | None,
    stdin_fd: int | None = None,
    lockstep: Lockstep | None = None,
) -> tuple[TsharkResult, list[CarvedFile]]:
    on_lines = add = builder.add_lines if lockstep is None else lockstep.feed
    progress, framing = options.progress, options.framing
    if progress is not None:
        totals = builder._counter  # the builder's running packet/byte counts

        def on_lines(lines: list[str]) -> None:
            packets, size = totals.all_packets, totals.all_bytes
            add(lines)
            new = totals.all_packets - packets
            progress.packets_processed += new
            progress.bytes_processed += totals.all_bytes - size + new * framing

    result = await run_tshark(
        capture,
        on_lines,
        tshark_path=options.tshark_path,
        timeout_s=options.timeout_s,
        memory_limit_mb=options.memory_limit_mb,
        work_dir=work_dir,
        stdin_fd=stdin_fd,
        objects_dir=objects_dir,
        sandbox=sandbox.default(options.sandbox_user),
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
    sandbox_user: str = sandbox.DEFAULT_USER,
    progress: Counter | None = None,
    prefilter: bool = True,
) -> ParseResult:
    """Parse ``capture`` (in one pass or split, see the module docstring).

    Raises ``TsharkError``. Carved files are left in a private directory under ``work_dir``
    (``result.objects_dir``) for the caller to store; ``discard_files`` (or removing
    ``work_dir``) cleans them up. ``progress``: counts packets and (estimated) file bytes as
    tshark's rows arrive.
    """
    options = TsharkOptions(tshark_path, timeout_s, memory_limit_mb, sandbox_user, progress)
    objects_dir: Path | None = None
    if carve:
        objects_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "objects-", work_dir))
    try:
        size = await asyncio.to_thread(os.path.getsize, capture)
        if progress is not None:
            progress.bytes_total = size
            kind = await asyncio.to_thread(capture_format, capture)
            options = replace(options, framing=FRAMING.get(kind or "", 0))
        split = None
        if workers > 1 and size >= split_min_bytes:
            # the parts come out about equal in size (partition deals buckets by size), so
            # one per worker, unless the part size limit asks for more
            count = max(workers, math.ceil(size / part_max_bytes))
            split = await _split_parse(
                capture, capture_id, count, options, work_dir, objects_dir, prefilter
            )
        withheld = 0
        if split is not None:
            builder, result, files, parts, withheld = split
        else:
            builder, parts = FlowBuilder(capture_id), 1
            result, files = await _pass(capture, builder, options, work_dir, objects_dir)
    except BaseException:
        if objects_dir is not None:
            await asyncio.to_thread(shutil.rmtree, objects_dir, True)
        raise
    warnings = list(result.warnings)
    targets: list[tuple[CarvedFile, list[str]]] = []
    orphans = attach_files(builder, files, targets)
    if orphans:
        warnings.append(f"{len(orphans)} carved files could not be tied to a flow")
    if builder.unattached:
        warnings.append(
            f"{builder.unattached} packets of encrypted sessions could not be tied to a flow; "
            "they count in the capture totals only"
        )
    if builder.malformed_rows:
        warnings.append(f"{builder.malformed_rows} packets could not be read from tshark's output")
    if builder.unreassembled_fragments:
        warnings.append(
            f"{builder.unreassembled_fragments} IP fragments were never reassembled; "
            "they count in the capture totals but in no flow"
        )
    summary = builder.summary()
    return ParseResult(
        builder,
        summary,
        result,
        warnings,
        files,
        objects_dir,
        parts,
        file_targets=targets,
        withheld=withheld,
    )


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # bigger pipes decouple the splitter from each tshark
        fcntl.fcntl(write_end, PIPE_SET_SIZE, PIPE_BYTES)
    return read_end, write_end


async def _split_parse(
    capture: Path,
    capture_id: str,
    count: int,
    options: TsharkOptions,
    work_dir: Path | None,
    objects_dir: Path | None,
    prefilter: bool,
) -> tuple[FlowBuilder, TsharkResult, list[CarvedFile], int, int] | None:
    """Split into ``count`` parts piped into as many tshark processes, and merge.

    ``None`` when the file cannot be split (then nothing of this attempt is kept).
    """
    started = time.monotonic()
    pipes = [_pipe() for _ in range(count)]
    builders = [FlowBuilder(capture_id) for _ in range(count)]
    frames_path = Path(await asyncio.to_thread(tempfile.mktemp, ".frames", "split-", work_dir))
    side_prefix = frames_path.with_suffix(".side")
    side_paths = [side_path(side_prefix, i) for i in range(count)] if prefilter else []
    readers: list[SideReader] = []
    try:
        for path in side_paths:  # made here, so that the readers can open them at once
            await asyncio.to_thread(path.touch)
            readers.append(await asyncio.to_thread(SideReader, path))
        locksteps = (
            [Lockstep(b, r) for b, r in zip(builders, readers, strict=True)] if readers else []
        )
        write_ends = [w for _, w in pipes]
        splitter = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pcaptotal_parser.partition",
            str(capture),
            str(frames_path),
            str(side_prefix) if prefilter else "-",
            *map(str, write_ends),
            pass_fds=write_ends,
            stdin=asyncio.subprocess.DEVNULL,
        )
        for write_end in write_ends:  # the splitter holds them now
            os.close(write_end)
        passes = [
            asyncio.create_task(
                _pass(
                    capture,
                    builders[i],
                    options,
                    work_dir,
                    objects_dir / f"part-{i:03d}" if objects_dir else None,
                    stdin_fd=read_end,
                    lockstep=locksteps[i] if locksteps else None,
                )
            )
            for i, (read_end, _) in enumerate(pipes)
        ]
        pipes = []  # the passes own the read ends now
        try:
            status = await splitter.wait()
            parts = (
                await asyncio.to_thread(read_frames, frames_path, count) if status == 0 else None
            )
            done = await asyncio.gather(*passes, return_exceptions=parts is None)
            if parts is not None:  # what the prefilter withheld after each part's last row
                for lockstep in locksteps:
                    lockstep.finish()
                for part_builder, part in zip(builders, parts, strict=True):
                    part_builder.add_counted(part.counted_packets, part.counted_bytes)
        except BaseException:  # one tshark failed (or we are cancelled): stop everything
            if splitter.returncode is None:
                splitter.kill()
                await splitter.wait()
            for task in passes:
                task.cancel()
            await asyncio.gather(*passes, return_exceptions=True)
            raise
    finally:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)
        await asyncio.to_thread(frames_path.unlink, True)
        for reader in readers:
            reader.close()
        for path in side_paths:
            await asyncio.to_thread(path.unlink, True)
    if parts is None:
        return None
    results = [d for d in done if isinstance(d, tuple)]
    builder = FlowBuilder.merged(
        capture_id, [(b, part.frames) for b, part in zip(builders, parts, strict=True)]
    )
    warnings = [w for result, _ in results for w in result.warnings]
    result = TsharkResult(
        packets=sum(r.packets for r, _ in results),
        exit_code=max(r.exit_code for r, _ in results),
        seconds=time.monotonic() - started,
        warnings=list(dict.fromkeys(warnings)),
    )
    named = set(builder.object_index())
    for (_, part_files), part in zip(results, parts, strict=True):
        renumber_unnamed(part_files, part.frames, named)
    files = [f for _, part_files in results for f in part_files]
    withheld = sum(part.withheld + part.counted_packets for part in parts)
    return builder, result, files, len(parts), withheld
