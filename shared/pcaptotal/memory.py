"""Give a finished capture's memory back to the operating system.

A capture's flows are hundreds of thousands of small dicts, lists and strings. Once they are
garbage, CPython returns them to its own arenas and glibc's malloc keeps the freed heap for
later, so the resident set of a long-lived worker only grows: the all-in-one runner sat at
1.39 GB after five 200 MB captures one after another, none of which needed it any more. After
each capture the worker collects cycles and asks glibc to release its free heap pages
(``malloc_trim``, where the C library has it; elsewhere this is only a collection).

CPython can only hand back a 1 MiB arena with no live object left in it, so a few objects that
outlive the capture, allocated while its flows filled the heap, keep hundreds of arenas that
are otherwise empty: the parser's memo of 65,536 community IDs, filled during the parse of a
200 MB capture, kept 309 MB resident after it instead of 175 MB (258 arenas instead of 126).
Caches whose entries are about one capture are made with ``capture_cache`` and emptied here,
before the collection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from functools import _lru_cache_wrapper

T = TypeVar("T")

_capture_caches: list[_lru_cache_wrapper[Any]] = []


def capture_cache(maxsize: int) -> Callable[[Callable[..., T]], _lru_cache_wrapper[T]]:
    """``functools.lru_cache`` whose entries are about the capture at hand: ``release_memory``
    empties it after each capture, so its entries never pin the arenas of a finished one."""

    def wrap(function: Callable[..., T]) -> _lru_cache_wrapper[T]:
        cached = lru_cache(maxsize=maxsize)(function)
        _capture_caches.append(cached)
        return cached

    return wrap


class SharedStrings:
    """One str object for each distinct value among the records given to ``share``.

    Decoding makes a new str for every value, and a capture's records repeat theirs (the same
    addresses, names, protocols): the 46,703 flows of the 200 MB bench capture hold 1.02
    million string values, 74 MB as decoded, of which 178,000 distinct values take 15 MB.
    Top-level values and the strings in top-level lists are shared; nested objects are left
    as they are."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def share(self, record: dict[str, Any]) -> None:
        seen = self._seen
        for key, value in record.items():
            kind = type(value)
            if kind is str:
                record[key] = seen.setdefault(value, value)
            elif kind is list:
                for i, item in enumerate(value):
                    if type(item) is str:
                        value[i] = seen.setdefault(item, item)

    def clear(self) -> None:
        self._seen = {}


def clear_capture_caches() -> None:
    for cached in _capture_caches:
        cached.cache_clear()


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only (not musl)
    except OSError:
        return None


_M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (True when set); an operator's own
    ``MALLOC_ARENA_MAX`` wins. Call it before threads start.

    glibc gives threads their own heaps (up to 8 per core): the decoding threads, the index
    writer and its merge threads each fill one, and a heap freed in pieces is seldom
    returned. ``bench/enrich.py`` (200 MB capture, three captures in one process): peak
    536/568/655 MB by default, 400/473/483 MB with 2 arenas, the same CPU time."""
    return _mallopt(_M_ARENA_MAX, arenas, unless="MALLOC_ARENA_MAX")


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve blocks of ``threshold`` bytes and more from their own mappings, returned to the
    system when freed (True when set); an operator's own ``MALLOC_MMAP_THRESHOLD_`` wins.

    glibc starts at 128 KiB but raises the threshold to the size of each mapped block freed
    (up to 32 MiB), after which tantivy's 1 MiB arena pages and the big lists of an index
    batch come from the heap and stay resident once freed. A fixed threshold stops that:
    ``bench/enrich.py`` on the 1 GB capture, anonymous peak 290 -> 228 MB (with 5,000-record
    index batches); CPU time the same at 200 MB, up to ~5 % more at 1 GB."""
    return _mallopt(_M_MMAP_THRESHOLD, threshold, unless="MALLOC_MMAP_THRESHOLD_")


def _mallopt(param: int, value: int, *, unless: str) -> bool:
    """glibc's ``mallopt`` (True when set), unless the operator set environment ``unless``."""
    if unless in os.environ:
        return False
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(param, value))


def tune_malloc() -> None:
    """What every service process does at start, before threads start: ``limit_malloc_arenas``
    and ``fix_mmap_threshold``."""
    limit_malloc_arenas()
    fix_mmap_threshold()


def release_memory() -> bool:
    """Empty the per-capture caches, collect garbage, then trim the C heap; True when the heap
    was trimmed. Blocking for tens of milliseconds on a large heap: call it from a worker
    thread."""
    clear_capture_caches()
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
