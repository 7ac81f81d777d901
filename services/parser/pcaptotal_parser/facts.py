"""Protocol facts (DNS, HTTP, TLS) of one packet, keyed by the ECS flow field they feed.

Pure functions over a ``Row``; the flow builder merges the facts into the flow the packet's
innermost transport layer belongs to.
"""

from __future__ import annotations

from collections.abc import Iterator

from pcaptotal_parser.columns import Row
from pcaptotal_parser.x509 import parse_certificate_hex

Fact = tuple[str, str | int]

# tshark prints dns.qry.type as a number; names per the IANA DNS parameters registry.
DNS_TYPES: dict[str, str] = {
    "1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "13": "HINFO", "15": "MX",
    "16": "TXT", "17": "RP", "18": "AFSDB", "24": "SIG", "25": "KEY", "28": "AAAA",
    "29": "LOC", "33": "SRV", "35": "NAPTR", "36": "KX", "37": "CERT", "39": "DNAME",
    "41": "OPT", "43": "DS", "44": "SSHFP", "45": "IPSECKEY", "46": "RRSIG", "47": "NSEC",
    "48": "DNSKEY", "49": "DHCID", "50": "NSEC3", "51": "NSEC3PARAM", "52": "TLSA",
    "53": "SMIMEA", "55": "HIP", "59": "CDS", "60": "CDNSKEY", "61": "OPENPGPKEY",
    "62": "CSYNC", "63": "ZONEMD", "64": "SVCB", "65": "HTTPS", "99": "SPF", "249": "TKEY",
    "250": "TSIG", "251": "IXFR", "252": "AXFR", "255": "ANY", "256": "URI", "257": "CAA",
}  # fmt: skip

DNS_RCODES: dict[str, str] = {
    "0": "NOERROR", "1": "FORMERR", "2": "SERVFAIL", "3": "NXDOMAIN", "4": "NOTIMP",
    "5": "REFUSED", "6": "YXDOMAIN", "7": "YXRRSET", "8": "NXRRSET", "9": "NOTAUTH",
    "10": "NOTZONE", "11": "DSOTYPENI",
}  # fmt: skip

_DNS_ANSWER_FIELDS = (
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "dns.ns",
    "dns.ptr.domain_name",
    "dns.mx.mail_exchange",
    "dns.txt",
)

TLS_VERSIONS: dict[int, str] = {
    0x0300: "3.0",
    0x0301: "1.0",
    0x0302: "1.1",
    0x0303: "1.2",
    0x0304: "1.3",
}


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


def host_without_port(host: str) -> str:
    """``example.com:8080`` → ``example.com``; ``[2001:db8::1]:80`` → ``2001:db8::1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    return host


def dns_facts(row: Row) -> Iterator[Fact]:
    for name in row.values("dns.qry.name"):
        yield "dns.question.name", name
    for qtype in row.values("dns.qry.type"):
        yield "dns.question.type", DNS_TYPES.get(qtype, qtype)
    if "1" in row.values("dns.flags.response"):
        for rcode in row.values("dns.flags.rcode"):
            yield "dns.response_code", DNS_RCODES.get(rcode, rcode)
    for name in _DNS_ANSWER_FIELDS:
        for value in row.values(name):
            yield "dns.answers.data", value


def http_facts(row: Row) -> Iterator[Fact]:
    for method in row.values("http.request.method"):
        yield "http.request.method", method
    for host in row.values("http.host"):
        yield "url.domain", host_without_port(host)
    for uri in row.values("http.request.uri"):
        yield "url.original", uri
    for agent in row.values("http.user_agent"):
        yield "user_agent.original", agent
    codes = row.values("http.response.code")
    for code in codes:
        if code.isdigit():
            yield "http.response.status_code", int(code)
    if codes:  # a Content-Type on a request describes the upload, not the response
        for ctype in row.values("http.content_type"):
            mime = ctype.split(";", 1)[0].strip().lower()
            if mime:
                yield "http.response.mime_type", mime


def tls_facts(row: Row) -> Iterator[Fact]:
    for sni in row.values("tls.handshake.extensions_server_name"):
        yield "tls.client.server_name", sni
    for ja3 in row.values("tls.handshake.ja3"):
        yield "tls.client.ja3", ja3
    for ja3s in row.values("tls.handshake.ja3s"):
        yield "tls.server.ja3s", ja3s
    types = row.values("tls.handshake.type")
    if not types:
        return
    if "2" in types:
        version = _server_hello_version(row, types)
        if version:
            yield "tls.version", version
    if "11" in types:
        yield from _certificate_facts(row)


def _server_hello_version(row: Row, types: list[str]) -> str | None:
    supported = row.values("tls.handshake.extensions.supported_version")
    # A ServerHello carries one supported_version (TLS 1.3); a ClientHello a list of them, so
    # only trust the extension when no ClientHello shares the packet.
    if supported and "1" not in types:
        return tls_version_name(supported[0])
    hellos = [t for t in types if t in ("1", "2")]
    for hello_type, raw in zip(hellos, row.values("tls.handshake.version"), strict=False):
        if hello_type == "2":
            return tls_version_name(raw)
    return None


def _certificate_facts(row: Row) -> Iterator[Fact]:
    # The first certificate of a Certificate message is the peer's own (the leaf).
    first = row.first("tls.handshake.certificate")
    if not first:
        return
    cert = parse_certificate_hex(first)
    if cert is None:
        return
    if cert.subject_cn:
        yield "tls.server.x509.subject.common_name", cert.subject_cn
    if cert.subject_dn:
        yield "tls.server.x509.subject.distinguished_name", cert.subject_dn
    if cert.issuer_dn:
        yield "tls.server.x509.issuer.distinguished_name", cert.issuer_dn
    if cert.not_before:
        yield "tls.server.x509.not_before", cert.not_before
    if cert.not_after:
        yield "tls.server.x509.not_after", cert.not_after


def packet_facts(row: Row) -> Iterator[Fact]:
    """All protocol facts of one packet (cheap when the packet has none)."""
    if row.raw("dns.qry.name") or row.raw("dns.flags.response"):
        yield from dns_facts(row)
    if row.raw("http.request.method") or row.raw("http.response.code"):
        yield from http_facts(row)
    if row.raw("tls.handshake.type"):
        yield from tls_facts(row)
