"""The one declaration of every indexed flow field (ECS names).

The tantivy schema, the Elasticsearch mapping, query validation and ``GET /v1/fields`` are all
derived from ``FLOW_FIELDS``; add a field here and every consumer picks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    IP = "ip"
    KEYWORD = "keyword"
    LONG = "long"
    FLOAT = "float"
    DATE = "date"
    BOOL = "bool"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    multi: bool = False
    description: str = ""


_F = FieldType

FLOW_FIELDS: tuple[Field, ...] = (
    # identity
    Field("pcaptotal.capture_id", _F.KEYWORD, description="SHA-256 of the capture the flow is in"),
    Field(
        "pcaptotal.flow_key",
        _F.KEYWORD,
        description="flow key inside the capture (tcp-N, udp-N, ip-...)",
    ),
    Field("pcaptotal.stream", _F.LONG, description="tshark tcp.stream / udp.stream index"),
    Field(
        "pcaptotal.tcp_flags",
        _F.KEYWORD,
        multi=True,
        description="TCP flags seen (SYN, ACK, FIN, RST, PSH, URG)",
    ),
    Field("network.community_id", _F.KEYWORD, description="Community ID v1 flow hash"),
    # endpoints
    Field("source.ip", _F.IP, description="initiator address (innermost IP header)"),
    Field("source.port", _F.LONG),
    Field("source.bytes", _F.LONG),
    Field("source.packets", _F.LONG),
    Field("destination.ip", _F.IP, description="responder address (innermost IP header)"),
    Field("destination.port", _F.LONG),
    Field("destination.bytes", _F.LONG),
    Field("destination.packets", _F.LONG),
    Field(
        "pcaptotal.outer.source.ip",
        _F.IP,
        multi=True,
        description="tunnel / encapsulation outer source addresses",
    ),
    Field(
        "pcaptotal.outer.destination.ip",
        _F.IP,
        multi=True,
        description="tunnel outer destination addresses",
    ),
    Field("network.type", _F.KEYWORD, description="ipv4 or ipv6"),
    Field("network.transport", _F.KEYWORD, description="tcp, udp, icmp, ipv6-icmp, ... "),
    Field("network.iana_number", _F.LONG, description="IP protocol number"),
    Field(
        "network.protocol",
        _F.KEYWORD,
        multi=True,
        description="application protocols seen (dns, http, tls, ...)",
    ),
    Field("network.bytes", _F.LONG),
    Field("network.packets", _F.LONG),
    Field("network.vlan.id", _F.KEYWORD, multi=True),
    # time
    Field("event.start", _F.DATE),
    Field("event.end", _F.DATE),
    Field("event.duration", _F.LONG, description="nanoseconds, as in ECS"),
    # dns
    Field("dns.question.name", _F.KEYWORD, multi=True),
    Field("dns.question.type", _F.KEYWORD, multi=True),
    Field("dns.answers.data", _F.KEYWORD, multi=True),
    Field("dns.response_code", _F.KEYWORD, multi=True),
    # http
    Field("http.request.method", _F.KEYWORD, multi=True),
    Field("url.domain", _F.KEYWORD, multi=True, description="HTTP Host header"),
    Field("url.original", _F.KEYWORD, multi=True, description="HTTP request URI"),
    Field("user_agent.original", _F.KEYWORD, multi=True),
    Field("http.response.status_code", _F.LONG, multi=True),
    Field("http.response.mime_type", _F.KEYWORD, multi=True),
    # tls
    Field("tls.version", _F.KEYWORD, multi=True),
    Field("tls.client.server_name", _F.KEYWORD, multi=True),
    Field("tls.client.ja3", _F.KEYWORD, multi=True),
    Field("tls.server.ja3s", _F.KEYWORD, multi=True),
    Field("tls.server.x509.subject.common_name", _F.KEYWORD, multi=True),
    Field("tls.server.x509.subject.distinguished_name", _F.KEYWORD, multi=True),
    Field("tls.server.x509.issuer.distinguished_name", _F.KEYWORD, multi=True),
    Field("tls.server.x509.not_before", _F.DATE, multi=True),
    Field("tls.server.x509.not_after", _F.DATE, multi=True),
    # threat intel hits (the full hit objects are kept, unindexed, in ``threat.enrichments``)
    Field(
        "threat.indicator.name", _F.KEYWORD, multi=True, description="indicator value that matched"
    ),
    Field(
        "threat.indicator.type",
        _F.KEYWORD,
        multi=True,
        description="ipv4-addr, domain-name, url, ja3, ...",
    ),
    Field(
        "threat.indicator.provider",
        _F.KEYWORD,
        multi=True,
        description="feed that named the indicator",
    ),
    Field("threat.indicator.confidence", _F.KEYWORD, multi=True, description="Low | Medium | High"),
    Field(
        "threat.software.name", _F.KEYWORD, multi=True, description="malware family named by a feed"
    ),
    Field(
        "threat.enrichments.matched.field",
        _F.KEYWORD,
        multi=True,
        description="flow field that matched",
    ),
    Field("tags", _F.KEYWORD, multi=True),
    # verdicts and heuristic findings
    Field("pcaptotal.verdict", _F.KEYWORD, description="clean | suspicious | malicious"),
    Field("event.risk_score", _F.FLOAT, description="0-100 score behind the verdict"),
    Field(
        "pcaptotal.finding.name",
        _F.KEYWORD,
        multi=True,
        description="heuristic findings on the flow",
    ),
    Field("pcaptotal.finding.severity", _F.KEYWORD, multi=True),
    # parser protocol facts (issue 3)
    Field(
        "pcaptotal.community_ids",
        _F.KEYWORD,
        multi=True,
        description="every Community ID of a flow that has several (ICMP type/code kinds)",
    ),
    Field("source.mac", _F.KEYWORD, description="initiator MAC (outermost Ethernet), ECS notation"),
    Field("destination.mac", _F.KEYWORD, description="responder MAC (outermost Ethernet)"),
    Field("pcaptotal.icmp.type_code", _F.KEYWORD, multi=True, description="ICMP type/code seen"),
    Field(
        "pcaptotal.icmp.type_code_count",
        _F.KEYWORD,
        multi=True,
        description="packets per ICMP type/code, as type/code=count",
    ),
    Field("dns.question.class", _F.KEYWORD, multi=True),
    Field("dns.answers.type", _F.KEYWORD, multi=True),
    Field("dns.answers.ttl", _F.LONG, multi=True),
    Field(
        "pcaptotal.dns.answered",
        _F.BOOL,
        description="every DNS query on the flow got a response (by transaction id)",
    ),
    Field("http.request.referrer", _F.KEYWORD, multi=True),
    Field("http.request.body.bytes", _F.LONG, multi=True),
    Field("http.response.body.bytes", _F.LONG, multi=True),
    Field("pcaptotal.http.response.server", _F.KEYWORD, multi=True, description="Server header"),
    Field(
        "pcaptotal.http.response.location", _F.KEYWORD, multi=True, description="Location header"
    ),
    Field("tls.cipher", _F.KEYWORD, multi=True, description="negotiated cipher suite"),
    Field("tls.next_protocol", _F.KEYWORD, multi=True, description="negotiated ALPN"),
    Field("tls.client.supported_protocols", _F.KEYWORD, multi=True, description="offered ALPN"),
    Field("tls.client.ja4", _F.KEYWORD, multi=True, description="JA4 of the ClientHello"),
    Field("tls.server.hash.sha1", _F.KEYWORD, multi=True, description="leaf certificate SHA-1"),
    Field("tls.server.x509.serial_number", _F.KEYWORD, multi=True),
    Field("tls.server.x509.alternative_names", _F.KEYWORD, multi=True),
    Field("pcaptotal.tls.server.x509.self_signed", _F.BOOL, multi=True),
    Field(
        "pcaptotal.tls.server.chain.subject",
        _F.KEYWORD,
        multi=True,
        description="subject DN of every certificate the server sent",
    ),
    Field("pcaptotal.tls.server.chain.hash.sha1", _F.KEYWORD, multi=True),
    Field("tls.client.hash.sha1", _F.KEYWORD, multi=True, description="client certificate SHA-1"),
    Field("tls.client.x509.subject.distinguished_name", _F.KEYWORD, multi=True),
    Field("tls.client.x509.issuer.distinguished_name", _F.KEYWORD, multi=True),
    Field("pcaptotal.quic.version", _F.KEYWORD, multi=True),
    Field("email.from.address", _F.KEYWORD, multi=True, description="MAIL FROM and From:"),
    Field("email.to.address", _F.KEYWORD, multi=True, description="RCPT TO, To: and Cc:"),
    Field("email.subject", _F.KEYWORD, multi=True),
    Field("pcaptotal.smtp.mail_from", _F.KEYWORD, multi=True, description="envelope sender"),
    Field("pcaptotal.smtp.rcpt_to", _F.KEYWORD, multi=True, description="envelope recipients"),
    Field("pcaptotal.smtp.auth_mechanism", _F.KEYWORD, multi=True),
    Field("pcaptotal.ftp.command", _F.KEYWORD, multi=True),
    Field("pcaptotal.ftp.file", _F.KEYWORD, multi=True, description="file names in FTP commands"),
    Field(
        "pcaptotal.ftp.data_command",
        _F.KEYWORD,
        multi=True,
        description="on an FTP data connection: the control command that opened it",
    ),
    Field("user.name", _F.KEYWORD, multi=True, description="FTP USER"),
    Field("pcaptotal.ssh.client.software", _F.KEYWORD, multi=True),
    Field("pcaptotal.ssh.server.software", _F.KEYWORD, multi=True),
    Field("pcaptotal.dhcp.message_type", _F.KEYWORD, multi=True),
    Field("pcaptotal.dhcp.client_mac", _F.KEYWORD, multi=True),
    Field("pcaptotal.dhcp.hostname", _F.KEYWORD, multi=True),
    Field("pcaptotal.dhcp.requested_address", _F.IP, multi=True),
    Field("pcaptotal.dhcp.assigned_address", _F.IP, multi=True),
    # files carved from the flow (tshark --export-objects), one value per file
    Field("file.name", _F.KEYWORD, multi=True, description="name tshark gave the object"),
    Field("file.size", _F.LONG, multi=True),
    Field("file.mime_type", _F.KEYWORD, multi=True, description="from the content (libmagic)"),
    Field("file.hash.md5", _F.KEYWORD, multi=True),
    Field("file.hash.sha1", _F.KEYWORD, multi=True),
    Field("file.hash.sha256", _F.KEYWORD, multi=True, description="blob key files/<sha256>"),
    Field(
        "pcaptotal.file.protocol",
        _F.KEYWORD,
        multi=True,
        description="protocol the file was carved from (http, imf, ftp-data, smb, tftp)",
    ),
    # detection facts (issue 8)
    Field(
        "pcaptotal.http.request.form_field",
        _F.KEYWORD,
        multi=True,
        description="names of the url-encoded form fields a request sent (no values)",
    ),
    Field(
        "pcaptotal.tls.heartbeat.payload_length",
        _F.LONG,
        multi=True,
        description="payload length claimed by cleartext TLS heartbeat messages",
    ),
    Field(
        "pcaptotal.kerberos.message",
        _F.KEYWORD,
        multi=True,
        description="Kerberos message types (AS-REQ, TGS-REP, KRB-ERROR, ...)",
    ),
    Field(
        "pcaptotal.kerberos.etype",
        _F.KEYWORD,
        multi=True,
        description="encryption types per message, as <message>:<etype> (TGS-REP:23 = RC4)",
    ),
    # --- fields added by later work go above this line, in the group they belong to ---
)

FLOW_FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FLOW_FIELDS}


def field(name: str) -> Field | None:
    """Look a flow field up by its ECS name."""
    return FLOW_FIELDS_BY_NAME.get(name)
