"""Subject, issuer, validity, serial, SANs and fingerprints of an X.509 certificate (DER).

tshark 4.0 prints certificate names as loose ``x509sat.*`` strings that cannot be told apart
(subject vs issuer, leaf vs chain), so the parser takes the raw leaf certificate
(``tls.handshake.certificate``) and reads it with ``cryptography`` (a maintained, fuzzed ASN.1
parser) rather than walking hostile DER by hand. Anything it refuses gives ``None`` (or, for an
unreadable optional part such as the extensions, an empty value): never an exception.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

# Short names as in RFC 4514 / OpenSSL for the attribute types seen in practice; others are
# shown by dotted OID (the shape the index has always held).
_OID_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.17": "postalCode",
    "2.5.4.42": "GN",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject_dn: str
    issuer_dn: str
    subject_cn: str | None
    not_before: str | None
    not_after: str | None
    serial: str = ""  # upper-case hex, as ECS shows it
    alternative_names: tuple[str, ...] = ()  # DNS names and IP addresses
    self_signed: bool = False  # subject equals issuer (the signature is not verified)
    issuer_cn: str | None = None
    subject_o: str | None = None
    issuer_o: str | None = None
    sha1: str = ""  # upper-case hex of the DER, as ECS shows certificate hashes
    sha256: str = ""


def _escape(value: str) -> str:
    # RFC 4514 escaping of the characters that would make the DN ambiguous.
    for ch in ("\\", ",", "+", '"', "<", ">", ";"):
        value = value.replace(ch, "\\" + ch)
    return value


def _text(value: str | bytes) -> str:
    # bit-string attributes (x500UniqueIdentifier) come as bytes
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _dn(name: x509.Name) -> str:
    """The DN in certificate order, ``", "``-joined as in ECS examples."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _OID_NAMES.get(attr.oid.dotted_string, attr.oid.dotted_string)
            parts.append(f"{key}={_escape(_text(attr.value))}")
    return ", ".join(parts)


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    for attr in name.get_attributes_for_oid(oid):
        return _text(attr.value)
    return None


def _serial(number: int) -> str:
    # the DER content octets without the sign-padding 00: even-length upper-case hex
    size = max(1, (number.bit_length() + 8) // 8 if number < 0 else (number.bit_length() + 7) // 8)
    return number.to_bytes(size, "big", signed=number < 0).hex().upper()


def _time(read: str, cert: x509.Certificate) -> str | None:
    try:
        value: datetime = getattr(cert, read)
    except ValueError:
        return None
    return value.isoformat().replace("+00:00", "Z")  # RFC 3339 UTC, as every document time


def _alternative_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names and IP addresses of the subjectAltName extension, in certificate order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # absent, or extensions it cannot read
        return ()
    names: list[str] = []
    for general in san:
        if isinstance(general, x509.DNSName):
            names.append(general.value)
        elif isinstance(general, x509.IPAddress) and isinstance(
            general.value, ipaddress.IPv4Address | ipaddress.IPv6Address
        ):
            names.append(str(general.value))
    return tuple(names)


def parse_certificate(der: bytes) -> CertInfo | None:
    """Read the indexed fields of one DER certificate; ``None`` when it is malformed."""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject, issuer = cert.subject, cert.issuer  # decoded lazily: may refuse here
        subject_dn, issuer_dn = _dn(subject), _dn(issuer)
        serial = _serial(cert.serial_number)
    except Exception:  # hostile bytes: whatever the library refuses, the fields are skipped
        return None
    return CertInfo(
        subject_dn,
        issuer_dn,
        _first(subject, NameOID.COMMON_NAME),
        _time("not_valid_before_utc", cert),
        _time("not_valid_after_utc", cert),
        serial=serial,
        alternative_names=_alternative_names(cert),
        self_signed=subject_dn == issuer_dn,
        issuer_cn=_first(issuer, NameOID.COMMON_NAME),
        subject_o=_first(subject, NameOID.ORGANIZATION_NAME),
        issuer_o=_first(issuer, NameOID.ORGANIZATION_NAME),
        sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
    )


def der_from_hex(text: str) -> bytes | None:
    """tshark prints FT_BYTES as plain hex (sometimes with ``:`` separators)."""
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        return None


def parse_certificate_hex(text: str) -> CertInfo | None:
    der = der_from_hex(text)
    return None if der is None else parse_certificate(der)
