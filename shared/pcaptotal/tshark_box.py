"""One sandboxed tshark (or editcap) run over a stored capture, for the read API.

The parser streams tshark's field output through ``pcaptotal_parser.tshark``; the read API only
needs short runs: cut one flow's packets into a pcap, dissect one packet as JSON. Those run in
the same box (``pcaptotal.sandbox``: unprivileged, no network, rlimits), with the same private
empty configuration, a wall-clock timeout and a bound on what they may write.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pcaptotal.sandbox import Limits, SandboxError, default
from pcaptotal.settings import Settings

CONFIG = "config"
OUTPUT = "out"
STDERR_LIMIT = 16 * 1024


class BoxedError(Exception):
    """The run failed; ``reason`` says why in words (no paths of ours)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BoxedTooLarge(BoxedError):
    pass


@dataclass(slots=True)
class BoxedResult:
    stdout: bytes
    exit_code: int
    stderr: str
    output: Path | None  # the file the run wrote (``output=True``), the caller removes it


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": CONFIG,
        "WIRESHARK_CONFIG_DIR": CONFIG,
        "XDG_CONFIG_HOME": CONFIG,
        "TMPDIR": CONFIG,
        "LC_ALL": "C.UTF-8",
    }


def _make_box(work_dir: Path, user: str) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    box = Path(tempfile.mkdtemp(prefix="boxed-", dir=work_dir))
    (box / CONFIG).mkdir()
    default(user).prepare(box)
    return box


def _unbox(box: Path, keep: Path | None) -> None:
    try:
        if keep is not None and (box / OUTPUT).exists():
            os.rename(box / OUTPUT, keep)
    finally:
        shutil.rmtree(box, ignore_errors=True)


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> bytes:
    buf = bytearray()
    while chunk := await stream.read(65536):
        buf += chunk
        if len(buf) > limit:
            raise BoxedTooLarge(f"the output exceeds {limit} bytes")
    return bytes(buf)


async def run_boxed(
    program: str,
    args: Sequence[str],
    capture: Path,
    settings: Settings,
    *,
    timeout_s: float,
    stdout_limit: int = 16 * 1024 * 1024,
    output: Path | None = None,
    output_limit: int | None = None,
) -> BoxedResult:
    """Run ``program`` (``tshark``, ``editcap``) with ``args`` in the sandbox, the capture
    open on its stdin. In ``args``, the name ``pcaptotal.tshark_box.OUTPUT`` is a file it may
    write; with ``output`` that file is moved there afterwards. ``output_limit`` bounds it (a
    file-size rlimit would be cleaner; prlimit's ``--fsize`` is not used because tshark's
    temp files count against it too). Raises ``BoxedError`` on a timeout or a bad exit."""
    path = shutil.which(program)
    if path is None:
        raise FileNotFoundError(program)
    try:
        box_ = default(settings.tshark_sandbox_user)
        prefix = await box_.prefix(
            Limits(settings.tshark_memory_limit_mb, math.ceil(timeout_s) + 5)
        )
        box = await asyncio.to_thread(_make_box, settings.tmp_dir, settings.tshark_sandbox_user)
    except (SandboxError, OSError) as exc:
        raise BoxedError(f"the service cannot sandbox {program}: {exc}") from None
    keep = False
    try:
        fd = await asyncio.to_thread(os.open, capture, os.O_RDONLY | os.O_CLOEXEC)
        try:
            proc = await asyncio.create_subprocess_exec(
                *prefix,
                path,
                *args,
                stdin=fd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_env(),
                cwd=box,
            )
        finally:
            os.close(fd)
        assert proc.stdout is not None and proc.stderr is not None
        out_task = asyncio.create_task(_read_bounded(proc.stdout, stdout_limit))
        err_task = asyncio.create_task(_read_bounded(proc.stderr, 1 << 30))
        try:
            async with asyncio.timeout(timeout_s):
                stdout = await out_task
                stderr = (await err_task)[-STDERR_LIMIT:]
                code = await proc.wait()
        except TimeoutError:
            raise BoxedError(f"{program} took longer than {timeout_s:g} s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for task in (out_task, err_task):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        said = " ".join(
            line.strip().removeprefix("tshark: ")
            for line in stderr.decode("utf-8", "replace").splitlines()
            if line.strip() and not line.startswith("Running as user")
        )
        if code != 0:
            raise BoxedError(f"{program} failed (exit status {code}): {said or 'no message'}")
        if output is not None and output_limit is not None:
            size = await asyncio.to_thread(_size, box / OUTPUT)
            if size > output_limit:
                raise BoxedTooLarge(f"the output exceeds {output_limit} bytes")
        keep = output is not None
        return BoxedResult(stdout, code, said, output if keep else None)
    finally:
        await asyncio.to_thread(_unbox, box, output if keep else None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
