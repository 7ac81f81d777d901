"""Caches of the embedded index (``tantivy_index``), kept coherent by its writes.

The process that holds a tantivy index's writer is its only writer (tantivy's lock file), so
the adapter sees every change: each write calls ``changed`` once it is over on the writer
thread. Reads record ``generation`` before they start and keep their answer only if no write
finished meanwhile, so an answer computed from an older snapshot is never cached. Every method
runs on the event loop (never on the tantivy threads), so none needs a lock.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Parse = Callable[[bytes], dict[str, Any]]


class CaptureCache:
    """The ``_source`` of recently read capture documents (capture GETs are the most frequent
    request and each cost a tantivy read on the reader pool), and of recent listings
    (``/v1/stats`` lists every done capture).

    Coherent because this process is the only writer of the index (tantivy's writer lock):
    every write of a capture document goes through ``changed`` once committed. A read keeps
    its answer only if no capture write completed while it ran (``generation``), so a read
    that raced a write never caches the older document. All of it runs on the event loop,
    never on the tantivy threads, so no lock is needed. Entries are bytes, parsed per call:
    callers get a document of their own to modify.
    """

    MAX_ENTRIES = 10_000  # ~2.5 KB each
    # A cached "no such capture". Misses are kept like hits so that a missing id costs what
    # another owner's hidden one does (both answer 404): timing must not tell them apart.
    MISSING = b""
    MAX_LISTS = 8  # listings of up to 10,000 documents

    def __init__(self, parse: Parse) -> None:
        self.generation = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lists: OrderedDict[str, list[bytes]] = OrderedDict()  # find_captures answers
        self._parse = parse

    def get(self, capture_id: str) -> dict[str, Any] | None:
        raw = self._entries.get(capture_id)
        if not raw:  # not cached, or cached as missing (``known_missing``)
            return None
        self._entries.move_to_end(capture_id)
        return self._parse(raw)

    def known_missing(self, capture_id: str) -> bool:
        if self._entries.get(capture_id) != self.MISSING:
            return False
        self._entries.move_to_end(capture_id)
        return True

    def put(self, capture_id: str, raw: bytes, generation: int) -> None:
        if generation != self.generation:
            return
        self._entries[capture_id] = raw
        if len(self._entries) > self.MAX_ENTRIES:
            self._entries.popitem(last=False)

    def get_list(self, key: str) -> list[bytes] | None:
        """A listing (``find_captures``) since the last write of any capture document."""
        return self._lists.get(key)

    def put_list(self, key: str, raws: list[bytes], generation: int) -> None:
        if generation != self.generation:
            return
        self._lists[key] = raws
        if len(self._lists) > self.MAX_LISTS:
            self._lists.popitem(last=False)

    def changed(self, capture_id: str) -> None:
        self.generation += 1
        self._entries.pop(capture_id, None)
        self._lists.clear()  # any listing may hold it, or now miss it


class AggregationCache:
    """Backend answers of recent aggregations over the records, dropped on any record write.

    ``/v1/stats``, archives and similar captures repeat the same aggregations (the stats one
    over every record costs seconds at a million records); until the next write of records
    they have the same answer, as Elasticsearch's shard request cache has it until a refresh.
    """

    MAX_ENTRIES = 32  # answers of up to 10,000 buckets each

    def __init__(self) -> None:
        self.generation = 0
        self._entries: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()

    @staticmethod
    def key(
        query: str,
        body: Mapping[str, Any],
        capture_id: str | None,
        datasets: Sequence[str] | None,
        capture_ids: Sequence[str] | None,
    ) -> str:
        parts = [query, body, capture_id, datasets, capture_ids]
        return json.dumps(parts, sort_keys=True, default=list)

    def get(self, key: str) -> tuple[dict[str, Any], int] | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: str, answer: tuple[dict[str, Any], int], generation: int) -> None:
        if generation != self.generation:
            return
        self._entries[key] = answer
        if len(self._entries) > self.MAX_ENTRIES:
            self._entries.popitem(last=False)

    def changed(self) -> None:
        self.generation += 1
        self._entries.clear()
