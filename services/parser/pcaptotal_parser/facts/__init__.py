"""Protocol facts of one packet, keyed by the ECS flow field they feed.

Pure functions over a ``Row``; the flow builder merges the facts into the flow the packet's
innermost transport layer belongs to. Each protocol's extraction lives in its own module; this
one only decides, from a few cheap column checks, which of them a packet needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.dns import DNS_RCODES, DNS_TYPES, dns_facts, dns_transactions
from pcaptotal_parser.facts.http import host_without_port, http_facts
from pcaptotal_parser.facts.mail import smtp_facts
from pcaptotal_parser.facts.services import dhcp_facts, ftp_facts, quic_facts, ssh_facts
from pcaptotal_parser.facts.tls import TLS_VERSIONS, tls_facts, tls_version_name
from pcaptotal_parser.facts.types import SIDE, Fact

__all__ = [
    "DNS_RCODES",
    "DNS_TYPES",
    "SIDE",
    "TLS_VERSIONS",
    "Fact",
    "dns_transactions",
    "host_without_port",
    "packet_facts",
    "tls_version_name",
]


def packet_facts(row: Row) -> Iterator[Fact]:
    """All protocol facts of one packet (cheap when the packet has none)."""
    if row.raw("dns.qry.name") or row.raw("dns.flags.response"):
        yield from dns_facts(row)
    if row.raw("http.request.method") or row.raw("http.response.code"):
        yield from http_facts(row)
    if row.raw("tls.handshake.type") or row.raw("tls.handshake.extensions_server_name"):
        yield from tls_facts(row)
    if row.raw("quic.version"):
        yield from quic_facts(row)
    if row.raw("smtp.req.command") or row.raw("imf.subject") or row.raw("imf.from"):
        yield from smtp_facts(row)
    if row.raw("ftp.request.command") or row.raw("ftp-data.command"):
        yield from ftp_facts(row)
    if row.raw("ssh.protocol"):
        yield from ssh_facts(row)
    if row.raw("dhcp.option.dhcp"):
        yield from dhcp_facts(row)
