"""Which IP header each transport header of a packet sits on, from ``frame.protocols``.

tshark lists every field occurrence in protocol order, so the k-th ``ip`` in
``frame.protocols`` owns the k-th ``ip.src``, the k-th ``tcp`` the k-th ``tcp.stream``, and so
on. Walking the names pairs them up through tunnels (Teredo, GRE, 6in4), VLAN/MPLS, and marks
headers quoted inside ICMP errors, which describe another packet rather than being traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

# IP protocol numbers and ECS ``network.transport`` names (IANA keywords, lowercased).
TRANSPORT_NAMES: dict[int, str] = {
    1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 17: "udp", 41: "ipv6", 46: "rsvp", 47: "gre",
    50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt", 88: "eigrp", 89: "ospf",
    103: "pim", 112: "vrrp", 115: "l2tp", 132: "sctp", 136: "udplite", 137: "mpls-in-ip",
}  # fmt: skip

# tshark protocol names of IP payloads → protocol number (for IPv6 behind extension headers).
_PAYLOAD_NUMBERS: dict[str, int] = {
    "icmp": 1, "igmp": 2, "ip": 4, "tcp": 6, "udp": 17, "ipv6": 41, "rsvp": 46, "gre": 47,
    "esp": 50, "ah": 51, "icmpv6": 58, "eigrp": 88, "ospf": 89, "pim": 103, "vrrp": 112,
    "l2tp": 115, "sctp": 132, "udplite": 136,
}  # fmt: skip

IPV6_EXTENSION_HEADERS = frozenset({0, 43, 44, 60, 135, 139, 140, 253, 254})

# Application protocols worth a ``network.protocol`` value (tshark's names).
APP_PROTOCOLS = frozenset(
    {
        "dns", "mdns", "llmnr", "nbns", "nbdgm", "nbss", "http", "tls", "quic", "smtp",
        "imf", "ftp", "ftp-data", "ssh", "dhcp", "dhcpv6", "ntp", "ssdp", "telnet", "imap",
        "pop", "sip", "rdp", "smb", "smb2", "snmp", "ldap", "kerberos", "irc", "mysql", "pgsql",
        "tds", "rtp", "rtsp", "stun", "syslog", "tftp", "radius", "bittorrent", "socks", "vnc",
        "x11", "xmpp", "mqtt", "modbus", "dnp3", "bacnet", "openvpn", "wireguard", "isakmp",
        "teredo", "vxlan", "gtp", "dtls", "ymsg", "ocsp", "browser", "cldap", "dcerpc",
        "epm", "netbios", "http2", "websocket", "memcached", "redis", "mongo", "amqp",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IpLayer:
    version: int  # 4 or 6
    occurrence: int  # index into ip.* / ipv6.* values
    quoted: bool  # inside an ICMP error: describes another packet
    payload: str  # next protocol name after IPv6 extension headers ("" when none)
    fragment_header: bool  # IPv6 fragment header present


@dataclass(frozen=True, slots=True)
class TransportLayer:
    proto: str  # "tcp" or "udp"
    occurrence: int
    ip: IpLayer | None
    quoted: bool
    protocols: tuple[str, ...]  # application protocols above it (up to the next IP header)


@dataclass(frozen=True, slots=True)
class Layers:
    ips: list[IpLayer]
    transports: list[TransportLayer]


# Protocols that never carry a field the facts or the summary read: a packet made only of
# these skips the fact extractors altogether (most packets: bare TCP segments and ACKs).
FACTLESS = frozenset(
    {"eth", "ethertype", "vlan", "mpls", "sll", "null", "raw", "ip", "ipv6", "tcp", "udp",
     "data", "ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "tcp.segments"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Plan:
    """How the flow builder handles a packet with a given ``frame.protocols`` (cached)."""

    layers: Layers
    simple: str  # "tcp"/"udp": one IP header carrying one transport, nothing else; or ""
    version: int  # of that IP header
    apps: tuple[str, ...]  # application protocols of that transport
    facts: bool  # some protocol may carry facts or summary fields
    bare: bool  # no IP and no transport header: the packet is in no flow


PLANS: dict[str, Plan] = {}  # frame.protocols -> its plan (``plan`` fills it)
_MAXPLANS = 100_000  # distinct protocol stacks are few; bound them against hostile input


def plan(protocols: str) -> Plan:
    cached = PLANS.get(protocols)
    if cached is not None:
        return cached
    layers = walk(protocols)
    simple, version, apps = "", 0, tuple[str, ...]()
    if len(layers.ips) == 1 and len(layers.transports) == 1:
        ip, transport = layers.ips[0], layers.transports[0]
        if not ip.quoted and not transport.quoted and transport.ip is ip:
            simple, version, apps = transport.proto, ip.version, transport.protocols
    names = protocols.split(":") if protocols else []
    facts = any(n not in FACTLESS for n in names)
    bare = not layers.ips and not layers.transports
    result = Plan(layers, simple, version, apps, facts, bare)
    if len(PLANS) < _MAXPLANS:
        PLANS[protocols] = result
    return result


def walk(protocols: str) -> Layers:
    names = protocols.split(":") if protocols else []
    ips: list[IpLayer] = []
    transports: list[TransportLayer] = []
    counts = {"ip": 0, "ipv6": 0, "tcp": 0, "udp": 0}
    quoted = False
    current_ip: IpLayer | None = None
    for pos, name in enumerate(names):
        if name in ("ip", "ipv6"):
            if pos and names[pos - 1] in ("icmp", "icmpv6"):
                quoted = True
            payload, frag = _payload(names, pos + 1)
            current_ip = IpLayer(4 if name == "ip" else 6, counts[name], quoted, payload, frag)
            counts[name] += 1
            ips.append(current_ip)
        elif name in ("tcp", "udp"):
            apps = []
            for above in names[pos + 1 :]:
                if above in ("ip", "ipv6", "tcp", "udp"):
                    break
                if above in APP_PROTOCOLS and above not in apps:
                    apps.append(above)
            transports.append(TransportLayer(name, counts[name], current_ip, quoted, tuple(apps)))
            counts[name] += 1
    return Layers(ips, transports)


def _payload(names: list[str], start: int) -> tuple[str, bool]:
    frag = False
    for name in names[start:]:
        if name.startswith("ipv6."):  # ipv6.hopopts, ipv6.routing, ipv6.fraghdr, ...
            frag = frag or name == "ipv6.fraghdr"
            continue
        return name, frag
    return "", frag


def payload_number(layer: IpLayer, header_value: str | None) -> int | None:
    """The IP protocol number of the layer's payload.

    IPv4: ``ip.proto``. IPv6: ``ipv6.nxt`` unless that names an extension header, in which case
    the payload's dissector name decides.
    """
    number = int(header_value) if header_value and header_value.isdigit() else None
    if layer.version == 4:
        return number
    if number is not None and number not in IPV6_EXTENSION_HEADERS:
        return number
    return _PAYLOAD_NUMBERS.get(layer.payload, number)


def transport_name(number: int) -> str:
    return TRANSPORT_NAMES.get(number, str(number))
