"""TLS heuristics: self-signed or expired server certificates, ClientHello without SNI."""

from __future__ import annotations

from datetime import UTC, datetime

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import TLS_PORTS
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    date_s,
    endpoint,
    flow_id,
    is_public,
    port,
    start_s,
    strs,
    values,
)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _self_signed(f: FlowDoc) -> bool:
    raw = values(f, "pcaptotal.tls.server.x509.self_signed") + values(
        f, "tls.server.x509.self_signed"
    )
    flag = [v for v in raw if isinstance(v, bool)]
    if flag:
        return any(flag)
    subjects = strs(f, "tls.server.x509.subject.distinguished_name")
    issuers = strs(f, "tls.server.x509.issuer.distinguished_name")
    # Only a single-certificate chain can be judged from the DNs alone.
    return len(subjects) == 1 and len(issuers) == 1 and subjects[0] == issuers[0]


def tls_certificates(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    out: list[Finding] = []
    for f in flows:
        dst = str(f.get("destination.ip") or "")
        if not is_public(dst):
            continue
        cn = (strs(f, "tls.server.x509.subject.common_name") or ["?"])[0]
        if _self_signed(f):
            out.append(
                Finding(
                    name="tls-self-signed",
                    severity=Severity.MEDIUM,
                    explanation=f"{endpoint(f)} presented a self-signed certificate (CN={cn!r})",
                    flow_ids=(flow_id(f),),
                    evidence={"common_name": cn},
                )
            )
        t = start_s(f)
        if t is None:
            continue
        after = [a for a in (date_s(v) for v in values(f, "tls.server.x509.not_after")) if a]
        before = [b for b in (date_s(v) for v in values(f, "tls.server.x509.not_before")) if b]
        expired = [a for a in after if a < t]
        early = [b for b in before if b > t]
        if expired or early:
            when = (
                f"expired on {_day(min(expired))}"
                if expired
                else f"not valid before {_day(max(early))}"
            )
            out.append(
                Finding(
                    name="tls-invalid-date",
                    severity=Severity.MEDIUM,
                    explanation=(
                        f"{endpoint(f)} presented a certificate (CN={cn!r}) that {when}, "
                        f"at connection time {_day(t)}"
                    ),
                    flow_ids=(flow_id(f),),
                    evidence={"common_name": cn, "flow_start": t, "expired": bool(expired)},
                )
            )
    return out


def tls_without_sni(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """A ClientHello was seen (JA3 present) but named no server, to a public address."""
    out: list[Finding] = []
    for f in flows:
        dst = str(f.get("destination.ip") or "")
        if not strs(f, "tls.client.ja3") or strs(f, "tls.client.server_name") or not is_public(dst):
            continue
        p = port(f)
        odd = p is not None and p not in TLS_PORTS
        out.append(
            Finding(
                name="tls-no-sni",
                severity=Severity.MEDIUM if odd else Severity.LOW,
                explanation=(
                    f"TLS ClientHello from {f.get('source.ip')} to public {endpoint(f)} without "
                    f"a server name{' on a non-TLS port' if odd else ''}"
                ),
                flow_ids=(flow_id(f),),
                evidence={"ja3": strs(f, "tls.client.ja3")[:3], "port": p},
            )
        )
    return out
