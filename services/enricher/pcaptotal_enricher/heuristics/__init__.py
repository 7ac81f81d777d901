"""Explainable heuristics over ALL the flows of one capture.

Each heuristic is a pure function ``(flows, cfg) -> list[Finding]``; ``run_all`` runs every
one of them. They need the whole capture (beaconing, scans, DNS per parent domain), so the
caller holds one capture's flows in memory.
"""

from __future__ import annotations

from collections.abc import Callable

from pcaptotal_enricher.heuristics.beaconing import (
    beaconing,
    heartbeat_session,
    session_beaconing,
)
from pcaptotal_enricher.heuristics.config import DetectionConfig, resolve
from pcaptotal_enricher.heuristics.covert import (
    icmp_tunnel,
    opaque_sessions,
    retried_destination,
    upload_heavy,
)
from pcaptotal_enricher.heuristics.dns import (
    dga_domains,
    dns_tunnelling,
    dynamic_dns,
    encoded_names,
)
from pcaptotal_enricher.heuristics.exploit import exploit_payloads, kerberoasting, tls_heartbleed
from pcaptotal_enricher.heuristics.http import (
    executable_download,
    http_c2_traits,
    http_raw_ip,
    ip_lookup_service,
    user_agents,
)
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.ports import unexpected_ports, unknown_protocol
from pcaptotal_enricher.heuristics.recon import (
    brute_force,
    host_discovery,
    scanner_tools,
    small_scan,
    web_scan,
)
from pcaptotal_enricher.heuristics.scan import host_sweep, port_scan
from pcaptotal_enricher.heuristics.tls import (
    quic_without_sni,
    tls_certificate_traits,
    tls_certificates,
    tls_without_sni,
)
from pcaptotal_enricher.heuristics.util import FlowDoc
from pcaptotal_enricher.heuristics.volume import large_outbound, long_connections

Heuristic = Callable[[list[FlowDoc], DetectionConfig], list[Finding]]

ALL_HEURISTICS: tuple[Heuristic, ...] = (
    beaconing,
    heartbeat_session,
    dga_domains,
    dns_tunnelling,
    dynamic_dns,
    port_scan,
    host_sweep,
    executable_download,
    http_raw_ip,
    user_agents,
    ip_lookup_service,
    tls_certificates,
    tls_without_sni,
    unexpected_ports,
    unknown_protocol,
    long_connections,
    large_outbound,
    # v2 (issue 8)
    session_beaconing,
    encoded_names,
    small_scan,
    host_discovery,
    scanner_tools,
    web_scan,
    brute_force,
    exploit_payloads,
    tls_heartbleed,
    kerberoasting,
    http_c2_traits,
    tls_certificate_traits,
    quic_without_sni,
    icmp_tunnel,
    opaque_sessions,
    upload_heavy,
    retried_destination,
)


def run_all(
    flows: list[FlowDoc],
    cfg: object = None,
    heuristics: tuple[Heuristic, ...] = ALL_HEURISTICS,
) -> list[Finding]:
    """Every finding of every heuristic, most severe first."""
    config = resolve(cfg)
    findings = [finding for h in heuristics for finding in h(flows, config)]
    return sorted(findings, key=lambda x: -x.severity.rank)


__all__ = [
    "ALL_HEURISTICS",
    "DetectionConfig",
    "Finding",
    "Heuristic",
    "Severity",
    "run_all",
]
