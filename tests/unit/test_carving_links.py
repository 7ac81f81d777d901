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


def test_collect_never_follows_a_protocol_directory_swapped_for_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.key").write_text("the parser's own file")
    objects = tmp_path / "objects"
    objects.mkdir()
    (objects / "http").symlink_to(elsewhere)
    (objects / "imf").mkdir()
    (objects / "imf" / "a.eml").write_text("Subject: a\r\n\r\nbody")
    (objects / "imf" / "b.eml").write_text("Subject: a\r\n\r\nbody")  # same content: one type
    files = collect(objects)
    assert [(f.protocol, f.name) for f in files] == [("imf", "a.eml"), ("imf", "b.eml")]
    assert files[0].mime_type == files[1].mime_type != "application/octet-stream"
