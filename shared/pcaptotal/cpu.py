"""How many CPUs this process may really use: the cgroup CPU quota and the affinity mask.

``os.cpu_count()`` is the host's core count; in a container limited to 2 CPUs on a 64-core node
it would start 64 tshark processes (64 memory limits) to share 2 CPUs. The usable count is
the smallest of: the cgroup v2 quota (``cpu.max``: ``"200000 100000"`` = 2 CPUs, ``"max ..."`` =
none), the cgroup v1 quota (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, -1 = none), and the
CPUs the scheduler lets us run on (``sched_getaffinity``); a fractional quota rounds up, and the
answer is at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cpus(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def quota_v2(text: str | None) -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` (``None``: no limit or unreadable)."""
    if not text:
        return None
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100_000
    except ValueError:
        return None
    return _cpus(quota, period)


def quota_v1(quota_text: str | None, period_text: str | None) -> int | None:
    """CPUs allowed by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none)."""
    try:
        quota = int(quota_text or "")
        period = int(period_text or "")
    except ValueError:
        return None
    return _cpus(quota, period)


def _own_groups(proc_cgroup: str | None) -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in the v1 ``cpu`` controller."""
    v2 = v1 = None
    for line in (proc_cgroup or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _candidates(root: Path, group: str | None) -> list[Path]:
    """The directories to look in: our own group and its ancestors up to the mount point
    (inside a container the namespace root *is* our group), most specific first."""
    dirs = []
    if group and group != "/":
        path = root / group.lstrip("/")
        while path != root and root in path.parents:
            dirs.append(path)
            path = path.parent
    dirs.append(root)
    return [d for d in dirs if d.is_dir()]


def cgroup_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int | None:
    """The tightest CPU quota on this process's cgroups (v2 and v1), ``None`` when none."""
    v2_group, v1_group = _own_groups(_read(proc_cgroup))
    limits: list[int] = []
    for directory in _candidates(root, v2_group):
        limit = quota_v2(_read(directory / "cpu.max"))
        if limit is not None:
            limits.append(limit)
    for v1_root in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
        for directory in _candidates(v1_root, v1_group) if v1_root.is_dir() else ():
            limit = quota_v1(
                _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
            )
            if limit is not None:
                limits.append(limit)
    return min(limits) if limits else None


def affinity_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):  # not Linux
        return None


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """The CPUs this process can use: min(cgroup quota, affinity, cpu_count), at least 1."""
    counts = [c for c in (cgroup_cpus(root, proc_cgroup), affinity_cpus(), os.cpu_count()) if c]
    return max(1, min(counts)) if counts else 1
