"""Per-capture memory: the heuristics' caches are emptied after a capture, and the memory
hand-back runs (and trims glibc's heap where there is one)."""

from __future__ import annotations

import ctypes.util
import os
import platform
import subprocess
import sys

import pytest
from pcaptotal.memory import (
    capture_cache,
    fix_mmap_threshold,
    limit_malloc_arenas,
    release_memory,
)
from pcaptotal_enricher.heuristics import dns, names, util
from pcaptotal_enricher.verdict import analyse_capture
from pcaptotal_parser.community_id import community_id


def _flow(i: int) -> dict[str, object]:
    return {
        "event.id": f"c-tcp-{i}",
        "source.ip": f"10.0.{i // 250}.{i % 250 + 1}",
        "destination.ip": f"93.184.{i // 250}.{i % 250 + 1}",
        "destination.port": 443,
        "network.transport": "tcp",
        "event.start": f"2024-01-01T00:00:{i % 60:02d}Z",
    }


def test_analyse_capture_leaves_no_cached_addresses_behind() -> None:
    analysis = analyse_capture([_flow(i) for i in range(300)])
    assert (
        analysis.flow_verdicts["clean"]
        + analysis.flow_verdicts["suspicious"]
        + (analysis.flow_verdicts["malicious"])
        == 300
    )
    assert util.parse_ip.cache_info().currsize == 0
    assert util.is_multicast_or_broadcast.cache_info().currsize == 0


def test_caches_hold_a_whole_capture_of_addresses() -> None:
    # every heuristic walks the flows in the same order: a cache smaller than the capture's
    # distinct addresses would miss on every call
    for i in range(100_000):
        util.parse_ip(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert util.parse_ip.cache_info().currsize == 100_000
    util.clear_caches()
    assert util.parse_ip.cache_info().currsize == 0


def test_release_memory_trims_glibc_heap() -> None:
    trimmed = release_memory()
    glibc = platform.libc_ver()[0] == "glibc" and ctypes.util.find_library("c") is not None
    assert isinstance(trimmed, bool)
    if not glibc:
        assert trimmed is False


def test_release_memory_empties_per_capture_caches() -> None:
    calls: list[int] = []

    @capture_cache(maxsize=16)
    def double(n: int) -> int:
        calls.append(n)
        return 2 * n

    assert double(3) == double(3) == 6
    assert calls == [3]  # memoised within a capture
    release_memory()
    assert double.cache_info().currsize == 0
    assert double(3) == 6
    assert calls == [3, 3]


def test_community_id_cache_is_emptied_after_a_capture() -> None:
    # kept across captures, its entries pinned the freed arenas of the capture that made them
    community_id(6, "10.0.0.1", "10.0.0.2", 1234, 80)
    assert community_id.cache_info().currsize > 0
    release_memory()
    assert community_id.cache_info().currsize == 0


def test_name_memos_are_emptied_after_a_capture() -> None:
    # the enricher's name heuristics memoise the capture's names; kept, they pin its memory
    analyse_capture([{**_flow(1), "dns.question.name": ["x1.example.duckdns.org"]}])
    memos = (names.normalise, names.registered_domain, dns._dynamic)
    assert all(m.cache_info().currsize > 0 for m in memos)
    release_memory()
    assert [m.cache_info().currsize for m in memos] == [0, 0, 0]


_ARENAS = """
import ctypes, ctypes.util, sys, threading
from pcaptotal.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas(2)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
ready, go = threading.Barrier(5), threading.Event()
def work():
    libc.malloc(100_000)  # a thread's first malloc picks (or makes) its arena
    ready.wait()
    go.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
ready.wait()  # four threads alive at once, each with its arena
libc.malloc_stats()  # to stderr, an "Arena N:" block per arena
go.set()
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's arenas")
@pytest.mark.parametrize(("mode", "most"), [("limit", 2), ("default", 99)])
def test_limit_malloc_arenas_caps_the_threads_heaps(mode: str, most: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _ARENAS, mode], env=env, capture_output=True, text=True, check=True
    )
    arenas = out.stderr.count("Arena ")
    assert 1 <= arenas <= most
    if mode == "default":
        assert arenas > 2  # without the cap each of the threads got its own


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


_BIG_BLOCKS = """
import ctypes, ctypes.util, sys
from pcaptotal.memory import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024
MB = 1 << 20
libc.free(libc.malloc(4 * MB))  # a mapped block freed: glibc raises its threshold past it
before = anon_mb()
blocks, pins = [], []
for _ in range(200):  # 1 MiB blocks (tantivy's arena pages), each followed by a small one
    block = libc.malloc(MB)
    libc.memset(block, 1, MB)
    blocks.append(block)
    pins.append(libc.malloc(4096))  # keeps the heap from shrinking past the freed blocks
for block in blocks:
    libc.free(block)
print(anon_mb() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mmap threshold")
@pytest.mark.parametrize(("mode", "kept_mb"), [("fixed", (0, 20)), ("default", (180, 250))])
def test_fixed_mmap_threshold_returns_freed_big_blocks(mode: str, kept_mb: tuple[int, int]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _BIG_BLOCKS, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    low, high = kept_mb
    assert low <= int(out.stdout) <= high  # default: the 200 MiB freed stays resident


def test_an_operators_mmap_threshold_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert fix_mmap_threshold() is False
