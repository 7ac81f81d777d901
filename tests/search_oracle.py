"""Flows a query should find, computed with tshark display filters (independent of PcapTotal).

Each function answers a set of flow keys (``tcp-N`` / ``udp-N``) for one capture. The
initiator of a flow is the sender of its first packet (or of its SYN for TCP), the definition
used by the parser and by ``tshark -z conv``'s "A" side when the capture starts with the SYN.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path


def _fields(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    return [line.split("\t") for line in out.splitlines()]


def streams_matching(path: Path, display_filter: str) -> set[str]:
    keys: set[str] = set()
    for tcp, udp in _fields(path, display_filter, "tcp.stream", "udp.stream"):
        keys |= {f"tcp-{s}" for s in tcp.split(",") if s}
        keys |= {f"udp-{s}" for s in udp.split(",") if s}
    return keys


def first_packets(path: Path, transport: str) -> dict[str, dict[str, str]]:
    """Per stream of ``transport``: the addresses/ports of its initiator's first packet."""
    rows = _fields(
        path,
        transport,
        f"{transport}.stream",
        "ip.src",
        "ipv6.src",
        f"{transport}.srcport",
        f"{transport}.dstport",
        "tcp.flags.syn" if transport == "tcp" else "frame.number",
        "tcp.flags.ack" if transport == "tcp" else "frame.number",
    )
    first: dict[str, dict[str, str]] = {}
    for stream, ip4, ip6, sport, dport, syn, ack in rows:
        if not stream or "," in stream:
            continue  # quoted headers inside ICMP errors: not the flow's own packets
        src = (ip6 or ip4).split(",")[-1]
        info = {"src": src, "sport": sport.split(",")[-1], "dport": dport.split(",")[-1]}
        key = f"{transport}-{stream}"
        is_syn = transport == "tcp" and syn == "1" and ack == "0"
        if key not in first or (is_syn and not first[key].get("syn")):
            first[key] = {**info, "syn": "1" if is_syn else ""}
    return first


def dns_suffix(path: Path, suffix: str) -> set[str]:
    # display-filter strings need their backslashes escaped too
    rx = (re.escape(suffix) + "$").replace("\\", "\\\\")
    return streams_matching(path, f'dns.qry.name matches "{rx}"')


def sni_equals(path: Path, name: str) -> set[str]:
    return streams_matching(path, f'tls.handshake.extensions_server_name == "{name}"')


def destination_port(path: Path, port: int) -> set[str]:
    keys = set()
    for transport in ("tcp", "udp"):
        for key, info in first_packets(path, transport).items():
            if info["dport"] == str(port):
                keys.add(key)
    return keys


def udp_from_network(path: Path, cidr: str) -> set[str]:
    net = ipaddress.ip_network(cidr)
    return {
        key
        for key, info in first_packets(path, "udp").items()
        if info["src"] and ipaddress.ip_address(info["src"]) in net
    }
