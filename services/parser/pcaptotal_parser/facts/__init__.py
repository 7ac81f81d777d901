"""Protocol facts of one packet, keyed by the ECS flow field they feed.

Pure functions over a ``Row``; the flow builder merges the facts into the flow the packet's
innermost transport layer belongs to. Each protocol's extraction lives in its own module; this
one only decides, from a few cheap column checks, which of them a packet needs.
"""

from __future__ import annotations

from pcaptotal_parser.columns import INDEX, Row
from pcaptotal_parser.facts.dns import DNS_RCODES, DNS_TYPES, dns_facts, dns_transactions
from pcaptotal_parser.facts.http import host_without_port, http_facts
from pcaptotal_parser.facts.mail import smtp_facts
from pcaptotal_parser.facts.services import (
    dhcp_facts,
    ftp_facts,
    kerberos_facts,
    quic_facts,
    ssh_facts,
)
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


_DNS = (INDEX["dns.qry.name"], INDEX["dns.flags.response"])
_HTTP = (INDEX["http.request.method"], INDEX["http.response.code"])
_TLS = (
    INDEX["tls.handshake.type"],
    INDEX["tls.handshake.extensions_server_name"],
    INDEX["tls.heartbeat_message.payload_length"],
)
_QUIC = INDEX["quic.version"]
_SMTP = (INDEX["smtp.req.command"], INDEX["imf.subject"], INDEX["imf.from"])
_FTP = (INDEX["ftp.request.command"], INDEX["ftp-data.command"])
_SSH = INDEX["ssh.protocol"]
_DHCP = INDEX["dhcp.option.dhcp"]
_KERBEROS = INDEX["kerberos.msg_type"]
_FORM = INDEX["urlencoded-form.key"]
_MULTIPART = INDEX["mime_multipart.header.content-disposition"]


def packet_facts(row: Row) -> list[Fact]:
    """All protocol facts of one packet, in order (cheap when the packet has none)."""
    cols = row.cols
    facts: list[Fact] = []
    if cols[_DNS[0]] or cols[_DNS[1]]:
        facts += dns_facts(row)
    if cols[_HTTP[0]] or cols[_HTTP[1]] or cols[_FORM] or cols[_MULTIPART]:
        facts += http_facts(row)
    if cols[_TLS[0]] or cols[_TLS[1]] or cols[_TLS[2]]:
        facts += tls_facts(row)
    if cols[_QUIC]:
        facts += quic_facts(row)
    if cols[_SMTP[0]] or cols[_SMTP[1]] or cols[_SMTP[2]]:
        facts += smtp_facts(row)
    if cols[_FTP[0]] or cols[_FTP[1]]:
        facts += ftp_facts(row)
    if cols[_SSH]:
        facts += ssh_facts(row)
    if cols[_DHCP]:
        facts += dhcp_facts(row)
    if cols[_KERBEROS]:
        facts += kerberos_facts(row)
    return facts
