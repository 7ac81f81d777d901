"""The tshark fields the parser asks for, and typed access to one output row.

tshark prints one line per packet: columns split by ``SEPARATOR``; a field that occurs several
times in a packet (``-E occurrence=a``) has its values joined by ``AGGREGATOR``. Both are ASCII
control characters (unit / record separator) because field values such as HTTP user agents
contain commas and tabs; tshark 4.0 accepts them verbatim in ``-E separator=`` / ``-E aggregator=``
and escapes control characters inside values, so they cannot appear in a value.
"""

from __future__ import annotations

SEPARATOR = "\x1f"
AGGREGATOR = "\x1e"

FIELDS: tuple[str, ...] = (
    # the first FAST_FIELDS columns are all a plain TCP/UDP packet needs (see flows)
    "frame.time_epoch",
    "frame.len",
    "frame.protocols",
    "eth.src",
    "vlan.id",
    # IP layers: one occurrence per IP header, in the order of frame.protocols
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    # transport layers: one occurrence per header
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "udp.stream",
    "udp.srcport",
    "udp.dstport",
    # the rest
    "eth.dst",
    "ip.proto",
    "ip.id",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.nxt",
    "ipv6.fraghdr.ident",
    "sctp.srcport",
    "sctp.dstport",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    # dns
    "dns.id",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "dns.qry.class",
    "dns.flags.rcode",
    "dns.count.answers",
    "dns.count.auth_rr",
    "dns.count.add_rr",
    "dns.resp.type",
    "dns.resp.ttl",
    "dns.resp.name",
    "dns.resp.class",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "dns.ns",
    "dns.ptr.domain_name",
    "dns.mx.mail_exchange",
    "dns.txt",
    # http
    "http.request",
    "http.request.method",
    "http.host",
    "http.request.uri",
    "http.user_agent",
    "http.referer",
    "http.response.code",
    "http.response_for.uri",
    "http.content_type",
    "http.content_length",
    "http.chunk_size",
    "http.server",
    "http.location",
    "urlencoded-form.key",
    "mime_multipart.header.content-disposition",
    # tls (and the TLS handshake inside QUIC Initials)
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.extensions_server_name",
    "tls.handshake.ciphersuite",
    "tls.handshake.extension.type",
    "tls.handshake.sig_hash_alg",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.ja3",
    "tls.handshake.ja3s",
    "tls.handshake.certificate",
    "quic.version",
    "tls.heartbeat_message.payload_length",
    # kerberos (message types and encryption types: Kerberoasting asks for RC4 tickets)
    "kerberos.msg_type",
    "kerberos.etype",
    # mail, file transfer, remote shells, address assignment
    "smtp.req.command",
    "smtp.req.parameter",
    "imf.from",
    "imf.to",
    "imf.cc",
    "imf.subject",
    "ftp.request.command",
    "ftp.request.arg",
    "ftp-data.command",
    "ssh.protocol",
    "dhcp.option.dhcp",
    "dhcp.hw.mac_addr",
    "dhcp.option.hostname",
    "dhcp.option.requested_ip_address",
    "dhcp.ip.your",
)

INDEX: dict[str, int] = {name: i for i, name in enumerate(FIELDS)}
FAST_FIELDS = INDEX["udp.dstport"] + 1


class Row:
    """One packet's fields; values are split on demand (most columns are empty)."""

    __slots__ = ("cols",)

    def __init__(self, cols: list[str]) -> None:
        self.cols = cols  # the raw columns, in ``FIELDS`` order (``INDEX`` gives positions)

    @classmethod
    def parse(cls, line: str) -> Row | None:
        """Split one output line; ``None`` when the column count is wrong."""
        cols = line.rstrip("\r\n").split(SEPARATOR)
        if len(cols) != len(FIELDS):
            return None
        return cls(cols)

    @classmethod
    def from_mapping(cls, values: dict[str, str | list[str]]) -> Row:
        """Build a row from ``{field: value or values}`` (tests and tools)."""
        cols = [""] * len(FIELDS)
        for name, value in values.items():
            cols[INDEX[name]] = value if isinstance(value, str) else AGGREGATOR.join(value)
        return cls(cols)

    def raw(self, name: str) -> str:
        return self.cols[INDEX[name]]

    def values(self, name: str) -> list[str]:
        raw = self.cols[INDEX[name]]
        return raw.split(AGGREGATOR) if raw else []

    def first(self, name: str) -> str | None:
        raw = self.cols[INDEX[name]]
        if not raw:
            return None
        return raw.split(AGGREGATOR, 1)[0]

    def at(self, name: str, occurrence: int) -> str | None:
        """The ``occurrence``-th value (0-based) of a field, or ``None``."""
        vals = self.values(name)
        return vals[occurrence] if occurrence < len(vals) else None
