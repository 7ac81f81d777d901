"""The feed directory: each feed loaded into its own IndicatorSet, all of them merged into the
one set matching reads; reloads when files change; uploads / deletions from the admin API.

Reloads are incremental: a feed is re-parsed only when its fingerprint (inode, mtime, size of
its file, or of each file of a MISP feed directory) changed; the merged set is then rebuilt
from the per-feed sets (no parsing) and swapped in with one attribute assignment. Parsing and
merging run in worker threads, never on the event loop. A feed that cannot be loaded gets a
per-feed error in its report and contributes nothing; it never stops the other feeds, the
watcher or startup. A file still being written (its fingerprint changes over ``settle_s``) is
left for the next poll.

Uploads are spooled to a unique hidden file (``.upload-*``; the watcher skips dot names), parsed
once, then renamed into place under a per-name lock, so concurrent uploads of one name are
serialised and never share a file.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import structlog
from pcaptotal.settings import Settings

from pcaptotal_enricher.enrich import Enrichment
from pcaptotal_enricher.intel.enrichment import intel_enrichment
from pcaptotal_enricher.intel.indicator_set import IndicatorSet, load_feed
from pcaptotal_enricher.intel.limits import DEFAULT_LIMITS, FeedLimits
from pcaptotal_enricher.intel.model import FeedStats

log = structlog.get_logger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_STAGING_PREFIX = ".upload-"
# Per file of a feed: (path inside the feed, inode, mtime_ns, size).
Fingerprint = tuple[tuple[str, int, int, int], ...]


class InvalidFeedName(ValueError):
    pass


class FeedExists(FileExistsError):
    pass


class FeedRejected(ValueError):
    """An uploaded file that is not a loadable feed; it is not stored."""

    def __init__(self, stats: FeedStats) -> None:
        super().__init__(stats.error or "no indicators")
        self.stats = stats


def check_name(name: str) -> str:
    """A feed name is a plain file name: no separators, no leading dot, no ``..``."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidFeedName(
            f"invalid feed name {name[:80]!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A feed's report plus where it is and when it was (last) parsed."""

    stats: FeedStats
    path: Path
    size: int
    modified: datetime
    loaded_at: datetime


@dataclass(frozen=True, slots=True)
class _Loaded:
    fingerprint: Fingerprint
    entry: FeedEntry
    indicators: IndicatorSet  # empty when the feed has an error


def _fingerprint(path: Path) -> Fingerprint:
    """What identifies this version of a feed. Raises OSError if it cannot be read."""
    if path.is_dir():
        parts = []
        for inner in sorted(os.scandir(path), key=lambda e: e.name):
            if not inner.name.startswith(".") and inner.is_file():
                st = inner.stat()
                parts.append((inner.name, st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(parts)
    st = path.stat()
    return (("", st.st_ino, st.st_mtime_ns, st.st_size),)


def _scan(directory: Path) -> dict[str, Fingerprint | str]:
    """Feed name → fingerprint, or → why the entry is not a feed file."""
    found: dict[str, Fingerprint | str] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not (entry.is_file() or entry.is_dir()):
                broken = entry.is_symlink()
                found[entry.name] = "a broken symbolic link" if broken else "not a regular file"
                continue
            found[entry.name] = _fingerprint(Path(entry.path))
        except OSError as exc:  # unreadable, or a dangling symlink
            found[entry.name] = f"cannot read: {exc.strerror or type(exc).__name__}"
    return found


def _load(name: str, path: Path, fingerprint: Fingerprint, limits: FeedLimits) -> _Loaded:
    indicators, stats = load_feed(path, name, limits)
    return _Loaded(fingerprint, _entry(stats, path, fingerprint), indicators)


def _entry(stats: FeedStats, path: Path, fingerprint: Fingerprint) -> FeedEntry:
    mtime = max((m for _, _, m, _ in fingerprint), default=0)
    return FeedEntry(
        stats=stats,
        path=path,
        size=sum(size for *_, size in fingerprint),
        modified=datetime.fromtimestamp(mtime / 1e9, UTC),
        loaded_at=datetime.now(UTC),
    )


def _unreadable(name: str, path: Path, reason: str) -> _Loaded:
    stats = FeedStats(name, error=reason)
    return _Loaded((), _entry(stats, path, ()), IndicatorSet())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _place(staged: Path, target: Path) -> Fingerprint:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(staged, target)  # atomic: readers see the old file or the new one
    return _fingerprint(target)


class FeedStore:
    """Threat-intel feeds kept in ``directory`` (the ``PCAPTOTAL_INTEL_DIR`` setting)."""

    def __init__(
        self,
        directory: Path,
        *,
        poll_interval_s: float = 5.0,
        settle_s: float = 0.5,
        limits: FeedLimits = DEFAULT_LIMITS,
    ):
        self.directory = directory
        self.poll_interval_s = poll_interval_s
        self.settle_s = settle_s
        self.limits = limits
        self._current = IndicatorSet()
        self._loaded: dict[str, _Loaded] = {}
        self._lock = asyncio.Lock()  # guards _loaded and the swap of the merged set
        # Uploads of different names parse at once; bound how many (each may hold a decoded
        # JSON document) so concurrent uploads cannot add up memory without limit.
        self._parse_slots = asyncio.Semaphore(2)
        self._name_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._task: asyncio.Task[None] | None = None
        self.loaded_at: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            settings.resolved_intel_dir,
            poll_interval_s=settings.intel_poll_interval_s,
            limits=FeedLimits.from_settings(settings),
        )

    # -- reading ----------------------------------------------------------------------------

    def indicators(self) -> IndicatorSet:
        """The set to match against now (replaced, never mutated, by reloads)."""
        return self._current

    def enrichment(self) -> Enrichment:
        return intel_enrichment(self.indicators)

    def feeds(self) -> list[FeedEntry]:
        return [self._loaded[name].entry for name in sorted(self._loaded)]

    def feed(self, name: str) -> FeedEntry | None:
        loaded = self._loaded.get(name)
        return None if loaded is None else loaded.entry

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load what is there now, then watch the directory. Bad feeds are reported per feed;
        only an unusable directory itself fails the start."""
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(self._remove_stale_uploads)
        try:
            await self.reload(force=True)
        except OSError:  # an unreadable directory: serve without feeds, the watcher retries
            log.exception("intel feed directory unreadable")
        self._task = asyncio.create_task(self._watch(), name="intel-feed-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _remove_stale_uploads(self) -> None:
        """Staging files a crash left behind (no upload is running before start)."""
        for path in self.directory.glob(f"{_STAGING_PREFIX}*"):
            path.unlink(missing_ok=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.reload()
            except Exception:  # e.g. the directory vanished; the old set stays, retry later
                log.exception("intel feed reload failed")

    async def reload(self, *, force: bool = False) -> bool:
        """Re-parse the feeds whose files changed and drop the removed ones; True if the set
        changed. Without ``force``, a changed file must keep still for ``settle_s`` first."""
        async with self._lock:
            scanned = await asyncio.to_thread(_scan, self.directory)
            changed = {
                name: found
                for name, found in scanned.items()
                if name not in self._loaded or self._loaded[name].fingerprint != found
            }
            removed = [name for name in self._loaded if name not in scanned]
            if changed and not force and self.settle_s > 0:
                await asyncio.sleep(self.settle_s)
                settled = await asyncio.to_thread(_scan, self.directory)
                changed = {n: f for n, f in changed.items() if settled.get(n) == f}
            if not changed and not removed:
                return False
            feeds = {n: f for n, f in self._loaded.items() if n not in removed}
            for name in sorted(changed):
                found, path = changed[name], self.directory / name
                if isinstance(found, str):
                    feeds[name] = _unreadable(name, path, found)
                    continue
                feeds[name] = await asyncio.to_thread(_load, name, path, found, self.limits)
                _log_loaded(feeds[name].entry.stats)
            await self._publish(feeds)
            return True

    async def _publish(self, feeds: dict[str, _Loaded]) -> None:
        """Merge the per-feed sets, then swap the result and the reports in together (the
        caller holds ``_lock``), so the listing and matching always agree."""
        parts = [feeds[name].indicators for name in sorted(feeds)]
        merged = await asyncio.to_thread(IndicatorSet.merge, parts)
        self._current, self._loaded = merged, feeds
        self.loaded_at = datetime.now(UTC)
        log.info("intel feeds loaded", feeds=len(parts), indicators=len(self._current))

    # -- admin ------------------------------------------------------------------------------

    def _name_lock(self, name: str) -> asyncio.Lock:
        lock = self._name_locks.get(name)
        if lock is None:
            lock = self._name_locks[name] = asyncio.Lock()
        return lock

    def exists(self, name: str) -> bool:
        return name in self._loaded or (self.directory / name).exists()

    async def staging_file(self) -> Path:
        """A new, unique, empty file to spool one upload into (hidden from the watcher)."""

        def create() -> Path:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=_STAGING_PREFIX, dir=self.directory)
            os.close(fd)
            return Path(name)

        return await asyncio.to_thread(create)

    async def add(self, name: str, staged: Path, *, replace: bool = False) -> FeedEntry:
        """Parse a staged upload; if it is a loadable feed, rename it into place and publish it.
        Raises FeedExists / FeedRejected. The staged file is gone afterwards either way."""
        check_name(name)
        target = self.directory / name
        try:
            async with self._name_lock(name):
                if not replace and await asyncio.to_thread(self.exists, name):
                    raise FeedExists(f"feed {name!r} exists; pass replace=true to overwrite it")
                fingerprint = await asyncio.to_thread(_fingerprint, staged)
                async with self._parse_slots:
                    loaded = await asyncio.to_thread(_load, name, staged, fingerprint, self.limits)
                if loaded.entry.stats.error:
                    raise FeedRejected(loaded.entry.stats)
                async with self._lock:
                    if not replace and await asyncio.to_thread(target.exists):
                        raise FeedExists(f"feed {name!r} exists; pass replace=true to overwrite")
                    # Renaming keeps inode and mtime: the watcher sees this very fingerprint.
                    fingerprint = await asyncio.to_thread(_place, staged, target)
                    entry = _entry(loaded.entry.stats, target, fingerprint)
                    feeds = {**self._loaded, name: _Loaded(fingerprint, entry, loaded.indicators)}
                    await self._publish(feeds)
                    _log_loaded(entry.stats)
                    return entry
        finally:
            await asyncio.to_thread(staged.unlink, missing_ok=True)

    async def remove(self, name: str) -> bool:
        check_name(name)
        target = self.directory / name
        async with self._name_lock(name), self._lock:
            if not await asyncio.to_thread(os.path.lexists, target):
                return False
            await asyncio.to_thread(_remove, target)
            if name in self._loaded:
                await self._publish({n: f for n, f in self._loaded.items() if n != name})
            return True


def _log_loaded(stats: FeedStats) -> None:
    if stats.error:
        log.warning("intel feed not loaded", feed=stats.name, error=stats.error)
    else:
        log.info("intel feed parsed", feed=stats.name, indicators=stats.indicators)
