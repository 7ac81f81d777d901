"""Recognise capture formats from their first bytes, and name what an upload is when it is not one.

Only the two formats tshark reads natively and the parser expects are accepted: classic pcap
(micro- and nanosecond, both byte orders) and pcapng. Everything else gets a 415 whose message
says what the bytes look like, so the person uploading knows what went wrong.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

from pcaptotal_ingest.errors import EmptyUpload, NotACapture, TruncatedCapture

GZIP_MAGIC = b"\x1f\x8b"
PCAP_HEADER_LEN = 24
PCAPNG_SHB_MIN_LEN = 28  # type, length, byte-order magic, version, section length, length
# Enough to recognise every capture header and to describe most non-captures.
SNIFF_LEN = 512

_PCAP_MAGICS: dict[bytes, tuple[Literal["big", "little"], Literal["us", "ns"]]] = {
    b"\xa1\xb2\xc3\xd4": ("big", "us"),
    b"\xd4\xc3\xb2\xa1": ("little", "us"),
    b"\xa1\xb2\x3c\x4d": ("big", "ns"),
    b"\x4d\x3c\xb2\xa1": ("little", "ns"),
}
_PCAPNG_SHB_TYPE = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BYTE_ORDER: dict[bytes, Literal["big", "little"]] = {
    b"\x1a\x2b\x3c\x4d": "big",
    b"\x4d\x3c\x2b\x1a": "little",
}

# "{" or "[" opening a JSON value; a bare "[" is just as likely an INI/TOML section header.
_JSON_START = re.compile(r'\{|\[\s*([\[{"\d\]-]|true|false|null)')

EXPECTED = "expected a pcap or pcapng capture (optionally gzip-compressed)"

# Formats people plausibly upload by mistake, longest prefixes first where they overlap.
_KNOWN_NON_CAPTURES: tuple[tuple[bytes, str], ...] = (
    (b"\xa1\xb2\xcd\x34", "a modified (Kuznetzov) pcap; convert it with `editcap -F pcap`"),
    (b"\x34\xcd\xb2\xa1", "a modified (Kuznetzov) pcap; convert it with `editcap -F pcap`"),
    (b"snoop\x00\x00\x00", "a Solaris snoop capture; convert it with `editcap -F pcap`"),
    (b"GMBU", "a Microsoft Network Monitor capture; convert it with `editcap -F pcapng`"),
    (b"XCP\x00", "a NetXRay/Sniffer capture; convert it with `editcap -F pcapng`"),
    (GZIP_MAGIC, "gzip data nested inside gzip"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
)


@dataclass(frozen=True, slots=True)
class CaptureFormat:
    kind: Literal["pcap", "pcapng"]
    byte_order: Literal["big", "little"]
    # The capture must be at least this long: the pcap file header or the whole first SHB.
    min_size: int


def identify(head: bytes, *, complete: bool) -> CaptureFormat | None:
    """Recognise the capture format from its first bytes.

    ``complete`` says ``head`` is the whole capture. Returns None while more bytes are needed;
    raises ``EmptyUpload``, ``NotACapture`` or ``TruncatedCapture`` when it cannot be one.
    """
    if not head:
        if complete:
            raise EmptyUpload("empty upload: the body holds no capture bytes")
        return None
    if len(head) < 4:
        if not complete:
            return None
        if _could_start_capture(head):
            raise TruncatedCapture(
                f"truncated capture: only {len(head)} bytes, shorter than any capture header"
            )
        raise NotACapture(f"{EXPECTED}; got {describe(head)}")
    magic = head[:4]
    if magic in _PCAP_MAGICS:
        return _pcap(head, complete)
    if magic == _PCAPNG_SHB_TYPE:
        return _pcapng(head, complete)
    raise NotACapture(f"{EXPECTED}; got {describe(head)}")


def _could_start_capture(head: bytes) -> bool:
    prefixes = [*_PCAP_MAGICS, _PCAPNG_SHB_TYPE]
    return any(p.startswith(head) for p in prefixes)


def _pcap(head: bytes, complete: bool) -> CaptureFormat | None:
    order, _resolution = _PCAP_MAGICS[head[:4]]
    if len(head) < PCAP_HEADER_LEN:
        if not complete:
            return None
        raise TruncatedCapture(
            f"truncated pcap: the file header needs {PCAP_HEADER_LEN} bytes, got {len(head)}"
        )
    # Version, snaplen and link type are the parser's to judge: ingest only checks framing.
    return CaptureFormat("pcap", order, PCAP_HEADER_LEN)


def _pcapng(head: bytes, complete: bool) -> CaptureFormat | None:
    if len(head) < 12:
        if not complete:
            return None
        raise TruncatedCapture(
            f"truncated pcapng: the section header block needs at least {PCAPNG_SHB_MIN_LEN} "
            f"bytes, got {len(head)}"
        )
    order = _PCAPNG_BYTE_ORDER.get(head[8:12])
    if order is None:
        raise NotACapture(
            f"{EXPECTED}; got a pcapng section header with an invalid byte-order magic "
            f"({head[8:12].hex(' ')})"
        )
    (block_len,) = struct.unpack(">I" if order == "big" else "<I", head[4:8])
    if block_len < PCAPNG_SHB_MIN_LEN or block_len % 4:
        raise NotACapture(
            f"{EXPECTED}; got a pcapng section header with an invalid length ({block_len})"
        )
    return CaptureFormat("pcapng", order, block_len)


def check_complete(fmt: CaptureFormat, size: int) -> None:
    """Called once the whole capture is known: it must hold at least its first header."""
    if size < fmt.min_size:
        what = "file header" if fmt.kind == "pcap" else "section header block"
        raise TruncatedCapture(
            f"truncated {fmt.kind}: the {what} needs {fmt.min_size} bytes, got {size}"
        )


def describe(head: bytes) -> str:
    """A short human description of what the bytes look like (for error messages)."""
    if not head:
        return "an empty body"
    for prefix, name in _KNOWN_NON_CAPTURES:
        if head.startswith(prefix):
            return name
    text = _as_text(head)
    if text is not None:
        stripped = text.lstrip()
        if stripped[:1] == "<":
            kind = "HTML/XML text"
        elif _JSON_START.match(stripped):
            kind = "JSON text"
        else:
            kind = "text"
        preview = " ".join(stripped.split())[:40]
        return f'{kind} ("{preview}")' if preview else "whitespace only"
    return f"unrecognised binary data starting {head[:8].hex(' ')}"


def _as_text(head: bytes) -> str | None:
    # The sniffed head may end inside a multi-byte character: allow up to 3 cut bytes.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
        return text if text and printable >= 0.95 * len(text) else None
    return None
