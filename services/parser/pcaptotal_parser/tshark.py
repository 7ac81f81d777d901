"""Running tshark: one streaming pass per capture, bounded in time, memory and output.

tshark runs as an asyncio subprocess with no name resolution, a private empty configuration
directory (no user preferences or plugins change the output), inside the sandbox
(``pcaptotal.sandbox``: unprivileged user, no new privileges, no network, rlimits on
address space and CPU). It reads the capture from an inherited descriptor and writes only in its
private directory (exported objects, moved to the caller's ``objects_dir`` as they are written:
``object_mover``). Its
stdout is consumed line by line and handed to a callback, so memory stays bounded by what the
callback keeps (flows), not by the number of packets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from pcaptotal.child_process import signal_name

from pcaptotal_parser.carving import PROTOCOLS, export_arguments
from pcaptotal_parser.columns import AGGREGATOR, FIELDS, SEPARATOR
from pcaptotal_parser.object_mover import ObjectMover
from pcaptotal_parser.sandbox import Limits, Sandbox, SandboxError, default

log = structlog.get_logger(__name__)

LINE_LIMIT = 64 * 1024 * 1024  # one packet's fields (certificate chains, huge DNS) fit
STDERR_LIMIT = 64 * 1024
# stdout is read in chunks and split into lines in bulk (a readline() per packet costs more
# than handling the packet); one chunk of rows is a few milliseconds of work between yields
READ_CHUNK = 256 * 1024
PIPE_SET_SIZE = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux
PIPE_BYTES = 1024 * 1024  # the default /proc/sys/fs/pipe-max-size
# a pause between small reads: tshark writes ~10 MB/s at most, so a 1 MB pipe never fills in it
BATCH_PAUSE_S = 0.02

# stderr noise that says nothing about the capture
_NOISE = ("Running as user",)


class TsharkError(Exception):
    """tshark could not produce a usable result; ``reason`` is for the person who uploaded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TsharkTimeout(TsharkError):
    pass


@dataclass(slots=True)
class TsharkResult:
    packets: int  # output rows delivered to the callback
    exit_code: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def tshark_command(
    tshark_path: str, capture: Path | str, extra_args: Sequence[str] = ()
) -> list[str]:
    """The tshark invocation; ``capture`` ``"-"`` reads the capture from stdin."""
    cmd = [
        tshark_path,
        "-n",  # no name resolution: no DNS lookups from the parser, addresses as numbers
        "-r", str(capture),
        "-T", "fields",
        "-E", "header=n",
        "-E", "occurrence=a",
        "-E", f"separator={SEPARATOR}",
        "-E", f"aggregator={AGGREGATOR}",
        "-E", "quote=n",
    ]  # fmt: skip
    for name in FIELDS:
        cmd += ["-e", name]
    return cmd + list(extra_args)


# names inside the child's private directory (its working directory: paths are relative, as
# the sandbox user cannot look anything up through the parser's private scratch directories)
CONFIG = "config"
OBJECTS = "objects"


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": CONFIG,
        "WIRESHARK_CONFIG_DIR": CONFIG,
        "XDG_CONFIG_HOME": CONFIG,
        "TMPDIR": CONFIG,
        "LC_ALL": "C.UTF-8",
    }


def _make_box(work_dir: Path | None, sandbox: Sandbox, carve: bool) -> Path:
    """The child's private directory, owned by the sandbox user (blocking: use a thread)."""
    box = Path(tempfile.mkdtemp(prefix="tshark-", dir=work_dir))
    (box / CONFIG).mkdir()
    if carve:
        for protocol in PROTOCOLS:  # made here, so the mover can watch them before tshark runs
            (box / OBJECTS / protocol).mkdir(parents=True)
    sandbox.prepare(box)
    return box


def _start_mover(box: Path, objects_dir: Path) -> ObjectMover | None:
    """The mover of tshark's objects, started (blocking); None when inotify is refused (the
    user's instance or watch limit): the objects are then moved once tshark is done."""
    mover = ObjectMover(box / OBJECTS, objects_dir, PROTOCOLS)
    try:
        mover.start()
    except OSError as exc:
        log.warning("exported objects moved at the end", reason=str(exc))
        return None
    return mover


def _unbox(box: Path, objects_dir: Path | None) -> None:
    """Move the exported objects to ``objects_dir`` and drop the box (blocking)."""
    try:
        if objects_dir is not None:
            objects_dir.mkdir(parents=True, exist_ok=True)
            for exported in (box / OBJECTS).iterdir():  # one directory per protocol
                target = objects_dir / exported.name
                if target.exists():  # left by an earlier attempt (a split that fell back)
                    shutil.rmtree(target)
                os.rename(exported, target)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _open_capture(capture: Path) -> int:
    return os.open(capture, os.O_RDONLY | os.O_CLOEXEC)


def _messages(stderr: bytes) -> list[str]:
    lines = stderr.decode("utf-8", "replace").splitlines()
    out = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith(_NOISE):
            continue
        out.append(text.removeprefix("tshark: "))
    return out


async def _read_stderr(stream: asyncio.StreamReader, buf: bytearray) -> None:
    while chunk := await stream.read(65536):
        room = STDERR_LIMIT - len(buf)
        if room > 0:
            buf += chunk[:room]


class _LineReader:
    """Bytes → complete lines, in batches; a line over ``LINE_LIMIT`` is dropped and counted."""

    def __init__(self, on_lines: Callable[[list[str]], None]) -> None:
        self._on_lines = on_lines
        self._pending = b""
        self._skipping = False  # inside an oversized line: drop bytes up to its end
        self.rows = 0
        self.oversized = 0

    def feed(self, chunk: bytes) -> None:
        if self._skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return
            chunk = chunk[end + 1 :]
            self._skipping = False
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            if len(data) > LINE_LIMIT:
                self.oversized += 1
                self._pending = b""
                self._skipping = True
            return
        self._pending = data[cut + 1 :]
        lines = data[:cut].decode("utf-8", "replace").split("\n")
        self.rows += len(lines)
        self._on_lines(lines)

    def close(self) -> None:
        if self._pending and not self._skipping:  # a last line without its newline
            self.rows += 1
            self._on_lines([self._pending.decode("utf-8", "replace")])
        self._pending = b""


async def run_tshark(
    capture: Path,
    on_lines: Callable[[list[str]], None],
    *,
    tshark_path: str = "tshark",
    timeout_s: float = 900.0,
    memory_limit_mb: int = 4096,
    work_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    stdin_fd: int | None = None,
    objects_dir: Path | None = None,
    sandbox: Sandbox | None = None,
) -> TsharkResult:
    """Run tshark over ``capture``, calling ``on_lines`` with batches of output lines.

    Returns when tshark read the whole capture, or read part of it and then hit damage (the
    result then carries a warning). Raises ``TsharkError`` when nothing usable came out and
    ``TsharkTimeout`` after ``timeout_s``. With ``stdin_fd`` (a pipe's read end, which this
    takes over and closes) tshark reads the capture from it and ``capture`` only names it.
    With ``objects_dir`` tshark exports the objects it can carve; they end up in
    ``objects_dir/<protocol>`` (``carving.collect`` reads them there). ``sandbox``: the box
    tshark runs in (default: ``sandbox.default()``).
    """
    if stdin_fd is None and await asyncio.to_thread(os.path.getsize, capture) == 0:
        raise TsharkError("the capture file is empty")
    started = time.monotonic()
    cpu_seconds = math.ceil(timeout_s) + 5
    sandbox = sandbox or default()
    # a missing tshark is the parser's fault, not the capture's: raise as exec would have
    # (the sandbox tools exec it, so only their exit status would say so)
    program = shutil.which(tshark_path)
    if program is None:
        if stdin_fd is not None:
            os.close(stdin_fd)
        raise FileNotFoundError(errno.ENOENT, "tshark not found", tshark_path)
    try:
        prefix = await sandbox.prefix(Limits(memory_limit_mb, cpu_seconds))
        box = await asyncio.to_thread(_make_box, work_dir, sandbox, objects_dir is not None)
    except (SandboxError, OSError) as exc:
        if stdin_fd is not None:
            os.close(stdin_fd)
        raise TsharkError(f"the parser cannot sandbox tshark: {exc}") from None
    mover: ObjectMover | None = None
    if objects_dir is not None:
        extra_args = [*export_arguments(Path(OBJECTS)), *extra_args]
    finished = False  # the objects are kept only when tshark ran to its end
    try:
        if objects_dir is not None:
            mover = await asyncio.to_thread(_start_mover, box, objects_dir)
        if stdin_fd is None:  # the sandbox user cannot open it: the file is handed over open
            stdin_fd = await asyncio.to_thread(_open_capture, capture)
        # our own stdout pipe, enlarged: tshark keeps decoding while we handle a batch of
        # another tshark's rows (a 64 KB pipe holds only a few milliseconds of its output)
        out_read, out_write = os.pipe()
        pipe_bytes = 0
        with contextlib.suppress(OSError):
            pipe_bytes = fcntl.fcntl(out_write, PIPE_SET_SIZE, PIPE_BYTES)
        try:
            proc = await asyncio.create_subprocess_exec(
                *prefix,
                *tshark_command(program, "-", extra_args),
                stdin=stdin_fd,
                stdout=out_write,
                stderr=asyncio.subprocess.PIPE,
                env=_env(),
                cwd=box,
            )
        except BaseException:
            os.close(out_read)
            raise
        finally:
            os.close(out_write)  # the child has its copy; ours would hide the end of output
            os.close(stdin_fd)  # likewise for its input
            stdin_fd = None
        stdout = asyncio.StreamReader(limit=LINE_LIMIT)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(out_read, "rb", 0)
        )
        assert proc.stderr is not None
        stderr = bytearray()
        stderr_task = asyncio.create_task(_read_stderr(proc.stderr, stderr))
        reader = _LineReader(on_lines)
        try:
            async with asyncio.timeout(timeout_s):
                while chunk := await stdout.read(READ_CHUNK):
                    reader.feed(chunk)
                    if len(chunk) < READ_CHUNK // 2 and pipe_bytes >= PIPE_BYTES:
                        # tshark writes less than we handle: let its output pile up in the
                        # pipe (it holds far more than this pause) instead of waking up for
                        # every write; bigger batches cost less CPU per row
                        transport.pause_reading()
                        await asyncio.sleep(BATCH_PAUSE_S)
                        transport.resume_reading()
                    else:
                        await asyncio.sleep(0)  # one chunk of rows at a time: the loop stays live
                reader.close()
                exit_code = await proc.wait()
                await stderr_task
                finished = True
        except TimeoutError:
            raise TsharkTimeout(
                f"timed out after {timeout_s:g} s (read {reader.rows} packets); "
                "raise PCAPTOTAL_PARSE_TIMEOUT_S or split the capture"
            ) from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            stderr_task.cancel()
            transport.close()
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)
        if mover is not None:
            await asyncio.to_thread(mover.stop, finished)
            if mover.overflowed:  # the files past the lost events were moved in name order
                log.warning("inotify dropped events while tshark exported objects")
        # without a mover the objects are still in the box
        await asyncio.to_thread(_unbox, box, objects_dir if finished and not mover else None)

    result = TsharkResult(reader.rows, exit_code, time.monotonic() - started)
    if reader.oversized:
        result.warnings.append(
            f"{reader.oversized} packets had more field data than the parser reads"
        )
    # tshark names our temp file; the person reading the reason knows it as "the file"
    messages = [
        m.replace(f'"{capture}" ', "").replace("The standard input", "The file")
        for m in _messages(bytes(stderr))
    ]
    _classify(result, messages, memory_limit_mb, cpu_seconds)
    return result


def _classify(result: TsharkResult, messages: list[str], memory_mb: int, cpu_s: int) -> None:
    said = " ".join(messages) or "no message"
    code = result.exit_code
    if code < 0:
        name = signal_name(-code)
        if name == "SIGXCPU":
            raise TsharkError(f"tshark exceeded its CPU limit of {cpu_s} s; the capture is too big")
        raise TsharkError(
            f"tshark died ({name}) after {result.packets} packets; with a memory limit of "
            f"{memory_mb} MB (PCAPTOTAL_TSHARK_MEMORY_LIMIT_MB) this is usually the capture "
            f"being too big: {said}"
        )
    if code == 0:
        return
    if result.packets == 0:
        raise TsharkError(f"tshark cannot read the capture: {said}")
    result.warnings.append(
        f"capture read only in part: tshark stopped after {result.packets} packets: {said}"
    )
