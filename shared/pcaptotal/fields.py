"""The one declaration of every indexed document field (ECS names).

Every record of a capture (``event.dataset`` = flow, dns, http, tls, file, finding) lives in one
index family with one schema: the tantivy schema, the Elasticsearch mapping, query validation
and ``GET /v1/fields`` are all derived from ``FLOW_FIELDS``; add a field here and every consumer
picks it up. A dotted name is read from a document the way Elasticsearch reads it: from the flat
key (``"dns.question.name"``) or through objects and arrays of objects (``"dns.question": [{"name":
...}]``), see ``values_of``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any


class FieldType(StrEnum):
    IP = "ip"
    KEYWORD = "keyword"
    LONG = "long"
    FLOAT = "float"
    DATE = "date"
    BOOL = "bool"
    TEXT = "text"
    OBJECT = "object"  # kept in the document, not indexed (``STORED_OBJECTS`` only)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    multi: bool = False
    description: str = ""
    # bare query terms (no field name) search this keyword field; off for bookkeeping fields
    bare: bool = True


_F = FieldType

ECS_VERSION = "8.11.0"
# event.dataset of each record kind, and the ECS event.kind each one carries
DATASET_KINDS: dict[str, str] = {
    "flow": "event",
    "dns": "event",
    "http": "event",
    "tls": "event",
    "file": "event",
    "finding": "alert",
}
DATASETS: tuple[str, ...] = tuple(DATASET_KINDS)

FLOW_FIELDS: tuple[Field, ...] = (
    # every record: ECS base, event identity, the capture and flow it belongs to
    Field("@timestamp", _F.DATE, description="when the record's event began (RFC 3339, UTC)"),
    Field("ecs.version", _F.KEYWORD, bare=False),
    Field(
        "event.id",
        _F.KEYWORD,
        bare=False,
        description="deterministic document id: <capture id>-<record key>",
    ),
    Field(
        "event.dataset",
        _F.KEYWORD,
        bare=False,
        description="record kind: flow | dns | http | tls | file | finding",
    ),
    Field("event.kind", _F.KEYWORD, bare=False, description="event (records) | alert (findings)"),
    Field(
        "pcaptotal.flow_id",
        _F.KEYWORD,
        multi=True,
        bare=False,
        description="event.id of the flow(s) the record belongs to (several for some findings)",
    ),
    Field("pcaptotal.capture_id", _F.KEYWORD, description="SHA-256 of the capture the flow is in"),
    # access control (pcaptotal.access.visibility): copied from the capture at indexing
    Field(
        "pcaptotal.visibility",
        _F.KEYWORD,
        bare=False,
        description="public | private: the capture's, chosen at upload",
    ),
    Field(
        "pcaptotal.owner",
        _F.KEYWORD,
        bare=False,
        description="owner of the API key that uploaded the capture",
    ),
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
    # dns: ``dns.question`` and ``dns.answers`` are arrays of ECS objects (one per distinct
    # question / answer on a flow), their parts indexed through the objects
    Field("dns.question.name", _F.KEYWORD, multi=True),
    Field("dns.question.type", _F.KEYWORD, multi=True),
    Field("dns.answers.name", _F.KEYWORD, multi=True, description="owner name of the answer"),
    Field("dns.answers.class", _F.KEYWORD, multi=True, bare=False),
    Field("dns.answers.data", _F.KEYWORD, multi=True),
    Field("dns.response_code", _F.KEYWORD, multi=True),
    # http
    Field("http.request.method", _F.KEYWORD, multi=True),
    Field("url.domain", _F.KEYWORD, multi=True, description="HTTP Host header"),
    Field(
        "url.original",
        _F.KEYWORD,
        multi=True,
        description="full request URL: scheme://host[:port]/path?query (the target as sent "
        "when it is absolute, or has no Host header to complete it)",
    ),
    Field("url.path", _F.KEYWORD, multi=True, description="path of the request URL"),
    Field("url.query", _F.KEYWORD, multi=True, description="query string, without the ?"),
    Field("url.scheme", _F.KEYWORD, multi=True, bare=False),
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
    # threat intel hits: one ECS ``threat.enrichments`` object per hit (flows and intel finding
    # records), its parts indexed through the objects as below
    Field(
        "threat.enrichments.indicator.name",
        _F.KEYWORD,
        multi=True,
        description="indicator value a feed lists (a parent domain or network for suffix/CIDR)",
    ),
    Field(
        "threat.enrichments.indicator.type",
        _F.KEYWORD,
        multi=True,
        description="ipv4-addr, domain-name, url, ja3, ...",
    ),
    Field(
        "threat.enrichments.indicator.provider",
        _F.KEYWORD,
        multi=True,
        description="feed that lists the indicator",
    ),
    Field(
        "threat.enrichments.indicator.confidence",
        _F.KEYWORD,
        multi=True,
        description="Low | Medium | High",
    ),
    Field(
        "threat.enrichments.matched.field",
        _F.KEYWORD,
        multi=True,
        description="document field that matched",
    ),
    Field(
        "threat.enrichments.matched.atomic",
        _F.KEYWORD,
        multi=True,
        description="the document's value in that field",
    ),
    Field(
        "threat.enrichments.matched.type",
        _F.KEYWORD,
        multi=True,
        bare=False,
        description="indicator_match_rule",
    ),
    Field(
        "threat.enrichments.software.name",
        _F.KEYWORD,
        multi=True,
        description="malware family named by a feed",
    ),
    Field("threat.enrichments.tags", _F.KEYWORD, multi=True, description="the feed's tags"),
    Field(
        "threat.software.name",
        _F.KEYWORD,
        multi=True,
        description="finding records: malware families (or tools) whose published fingerprint "
        "the finding matches (feed-named families are in threat.enrichments.software.name)",
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
    # per-transaction records (dns, http, tls) and findings: fields flows do not carry
    Field("dns.id", _F.KEYWORD, bare=False, description="DNS transaction id (dns records)"),
    Field(
        "dns.type",
        _F.KEYWORD,
        bare=False,
        description="answer (a response was seen) | query (none was)",
    ),
    Field("dns.resolved_ip", _F.IP, multi=True, description="addresses in the answers"),
    Field(
        "pcaptotal.finding.source",
        _F.KEYWORD,
        bare=False,
        description="finding records: heuristic | intel",
    ),
    Field("message", _F.TEXT, description="finding records: the explanation, for people"),
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
    Field(
        "pcaptotal.client.burst_offset_ms",
        _F.LONG,
        multi=True,
        description="start of each burst of client payload, ms after the flow's start (<= 300)",
    ),
    Field(
        "pcaptotal.client.burst_bytes",
        _F.LONG,
        multi=True,
        description="bytes of each burst of client payload (same order as the offsets)",
    ),
    Field(
        "pcaptotal.finding.flow_count",
        _F.LONG,
        description="finding records: how many flows the finding cites",
    ),
    # --- fields added by later work go above this line, in the group they belong to ---
)

FLOW_FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FLOW_FIELDS}

# Objects documents carry whole but no backend indexes as such (their declared sub-fields
# above are indexed). Listed by ``GET /v1/fields`` with type ``object``; a value under one of
# these names is declared.
STORED_OBJECTS: tuple[Field, ...] = (
    Field(
        "threat.enrichments",
        _F.OBJECT,
        multi=True,
        description="feed hits in ECS's layout: indicator {name, type, provider, confidence}, "
        "matched {field, atomic, type}, software {name}, tags",
    ),
    Field(
        "pcaptotal.findings",
        _F.OBJECT,
        multi=True,
        description="flows: the heuristic findings citing the flow (name, severity, "
        "explanation, flow_ids, flow_count, evidence)",
    ),
    Field(
        "pcaptotal.finding.evidence",
        _F.OBJECT,
        description="finding records: the numbers behind the explanation",
    ),
)


def declared(path: str) -> bool:
    """Whether a document may carry a value at dotted ``path`` (a leaf of its JSON)."""
    if path in FLOW_FIELDS_BY_NAME:
        return True
    return any(path == o.name or path.startswith(o.name + ".") for o in STORED_OBJECTS)


def leaf_paths(doc: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every leaf value of ``doc`` (arrays of objects flattened)."""
    out: set[str] = set()
    for key, value in doc.items():
        path = f"{prefix}{key}"
        items = value if isinstance(value, list) else [value]
        objects = [i for i in items if isinstance(i, Mapping)]
        for obj in objects:
            out |= leaf_paths(obj, path + ".")
        if len(objects) < len(items) or not items:
            out.add(path)
    return out


def field(name: str) -> Field | None:
    """Look a field up by its ECS name."""
    return FLOW_FIELDS_BY_NAME.get(name)


def values_of(doc: Mapping[str, Any], name: str) -> list[Any]:
    """Every value of dotted field ``name`` in ``doc``, read as Elasticsearch reads it.

    A key may hold the whole name (``"dns.question.name"``) or a prefix of it whose value is an
    object or an array of objects holding the rest (``"dns.question": [{"name": ...}]``); the
    values of every such path are returned, lists flattened, ``None`` dropped.
    """
    out: list[Any] = []
    _collect(doc, name, out)
    return out


@lru_cache(maxsize=4096)
def _splits(name: str) -> tuple[tuple[str, str | None], ...]:
    """(key, rest of the name or None) for every way a key can hold a prefix of ``name``."""
    parts = name.split(".")
    out: list[tuple[str, str | None]] = [(name, None)]
    for i in range(len(parts) - 1, 0, -1):
        out.append((".".join(parts[:i]), ".".join(parts[i:])))
    return tuple(out)


def _collect(node: Any, rest: str, out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, rest, out)
        return
    if not isinstance(node, Mapping):
        return
    for key, remainder in _splits(rest):
        if key not in node:
            continue
        if remainder is None:
            _leaf(node[key], out)
        else:
            _collect(node[key], remainder, out)


def has_objects(doc: Mapping[str, Any]) -> bool:
    """Whether any value of ``doc`` is an object or an array holding one (then fields must be
    read with ``values_of``; otherwise a flat ``doc.get(name)`` sees everything)."""
    for value in doc.values():
        if isinstance(value, Mapping):
            return True
        if isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
            return True
    return False


def _leaf(value: Any, out: list[Any]) -> None:
    if isinstance(value, list):
        for item in value:
            _leaf(item, out)
    elif value is not None:
        out.append(value)
