"""The pure parts of ingest: format sniffing, the streaming decoder, multipart framing."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib

import pytest
from pcaptotal_ingest import magic
from pcaptotal_ingest.decoder import CaptureDecoder
from pcaptotal_ingest.errors import (
    EmptyUpload,
    MalformedUpload,
    NotACapture,
    TruncatedCapture,
    UploadTooLarge,
)
from pcaptotal_ingest.framing import MultipartFraming, multipart_boundary
from pcaptotal_ingest.service import clean_filename

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
# A minimal little-endian SHB (28 bytes) followed by nothing else.
SHB = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)


def decode(chunks: list[bytes], limit: int = 1 << 30) -> tuple[CaptureDecoder, bytes]:
    out: list[bytes] = []
    decoder = CaptureDecoder(limit, out.append)
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.finish()
    return decoder, b"".join(out)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


CAPTURE = PCAP_HEADER + bytes(range(256)) * 40


@pytest.mark.parametrize(
    "chunks",
    [[CAPTURE], bytewise(CAPTURE), [gzip.compress(CAPTURE)], bytewise(gzip.compress(CAPTURE))],
    ids=["plain", "plain-bytewise", "gzip", "gzip-bytewise"],
)
def test_decoder_output_and_hash_do_not_depend_on_chunking(chunks: list[bytes]) -> None:
    decoder, out = decode(chunks)
    assert out == CAPTURE
    assert decoder.sha256 == hashlib.sha256(CAPTURE).hexdigest()
    assert decoder.size == len(CAPTURE)
    assert decoder.format == magic.CaptureFormat("pcap", "little", 24)


def test_concatenated_gzip_members_are_one_capture() -> None:
    half = len(CAPTURE) // 2
    _, out = decode([gzip.compress(CAPTURE[:half]) + gzip.compress(CAPTURE[half:])])
    assert out == CAPTURE


def test_limit_is_inclusive() -> None:
    decoder, _ = decode([CAPTURE], limit=len(CAPTURE))
    assert decoder.size == len(CAPTURE)
    with pytest.raises(UploadTooLarge):
        decode([CAPTURE], limit=len(CAPTURE) - 1)


def test_decompression_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(PCAP_HEADER + bytes(50 * 1024 * 1024))  # ~50 KB compressed
    out: list[bytes] = []
    decoder = CaptureDecoder(1 << 20, out.append)
    with pytest.raises(UploadTooLarge):
        decoder.feed(bomb)
    assert sum(map(len, out)) <= 1 << 20
    assert decoder.size <= (1 << 20) + 1  # inflated one byte past the limit, no more


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (gzip.compress(CAPTURE) + b"garbage!", MalformedUpload, "corrupt gzip"),
        (gzip.compress(CAPTURE)[:-12], MalformedUpload, "truncated gzip"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 40, MalformedUpload, "corrupt gzip"),
        (zlib.compress(CAPTURE), NotACapture, "binary data starting 78"),
        (gzip.compress(gzip.compress(CAPTURE)), NotACapture, "nested"),
        (b"", EmptyUpload, "empty"),
        (PCAP_HEADER[:23], TruncatedCapture, "needs 24 bytes, got 23"),
        (SHB[:11], TruncatedCapture, "pcapng"),
        (SHB[:27], TruncatedCapture, "needs 28 bytes, got 27"),
        (SHB[:8] + b"\x00\x00\x00\x00" + SHB[12:], NotACapture, "byte-order magic"),
        (SHB[:4] + struct.pack("<I", 13) + SHB[8:], NotACapture, "invalid length (13)"),
        (b"\xa1\xb2\xcd\x34" + bytes(40), NotACapture, "Kuznetzov"),
        (b"\x28\xb5\x2f\xfd" + bytes(40), NotACapture, "zstd"),
        (b"  \n\t ", NotACapture, "whitespace only"),
        ('{"caf\u00e9": 1}'.encode(), NotACapture, 'JSON text ("{"caf\u00e9": 1}")'),
        (b'[\n  {"a": 1}]', NotACapture, "JSON text"),
        (b"[section]\nkey = 1\n", NotACapture, 'got text ("[section] key = 1")'),
    ],
)
def test_refusals(data: bytes, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        decode(bytewise(data) if len(data) < 100 else [data])
    assert fragment in str(info.value)


def test_pcapng_with_its_whole_shb_is_accepted() -> None:
    decoder, out = decode([SHB])
    assert out == SHB
    assert decoder.format == magic.CaptureFormat("pcapng", "little", 28)


@pytest.mark.parametrize("magic_bytes", ["a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1"])
def test_all_pcap_magics(magic_bytes: str) -> None:
    fmt = magic.identify(bytes.fromhex(magic_bytes) + bytes(20), complete=True)
    assert fmt is not None and fmt.kind == "pcap"


def test_non_capture_is_refused_without_reading_everything() -> None:
    decoder = CaptureDecoder(1 << 30, lambda _: None)
    with pytest.raises(NotACapture):
        decoder.feed(b"x" * magic.SNIFF_LEN)


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    body = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--XyZ\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return body + b"--XyZ--\r\n"


def test_multipart_framing_extracts_the_file_part_from_any_chunking() -> None:
    data = CAPTURE + b"\r\n--Xy almost a boundary\r\n--X"
    body = _form(("note", None, b"hi"), ("file", "caf\u00e9.pcap", data), ("x", None, b"y"))
    framing = MultipartFraming(b"XyZ")
    out = b"".join(framing.feed(b) for b in bytewise(body))
    framing.finish()
    assert out == data
    assert framing.filename == "caf\u00e9.pcap"


def test_multipart_framing_refuses_two_files() -> None:
    framing = MultipartFraming(b"XyZ")
    with pytest.raises(MalformedUpload, match="more than one"):
        framing.feed(_form(("file", "a", b"1"), ("file", "b", b"2")))


def test_multipart_boundary() -> None:
    assert multipart_boundary('multipart/form-data; boundary="a b"') == b"a b"
    assert multipart_boundary("application/octet-stream") is None
    assert multipart_boundary("") is None
    with pytest.raises(MalformedUpload):
        multipart_boundary("multipart/form-data")


@pytest.mark.parametrize(
    ("name", "decompressed", "expected"),
    [
        (None, False, None),
        ("C:\\fakepath\\a.pcap", False, "a.pcap"),
        ("../../etc/x.pcap", False, "x.pcap"),
        ("a\x00b\nc.pcap", False, "abc.pcap"),
        ("a.pcap.gz", True, "a.pcap"),
        ("a.pcap.gz", False, "a.pcap.gz"),
        (".gz", True, ".gz"),
        ("   ", False, None),
        ("x" * 300, False, "x" * 255),
    ],
)
def test_clean_filename(name: str | None, decompressed: bool, expected: str | None) -> None:
    assert clean_filename(name, decompressed=decompressed) == expected
