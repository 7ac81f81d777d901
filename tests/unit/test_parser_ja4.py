"""JA4 against the worked example of FoxIO's JA4 specification (technical_details/JA4.md)."""

from __future__ import annotations

from pcaptotal_parser.ja4 import is_grease, ja4

# The spec's example ClientHello (original order), plus GREASE values that must be ignored.
CIPHERS = [0x0A0A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
           0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]  # fmt: skip
EXTENSIONS = [0x1A1A, 0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005,
              0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015, 0xDADA]  # fmt: skip
SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def test_spec_example() -> None:
    got = ja4("t", 0x0303, CIPHERS, EXTENSIONS, [0x7A7A, 0x0304, 0x0303], SIGS, "h2")
    assert got == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_spec_example_without_signature_algorithms() -> None:
    got = ja4("t", 0x0303, CIPHERS, EXTENSIONS, [0x0304, 0x0303], [], "h2")
    assert got.endswith("_6d807ffa2a79")


def test_no_sni_no_alpn_no_supported_versions_quic() -> None:
    exts = [e for e in EXTENSIONS if e not in (0x0000, 0x0010, 0x002B)]
    got = ja4("q", 0x0303, CIPHERS, exts, [], SIGS, None)
    assert got.startswith("q12i1513" + "00_8daaf6152771_")


def test_alpn_characters() -> None:
    assert ja4("t", 0x0303, [], [], [], [], "http/1.1")[:10] == "t12i0000h1"
    # a non-alphanumeric end: the first and last hex digit of the value instead
    assert ja4("t", 0x0303, [], [], [], [], "h2\u00ff")[8:10] == "6f"


def test_empty_lists_hash_to_zeros() -> None:
    assert ja4("t", 0x0301, [], [], [], [], None) == "t10i000000_000000000000_000000000000"


def test_grease() -> None:
    assert all(is_grease(v) for v in (0x0A0A, 0x1A1A, 0xFAFA))
    assert not any(is_grease(v) for v in (0x0A1A, 0x1301, 0x000A))
