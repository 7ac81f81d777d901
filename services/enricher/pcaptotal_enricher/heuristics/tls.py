"""TLS heuristics: self-signed or expired server certificates, ClientHello without SNI."""

from __future__ import annotations

from datetime import UTC, datetime

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import C2_CERT_SUBJECTS, TLS_PORTS
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

_CERT_FIELDS = (
    "tls.server.x509.subject.distinguished_name",
    "tls.server.x509.subject.common_name",
    "tls.server.x509.alternative_names",
    "tls.server.x509.not_after",
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


def tls_certificate_traits(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """C2 frameworks' default certificate subjects, and very short validity periods."""
    out: list[Finding] = []
    for f in flows:
        if not any(k in f for k in _CERT_FIELDS):
            continue  # no certificate seen (most flows)
        subjects = strs(f, "tls.server.x509.subject.distinguished_name") + strs(
            f, "tls.server.x509.issuer.distinguished_name"
        )
        hit = next((m for m in (C2_CERT_SUBJECTS.search(s) for s in subjects) if m), None)
        if hit is not None:
            out.append(
                Finding(
                    name="tls-c2-default-certificate",
                    severity=Severity.HIGH,
                    explanation=(
                        f"{endpoint(f)} presented a certificate with a C2 framework's default "
                        f"subject: matched {hit.group(0)!r} in {hit.string[:100]!r}"
                    ),
                    flow_ids=(flow_id(f),),
                    evidence={"subjects": subjects[:4]},
                    matched=hit.group(0),
                )
            )
        mismatch = _name_mismatch(f)
        if mismatch:
            out.append(
                Finding(
                    name="tls-certificate-name-mismatch",
                    severity=Severity.LOW,
                    explanation=(
                        f"{endpoint(f)} was asked for {mismatch[0]!r} but its certificate names "
                        f"{', '.join(mismatch[1][:3])!r}"
                    ),
                    flow_ids=(flow_id(f),),
                    evidence={"server_name": mismatch[0], "certificate_names": mismatch[1][:10]},
                )
            )
        after = [a for a in (date_s(v) for v in values(f, "tls.server.x509.not_after")) if a]
        before = [b for b in (date_s(v) for v in values(f, "tls.server.x509.not_before")) if b]
        if after and before:
            days = (after[0] - before[0]) / 86400
            if 0 <= days < cfg.tls_min_validity_days:
                out.append(
                    Finding(
                        name="tls-short-lived-certificate",
                        severity=Severity.LOW,
                        explanation=(
                            f"{endpoint(f)} presented a certificate valid for only {days:.1f} days"
                        ),
                        flow_ids=(flow_id(f),),
                        evidence={"validity_days": round(days, 2)},
                    )
                )
    return out


def _covers(pattern: str, name: str) -> bool:
    """RFC 6125 matching: exact, or one ``*`` as the whole left-most label."""
    p, n = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if p.startswith("*."):
        return n.count(".") == p.count(".") and n.endswith(p[1:])
    return p == n


def _name_mismatch(f: FlowDoc) -> tuple[str, list[str]] | None:
    """(SNI, certificate names) when the leaf certificate covers none of the names asked."""
    snis = strs(f, "tls.client.server_name")
    certs = strs(f, "tls.server.x509.alternative_names") or strs(
        f, "tls.server.x509.subject.common_name"
    )
    if not snis or not certs:
        return None
    if any(_covers(c, s) for c in certs for s in snis):
        return None
    return snis[0], certs


def quic_without_sni(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """QUIC to a public address whose decoded ClientHello named no server. HTTP/3 reaches
    origins found by name (Alt-Svc, HTTPS records) and browsers always send SNI; a QUIC
    handshake naming nothing is a custom client dialling an address (measured benign: none on
    public addresses in the 39 benign captures)."""
    out: list[Finding] = []
    for f in flows:
        dst = str(f.get("destination.ip") or "")
        if not strs(f, "pcaptotal.quic.version") or strs(f, "tls.client.server_name"):
            continue
        if not is_public(dst) or not strs(f, "tls.client.ja4"):
            continue  # without a decoded ClientHello (truncated Initial) nothing is known
        p = port(f)
        out.append(
            Finding(
                name="quic-no-sni",
                severity=Severity.MEDIUM,
                explanation=(
                    f"QUIC from {f.get('source.ip')} to public {endpoint(f)} with a ClientHello "
                    "that names no server"
                ),
                flow_ids=(flow_id(f),),
                evidence={"port": p},
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
