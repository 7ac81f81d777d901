"""JA4 TLS client fingerprints (FoxIO's published algorithm; tshark 4.0 has none).

``t13d1516h2_8daaf6152771_e5627efa2ab1``: transport (t TCP, q QUIC, d DTLS), highest offered
version, d/i for SNI present or not, cipher and extension counts, first and last character of
the first ALPN value; then sha256[:12] of the sorted cipher list; then sha256[:12] of the sorted
extension list (without SNI and ALPN) ``_`` the signature algorithms in offered order.
GREASE values (0x?a?a) are ignored everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}  # fmt: skip
_SNI = 0x0000
_ALPN = 0x0010
_SUPPORTED_VERSIONS = 0x002B
_EMPTY_HASH = "000000000000"


def is_grease(value: int) -> bool:
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _alpn_chars(alpn: str | None) -> str:
    if not alpn:
        return "00"
    first, last = alpn[0], alpn[-1]
    if first.isascii() and first.isalnum() and last.isascii() and last.isalnum():
        return first + last
    # non-alphanumeric ends: the first and last hex digits of the value, as the spec says
    hexed = alpn.encode("utf-8", "replace").hex()
    return hexed[0] + hexed[-1]


def ja4(
    transport: str,
    hello_version: int,
    ciphers: Sequence[int],
    extensions: Sequence[int],
    supported_versions: Sequence[int],
    signature_algorithms: Sequence[int],
    first_alpn: str | None,
) -> str:
    """The JA4 of one ClientHello; ``transport`` is ``t``, ``q`` or ``d``."""
    ciphers = [c for c in ciphers if not is_grease(c)]
    extensions = [e for e in extensions if not is_grease(e)]
    offered = [v for v in supported_versions if not is_grease(v)]
    version = max(offered) if offered and _SUPPORTED_VERSIONS in extensions else hello_version
    sni = "d" if _SNI in extensions else "i"
    part_a = (
        f"{transport}{_VERSIONS.get(version, '00')}{sni}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{_alpn_chars(first_alpn)}"
    )
    part_b = _hash(",".join(f"{c:04x}" for c in sorted(ciphers))) if ciphers else _EMPTY_HASH
    rest = sorted(e for e in extensions if e not in (_SNI, _ALPN))
    text = ",".join(f"{e:04x}" for e in rest)
    sigs = [s for s in signature_algorithms if not is_grease(s)]
    if sigs:
        text += "_" + ",".join(f"{s:04x}" for s in sigs)
    part_c = _hash(text) if rest else _EMPTY_HASH
    return f"{part_a}_{part_b}_{part_c}"
