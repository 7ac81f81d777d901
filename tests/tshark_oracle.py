"""Capture numbers straight from tshark, computed independently of the parser under test.

Each number uses its own tshark invocation with tshark's default output options, following the
definitions of ``CaptureSummary``:

- ``packets`` / ``bytes``: rows / sum of ``frame.len``;
- ``flows.tcp`` / ``flows.udp``: distinct ``tcp.stream`` / ``udp.stream`` values (all occurrences);
- ``flows.other``: distinct (IP version, protocol, unordered address pair) over the *top-level*
  IP headers of tshark's JSON packet tree whose protocol is not TCP or UDP. Headers quoted inside
  ICMP errors are children of the icmp tree, so they are not top-level; for IPv6 the protocol is
  the last ``*.nxt`` along the extension-header chain;
- ``dns_query_names``: distinct ``dns.qry.name`` in packets matching ``dns.flags.response==0``,
  values split on commas;
- ``http_requests``: packets matching ``http.request``;
- ``tls_server_names``: distinct ``tls.handshake.extensions_server_name`` values.

Damaged captures make tshark exit 2 after printing what it could read; that output counts.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

TSHARK = os.environ.get("PCAPTOTAL_TSHARK_PATH", "tshark")
_IPV6_EXT_LAYERS = "ipv6.hopopts ipv6.routing ipv6.fraghdr ipv6.dstopts"


def tshark_lines(path: Path, *args: str) -> list[str]:
    """tshark's stdout lines for ``-n -r path args``; exit status 2 (damaged file) is accepted."""
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(path), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"tshark failed ({proc.returncode}): {proc.stderr}")
    return [line for line in proc.stdout.splitlines() if line]


def field_values(path: Path, field: str, display_filter: str | None = None) -> list[str]:
    """Every value of ``field`` (occurrences split on tshark's default ``,`` aggregator)."""
    args = ["-T", "fields", "-e", field]
    if display_filter:
        args = ["-Y", display_filter, *args]
    out: list[str] = []
    for line in tshark_lines(path, *args):
        out.extend(v for v in line.split(",") if v)
    return out


def _pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs  # keep duplicate keys (two "ip" layers in one packet) in order


def _last_nxt(tree: list[tuple[str, Any]]) -> str | None:
    found = None
    for key, value in tree:
        if isinstance(value, list):
            inner = _last_nxt(value)
            found = inner if inner is not None else found
        elif key.endswith(".nxt"):
            found = value
    return found


def other_ip_flows(path: Path) -> set[tuple[str, str, frozenset[str]]]:
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-T", "json", "-j", f"ip ipv6 {_IPV6_EXT_LAYERS}"],
        capture_output=True,
        text=True,
        check=False,
    )
    packets = json.loads(proc.stdout or "[]", object_pairs_hook=_pairs)
    flows: set[tuple[str, str, frozenset[str]]] = set()
    for packet in packets:
        source = dict(packet)["_source"]
        for name, layer in dict(source)["layers"]:
            if name not in ("ip", "ipv6") or not isinstance(layer, list):
                continue
            fields = dict(layer)
            if name == "ip":
                proto = fields.get("ip.proto")
                src, dst = fields.get("ip.src"), fields.get("ip.dst")
            else:
                proto = _last_nxt(layer)
                src, dst = fields.get("ipv6.src"), fields.get("ipv6.dst")
            if proto is None or proto in ("6", "17") or src is None or dst is None:
                continue
            flows.add((name, proto, frozenset((src, dst))))
    return flows


def oracle_summary(path: Path) -> dict[str, Any]:
    """The ``CaptureSummary`` of ``path`` as tshark computes it (see the module docstring)."""
    lengths = [int(v) for v in tshark_lines(path, "-T", "fields", "-e", "frame.len")]
    return {
        "packets": len(lengths),
        "bytes": sum(lengths),
        "flows": {
            "tcp": len(set(field_values(path, "tcp.stream"))),
            "udp": len(set(field_values(path, "udp.stream"))),
            "other": len(other_ip_flows(path)),
        },
        "dns_query_names": len(set(field_values(path, "dns.qry.name", "dns.flags.response==0"))),
        "http_requests": len(
            tshark_lines(path, "-Y", "http.request", "-T", "fields", "-e", "frame.number")
        ),
        "tls_server_names": len(set(field_values(path, "tls.handshake.extensions_server_name"))),
    }
