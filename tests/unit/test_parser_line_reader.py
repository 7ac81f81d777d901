"""tshark stdout → batches of lines, whatever the chunk boundaries."""

from __future__ import annotations

import random

import pytest
from pcaptotal_parser import tshark
from pcaptotal_parser.tshark import _LineReader


def test_lines_survive_any_chunking() -> None:
    lines = [f"row {i} " + "é" * (i % 7) for i in range(500)]
    data = ("\n".join(lines) + "\n").encode()
    rnd = random.Random(1)
    for _ in range(20):
        got: list[str] = []
        reader = _LineReader(got.extend)
        pos = 0
        while pos < len(data):
            step = rnd.randint(1, 200)
            reader.feed(data[pos : pos + step])
            pos += step
        reader.close()
        assert got == lines and reader.rows == 500


def test_last_line_without_newline() -> None:
    got: list[str] = []
    reader = _LineReader(got.extend)
    reader.feed(b"a\nb")
    reader.close()
    assert got == ["a", "b"]


def test_oversized_line_is_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tshark, "LINE_LIMIT", 10)
    got: list[str] = []
    reader = _LineReader(got.extend)
    reader.feed(b"ok\n" + b"x" * 8)
    reader.feed(b"y" * 8)
    reader.feed(b"zzz\nnext\n")
    reader.close()
    assert got == ["ok", "next"] and reader.oversized == 1
