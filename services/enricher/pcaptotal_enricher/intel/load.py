"""Format detection (by content; the extension is only a hint) and loading one feed.

A file that cannot be read at all (invalid JSON, no header, over a limit) yields no indicators
and sets ``FeedStats.error``; a bad line or item is counted in ``malformed`` and loading goes
on. Every read is bounded by ``FeedLimits`` (see limits.py). Error texts never hold a path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pcaptotal_enricher.intel.formats.abusech import (
    parse_feodo_csv,
    parse_feodo_json,
    parse_sslbl_certs,
    parse_sslbl_ja3,
    parse_urlhaus,
)
from pcaptotal_enricher.intel.formats.base import FeedContext, header_cells
from pcaptotal_enricher.intel.formats.misp import parse_misp_feed, parse_misp_json
from pcaptotal_enricher.intel.formats.plain import looks_like_hosts, parse_hosts, parse_plain
from pcaptotal_enricher.intel.formats.stix import parse_stix
from pcaptotal_enricher.intel.formats.threatfox import parse_threatfox_csv, parse_threatfox_json
from pcaptotal_enricher.intel.formats.zeek import parse_zeek
from pcaptotal_enricher.intel.limits import (
    DEFAULT_LIMITS,
    FeedLimits,
    bounded_lines,
    json_depth_exceeds,
    size_text,
)
from pcaptotal_enricher.intel.model import FeedStats, Indicator, IndicatorType

_TextParser = Callable[[Iterable[str], FeedContext], Iterator[Indicator]]
_JsonParser = Callable[[Any, FeedContext], Iterator[Indicator]]

TEXT_FORMATS: dict[str, _TextParser] = {
    "plain": parse_plain,
    "hosts": parse_hosts,
    "urlhaus-csv": parse_urlhaus,
    "feodo-csv": parse_feodo_csv,
    "threatfox-csv": parse_threatfox_csv,
    "sslbl-ja3-csv": parse_sslbl_ja3,
    "sslbl-cert-csv": parse_sslbl_certs,
    "zeek-intel": parse_zeek,
}
JSON_FORMATS: dict[str, _JsonParser] = {
    "stix": parse_stix,
    "misp-event": parse_misp_json,
    "feodo-json": parse_feodo_json,
    "threatfox-json": parse_threatfox_json,
}
MISP_FEED = "misp-feed"
_HEAD_BYTES = 64 * 1024
_STIX_TYPES = {"indicator", "bundle", "malware", "relationship", "identity"}


def _header_format(line: str) -> str | None:
    text = line.strip().lower()
    if text.startswith("#fields") and "indicator_type" in text:
        return "zeek-intel"
    cells = set(header_cells(text))
    if "ioc_value" in cells and "ioc_type" in cells:
        return "threatfox-csv"
    if "url" in cells and ("url_status" in cells or "urlhaus_link" in cells):
        return "urlhaus-csv"
    if "ja3_md5" in cells:
        return "sslbl-ja3-csv"
    if "sha1" in cells and "listingreason" in cells:
        return "sslbl-cert-csv"
    if "dst_ip" in cells or "dstip" in cells:
        return "feodo-csv"
    return None


def detect_text_format(head: str) -> str:
    lines = head.splitlines()[:200]
    for line in lines:
        found = _header_format(line)
        if found:
            return found
    return "hosts" if looks_like_hosts(lines) else "plain"


def detect_json_format(doc: Any) -> str | None:
    first = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(first, dict):
        return None
    if "Event" in first or "response" in first:
        return "misp-event"
    if first.get("type") in _STIX_TYPES or "objects" in first:
        return "stix"
    if "ip_address" in first:
        return "feodo-json"
    values = list(first.values())[:1]
    if values and isinstance(values[0], list) and values[0] and "ioc_value" in values[0][0]:
        return "threatfox-json"
    return None


def os_reason(exc: OSError) -> str:
    """An OSError without the file name (answers must not reveal server paths)."""
    return exc.strerror or type(exc).__name__


def detect_format(path: Path) -> str:
    """The format name of a feed file or directory ("unknown" if none fits)."""
    if path.is_dir():
        return MISP_FEED if (path / "manifest.json").is_file() else "unknown"
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES).decode("utf-8-sig", errors="replace").replace("\0", "")
    if head.lstrip()[:1] in ("{", "[") or path.suffix.lower() == ".json":
        return "json"  # refined once the document is decoded
    return detect_text_format(head)


def read_json(path: Path, limits: FeedLimits) -> tuple[Any, str | None]:
    """The decoded document, or None and why not. Size and nesting depth are checked before
    decoding (a deep document would exhaust the recursion limit)."""
    try:
        size = path.stat().st_size
        if size > limits.max_json_bytes:
            return None, (
                f"JSON feed of {size_text(size)} is over the {size_text(limits.max_json_bytes)} "
                "limit for JSON (decoded whole); use a CSV export or raise the limit"
            )
        with path.open("rb") as fh:
            if json_depth_exceeds(fh, limits.max_json_depth):
                return None, f"JSON nested deeper than {limits.max_json_depth} levels"
        return json.loads(path.read_bytes().decode("utf-8-sig")), None
    except OSError as exc:
        return None, f"cannot read: {os_reason(exc)}"
    except UnicodeDecodeError as exc:
        return None, f"invalid JSON: not UTF-8 (byte {exc.start})"
    except RecursionError:  # the depth check makes this unreachable; kept as a backstop
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:
        return None, f"invalid JSON: {str(exc)[:160]}"


def iter_feed(
    path: Path,
    stats: FeedStats,
    hash_kinds: tuple[IndicatorType, ...] | None = None,
    limits: FeedLimits = DEFAULT_LIMITS,
) -> Iterator[Indicator]:
    """Stream the indicators of one feed (file or MISP feed directory) into ``stats``.

    Streams text feeds line by line (bounded line length), so a large list never exists in
    memory as a whole.
    """
    feed = FeedContext(stats.name, stats, hash_kinds)
    try:
        fmt = detect_format(path)
    except OSError as exc:
        stats.error = f"cannot read: {os_reason(exc)}"
        return
    if fmt == MISP_FEED:
        stats.format = fmt
        yield from parse_misp_feed(path, feed, lambda p: read_json(p, limits))
        return
    if fmt == "json":
        stats.format = "json"
        doc, stats.error = read_json(path, limits)
        if stats.error:
            return
        json_format = detect_json_format(doc)
        if json_format is None:
            stats.error = "unrecognised JSON feed (not STIX, MISP, abuse.ch)"
            return
        stats.format = json_format
        yield from JSON_FORMATS[json_format](doc, feed)
        return
    if fmt not in TEXT_FORMATS:
        stats.format, stats.error = fmt, "a directory without manifest.json is not a MISP feed"
        return
    stats.format = fmt
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        yield from TEXT_FORMATS[fmt](bounded_lines(fh, limits.max_line_chars, stats), feed)


def read_feed(
    path: Path,
    name: str | None = None,
    hash_kinds: tuple[IndicatorType, ...] | None = None,
    limits: FeedLimits = DEFAULT_LIMITS,
) -> tuple[list[Indicator], FeedStats]:
    """All indicators of one feed and its load report (convenient for small feeds and tests)."""
    stats = FeedStats(name or path.name)
    return list(iter_feed(path, stats, hash_kinds, limits)), stats
