"""Bounds on what loading one feed may cost, and the bounded readers that enforce them.

Text feeds are read line by line with a cap on the line length, so a one-line 80 MB file never
exists in memory as one string. JSON feeds are decoded whole (the formats need the whole
document), so their size is capped and their nesting depth is checked first, in 1 MiB chunks,
before ``json.loads`` sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pcaptotal.settings import Settings

    from pcaptotal_enricher.intel.model import FeedStats

MIB = 1024 * 1024
QUOTE_CHARS = 80  # bad input is quoted in error messages up to this many characters


@dataclass(frozen=True, slots=True)
class FeedLimits:
    max_feed_bytes: int = 256 * MIB
    # json.loads holds the GIL throughout: ~0.5 s for 16 MiB on a busy core, which bounds how
    # long a JSON feed can delay the event loop (and the memory: ~4x the file while decoded).
    max_json_bytes: int = 16 * MIB
    max_line_chars: int = 65536
    max_json_depth: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedLimits:
        return cls(
            max_feed_bytes=settings.intel_max_feed_mb * MIB,
            max_json_bytes=settings.intel_max_json_mb * MIB,
            max_line_chars=settings.intel_max_line_chars,
            max_json_depth=settings.intel_max_json_depth,
        )


DEFAULT_LIMITS = FeedLimits()


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of at most ``limit`` characters of untrusted input (with … if cut)."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def size_text(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def bounded_lines(fh: IO[str], max_chars: int, stats: FeedStats) -> Iterator[str]:
    """The lines of ``fh``; a line over ``max_chars`` or holding a NUL byte is reported as
    malformed and replaced by an empty line (so parsers keep their line numbers)."""
    number = 0
    while True:
        line = fh.readline(max_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > max_chars and not line.endswith("\n"):
            while (rest := fh.readline(MIB)) and not rest.endswith("\n"):
                pass  # drop the rest of the over-long line a chunk at a time
            stats.bad(number, f"line longer than {max_chars} characters")
            yield ""
        elif "\0" in line:
            stats.bad(number, "line holds a NUL byte")
            yield ""
        else:
            yield line


# A backslash escape (inside JSON strings only); the bytes that cannot change the depth.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_DROP = bytes(range(256)).translate(None, b'"[]{}')  # bytes.translate deletes these others
_STRINGS = re.compile(rb'"[^"]*"')
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth_exceeds(fh: IO[bytes], limit: int, chunk: int = MIB) -> bool:
    """Whether the JSON in ``fh`` nests arrays/objects deeper than ``limit``.

    A chunked scan with C-speed steps (regex, translate, accumulate): escapes dropped, then all
    but quotes and brackets, then string bodies; what is left are the structural brackets.
    Invalid JSON is not detected here (``json.loads`` does that afterwards)."""
    depth = 0
    in_string = False
    carry = b""
    while data := fh.read(chunk):
        reduced = carry + data
        if b"\\" in reduced:
            reduced = _ESCAPE.sub(b"", reduced)
        carry = b""
        if reduced.endswith(b"\\"):  # an escape split across chunks: pairs were consumed
            reduced, carry = reduced[:-1], b"\\"
        reduced = reduced.translate(None, _DROP)
        if in_string:
            end = reduced.find(b'"')
            if end < 0:
                continue
            reduced, in_string = reduced[end + 1 :], False
        reduced = _STRINGS.sub(b"", reduced)
        if b'"' in reduced:  # a string opened in this chunk and still open at its end
            reduced, in_string = reduced[: reduced.index(b'"')], True
        if not reduced:
            continue
        steps = list(accumulate(map(_DELTA.__getitem__, reduced), initial=depth))
        if max(steps) > limit:
            return True
        depth = steps[-1]
    return False
