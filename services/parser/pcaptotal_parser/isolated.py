"""A capture's parse in a child process of its own: ``python -m pcaptotal_parser.isolated``.

Why: a parse builds hundreds of thousands of small objects. Freed, they leave CPython's
arenas pinned by a few survivors, so a long-lived worker grew by tens of MB per large capture
(docs/architecture.md, "Runner memory"). A child hands all of it back when it exits, runs the
parser's Python under its own GIL (the worker's event loop, e.g. the runner's search API, keeps
its CPU), and is watched: a parse whose resident memory passes ``memory_limit_mb`` is killed
and its capture fails with that reason, instead of taking the worker's memory. (Not an
address-space rlimit: CPython under one crashed or spun in C code when an allocation failed.)

Protocol: the job (``ParseJob`` JSON) on the child's stdin; progress lines (``Progress`` JSON)
on its stdout while it works; the result (``ChildResult``) in ``<work_dir>/outcome.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from pathlib import Path

import structlog
from pcaptotal.logs import configure_logging
from pcaptotal.memory import limit_malloc_arenas
from pcaptotal.progress import Counter
from pydantic import BaseModel, ValidationError

from pcaptotal_parser.outcome import ParseJob, ParseOutcome, produce
from pcaptotal_parser.tshark import TsharkError, TsharkTimeout, signal_name

PROGRESS_INTERVAL_S = 0.5
MEMORY_POLL_S = 0.1  # how often the child's resident memory is read (it may overshoot by
# what the parse allocates in that time: tens of MB at most)
PAGE = os.sysconf("SC_PAGE_SIZE")
# after the tsharks' own timeout, what the child may spend merging and writing records
WRAP_UP_S = 300.0
RESULT_NAME = "outcome.json"
PR_SET_PDEATHSIG = 1  # linux/prctl.h

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
    """``outcome.produce`` in a child process (see the module docstring).

    Raises ``TsharkError`` when the capture cannot be parsed (tshark's reason, the time limit,
    the memory limit: ``memory_limit_mb`` of resident memory, 0 for none) and
    ``ParseProcessError`` when the child died without saying why.
    """
    result_path = job.work_dir / RESULT_NAME
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pcaptotal_parser.isolated",
        str(os.getpid()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: tshark and the splitter go with it
    )
    assert proc.stdin is not None and proc.stdout is not None
    limit_s = job.timeout_s + WRAP_UP_S
    watch = asyncio.create_task(_watch_memory(proc.pid, memory_limit_mb))
    talk = asyncio.create_task(_talk(proc, job, progress))
    try:
        async with asyncio.timeout(limit_s):
            await asyncio.wait([watch, talk], return_when=asyncio.FIRST_COMPLETED)
            if watch.done():
                peak = watch.result()
                raise TsharkError(
                    f"parsing this capture needs more than {memory_limit_mb} MB "
                    f"(the parse process reached {peak} MB); raise "
                    "PCAPTOTAL_PARSER_MEMORY_LIMIT_MB or split the capture"
                )
            code = talk.result()
    except TimeoutError:
        raise TsharkTimeout(f"parsing took longer than {limit_s:.0f} s") from None
    finally:
        watch.cancel()
        talk.cancel()
        _kill_group(proc)  # also what is left of its group when the child died alone
        await proc.wait()
        await asyncio.gather(watch, talk, return_exceptions=True)
    result = await asyncio.to_thread(_read_result, result_path)
    if result is None:
        raise ParseProcessError(f"the parse process ended without a result ({_how(code)})")
    if result.error is not None:
        raise TsharkError(result.error)
    if result.internal is not None:
        raise ParseProcessError(f"the parse process failed: {result.internal}")
    if result.outcome is None:
        raise ParseProcessError("the parse process wrote an empty result")
    return result.outcome


async def _talk(proc: asyncio.subprocess.Process, job: ParseJob, progress: Counter | None) -> int:
    """Hand the child its job, follow its progress lines; its exit code."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(job.model_dump_json().encode() + b"\n")
    await proc.stdin.drain()
    proc.stdin.close()
    async for line in proc.stdout:
        if progress is not None:
            _apply(progress, line)
    return await proc.wait()


async def _watch_memory(pid: int, limit_mb: int) -> int:
    """Returns (the resident MB) once process ``pid`` holds more than ``limit_mb``; never
    when ``limit_mb`` is 0 or the process is gone."""
    if limit_mb <= 0:
        await asyncio.Event().wait()
    statm = f"/proc/{pid}/statm"
    while True:
        await asyncio.sleep(MEMORY_POLL_S)
        resident = _resident_mb(statm)
        if resident is None:
            await asyncio.Event().wait()  # gone (the talk ends it)
        elif resident > limit_mb:
            return resident


def _resident_mb(statm: str) -> int | None:
    # procfs answers from the kernel's memory: a read that never blocks the loop
    try:
        with open(statm, "rb") as fh:
            return int(fh.read().split()[1]) * PAGE // (1024 * 1024)
    except (OSError, IndexError, ValueError):
        return None


def _apply(progress: Counter, line: bytes) -> None:
    with contextlib.suppress(ValidationError):  # progress is best effort
        p = Progress.model_validate_json(line)
        progress.packets_processed = p.packets
        progress.bytes_processed = p.bytes
        progress.bytes_total = p.bytes_total


def _read_result(path: Path) -> ChildResult | None:
    try:
        return ChildResult.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _how(code: int) -> str:
    if code < 0:
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {signal_name(-code)}{hint}"
    return f"exit code {code}"


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _report(progress: Counter, out: int) -> None:
    last = None
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        now = (progress.packets_processed, progress.bytes_processed, progress.bytes_total)
        if now != last:
            line = Progress(packets=now[0], bytes=now[1], bytes_total=now[2])
            os.write(out, line.model_dump_json().encode() + b"\n")
            last = now


async def _child(job: ParseJob, out: int) -> ChildResult:
    progress = Counter("parsing", 0)
    reporter = asyncio.create_task(_report(progress, out))
    try:
        return ChildResult(outcome=await produce(job, progress))
    except TsharkError as exc:
        return ChildResult(error=exc.reason)
    except Exception as exc:
        log.exception("parse failed in the parse process")
        return ChildResult(internal=f"{type(exc).__name__}: {exc}")
    finally:
        reporter.cancel()


def _die_with(parent: int) -> None:
    """Be killed when the worker dies (a SIGKILLed worker's message goes to another worker,
    which parses the capture again: this parse would be wasted work)."""
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def main() -> None:
    _die_with(int(sys.argv[1]))
    # stdout carries the progress lines: anything else printed goes to stderr
    out = os.dup(1)
    os.dup2(2, 1)
    configure_logging(os.environ.get("PCAPTOTAL_LOG_LEVEL", "INFO"))
    limit_malloc_arenas()  # as the services do: fewer thread heaps
    job = ParseJob.model_validate_json(sys.stdin.buffer.readline())
    result = asyncio.run(_child(job, out))
    path = job.work_dir / RESULT_NAME
    path.write_text(result.model_dump_json())
    os.close(out)


if __name__ == "__main__":
    main()
