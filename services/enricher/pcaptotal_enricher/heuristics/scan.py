"""Port scan (one source → many ports on one host) and host sweep (→ many hosts on one port)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    flags,
    flow_id,
    is_multicast_or_broadcast,
    num,
    port,
    transport,
)


def failed(flow: FlowDoc) -> bool:
    """An attempt nobody answered, or that was refused: SYN without a SYN-ACK (no packets
    back), SYN answered by RST without any data, or a UDP probe without a reply."""
    back = num(flow, "destination.packets")
    if transport(flow) == "udp":
        return back == 0
    fl = flags(flow)
    if "SYN" not in fl:
        return False
    return back == 0 or ("RST" in fl and "PSH" not in fl)


def _findings(
    flows: list[FlowDoc],
    cfg: DetectionConfig,
    key: Callable[[FlowDoc], tuple[str, str] | None],
    target: Callable[[FlowDoc], str],
    minimum: int,
    describe: Callable[[str, str, int, int, int], tuple[str, str]],
) -> list[Finding]:
    groups: dict[tuple[str, str], dict[str, list[FlowDoc]]] = defaultdict(lambda: defaultdict(list))
    for f in flows:
        k = key(f)
        if k is not None:
            groups[k][target(f)].append(f)
    out: list[Finding] = []
    for (src, what), targets in groups.items():
        if len(targets) < minimum:
            continue
        attempts = [f for fs in targets.values() for f in fs]
        n_failed = sum(failed(f) for f in attempts)
        ratio = n_failed / len(attempts)
        if ratio < cfg.scan_min_failed_ratio:
            continue
        name, text = describe(src, what, len(targets), n_failed, len(attempts))
        out.append(
            Finding(
                name=name,
                severity=Severity.HIGH,
                explanation=text,
                flow_ids=tuple(flow_id(f) for f in attempts),
                evidence={
                    "source_ip": src,
                    "distinct_targets": len(targets),
                    "attempts": len(attempts),
                    "failed": n_failed,
                    "failed_ratio": round(ratio, 3),
                    "targets": sorted(targets)[:100],
                },
            )
        )
    return out


def _l4(f: FlowDoc) -> bool:
    """A connection attempt worth counting: TCP/UDP to a unicast address, not a reply seen
    without its request (a UDP packet *from* a well-known port, e.g. a DNS answer)."""
    if transport(f) not in ("tcp", "udp") or port(f) is None:
        return False
    if is_multicast_or_broadcast(str(f.get("destination.ip") or "")):
        return False
    sport = port(f, "source")
    return not (transport(f) == "udp" and sport is not None and sport < 1024)


def port_scan(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    def describe(src: str, dst: str, n: int, bad: int, total: int) -> tuple[str, str]:
        return "port-scan", (
            f"host {src} probed {n} ports on {dst}; {bad} of {total} attempts "
            f"({bad / total:.0%}) got no answer or were refused"
        )

    return _findings(
        flows,
        cfg,
        lambda f: (str(f.get("source.ip")), str(f.get("destination.ip"))) if _l4(f) else None,
        lambda f: f"{transport(f)}/{port(f)}",
        cfg.scan_min_ports,
        describe,
    )


def host_sweep(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    def describe(src: str, svc: str, n: int, bad: int, total: int) -> tuple[str, str]:
        return "host-sweep", (
            f"host {src} tried {svc} on {n} different hosts; {bad} of {total} attempts "
            f"({bad / total:.0%}) got no answer or were refused"
        )

    return _findings(
        flows,
        cfg,
        lambda f: (str(f.get("source.ip")), f"{transport(f)}/{port(f)}") if _l4(f) else None,
        lambda f: str(f.get("destination.ip")),
        cfg.sweep_min_hosts,
        describe,
    )
