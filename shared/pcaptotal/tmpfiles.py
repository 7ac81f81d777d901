"""Scratch files a crash leaves behind in ``<data_dir>/tmp``, removed when a process starts.

Only names this code base creates are touched (``parse-*`` work dirs, ``records-*`` dirs,
``download-*`` and ``boxed-*`` dirs of the read API,
``upload-*.part`` spools): each process has its own data dir, so none of them can belong to a
live sibling.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

STALE_PATTERNS = ("parse-*", "records-*", "upload-*.part", "download-*", "boxed-*")


def clean_stale_tmp(tmp_dir: Path) -> int:
    """Create ``tmp_dir`` if needed and remove what an earlier run left there; returns how
    many entries went."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    removed = 0
    for pattern in STALE_PATTERNS:
        for path in tmp_dir.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed scratch files of an earlier run", count=removed, dir=str(tmp_dir))
    return removed
