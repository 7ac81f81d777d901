"""Scratch files a crash leaves are removed on start; nothing else in the directory is."""

from __future__ import annotations

from pathlib import Path

from pcaptotal.tmpfiles import clean_stale_tmp


def test_crash_leftovers_removed_others_kept(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    (tmp / "parse-abc123" / "objects-x").mkdir(parents=True)
    (tmp / "parse-abc123" / "capture").write_bytes(b"x" * 100)
    (tmp / "records-q1").mkdir()
    (tmp / "upload-zz.part").write_bytes(b"partial upload")
    (tmp / "keep-me.txt").write_text("not ours")
    assert clean_stale_tmp(tmp) == 3
    assert sorted(p.name for p in tmp.iterdir()) == ["keep-me.txt"]
    assert clean_stale_tmp(tmp) == 0


def test_missing_directory_is_created(tmp_path: Path) -> None:
    assert clean_stale_tmp(tmp_path / "new" / "tmp") == 0
    assert (tmp_path / "new" / "tmp").is_dir()
