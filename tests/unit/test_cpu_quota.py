"""Usable CPUs from fake cgroup trees (v2, v1, nested groups) and the affinity mask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pcaptotal import cpu
from pcaptotal.cpu import cgroup_cpus, quota_v1, quota_v2, usable_cpus
from pcaptotal.settings import Settings


def tree(tmp_path: Path, files: dict[str, str], proc_cgroup: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_cgroup)
    return root, proc


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000", None),
        ("200000 100000", 2),
        ("150000 100000", 2),  # 1.5 CPUs: rounded up
        ("50000 100000", 1),  # half a CPU: still one worker
        ("1000 100000", 1),
        ("400000", 4),  # period omitted: the kernel's default 100 ms
        ("", None),
        ("garbage here", None),
        ("0 100000", None),
    ],
)
def test_quota_v2(text: str, cpus: int | None) -> None:
    assert quota_v2(text) == cpus


@pytest.mark.parametrize(
    ("quota", "period", "cpus"),
    [("-1", "100000", None), ("300000", "100000", 3), ("250000", "100000", 3), ("x", "1", None)],
)
def test_quota_v1(quota: str, period: str, cpus: int | None) -> None:
    assert quota_v1(quota, period) == cpus


def test_v2_container_namespace_root(tmp_path: Path) -> None:
    # inside a container the cgroup namespace root is the container's group: "0::/"
    root, proc = tree(tmp_path, {"cpu.max": "200000 100000"}, "0::/\n")
    assert cgroup_cpus(root, proc) == 2


def test_v2_nested_group_takes_the_tightest_ancestor(tmp_path: Path) -> None:
    root, proc = tree(
        tmp_path,
        {
            "cpu.max": "max 100000",
            "kubepods/cpu.max": "300000 100000",
            "kubepods/pod1/cpu.max": "max 100000",
            "kubepods/pod1/ctr/cpu.max": "max 100000",
        },
        "0::/kubepods/pod1/ctr\n",
    )
    assert cgroup_cpus(root, proc) == 3


def test_v2_without_limit(tmp_path: Path) -> None:
    root, proc = tree(tmp_path, {"cpu.max": "max 100000"}, "0::/\n")
    assert cgroup_cpus(root, proc) is None


def test_v1_cpu_controller(tmp_path: Path) -> None:
    root, proc = tree(
        tmp_path,
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "150000",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
            "cpu,cpuacct/cpu.cfs_quota_us": "-1",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
        },
        "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
    )
    assert cgroup_cpus(root, proc) == 2


def test_v1_quota_seen_from_inside_the_container(tmp_path: Path) -> None:
    # the host's path in /proc/self/cgroup does not exist in the container's mount: the mount
    # root holds the container's own files
    root, proc = tree(
        tmp_path,
        {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"},
        "3:cpu:/docker/0123abcd\n",
    )
    assert cgroup_cpus(root, proc) == 1


def test_no_cgroup_files(tmp_path: Path) -> None:
    root, proc = tree(tmp_path, {}, "")
    assert cgroup_cpus(root, proc) is None
    assert cgroup_cpus(tmp_path / "absent", tmp_path / "absent-too") is None


def test_usable_cpus_is_the_minimum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    root, proc = tree(tmp_path, {"cpu.max": "300000 100000"}, "0::/\n")
    assert usable_cpus(root, proc) == min(3, os.cpu_count() or 3)
    root2, proc2 = tree(tmp_path / "b", {"cpu.max": "max 100000"}, "0::/\n")
    assert usable_cpus(root2, proc2) == min(8, os.cpu_count() or 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})  # taskset -c 0
    assert usable_cpus(root, proc) == 1


def test_usable_cpus_on_this_machine() -> None:
    n = usable_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0))
    quota = cpu.cgroup_cpus()
    assert quota is None or n <= quota


def test_parser_workers_default_follows_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCAPTOTAL_PARSER_WORKERS", raising=False)
    assert Settings().parser_workers == usable_cpus()
    monkeypatch.setenv("PCAPTOTAL_PARSER_WORKERS", "5")
    assert Settings().parser_workers == 5
    monkeypatch.delenv("PCAPTOTAL_PARSER_WORKERS")
    assert Settings().parser_prefetch == 1
