"""The box every child that reads capture bytes (tshark) runs in.

Wireshark's dissectors have a long CVE history and the parser feeds them hostile bytes, so the
child gets as little as the job needs. The box is a command prefix made of util-linux tools
(essential on Debian, so present on any machine that runs the parser), each of which sets one
thing and ``exec``\\ s the next, so the child keeps its pid and its exit status or signal:

- ``unshare --net --ipc``: a private network namespace (only a down ``lo``: no network at all)
  and private SysV IPC. Not root: ``--user`` as well (an unprivileged user namespace). Probed
  once; where the kernel refuses, the child runs without it and a warning is logged.
- ``setpriv``: when the service runs as root, the child runs as an unprivileged user
  (``nobody`` by default) with no supplementary groups, no capabilities (bounding and
  inheritable sets cleared) and ``no_new_privs`` (a set-uid binary cannot give any back);
  not root: ``no_new_privs`` only. ``--pdeathsig KILL``: it dies with the parser.
- ``prlimit``: address space, CPU seconds, no core dumps (instead of a ``preexec_fn``, which is
  unsafe in a process with threads).

The child reads its input from inherited file descriptors and writes only under a private
directory (``prepare``), which is its working directory and is owned by the sandbox user; all
paths it is given are relative to it. The rest of the parser's scratch space (mode 0700, root)
stays out of its reach: a path lookup from ``/`` fails at the first private directory.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

DEFAULT_USER = "nobody"
PROBE_TIMEOUT_S = 10.0


class SandboxError(Exception):
    """The box cannot be built (a tool is missing, the user does not exist)."""


@dataclass(frozen=True, slots=True)
class Limits:
    memory_mb: int
    cpu_seconds: int


def resolve_user(spec: str) -> tuple[int, int]:
    """``nobody``, ``nobody:nogroup``, ``65534`` or ``1234:1234`` → (uid, gid); the group
    defaults to the user's primary group (or the uid's number for an unknown numeric uid)."""
    user, _, group = spec.partition(":")
    try:
        if user.isdigit():
            uid = int(user)
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                gid = uid
        else:
            entry = pwd.getpwnam(user)
            uid, gid = entry.pw_uid, entry.pw_gid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise SandboxError(f"sandbox user {spec!r} does not exist") from None
    if uid == 0:
        raise SandboxError("the sandbox user must not be root")
    return uid, gid


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/bin:/bin:/usr/sbin")
    if path is None:
        raise SandboxError(f"{name} (util-linux) is missing: the service cannot sandbox tshark")
    return path


class Sandbox:
    """Builds the prefix that boxes a child; one per process is enough (see ``default``)."""

    def __init__(self, user: str = DEFAULT_USER, *, isolate_network: bool = True) -> None:
        self.user = user
        self.isolate_network = isolate_network
        self.is_root = os.geteuid() == 0
        self._ids: tuple[int, int] | None = None
        self._namespaces: list[str] | None = None

    @property
    def ids(self) -> tuple[int, int] | None:
        """(uid, gid) the child runs as, or ``None`` when it keeps ours (we are not root)."""
        if not self.is_root:
            return None
        if self._ids is None:
            self._ids = resolve_user(self.user)
        return self._ids

    def namespace_args(self) -> list[str]:
        args = ["--net", "--ipc"]
        return args if self.is_root else ["--user", *args]

    async def namespaces(self) -> list[str]:
        """The ``unshare`` prefix, or ``[]`` where the kernel does not allow it (probed once)."""
        if not self.isolate_network:
            return []
        if self._namespaces is None:  # two first captures at once both probe: harmless
            command = [_tool("unshare"), *self.namespace_args(), "--", _tool("true")]
            error = await _probe(command)
            if error is None:
                self._namespaces = command[:-1]
            else:
                log.warning(
                    "tshark runs WITHOUT a private network namespace: the kernel refused it",
                    command=" ".join(command),
                    error=error,
                )
                self._namespaces = []
        return self._namespaces

    async def prefix(self, limits: Limits) -> list[str]:
        """The command prefix; raises ``SandboxError`` when it cannot be built."""
        privileges = [_tool("setpriv")]
        ids = self.ids
        if ids is not None:
            uid, gid = ids
            privileges += [
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ]
        privileges += ["--no-new-privs", "--pdeathsig=KILL", "--"]
        memory = limits.memory_mb * 1024 * 1024
        rlimits = [
            _tool("prlimit"),
            f"--as={memory}",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}",
            "--core=0",
            "--",
        ]
        return [*await self.namespaces(), *privileges, *rlimits]

    def prepare(self, directory: Path) -> None:
        """Hand the private directory ``directory`` (and what is in it) to the sandbox user.
        Blocking (a few syscalls): call it in a thread."""
        ids = self.ids
        if ids is None:
            return
        uid, gid = ids
        for root, dirs, files in os.walk(directory):
            os.chown(root, uid, gid, follow_symlinks=False)
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


async def _probe(command: list[str]) -> str | None:
    """``None`` when ``command`` ran and exited 0, else what went wrong."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return str(exc)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            _, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"timed out after {PROBE_TIMEOUT_S:g} s"
    if proc.returncode == 0:
        return None
    return stderr.decode("utf-8", "replace").strip()[:500] or f"exit status {proc.returncode}"


_DEFAULT: dict[tuple[str, bool], Sandbox] = {}


def default(user: str = DEFAULT_USER, *, isolate_network: bool = True) -> Sandbox:
    """The process-wide box for ``user`` (its probe result is shared by every capture)."""
    key = (user, isolate_network)
    box = _DEFAULT.get(key)
    if box is None:
        box = _DEFAULT[key] = Sandbox(user, isolate_network=isolate_network)
    return box
