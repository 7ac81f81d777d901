"""The mover of tshark's exported objects, on real directories with real inotify events."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pcaptotal_parser.object_mover import ObjectMover


def _write(directory: Path, name: str, content: str) -> None:
    """As tshark does: the first free copy of ``name`` in ``directory``, written and closed."""
    stem, dot, ext = name.rpartition(".")
    slot, n = name, 0
    while (directory / slot).exists():
        n += 1
        slot = f"{stem}({n}).{ext}" if dot else f"{name}({n})"
    (directory / slot).write_text(content)


def _until(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    source, target = tmp_path / "box", tmp_path / "objects"
    (source / "http").mkdir(parents=True)
    return source, target


def test_files_leave_as_written_under_tsharks_own_names(dirs: tuple[Path, Path]) -> None:
    source, target = dirs
    mover = ObjectMover(source, target, ["http"])
    mover.start()
    for i in range(50):
        _write(source / "http", "gate.php", f"task {i}")
    _until(lambda: not any((source / "http").iterdir()))  # taken while "tshark" runs
    mover.stop(keep=True)
    got = {p.name: p.read_text() for p in (target / "http").iterdir()}
    assert got == {("gate.php" if i == 0 else f"gate({i}).php"): f"task {i}" for i in range(50)}


def test_files_left_behind_are_moved_in_tsharks_order(dirs: tuple[Path, Path]) -> None:
    source, target = dirs
    for i in range(12):  # written before the watch: no event, as after lost events
        _write(source / "http", "a.js", f"v{i}")
    mover = ObjectMover(source, target, ["http"])
    mover.start()
    mover.stop(keep=True)
    got = {p.name: p.read_text() for p in (target / "http").iterdir()}
    assert got == {("a.js" if i == 0 else f"a({i}).js"): f"v{i}" for i in range(12)}


def test_an_unfinished_pass_keeps_nothing(dirs: tuple[Path, Path]) -> None:
    source, target = dirs
    mover = ObjectMover(source, target, ["http"])
    mover.start()
    _write(source / "http", "x.bin", "partial")
    _until(lambda: (target / "http" / "x.bin").exists())
    mover.stop(keep=False)
    assert not (target / "http").exists()


def test_links_and_directories_stay_in_the_box(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    source, target = dirs
    secret = tmp_path / "secret"
    secret.write_text("not tshark's")
    mover = ObjectMover(source, target, ["http"])
    mover.start()
    os.symlink(secret, source / "http" / "index.html")
    (source / "http" / "dir").mkdir()
    _write(source / "http", "real.txt", "ok")
    _until(lambda: (target / "http" / "real.txt").exists())
    mover.stop(keep=True)
    assert sorted(p.name for p in (target / "http").iterdir()) == ["real.txt"]
    assert secret.read_text() == "not tshark's"


def test_an_earlier_attempts_files_are_dropped_first(dirs: tuple[Path, Path]) -> None:
    source, target = dirs
    (target / "http").mkdir(parents=True)
    (target / "http" / "old.txt").write_text("from a split that fell back")
    mover = ObjectMover(source, target, ["http"])
    mover.start()
    mover.stop(keep=True)
    assert list((target / "http").iterdir()) == []
