"""Carved files are read from a directory the sandboxed tshark owned: links and FIFOs it may
have left there are never followed or read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pcaptotal_parser.carving import collect, hash_file


def test_collect_reads_only_regular_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("the parser's own file")
    http = tmp_path / "objects" / "http"
    http.mkdir(parents=True)
    (http / "index.html").write_text("<html></html>")
    (http / "link").symlink_to(secret)
    os.mkfifo(http / "fifo")  # opening it for reading would block forever
    files = collect(tmp_path / "objects")
    assert [(f.name, f.size) for f in files] == [("index.html", 13)]


def test_hash_file_refuses_a_link_swapped_in_after_the_listing(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("the parser's own file")
    link = tmp_path / "carved"
    link.symlink_to(secret)
    with pytest.raises(OSError):
        hash_file("http", link, "carved")
