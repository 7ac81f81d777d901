"""TLS and QUIC facts: hello parameters, JA3/JA3S (tshark's), JA4 (ours), certificates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from pcaptotal.memory import capture_cache

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.cipher_names import CIPHER_SUITES
from pcaptotal_parser.facts.types import Fact
from pcaptotal_parser.ja4 import ja4
from pcaptotal_parser.x509 import der_from_hex, parse_certificate

TLS_VERSIONS: dict[int, str] = {
    0x0300: "3.0",
    0x0301: "1.0",
    0x0302: "1.1",
    0x0303: "1.2",
    0x0304: "1.3",
}

_CLIENT_HELLO = "1"
_SERVER_HELLO = "2"
_CERTIFICATE = "11"


def tls_version_name(raw: str) -> str | None:
    """``0x0303`` → ``1.2``; TLS 1.3 drafts (0x7fNN) count as 1.3."""
    try:
        value = int(raw, 0)
    except ValueError:
        return None
    if value in TLS_VERSIONS:
        return TLS_VERSIONS[value]
    if value >> 8 == 0x7F:
        return "1.3"
    return f"0x{value:04x}"


def quic_version_name(raw: str) -> str:
    """``0x00000001`` → ``1``; drafts as ``draft-29``; anything else stays hex."""
    try:
        value = int(raw, 0)
    except ValueError:
        return raw
    if value == 1:
        return "1"
    if value == 0x6B3343CF:
        return "2"
    if value >> 8 == 0xFF0000:
        return f"draft-{value & 0xFF}"
    return f"0x{value:08x}"


def _ints(values: list[str]) -> list[int]:
    out = []
    for value in values:
        try:
            out.append(int(value, 0))
        except ValueError:
            continue
    return out


def tls_facts(row: Row) -> Iterator[Fact]:
    for sni in row.values("tls.handshake.extensions_server_name"):
        yield "tls.client.server_name", sni
    for ja3 in row.values("tls.handshake.ja3"):
        yield "tls.client.ja3", ja3
    for ja3s in row.values("tls.handshake.ja3s"):
        yield "tls.server.ja3s", ja3s
    for length in row.values("tls.heartbeat_message.payload_length"):
        if length.isdigit():  # readable only in cleartext heartbeats (Heartbleed probes are)
            yield "pcaptotal.tls.heartbeat.payload_length", int(length)
    types = row.values("tls.handshake.type")
    if not types:
        return
    # A packet holds one hello at most in practice; with several, the per-hello lists of
    # ciphers/extensions cannot be told apart, so no fingerprint is made from it.
    if types.count(_CLIENT_HELLO) == 1 and _SERVER_HELLO not in types:
        yield from _client_hello(row)
    if _SERVER_HELLO in types and _CLIENT_HELLO not in types:
        yield from _server_hello(row, types)
    if _CERTIFICATE in types:
        yield from certificate_facts(row)


def _client_hello(row: Row) -> Iterator[Fact]:
    alpns = row.values("tls.handshake.extensions_alpn_str")
    versions = _ints(row.values("tls.handshake.version"))
    transport = "q" if ":quic:" in row.raw("frame.protocols") else "t"
    yield (
        "tls.client.ja4",
        ja4(
            transport,
            versions[0] if versions else 0,
            _ints(row.values("tls.handshake.ciphersuite")),
            _ints(row.values("tls.handshake.extension.type")),
            _ints(row.values("tls.handshake.extensions.supported_version")),
            _ints(row.values("tls.handshake.sig_hash_alg")),
            alpns[0] if alpns else None,
        ),
    )
    for alpn in alpns:
        yield "tls.client.supported_protocols", alpn


def _server_hello(row: Row, types: list[str]) -> Iterator[Fact]:
    supported = row.values("tls.handshake.extensions.supported_version")
    version = None
    if supported:  # TLS 1.3: the ServerHello's supported_versions holds the real version
        version = tls_version_name(supported[0])
    else:
        hellos = [t for t in types if t in (_CLIENT_HELLO, _SERVER_HELLO)]
        for hello_type, raw in zip(hellos, row.values("tls.handshake.version"), strict=False):
            if hello_type == _SERVER_HELLO:
                version = tls_version_name(raw)
                break
    if version:
        yield "tls.version", version
    for suite in _ints(row.values("tls.handshake.ciphersuite")[:1]):
        yield "tls.cipher", CIPHER_SUITES.get(suite, f"0x{suite:04x}")
    for alpn in row.values("tls.handshake.extensions_alpn_str")[:1]:
        yield "tls.next_protocol", alpn


def certificate_facts(row: Row) -> Iterator[Fact]:
    """The sender's chain: the first certificate of a Certificate message is its own (leaf).

    A certificate too broken to read still has a fingerprint worth indexing.
    """
    return iter(_chain_facts(tuple(row.values("tls.handshake.certificate"))))


# a server sends the same chain on every connection: read each chain once per capture (parsing
# it was ~13 % of the parse's row handling on the flow-heavy bench capture)
@capture_cache(maxsize=256)
def _chain_facts(chain: tuple[str, ...]) -> tuple[Fact, ...]:
    return tuple(_read_chain(chain))


def _read_chain(chain: tuple[str, ...]) -> Iterator[Fact]:
    for position, text in enumerate(chain):
        der = der_from_hex(text)
        if der is None:
            continue
        sha1 = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
        yield "pcaptotal.tls.{side}.chain.hash.sha1", sha1
        if not position:
            yield "tls.{side}.hash.sha1", sha1
        cert = parse_certificate(der)
        if cert is None:
            continue
        yield "pcaptotal.tls.{side}.chain.subject", cert.subject_dn
        if position:
            continue
        yield "tls.{side}.x509.subject.distinguished_name", cert.subject_dn
        yield "tls.{side}.x509.issuer.distinguished_name", cert.issuer_dn
        if cert.subject_cn:
            yield "tls.{side}.x509.subject.common_name", cert.subject_cn
        if cert.not_before:
            yield "tls.{side}.x509.not_before", cert.not_before
        if cert.not_after:
            yield "tls.{side}.x509.not_after", cert.not_after
        if cert.serial:
            yield "tls.{side}.x509.serial_number", cert.serial
        for name in cert.alternative_names:
            yield "tls.{side}.x509.alternative_names", name
        yield "pcaptotal.tls.{side}.x509.self_signed", cert.self_signed
