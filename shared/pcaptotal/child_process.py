"""One piece of a service's work in a child process of its own, watched by the service.

Why: a capture's parse or analysis builds hundreds of thousands of small objects. Freed, they
leave CPython's arenas pinned by a few survivors, so a long-lived worker grew by tens of MB per
large capture (docs/architecture.md, "Runner memory"). A child hands all of it back when it
exits, runs its Python under its own GIL (the worker's event loop, e.g. the runner's search
API, keeps its CPU), and is watched: one whose resident memory passes a limit is killed, and
its capture fails with that reason instead of taking the worker's memory. (Not an
address-space rlimit: CPython under one crashed or spun in C code when an allocation failed.)

Protocol: ``python -m <module> <parent pid>``; the job (a pydantic model's JSON) on the
child's stdin; lines the child sends while it works (progress) on its stdout; its result (a
pydantic model's JSON) in a file the job names. The child runs ``serve_child``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pcaptotal.lifeline import die_with_parent
from pcaptotal.logs import configure_logging
from pcaptotal.memory import limit_malloc_arenas

MEMORY_POLL_S = 0.1  # how often the child's resident memory is read (it may overshoot by
# what it allocates in that time: tens of MB at most)
PAGE = os.sysconf("SC_PAGE_SIZE")

J = TypeVar("J", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class ChildOverMemory(Exception):
    """The child held more than its limit and was killed."""

    def __init__(self, peak_mb: int) -> None:
        super().__init__(f"reached {peak_mb} MB")
        self.peak_mb = peak_mb


class ChildTimedOut(Exception):
    """The child ran past its time limit and was killed."""


class ChildDied(RuntimeError):
    """The child ended without a result (killed, crashed): worth a retry."""


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 40`` for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def how_it_ended(code: int) -> str:
    if code < 0:
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {signal_name(-code)}{hint}"
    return f"exit code {code}"


async def run_child(
    module: str,
    job: BaseModel,
    result_path: Path,
    result_type: type[R],
    *,
    time_limit_s: float,
    memory_limit_mb: int,
    on_line: Callable[[bytes], None] | None = None,
) -> R:
    """Run ``python -m module`` on ``job``; its result, read from ``result_path``.

    ``memory_limit_mb``: resident memory past which the child is killed (``ChildOverMemory``),
    0 for none. Past ``time_limit_s`` it is killed too (``ChildTimedOut``). Its whole process
    group (what it started: tshark, a splitter) is killed however it ends. ``ChildDied`` when
    it left no readable result.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        str(os.getpid()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as one
    )
    watch = asyncio.create_task(_watch_memory(proc.pid, memory_limit_mb))
    talk = asyncio.create_task(_talk(proc, job, on_line))
    try:
        async with asyncio.timeout(time_limit_s):
            await asyncio.wait([watch, talk], return_when=asyncio.FIRST_COMPLETED)
            if watch.done():
                raise ChildOverMemory(watch.result())
            code = talk.result()
    except TimeoutError:
        raise ChildTimedOut(f"took longer than {time_limit_s:.0f} s") from None
    finally:
        watch.cancel()
        talk.cancel()
        _kill_group(proc)  # also what is left of its group when the child died alone
        await proc.wait()
        await asyncio.gather(watch, talk, return_exceptions=True)
    result = await asyncio.to_thread(_read_result, result_path, result_type)
    if result is None:
        raise ChildDied(f"ended without a result ({how_it_ended(code)})")
    return result


async def _talk(
    proc: asyncio.subprocess.Process, job: BaseModel, on_line: Callable[[bytes], None] | None
) -> int:
    """Hand the child its job, pass on its lines; its exit code."""
    assert proc.stdin is not None and proc.stdout is not None
    # a child killed before it read its job closes the pipe: its exit code says how it ended
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(job.model_dump_json().encode() + b"\n")
        await proc.stdin.drain()
    proc.stdin.close()
    async for line in proc.stdout:
        if on_line is not None:
            on_line(line)
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


def _read_result(path: Path, result_type: type[R]) -> R | None:
    try:
        return result_type.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- the child's side ---


class Lines:
    """The child's channel to its parent: one JSON line per model."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, model: BaseModel) -> None:
        os.write(self._fd, model.model_dump_json().encode() + b"\n")


def serve_child(
    job_type: type[J],
    work: Callable[[J, Lines], Coroutine[Any, Any, BaseModel]],
    result_path: Callable[[J], Path],
) -> None:
    """The child's ``main``: read the job, run ``work``, write its result where
    ``result_path`` says. ``work`` reports its own failures in its result."""
    die_with_parent(int(sys.argv[1]))
    # stdout carries the lines: anything else printed goes to stderr
    out = os.dup(1)
    os.dup2(2, 1)
    configure_logging(os.environ.get("PCAPTOTAL_LOG_LEVEL", "INFO"))
    limit_malloc_arenas()  # as the services do: fewer thread heaps
    job = job_type.model_validate_json(sys.stdin.buffer.readline())
    result = asyncio.run(work(job, Lines(out)))
    result_path(job).write_text(result.model_dump_json())
    os.close(out)
