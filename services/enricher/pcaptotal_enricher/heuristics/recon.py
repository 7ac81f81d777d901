"""Small scans and reconnaissance: half-open probes, failed-connection ratios, ICMP sweeps,
nmap-style host discovery, scanner fingerprints, web scanning and brute force.

The large-scan rules (``scan.port_scan`` / ``scan.host_sweep``) need 15 ports or hosts; these
catch the handful-of-targets scans an attacker runs inside a network.
"""

from __future__ import annotations

import re
from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import (
    AUTH_PORTS,
    LOGIN_URI,
    NMAP_PROBE_URIS,
    SCANNER_UA,
)
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.scan import failed
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    duration_s,
    flags,
    flow_id,
    is_multicast_or_broadcast,
    num,
    port,
    request_targets,
    start_s,
    strs,
    transport,
    values,
)


def half_open(f: FlowDoc) -> bool:
    """SYN answered (SYN-ACK seen), then reset by the client with no payload either way: a
    SYN scan's probe (SYN, RST: 2 packets) or a connect scan's (SYN, ACK, RST: 3 packets, as
    nmap -sT and -sV's port checks close with SO_LINGER 0)."""
    fl = flags(f)
    return (
        transport(f) == "tcp"
        and {"SYN", "ACK", "RST"} <= fl
        and "PSH" not in fl
        and "FIN" not in fl
        and num(f, "source.packets") <= 3
        and 1 <= num(f, "destination.packets") <= 2
    )


def _ack_probe(f: FlowDoc) -> bool:
    """A lone TCP ACK answered by a lone RST (nmap -sn / -PA host discovery)."""
    fl = flags(f)
    return (
        transport(f) == "tcp"
        and "SYN" not in fl
        and "RST" in fl
        and "PSH" not in fl
        and num(f, "source.packets") == 1
        and num(f, "destination.packets") <= 1
    )


def _echo_requests(f: FlowDoc) -> int:
    for item in strs(f, "pcaptotal.icmp.type_code_count"):
        kind, _, n = item.partition("=")
        if kind in ("8/0", "128/0") and n.isdigit():
            return int(n)
    return 0


def _target(f: FlowDoc) -> str:
    return f"{f.get('destination.ip')}:{port(f)}"


def small_scan(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Per source: half-open probes, or mostly-failed attempts to several distinct targets."""
    by_src: dict[str, list[FlowDoc]] = defaultdict(list)
    for f in flows:
        if transport(f) != "tcp" or port(f) is None:
            continue
        if "SYN" not in flags(f) or is_multicast_or_broadcast(str(f.get("destination.ip"))):
            continue
        by_src[str(f.get("source.ip"))].append(f)
    out: list[Finding] = []
    for src, fs in by_src.items():
        half = {_target(f): f for f in fs if half_open(f)}
        bad = {_target(f): f for f in fs if failed(f)}
        targets = {_target(f) for f in fs}
        ratio = len(bad) / len(targets)
        hosts = {str(f.get("destination.ip")) for f in fs}
        ports = {port(f) for f in fs}
        if len(half) >= cfg.scan_half_open_min:
            sev, why = (
                Severity.HIGH,
                (
                    f"{len(half)} probes reset by the client right after the handshake, "
                    "without data (port checks of nmap -sS/-sT/-sV, masscan)"
                ),
            )
            cited = list(half.values()) + list(bad.values())
        elif (
            len(bad) >= cfg.scan_small_min_failed_targets
            and ratio >= cfg.scan_small_min_failed_ratio
        ):
            sev, why = (
                Severity.MEDIUM,
                (
                    f"{len(bad)} of {len(targets)} targets ({ratio:.0%}) never answered or "
                    "refused the connection"
                ),
            )
            cited = list(bad.values())
        else:
            continue
        out.append(
            Finding(
                name="small-scan",
                severity=sev,
                explanation=(
                    f"host {src} probed {len(targets)} host:port targets on {len(hosts)} "
                    f"host(s), {len(ports)} port(s): {why}"
                ),
                flow_ids=tuple(dict.fromkeys(flow_id(f) for f in cited)),
                evidence={
                    "source_ip": src,
                    "targets": len(targets),
                    "half_open": len(half),
                    "failed": len(bad),
                    "failed_ratio": round(ratio, 3),
                    "examples": sorted(bad | half)[:20],
                },
            )
        )
    return out


def host_discovery(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """ICMP echo to many hosts (sweep), or per host ICMP echo plus TCP probes (nmap -sn)."""
    echo: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    probes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in flows:
        src, dst = str(f.get("source.ip")), str(f.get("destination.ip"))
        if is_multicast_or_broadcast(dst):
            continue
        if transport(f) in ("icmp", "ipv6-icmp", "icmpv6") and _echo_requests(f):
            echo[src][dst].append(flow_id(f))
        elif port(f) in (80, 443) and (_ack_probe(f) or half_open(f) or failed(f)):
            probes[src][dst].append(flow_id(f))
    out: list[Finding] = []
    for src, hosts in echo.items():
        both = [h for h in hosts if h in probes.get(src, {})]
        if len(both) >= cfg.discovery_min_hosts:
            ids = [i for h in both for i in hosts[h] + probes[src][h]]
            sev = Severity.HIGH
            text = (
                f"host {src} probed {len(both)} hosts with ICMP echo and TCP to port 80/443 "
                "(nmap -sn host-discovery pattern)"
            )
        elif len(hosts) >= cfg.icmp_sweep_min_hosts:
            ids = [i for v in hosts.values() for i in v]
            sev = Severity.MEDIUM
            text = f"host {src} sent ICMP echo requests to {len(hosts)} different hosts (sweep)"
        else:
            continue
        out.append(
            Finding(
                name="host-discovery",
                severity=sev,
                explanation=text,
                flow_ids=tuple(dict.fromkeys(ids)),
                evidence={"source_ip": src, "hosts": sorted(hosts)[:50], "icmp_hosts": len(hosts)},
            )
        )
    return out


def scanner_tools(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """User agents and probe requests that scanners and exploitation tools ship with."""
    hits: dict[str, list[str]] = defaultdict(list)
    memo: dict[str, re.Match[str] | None] = {}
    for f in flows:
        for ua in strs(f, "user_agent.original"):
            if ua not in memo:
                memo[ua] = SCANNER_UA.search(ua)
            m = memo[ua]
            if m:
                hits[f"user agent {ua[:100]!r} (matched {m.group(0)!r})"].append(flow_id(f))
        for uri in request_targets(f):
            if uri.startswith(NMAP_PROBE_URIS):
                hits[f"nmap service probe {uri[:60]!r}"].append(flow_id(f))
    if not hits:
        return []
    first = sorted(hits)[0]
    count = sum(len(v) for v in hits.values())
    return [
        Finding(
            name="scanner-tool",
            severity=Severity.HIGH,
            explanation=(
                f"{count} flow(s) carry a scanner fingerprint: {first}"
                + (f" and {len(hits) - 1} more" if len(hits) > 1 else "")
            ),
            flow_ids=tuple(dict.fromkeys(i for v in hits.values() for i in v)),
            evidence={"fingerprints": sorted(hits)[:20]},
            matched=first,
        )
    ]


def web_scan(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Many distinct URIs from one client to one server, mostly errors or unanswered."""
    groups: dict[tuple[str, str], list[FlowDoc]] = defaultdict(list)
    for f in flows:
        if strs(f, "http.request.method"):
            groups[(str(f.get("source.ip")), f"{f.get('destination.ip')}:{port(f)}")].append(f)
    out: list[Finding] = []
    for (src, dst), fs in groups.items():
        uris = {u for f in fs for u in request_targets(f)}
        if len(uris) < cfg.webscan_min_uris:
            continue
        codes = [int(c) for f in fs for c in values(f, "http.response.status_code")]
        errors = sum(c >= 400 for c in codes)
        unanswered = sum(not values(f, "http.response.status_code") for f in fs)
        ratio = (errors + unanswered) / max(len(codes) + unanswered, 1)
        if ratio < cfg.webscan_min_error_ratio:
            continue
        out.append(
            Finding(
                name="web-scan",
                severity=Severity.MEDIUM,
                explanation=(
                    f"{src} requested {len(uris)} distinct URIs from {dst}; {errors} error "
                    f"responses and {unanswered} unanswered request flow(s) ({ratio:.0%})"
                ),
                flow_ids=tuple(flow_id(f) for f in fs),
                evidence={"uris": len(uris), "errors": errors, "unanswered": unanswered},
            )
        )
    return out


def brute_force(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Many short sessions to one authentication service (any protocol), or many login POSTs;
    stronger with failure replies (HTTP 401/403, Kerberos errors)."""
    groups: dict[tuple[str, str, str], list[FlowDoc]] = defaultdict(list)
    for f in flows:
        p, t = port(f), start_s(f)
        if t is None or p is None:
            continue
        src, dst = str(f.get("source.ip")), str(f.get("destination.ip"))
        posts = [u for u in request_targets(f) if LOGIN_URI.search(u)]
        if "POST" in strs(f, "http.request.method") and posts:
            groups[(src, f"{dst}:{p}", f"HTTP login {posts[0].split('?')[0][:40]}")].append(f)
        elif p in AUTH_PORTS and transport(f) == "tcp" and duration_s(f) <= cfg.brute_max_session_s:
            groups[(src, f"{dst}:{p}", AUTH_PORTS[p])].append(f)
    out: list[Finding] = []
    for (src, dst, service), fs in groups.items():
        fs.sort(key=lambda f: start_s(f) or 0.0)
        best: list[FlowDoc] = []
        j = 0
        for i in range(len(fs)):  # the densest window of brute_window_s
            while (start_s(fs[i]) or 0.0) - (start_s(fs[j]) or 0.0) > cfg.brute_window_s:
                j += 1
            if i - j + 1 > len(best):
                best = fs[j : i + 1]
        attempts = sum(max(1, len(strs(f, "url.original"))) for f in best)
        if attempts < cfg.brute_min_attempts:
            continue
        codes = [int(c) for f in best for c in values(f, "http.response.status_code")]
        failures = sum(c in (401, 403) for c in codes)
        failures += sum("KRB-ERROR" in strs(f, "pcaptotal.kerberos.message") for f in best)
        sev = Severity.HIGH if failures >= cfg.brute_min_attempts // 2 else Severity.MEDIUM
        span = (start_s(best[-1]) or 0.0) - (start_s(best[0]) or 0.0)
        out.append(
            Finding(
                name="brute-force",
                severity=sev,
                explanation=(
                    f"{src} made {attempts} short {service} attempts to {dst} in {span:.0f} s"
                    f"{f'; {failures} failure replies' if failures else ''}"
                ),
                flow_ids=tuple(flow_id(f) for f in best),
                evidence={"service": service, "attempts": attempts, "failures": failures},
            )
        )
    return out
