"""Covert and custom channels: ICMP payload channels, sessions no dissector recognised,
TLS ports without a TLS handshake, upload-heavy sessions, and retried connections."""

from __future__ import annotations

from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import HTTP_PORTS, TLS_PORTS
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.scan import failed
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    duration_s,
    endpoint,
    flags,
    flow_id,
    human_bytes,
    is_loopback,
    is_multicast_or_broadcast,
    num,
    port,
    protocols,
    strs,
    transport,
)

_GENERIC = {"data", "tcp", "udp", ""}
_ICMP = ("icmp", "ipv6-icmp", "icmpv6")
_UPLOAD_PROTOCOLS = {"smtp", "imf", "ftp", "ftp-data", "ssh", "smb", "smb2", "nbss", "rdp", "tds"}


def _icmp_counts(f: FlowDoc) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in strs(f, "pcaptotal.icmp.type_code_count"):
        kind, _, n = item.partition("=")
        if n.isdigit():
            out[kind] = int(n)
    return out


def icmp_tunnel(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Echo traffic whose sizes are not ping's: replies that do not mirror the requests
    (RFC 792 echoes the data back), or average echo frames larger than OS ping payloads."""
    out: list[Finding] = []
    for f in flows:
        if transport(f) not in _ICMP:
            continue
        counts = _icmp_counts(f)
        if not counts or set(counts) - {"8/0", "0/0", "128/0", "129/0"}:
            continue  # only pure echo traffic can be sized from the flow's totals
        out_p, in_p = num(f, "source.packets"), num(f, "destination.packets")
        if out_p + in_p < cfg.icmp_tunnel_min_packets or not out_p:
            continue
        avg_out = num(f, "source.bytes") / out_p
        avg_in = num(f, "destination.bytes") / in_p if in_p else avg_out
        reasons = []
        if in_p and abs(avg_out - avg_in) > cfg.icmp_tunnel_max_asymmetry:
            reasons.append(
                f"replies average {avg_in:.0f} B but requests {avg_out:.0f} B (echo replies "
                "carry the request's data back)"
            )
        if max(avg_out, avg_in) > cfg.icmp_tunnel_max_avg_frame:
            reasons.append(
                f"average echo frame {max(avg_out, avg_in):.0f} B (OS ping frames are 74-118 B)"
            )
        if not reasons:
            continue
        out.append(
            Finding(
                name="icmp-tunnel",
                severity=Severity.HIGH if len(reasons) == 2 else Severity.MEDIUM,
                explanation=(
                    f"ICMP echo between {f.get('source.ip')} and {f.get('destination.ip')}, "
                    f"{int(out_p)}+{int(in_p)} packets: " + "; ".join(reasons)
                ),
                flow_ids=(flow_id(f),),
                evidence={
                    "packets_out": int(out_p),
                    "packets_in": int(in_p),
                    "avg_frame_out": round(avg_out, 1),
                    "avg_frame_in": round(avg_in, 1),
                },
            )
        )
    return out


def _established(f: FlowDoc) -> bool:
    return {"SYN", "ACK", "PSH"} <= flags(f) and num(f, "destination.packets") > 0


def opaque_sessions(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Long sessions with payload and no recognised protocol (any address, any port), and
    sessions on a TLS port whose handshake was seen from the SYN but never held a
    ClientHello (a custom protocol on 443)."""
    out: list[Finding] = []
    for f in flows:
        dst = str(f.get("destination.ip") or "")
        p = port(f)
        if p is None or is_loopback(dst) or is_multicast_or_broadcast(dst):
            continue
        protos = protocols(f) - _GENERIC
        tls_port = transport(f) == "tcp" and p in TLS_PORTS and "SYN" in flags(f)
        hello = strs(f, "tls.client.ja3") or strs(f, "tls.client.server_name")
        if tls_port and _established(f) and not hello:
            shown = "/".join(sorted(protos)) or "no recognised protocol"
            out.append(
                Finding(
                    name="tls-port-without-handshake",
                    severity=Severity.LOW,
                    explanation=(
                        f"{f.get('source.ip')} -> {endpoint(f)}: a full TCP session on a TLS "
                        f"port without any TLS ClientHello ({shown}; "
                        f"{human_bytes(num(f, 'source.bytes'))} out)"
                    ),
                    flow_ids=(flow_id(f),),
                    evidence={"port": p, "protocols": sorted(protos)},
                )
            )
            continue
        if protos or duration_s(f) < cfg.unknown_session_min_s:
            continue
        if transport(f) == "tcp" and not _established(f):
            continue
        both_ways = num(f, "destination.packets") and num(f, "source.packets")
        if transport(f) == "udp" and not both_ways:
            continue
        if p in HTTP_PORTS or p in TLS_PORTS or p < 1024:
            where = "well-known port"
        else:
            where = "non-standard port"
        out.append(
            Finding(
                name="long-unknown-session",
                severity=Severity.LOW,
                explanation=(
                    f"{transport(f).upper()} session {f.get('source.ip')} -> {endpoint(f)} "
                    f"({where}) lasted {duration_s(f):.0f} s with no recognised protocol "
                    f"({human_bytes(num(f, 'source.bytes'))} out / "
                    f"{human_bytes(num(f, 'destination.bytes'))} in)"
                ),
                flow_ids=(flow_id(f),),
                evidence={"duration_s": round(duration_s(f), 1), "port": p},
            )
        )
    return out


def upload_heavy(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    out: list[Finding] = []
    for f in flows:
        sent, got = num(f, "source.bytes"), num(f, "destination.bytes")
        if sent < cfg.upload_min_bytes or sent < cfg.upload_min_ratio * max(got, 1.0):
            continue
        if transport(f) != "tcp" or not _established(f):
            continue
        if protocols(f) & _UPLOAD_PROTOCOLS:
            continue  # sending mail, files or a remote shell's keystrokes is upload by design
        out.append(
            Finding(
                name="upload-heavy-session",
                severity=Severity.LOW,
                explanation=(
                    f"{f.get('source.ip')} sent {human_bytes(sent)} to {endpoint(f)} and got "
                    f"{human_bytes(got)} back ({sent / max(got, 1.0):.1f}x more out than in)"
                ),
                flow_ids=(flow_id(f),),
                evidence={"bytes_out": sent, "bytes_in": got},
            )
        )
    return out


def retried_destination(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Unanswered connection attempts to a destination:port the same host also talks to:
    an implant retrying its C2 (benign clients rarely fail against a server that works)."""
    by_dest: dict[tuple[str, str], list[FlowDoc]] = defaultdict(list)
    for f in flows:
        if transport(f) == "tcp" and port(f) is not None:
            by_dest[(str(f.get("source.ip")), endpoint(f))].append(f)
    out: list[Finding] = []
    for (src, dest), fs in by_dest.items():
        bad = [f for f in fs if failed(f) and num(f, "destination.packets") == 0]
        good = [f for f in fs if _established(f)]
        if not bad or not good:
            continue
        tries = int(sum(num(f, "source.packets") for f in bad))
        out.append(
            Finding(
                name="retried-destination",
                severity=Severity.LOW,
                explanation=(
                    f"{src} sent {tries} unanswered SYN(s) to {dest} on {len(bad)} connection(s) "
                    f"besides {len(good)} working session(s) with it"
                ),
                flow_ids=tuple(flow_id(f) for f in bad + good),
                evidence={"failed_connections": len(bad), "syns": tries},
            )
        )
    return out
