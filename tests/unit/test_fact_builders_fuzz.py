"""Hostile certificates and DNS names through the parser's fact builders (hypothesis).

Whatever a capture carries, a packet gives facts, skips the facts it cannot read (a certificate
too broken to parse keeps only its fingerprint) or counts as a malformed row (a warning of the
capture): never an exception that would fail the whole capture.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pcaptotal_enricher.heuristics.names import normalise, registered_domain
from pcaptotal_parser.columns import AGGREGATOR, FIELDS, SEPARATOR, Row
from pcaptotal_parser.facts import packet_facts
from pcaptotal_parser.facts.dns import dns_facts
from pcaptotal_parser.facts.tls import certificate_facts
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.x509 import CertInfo, parse_certificate, parse_certificate_hex

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_BY_KEY = {name.replace(".", "_"): name for name in FIELDS}


def line(**values: str | list[str]) -> str:
    cols = [""] * len(FIELDS)
    for key, value in values.items():
        cols[FIELDS.index(_BY_KEY[key])] = (
            value if isinstance(value, str) else AGGREGATOR.join(value)
        )
    return SEPARATOR.join(cols)


def tls_certificate_lines(cert_texts: list[str]) -> list[str]:
    """The client's SYN (so the sender of the certificates is the server), then the
    Certificate message."""
    syn = line(
        frame_time_epoch="0.5",
        frame_len="60",
        frame_protocols="eth:ethertype:ip:tcp",
        ip_src="198.51.100.7",
        ip_dst="192.0.2.1",
        ip_proto="6",
        tcp_stream="0",
        tcp_srcport="50000",
        tcp_dstport="443",
        tcp_flags="0x0002",
    )
    certificate = line(
        frame_time_epoch="1.0",
        frame_len="1500",
        frame_protocols="eth:ethertype:ip:tcp:tls:x509af",
        ip_src="192.0.2.1",
        ip_dst="198.51.100.7",
        ip_proto="6",
        tcp_stream="0",
        tcp_srcport="443",
        tcp_dstport="50000",
        tcp_flags="0x0018",
        tls_handshake_type="11",
        tls_handshake_certificate=cert_texts,
    )
    return [syn, certificate]


def dns_line(names: list[str], stream: str = "0") -> str:
    return line(
        frame_time_epoch="2.0",
        frame_len="120",
        frame_protocols="eth:ethertype:ip:udp:dns",
        ip_src="192.0.2.1",
        ip_dst="198.51.100.53",
        ip_proto="17",
        udp_stream=stream,
        udp_srcport="53000",
        udp_dstport="53",
        dns_id="0x1234",
        dns_flags_response="0",
        dns_qry_name=names,
        dns_qry_type=["1"] * len(names),
        dns_qry_class=["0x0001"] * len(names),
    )


def through_capture(*lines: str) -> tuple[FlowBuilder, list[dict[str, Any]]]:
    """The capture's path for rows: the flow builder, then the flow documents (as JSON)."""
    builder = FlowBuilder("c" * 64)
    builder.add_lines(list(lines))
    docs = list(builder.flows())
    json.dumps(docs)  # documents stay serialisable, whatever the names held
    builder.summary()
    return builder, docs


@functools.cache
def real_certificate() -> bytes:
    """A well-formed leaf certificate like a server's: names, SANs, validity, extensions."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exämple, Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.org"),
        ]
    )
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x00F1E2D3C4B5A69788)
        .not_valid_before(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2051, 1, 1, tzinfo=dt.UTC))  # GeneralizedTime
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("www.example.org"),
                    x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                    x509.DNSName("*.example.org"),
                    x509.RFC822Name("ops@example.org"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def test_real_certificate_fields() -> None:
    der = real_certificate()
    info = parse_certificate(der)
    assert info is not None and info.not_before and info.not_after
    # RFC 3339 in UTC (the spelling of the offset is the documents' business)
    assert dt.datetime.fromisoformat(info.not_before) == dt.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC
    )
    assert dt.datetime.fromisoformat(info.not_after) == dt.datetime(2051, 1, 1, tzinfo=dt.UTC)
    assert info == CertInfo(
        subject_dn="C=DE, O=Exämple\\, Inc., CN=www.example.org",
        issuer_dn="CN=Example CA",
        subject_cn="www.example.org",
        not_before=info.not_before,
        not_after=info.not_after,
        serial="F1E2D3C4B5A69788",
        alternative_names=("www.example.org", "192.0.2.7", "*.example.org"),
        self_signed=False,
        issuer_cn="Example CA",
        subject_o="Exämple, Inc.",
        issuer_o=None,
        sha1=hashlib.sha1(der).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
    )
    _, (doc,) = through_capture(*tls_certificate_lines([der.hex()]))
    assert doc["tls.server.x509.subject.common_name"] == ["www.example.org"]
    assert doc["tls.server.hash.sha1"] == [info.sha1]


def _check_certificate(der: bytes) -> None:
    """Parsing never raises; a packet carrying it gives its fingerprint, and x509 facts only
    when the certificate could be read."""
    info = parse_certificate(der)
    assert info is None or isinstance(info, CertInfo)
    facts = list(certificate_facts(Row.from_mapping({"tls.handshake.certificate": der.hex()})))
    if not der:  # an empty column: nothing to fingerprint
        assert info is None and facts == []
        return
    names = {name for name, _ in facts}
    sha1 = hashlib.sha1(der).hexdigest().upper()
    assert ("tls.{side}.hash.sha1", sha1) in facts
    if info is None:  # skipped, not guessed
        assert names == {"tls.{side}.hash.sha1", "pcaptotal.tls.{side}.chain.hash.sha1"}
    else:
        assert "tls.{side}.x509.subject.distinguished_name" in names
    builder, docs = through_capture(*tls_certificate_lines([der.hex(), der.hex()[:-2]]))
    assert builder.malformed_rows == 0
    assert [d["tls.server.hash.sha1"] for d in docs] == [[sha1]]


@FUZZ
@given(st.binary(max_size=4096))
@example(b"")
@example(b"\x30")
@example(b"\x30\x84\xff\xff\xff\xff")  # a length far past the end
@example(b"\x30\x80" + b"\x00" * 8)  # BER indefinite length
@example(b"\x30\x82\xff")
def test_random_bytes_as_certificate(data: bytes) -> None:
    _check_certificate(data)


@FUZZ
@given(st.integers(min_value=0, max_value=10_000))
def test_truncated_certificate(cut: int) -> None:
    der = real_certificate()
    _check_certificate(der[: cut % len(der)])


@FUZZ
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=8))
def test_bit_flipped_certificate(positions: list[int]) -> None:
    data = bytearray(real_certificate())
    for position in positions:
        bit = position % (len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    _check_certificate(bytes(data))


@FUZZ
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0))
def test_spliced_certificate(junk: bytes, where: int) -> None:
    der = real_certificate()
    at = where % len(der)
    _check_certificate(der[:at] + junk + der[at:])


@FUZZ
@given(st.text(max_size=300))
@example("zz")
@example("30:82:ff")
@example("3")  # odd number of hex digits
@example("\x00\x00")
def test_certificate_column_that_is_not_hex(text: str) -> None:
    assert parse_certificate_hex(text) is None or isinstance(parse_certificate_hex(text), CertInfo)
    clean = text.replace(SEPARATOR, "").replace(AGGREGATOR, "")
    list(certificate_facts(Row.from_mapping({"tls.handshake.certificate": clean})))
    through_capture(*tls_certificate_lines([clean]))


HOSTILE_NAMES = [
    "",
    ".",
    "..",
    "a..b.example.com",
    ".leading.example.com",
    "trailing.example.com.",
    "x" * 1_000_000,  # far past the 253 characters DNS allows
    ".".join(["a"] * 1000),  # 1000 labels
    ".".join(["l" * 63] * 200),
    "nul\x00byte.example.com",
    "\x00",
    "tab\there.example.com",
    "\\000\\.\\\\escaped.example.com",  # tshark's escapes for binary label bytes
    "\ufffd\ufffd.example.com",  # what non-UTF-8 bytes become in tshark's output
    "\udcff\udc80.example.com",  # lone surrogates (surrogateescape-decoded bytes)
    "xn--ls8h.example.com",
    "ǅ.İ.ß.example.com",
    "<script>.example.com",
    "a" * 64 + ".com",
    "%s%n%x.example.com",
    "co.uk",
    "1.2.3.4",
    "[::1]:53",
]


def _check_dns_names(names: list[str]) -> None:
    facts = dns_facts(Row.from_mapping({"dns.qry.name": names, "dns.flags.response": "0"}))
    expected = names if AGGREGATOR.join(names) else []  # one empty name: an empty column
    assert [dict(v)["name"] for n, v in facts if n == "dns.question"] == expected  # type: ignore[arg-type]
    assert packet_facts(Row.from_mapping({"dns.qry.name": names})) is not None
    builder, docs = through_capture(dns_line(names))
    assert builder.malformed_rows == 0 and len(docs) == 1
    # the enricher reads the same names back: its helpers never raise either
    for name in names:
        normal = normalise(name)
        if normal is not None:
            assert registered_domain(normal)
        registered_domain(name)


def test_hostile_dns_names() -> None:
    for name in HOSTILE_NAMES:
        _check_dns_names([name])
    _check_dns_names(HOSTILE_NAMES[1:])


@FUZZ
@given(st.lists(st.text(max_size=400), min_size=1, max_size=20))
def test_random_dns_names(names: list[str]) -> None:
    names = [n.replace(SEPARATOR, "").replace(AGGREGATOR, "") for n in names]
    names = [n for n in names if n] or ["x"]
    _check_dns_names(names)


@FUZZ
@given(st.text(min_size=1, max_size=200))
def test_separators_inside_a_name_make_a_malformed_row_not_a_crash(text: str) -> None:
    # tshark escapes control characters, so a separator inside a value means a broken line:
    # the row is counted (a warning of the capture) and the rest of the capture goes on
    hostile = dns_line([f"{text}{SEPARATOR}x.example.com"], stream="1")
    builder, docs = through_capture(hostile, dns_line(["ok.example.com"]))
    assert builder.malformed_rows == 1
    assert [d["dns.question"] for d in docs] == [
        [{"name": "ok.example.com", "type": "A", "class": "IN"}]
    ]
