"""One capture file → flow builder + summary + carved files + warnings."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pcaptotal.messages import CaptureSummary

from pcaptotal_parser.attribution import attach_files
from pcaptotal_parser.carving import CarvedFile, collect, export_arguments
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.tshark import TsharkResult, run_tshark


@dataclass(slots=True)
class ParseResult:
    flows: FlowBuilder
    summary: CaptureSummary
    tshark: TsharkResult
    warnings: list[str] = field(default_factory=list)
    files: list[CarvedFile] = field(default_factory=list)  # content under objects_dir
    objects_dir: Path | None = None

    async def discard_files(self) -> None:
        """Remove the carved files' directory (the caller is done uploading them)."""
        if self.objects_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.objects_dir, True)
            self.objects_dir = None


async def parse_capture(
    capture: Path,
    capture_id: str,
    *,
    tshark_path: str = "tshark",
    timeout_s: float = 900.0,
    memory_limit_mb: int = 4096,
    work_dir: Path | None = None,
    carve: bool = True,
) -> ParseResult:
    """Run tshark once over ``capture``, assemble flows and carve files; raises ``TsharkError``.

    Carved files are left in a private directory under ``work_dir`` (``result.objects_dir``)
    for the caller to store; ``discard_files`` (or removing ``work_dir``) cleans them up.
    """
    builder = FlowBuilder(capture_id)
    objects_dir: Path | None = None
    if carve:
        objects_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "objects-", work_dir))
    try:
        result = await run_tshark(
            capture,
            builder.add_lines,
            tshark_path=tshark_path,
            timeout_s=timeout_s,
            memory_limit_mb=memory_limit_mb,
            work_dir=work_dir,
            extra_args=export_arguments(objects_dir) if objects_dir else (),
        )
        files = await asyncio.to_thread(collect, objects_dir) if objects_dir else []
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
    return ParseResult(builder, builder.summary(), result, warnings, files, objects_dir)
