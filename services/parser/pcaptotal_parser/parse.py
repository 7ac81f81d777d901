"""One capture file → flow builder + summary + warnings (tshark pass and flow assembly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pcaptotal.messages import CaptureSummary

from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.tshark import TsharkResult, run_tshark


@dataclass(slots=True)
class ParseResult:
    flows: FlowBuilder
    summary: CaptureSummary
    tshark: TsharkResult
    warnings: list[str] = field(default_factory=list)


async def parse_capture(
    capture: Path,
    capture_id: str,
    *,
    tshark_path: str = "tshark",
    timeout_s: float = 900.0,
    memory_limit_mb: int = 4096,
    work_dir: Path | None = None,
) -> ParseResult:
    """Run tshark once over ``capture`` and assemble flows; raises ``TsharkError``."""
    builder = FlowBuilder(capture_id)
    result = await run_tshark(
        capture,
        builder.add_line,
        tshark_path=tshark_path,
        timeout_s=timeout_s,
        memory_limit_mb=memory_limit_mb,
        work_dir=work_dir,
    )
    warnings = list(result.warnings)
    if builder.malformed_rows:
        warnings.append(f"{builder.malformed_rows} packets could not be read from tshark's output")
    if builder.unreassembled_fragments:
        warnings.append(
            f"{builder.unreassembled_fragments} IP fragments were never reassembled; "
            "they count in the capture totals but in no flow"
        )
    return ParseResult(builder, builder.summary(), result, warnings)
