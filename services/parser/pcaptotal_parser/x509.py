"""Subject, issuer, validity, serial, SANs and fingerprint of an X.509 certificate (DER).

tshark 4.0 prints certificate names as loose ``x509sat.*`` strings that cannot be told apart
(subject vs issuer, leaf vs chain), so the parser takes the raw leaf certificate
(``tls.handshake.certificate``) and walks just enough DER to get the few fields it indexes.
No ``cryptography`` dependency: this is ~100 lines and never raises on hostile input.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

# Short names as in RFC 4514 / OpenSSL for the attribute types seen in practice.
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

_TAG_SEQUENCE = 0x30
_TAG_SET = 0x31
_TAG_OID = 0x06
_TAG_UTCTIME = 0x17
_TAG_GENTIME = 0x18
_TAG_INTEGER = 0x02
_TAG_EXTENSIONS = 0xA3  # [3] EXPLICIT Extensions
_OID_SAN = "2.5.29.17"
_SAN_DNS = 0x82  # [2] dNSName
_SAN_IP = 0x87  # [7] iPAddress


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


class _DerError(ValueError):
    pass


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, value_start, value_end) of the element at ``pos``."""
    if pos + 2 > len(data):
        raise _DerError("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise _DerError("truncated value")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, vs, ve = _read_tlv(data, pos)
        out.append((tag, vs, ve))
        pos = ve
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise _DerError("empty oid")
    parts = [raw[0] // 40, raw[0] % 40] if raw[0] < 80 else [2, raw[0] - 80]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    if tag == 0x14:  # T61String: latin-1 is what real certificates mean by it
        return raw.decode("latin-1")
    return raw.decode("utf-8", "replace")


def _escape(value: str) -> str:
    # RFC 4514 escaping of the characters that would make the DN ambiguous.
    for ch in ("\\", ",", "+", '"', "<", ">", ";"):
        value = value.replace(ch, "\\" + ch)
    return value


def _name(data: bytes, start: int, end: int) -> tuple[str, str | None]:
    """Return the DN (in certificate order, ``", "``-joined as in ECS examples) and the CN."""
    parts: list[str] = []
    cn: str | None = None
    for set_tag, ss, se in _children(data, start, end):
        if set_tag != _TAG_SET:
            raise _DerError("RDN is not a SET")
        for seq_tag, qs, qe in _children(data, ss, se):
            if seq_tag != _TAG_SEQUENCE:
                raise _DerError("attribute is not a SEQUENCE")
            items = _children(data, qs, qe)
            if len(items) < 2 or items[0][0] != _TAG_OID:
                raise _DerError("bad attribute")
            oid = _oid(data[items[0][1] : items[0][2]])
            value = _string(items[1][0], data[items[1][1] : items[1][2]])
            if oid == "2.5.4.3" and cn is None:
                cn = value
            parts.append(f"{_OID_NAMES.get(oid, oid)}={_escape(value)}")
    return ", ".join(parts), cn


def _time(tag: int, raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").rstrip("Z")
    try:
        if tag == _TAG_UTCTIME:
            year = int(text[:2])
            text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
        elif tag != _TAG_GENTIME:
            return None
        digits = text.split(".", 1)[0]
        if len(digits) == 12:  # minutes precision is allowed
            digits += "00"
        dt = datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return dt.isoformat()


def _serial(raw: bytes) -> str:
    stripped = raw.lstrip(b"\x00") or b"\x00"  # DER adds a 00 byte to keep it positive
    return stripped.hex().upper()


def _alternative_names(der: bytes, start: int, end: int) -> tuple[str, ...]:
    """DNS names and IP addresses of the subjectAltName extension inside ``[3] Extensions``."""
    names: list[str] = []
    outer = _children(der, start, end)
    if not outer or outer[0][0] != _TAG_SEQUENCE:
        return ()
    _, ss, se = outer[0]
    for _tag, es, ee in _children(der, ss, se):
        parts = _children(der, es, ee)
        if len(parts) < 2 or parts[0][0] != _TAG_OID:
            continue
        if _oid(der[parts[0][1] : parts[0][2]]) != _OID_SAN:
            continue
        _, vs, _end = parts[-1]  # extnValue OCTET STRING (after the optional critical flag)
        _, gs, ge = _read_tlv(der, vs)
        for tag, ns, ne in _children(der, gs, ge):
            value = der[ns:ne]
            if tag == _SAN_DNS:
                names.append(value.decode("ascii", "replace"))
            elif tag == _SAN_IP and len(value) in (4, 16):
                names.append(str(ipaddress.ip_address(value)))
    return tuple(names)


def parse_certificate(der: bytes) -> CertInfo | None:
    """Read the indexed fields of one DER certificate; ``None`` when it is malformed."""
    try:
        tag, cs, _end = _read_tlv(der, 0)
        if tag != _TAG_SEQUENCE:
            return None
        tbs_tag, ts, te = _read_tlv(der, cs)
        if tbs_tag != _TAG_SEQUENCE:
            return None
        fields = _children(der, ts, te)
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject
        if len(fields) < 5:
            return None
        serial = _serial(der[fields[0][1] : fields[0][2]]) if fields[0][0] == _TAG_INTEGER else ""
        issuer_dn, _ = _name(der, fields[2][1], fields[2][2])
        validity = _children(der, fields[3][1], fields[3][2])
        subject_dn, cn = _name(der, fields[4][1], fields[4][2])
    except _DerError:
        return None
    sans: tuple[str, ...] = ()
    for ext_tag, es, ee in fields[5:]:
        if ext_tag == _TAG_EXTENSIONS:
            try:
                sans = _alternative_names(der, es, ee)
            except (_DerError, ValueError):
                sans = ()
    not_before = not_after = None
    if len(validity) >= 2:
        not_before = _time(validity[0][0], der[validity[0][1] : validity[0][2]])
        not_after = _time(validity[1][0], der[validity[1][1] : validity[1][2]])
    return CertInfo(
        subject_dn,
        issuer_dn,
        cn,
        not_before,
        not_after,
        serial=serial,
        alternative_names=sans,
        self_signed=subject_dn == issuer_dn,
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
