"""A capture's parse in a child process of its own: ``python -m pcaptotal_parser.isolated``
(``pcaptotal.child_process`` says why and how it is watched).

The child's lines are ``Progress``; its result (``ChildResult``) is left in
``<work_dir>/outcome.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from pathlib import Path

import structlog
from pcaptotal.child_process import (
    ChildDied,
    ChildOverMemory,
    ChildTimedOut,
    Lines,
    run_child,
    serve_child,
)
from pcaptotal.progress import Counter
from pydantic import BaseModel, ValidationError

from pcaptotal_parser.outcome import ParseJob, ParseOutcome, produce
from pcaptotal_parser.tshark import TsharkError, TsharkTimeout

PROGRESS_INTERVAL_S = 0.5
# after the tsharks' own timeout, what the child may spend merging and writing records
WRAP_UP_S = 300.0
RESULT_NAME = "outcome.json"
# The flow state grows by millions of long-lived objects, and with the default thresholds
# (700, 10, 10) the cyclic collector walks all of them again each time it has grown by a
# quarter: ~2 of the parse process's ~8 CPU-s on the 200 MB flow-heavy capture. Collections
# of the young generation still run (every 10,000 allocations), full ones far more rarely.
GC_THRESHOLDS = (10_000, 50, 100)

log = structlog.get_logger(__name__)


class Progress(BaseModel):
    packets: int
    bytes: int
    bytes_total: int


class ChildResult(BaseModel):
    outcome: ParseOutcome | None = None
    error: str | None = None  # the capture cannot be parsed: the reason, for the uploader
    internal: str | None = None  # an unexpected error (a bug, the disk): worth a retry


class ParseProcessError(RuntimeError):
    """The child died without a result (killed, crashed): worth a retry."""


async def produce_in_child(
    job: ParseJob, progress: Counter | None, *, memory_limit_mb: int
) -> ParseOutcome:
    """``outcome.produce`` in a child process.

    Raises ``TsharkError`` when the capture cannot be parsed (tshark's reason, the time limit,
    the memory limit: ``memory_limit_mb`` of resident memory, 0 for none) and
    ``ParseProcessError`` when the child died without saying why.
    """
    limit_s = job.timeout_s + WRAP_UP_S
    try:
        result = await run_child(
            "pcaptotal_parser.isolated",
            job,
            _result_path(job),
            ChildResult,
            time_limit_s=limit_s,
            memory_limit_mb=memory_limit_mb,
            on_line=None if progress is None else lambda line: _apply(progress, line),
        )
    except ChildOverMemory as exc:
        raise TsharkError(
            f"parsing this capture needs more than {memory_limit_mb} MB "
            f"(the parse process reached {exc.peak_mb} MB); raise "
            "PCAPTOTAL_PARSER_MEMORY_LIMIT_MB or split the capture"
        ) from None
    except ChildTimedOut:
        raise TsharkTimeout(f"parsing took longer than {limit_s:.0f} s") from None
    except ChildDied as exc:
        raise ParseProcessError(f"the parse process {exc}") from None
    if result.error is not None:
        raise TsharkError(result.error)
    if result.internal is not None:
        raise ParseProcessError(f"the parse process failed: {result.internal}")
    if result.outcome is None:
        raise ParseProcessError("the parse process wrote an empty result")
    return result.outcome


def _result_path(job: ParseJob) -> Path:
    return job.work_dir / RESULT_NAME


def _apply(progress: Counter, line: bytes) -> None:
    with contextlib.suppress(ValidationError):  # progress is best effort
        p = Progress.model_validate_json(line)
        progress.packets_processed = p.packets
        progress.bytes_processed = p.bytes
        progress.bytes_total = p.bytes_total


async def _report(progress: Counter, lines: Lines) -> None:
    last = None
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        now = (progress.packets_processed, progress.bytes_processed, progress.bytes_total)
        if now != last:
            lines.send(Progress(packets=now[0], bytes=now[1], bytes_total=now[2]))
            last = now


async def _child(job: ParseJob, lines: Lines) -> ChildResult:
    progress = Counter("parsing", 0)
    reporter = asyncio.create_task(_report(progress, lines))
    try:
        return ChildResult(outcome=await produce(job, progress))
    except TsharkError as exc:
        return ChildResult(error=exc.reason)
    except Exception as exc:
        log.exception("parse failed in the parse process")
        return ChildResult(internal=f"{type(exc).__name__}: {exc}")
    finally:
        reporter.cancel()


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)  # this process parses one capture and exits
    serve_child(ParseJob, _child, _result_path)


if __name__ == "__main__":
    main()
