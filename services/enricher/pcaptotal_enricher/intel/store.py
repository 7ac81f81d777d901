"""The feed directory: load every feed into one IndicatorSet, reload when files change, and
take uploads / deletions from the admin API.

Every reload rebuilds the whole set in a worker thread (the event loop never parses) and
swaps it in with one attribute assignment; matching keeps using the previous set until then.
Memory briefly holds two sets during a rebuild. Change detection polls the names, sizes and
mtimes of the directory's entries (a stat per file; for a MISP feed directory, per file in
it), and waits ``settle_s`` for a file that is still being copied to stop changing.
Entries whose names start with ``.`` are ignored (uploads are staged under such names).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from pcaptotal_enricher.enrich import Enrichment
from pcaptotal_enricher.intel.enrichment import intel_enrichment
from pcaptotal_enricher.intel.indicator_set import IndicatorSet, build_indicator_set
from pcaptotal_enricher.intel.load import iter_feed
from pcaptotal_enricher.intel.model import FeedStats

log = structlog.get_logger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
Signature = dict[str, tuple[int, int]]


class InvalidFeedName(ValueError):
    pass


class FeedExists(FileExistsError):
    pass


class FeedRejected(ValueError):
    """An uploaded file that no loader can read; it is not stored."""

    def __init__(self, stats: FeedStats) -> None:
        super().__init__(stats.error or "no indicators")
        self.stats = stats


def check_name(name: str) -> str:
    """A feed name is a plain file name: no separators, no leading dot, no ``..``."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidFeedName(
            f"invalid feed name {name[:140]!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A loaded feed: its report plus where and when it was read."""

    stats: FeedStats
    path: Path
    size: int
    modified: datetime
    loaded_at: datetime


def _scan(directory: Path) -> Signature:
    signature: Signature = {}
    if not directory.is_dir():
        return signature
    for entry in os.scandir(directory):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if inner.is_file() and not inner.name.startswith("."):
                    st = inner.stat()
                    signature[f"{entry.name}/{inner.name}"] = (st.st_mtime_ns, st.st_size)
        elif entry.is_file():
            st = entry.stat()
            signature[entry.name] = (st.st_mtime_ns, st.st_size)
    return signature


def _entries(signature: Signature) -> dict[str, tuple[int, int]]:
    """Top-level feed name → (newest mtime_ns, total size)."""
    feeds: dict[str, tuple[int, int]] = {}
    for key, (mtime, size) in signature.items():
        name = key.split("/", 1)[0]
        old_mtime, old_size = feeds.get(name, (0, 0))
        feeds[name] = (max(old_mtime, mtime), old_size + size)
    return feeds


class FeedStore:
    """Threat-intel feeds kept in ``directory`` (the ``PCAPTOTAL_INTEL_DIR`` setting)."""

    def __init__(self, directory: Path, *, poll_interval_s: float = 5.0, settle_s: float = 0.5):
        self.directory = directory
        self.poll_interval_s = poll_interval_s
        self.settle_s = settle_s
        self._current = IndicatorSet()
        self._entries: dict[str, FeedEntry] = {}
        self._signature: Signature | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.loaded_at: datetime | None = None

    # -- reading ----------------------------------------------------------------------------

    def indicators(self) -> IndicatorSet:
        """The set to match against now (replaced, never mutated, by reloads)."""
        return self._current

    def enrichment(self) -> Enrichment:
        return intel_enrichment(self.indicators)

    def feeds(self) -> list[FeedEntry]:
        return sorted(self._entries.values(), key=lambda e: e.stats.name)

    def feed(self, name: str) -> FeedEntry | None:
        return self._entries.get(name)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load what is there now, then watch the directory."""
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        await self.reload(force=True)
        self._task = asyncio.create_task(self._watch(), name="intel-feed-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.reload()
            except Exception:  # a bad reload must not end the watch; the old set stays
                log.exception("intel feed reload failed", directory=str(self.directory))

    async def reload(self, *, force: bool = False) -> bool:
        """Rebuild the set if the directory changed (or ``force``); True if rebuilt."""
        async with self._lock:
            signature = await asyncio.to_thread(_scan, self.directory)
            if not force:
                if signature == self._signature:
                    return False
                await asyncio.sleep(self.settle_s)
                settled = await asyncio.to_thread(_scan, self.directory)
                if settled != signature:
                    return False  # still being written; the next poll looks again
            await self._rebuild(signature)
            return True

    async def _rebuild(self, signature: Signature) -> None:
        feeds = _entries(signature)
        paths = [(name, self.directory / name) for name in sorted(feeds)]
        started = datetime.now(UTC)
        indicators = await asyncio.to_thread(build_indicator_set, paths)
        loaded_at = datetime.now(UTC)
        entries = {
            name: FeedEntry(
                stats=indicators.feeds[name],
                path=self.directory / name,
                size=size,
                modified=datetime.fromtimestamp(mtime / 1e9, UTC),
                loaded_at=loaded_at,
            )
            for name, (mtime, size) in feeds.items()
        }
        self._current, self._entries, self._signature = indicators, entries, signature
        self.loaded_at = loaded_at
        log.info(
            "intel feeds loaded",
            feeds=len(entries),
            indicators=len(indicators),
            seconds=round((loaded_at - started).total_seconds(), 2),
        )

    # -- admin ------------------------------------------------------------------------------

    def staging_path(self, name: str) -> Path:
        """Where an upload is written before it is checked (hidden: the watcher skips it)."""
        check_name(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f".upload-{os.getpid()}-{id(self)}-{name}"

    async def add(self, name: str, staged: Path, *, replace: bool = False) -> FeedEntry:
        """Check a staged upload parses, move it into place and reload. The staged file is
        gone afterwards either way."""
        try:
            check_name(name)
            target = self.directory / name
            if target.exists() and not replace:
                raise FeedExists(f"feed {name!r} exists; pass replace=true to overwrite it")
            stats = await asyncio.to_thread(_check_feed, staged, name)
            if stats.error or (stats.indicators == 0 and stats.malformed):
                raise FeedRejected(stats)
            if target.is_dir():
                await asyncio.to_thread(shutil.rmtree, target)
            await asyncio.to_thread(os.replace, staged, target)
        finally:
            await asyncio.to_thread(staged.unlink, missing_ok=True)
        await self.reload(force=True)
        entry = self._entries.get(name)
        if entry is None:  # deleted by someone else between the move and the reload
            raise FileNotFoundError(name)
        return entry

    async def remove(self, name: str) -> bool:
        check_name(name)
        target = self.directory / name
        if not target.exists():
            return False
        if target.is_dir():
            await asyncio.to_thread(shutil.rmtree, target)
        else:
            await asyncio.to_thread(target.unlink)
        await self.reload(force=True)
        return True


def _check_feed(path: Path, name: str) -> FeedStats:
    stats = FeedStats(name)
    for _ in iter_feed(path, stats):
        pass
    return stats
