"""Protocols on unexpected ports, and unidentified protocols to public addresses."""

from __future__ import annotations

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import HTTP_PORTS, TLS_PORTS
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    duration_s,
    endpoint,
    flags,
    flow_id,
    human_bytes,
    is_loopback,
    is_public,
    num,
    port,
    protocols,
    transport,
)

_GENERIC = {"data", "tcp", "udp", ""}


def _finding(f: FlowDoc, name: str, sev: Severity, text: str) -> Finding:
    return Finding(
        name=name,
        severity=sev,
        explanation=text,
        flow_ids=(flow_id(f),),
        evidence={"port": port(f), "protocols": sorted(protocols(f))},
    )


def unexpected_ports(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """TLS on 80, HTTP on high non-standard ports, something else than TLS on 443."""
    out: list[Finding] = []
    for f in flows:
        p, dst = port(f), str(f.get("destination.ip") or "")
        if p is None or transport(f) != "tcp" or is_loopback(dst):
            continue
        protos = protocols(f)
        public = is_public(dst)
        where = f"{'public' if public else 'non-public'} {endpoint(f)}"
        if "tls" in protos and p in HTTP_PORTS:
            out.append(_finding(f, "tls-on-http-port", Severity.MEDIUM, f"TLS spoken to {where}"))
        elif "http" in protos and p >= 1024 and p not in HTTP_PORTS and p not in TLS_PORTS:
            sev = Severity.MEDIUM if public else Severity.LOW
            out.append(_finding(f, "http-nonstandard-port", sev, f"plain HTTP to {where}"))
        elif p == 443 and protos - _GENERIC and not protos & {"tls", "ssl", "quic"}:
            shown = ", ".join(sorted(protos - _GENERIC))
            out.append(
                _finding(f, "non-tls-on-443", Severity.MEDIUM, f"{shown} (not TLS) to {where}")
            )
    return out


def unknown_protocol(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """An established TCP session with payload to a public address on a non-standard port where
    no application protocol was recognised (raw/custom C2 channels look like this).
    FTP data channels (hosts that also share an FTP control session) are left out."""
    ftp_pairs = {
        frozenset((str(f.get("source.ip")), str(f.get("destination.ip"))))
        for f in flows
        if {"ftp", "ftp-data"} & protocols(f)
    }
    out: list[Finding] = []
    for f in flows:
        p, dst, src = port(f), str(f.get("destination.ip") or ""), str(f.get("source.ip") or "")
        if transport(f) != "tcp" or p is None or p < 1024 or p in HTTP_PORTS or p in TLS_PORTS:
            continue
        if protocols(f) - _GENERIC or not is_public(dst) or frozenset((src, dst)) in ftp_pairs:
            continue
        fl = flags(f)
        sent, got = num(f, "source.bytes"), num(f, "destination.bytes")
        if not {"SYN", "ACK", "PSH"} <= fl or num(f, "destination.packets") == 0:
            continue
        out.append(
            Finding(
                name="unknown-protocol-nonstandard-port",
                severity=Severity.MEDIUM,
                explanation=(
                    f"raw TCP from {src} to public {endpoint(f)} with no recognisable application "
                    f"protocol ({human_bytes(sent)} out / {human_bytes(got)} in over "
                    f"{duration_s(f):.1f} s)"
                ),
                flow_ids=(flow_id(f),),
                evidence={"port": p, "bytes_out": sent, "bytes_in": got},
            )
        )
    return out
