"""Taking tshark's exported objects out of its directory as it writes them.

tshark writes the objects when its pass ends, probing ``name``, ``name(1)``, ... for a free
name (``export_names``): k objects of one name cost k²/2 ``access()`` calls, which made the
export of the 200 MB flow-heavy bench capture (11,789 files, names repeated up to 1,000 times)
take 13-15 s instead of ~4, and a bot beaconing 3,000 times to ``/gate.php`` pays the same. A
thread watches tshark's directories (inotify) and renames each file, once tshark has closed it,
into the parser's directory under the name tshark alone would have given it, so tshark finds
its directory nearly empty and the files kept are the same.

tshark runs as the sandbox user and its directories are that user's: both sides of each rename
are directories opened before tshark starts (``O_NOFOLLOW``), and only the names the kernel
reports, single path components, are renamed, so a directory swapped for a link leads nowhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

from inotify_simple import INotify, flags

from pcaptotal_parser.carving import copy_order
from pcaptotal_parser.export_names import ExportNames

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
POLL_MS = 100  # how often the thread looks at its stop flag when nothing happens


class _Directory:
    """One protocol: tshark's directory, ours, and the names given so far."""

    def __init__(self, source: Path, target: Path) -> None:
        if target.exists():  # left by an earlier attempt (a split that fell back)
            shutil.rmtree(target)
        target.mkdir(parents=True)
        self.source = os.open(source, _DIR_FLAGS)
        try:
            self.target = os.open(target, _DIR_FLAGS)
        except OSError:
            os.close(self.source)
            raise
        self.target_path = target
        self.names = ExportNames()

    def take(self, written: str, closed: bool) -> None:
        """Move ``written``: a file tshark ``closed`` (what inotify reports), or a name found
        in the directory, moved only if it is a regular file."""
        with contextlib.suppress(OSError):  # gone, or not ours to move: it stays in the box
            if not closed:
                info = os.stat(written, dir_fd=self.source, follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    return
            # (a closed name swapped for a link meanwhile moves as a link: ``collect`` reads
            # regular files only, without following links)
            slot = self.names.place(written)
            os.rename(written, slot, src_dir_fd=self.source, dst_dir_fd=self.target)

    def close(self) -> None:
        os.close(self.source)
        os.close(self.target)


class ObjectMover:
    """Moves the files tshark writes under ``source/<protocol>`` to ``target/<protocol>``.

    ``start`` before tshark starts, ``stop`` once it has exited (both blocking: a thread)."""

    def __init__(self, source: Path, target: Path, protocols: Iterable[str]) -> None:
        self._source = source
        self._target = target
        self._protocols = list(protocols)
        self._dirs: dict[int, _Directory] = {}
        self._inotify: INotify | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.overflowed = False  # the kernel dropped events: the rest is moved at the end

    def start(self) -> None:
        inotify = INotify()
        try:
            for protocol in self._protocols:
                directory = _Directory(self._source / protocol, self._target / protocol)
                try:
                    wd = inotify.add_watch(
                        f"/proc/self/fd/{directory.source}",
                        flags.CLOSE_WRITE | flags.ONLYDIR,
                    )
                except OSError:
                    directory.close()
                    raise
                self._dirs[wd] = directory
        except BaseException:
            self._close(inotify)
            raise
        self._inotify = inotify
        self._thread = threading.Thread(target=self._run, name="object-mover", daemon=True)
        self._thread.start()

    def _drain(self, inotify: INotify, timeout_ms: int | None) -> bool:
        events = inotify.read(timeout=timeout_ms)
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                self.overflowed = True
                continue
            directory = self._dirs.get(event.wd)
            if directory is not None and event.name:
                directory.take(event.name, closed=True)
        return bool(events)

    def _run(self) -> None:
        inotify = self._inotify
        assert inotify is not None
        while not self._stopping.is_set():
            self._drain(inotify, POLL_MS)

    def stop(self, keep: bool) -> None:
        """After tshark exited: move what is left (``keep``) or drop what was moved."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        inotify = self._inotify
        try:
            if keep and inotify is not None:
                while self._drain(inotify, 0):  # tshark closed its files before it exited
                    pass
                for directory in self._dirs.values():
                    # only after lost events: in the order tshark writes a name's copies
                    with os.scandir(directory.source) as entries:
                        left = sorted((e.name for e in entries), key=copy_order)
                    for name in left:
                        directory.take(name, closed=False)
        finally:
            if not keep:
                for directory in self._dirs.values():
                    shutil.rmtree(directory.target_path, ignore_errors=True)
            if inotify is not None:
                self._close(inotify)

    def _close(self, inotify: INotify) -> None:
        for directory in self._dirs.values():
            directory.close()
        self._dirs.clear()
        inotify.close()
        self._inotify = None
