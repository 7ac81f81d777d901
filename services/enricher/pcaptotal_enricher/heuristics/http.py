"""HTTP heuristics: executables over plain HTTP, raw-IP hosts, scripted/odd user agents,
public-IP lookup services."""

from __future__ import annotations

import re
from collections import defaultdict

from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.heuristics.lists import (
    CREDENTIAL_FIELDS,
    EXECUTABLE_MIME_TYPES,
    INVENTORY_FIELDS,
    IP_LOOKUP_SERVICES,
    OLD_MSIE,
    SCRIPTED_UA,
)
from pcaptotal_enricher.heuristics.model import Finding, Severity
from pcaptotal_enricher.heuristics.names import flow_names
from pcaptotal_enricher.heuristics.util import (
    FlowDoc,
    endpoint,
    entropy,
    flow_id,
    human_bytes,
    is_ip_literal,
    is_public,
    protocols,
    request_targets,
    strs,
    values,
)


def _is_http(f: FlowDoc) -> bool:
    return "http" in protocols(f) or bool(strs(f, "http.request.method"))


def executable_download(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Judged by the carved file's content type (``file.mime_type``), never by its name."""
    out: list[Finding] = []
    for f in flows:
        if "tls" in protocols(f):
            continue
        kinds = [m for m in strs(f, "file.mime_type") if m.lower() in EXECUTABLE_MIME_TYPES]
        if not kinds or not (_is_http(f) or {"ftp-data", "ftp", "tftp"} & protocols(f)):
            continue
        hashes = strs(f, "file.hash.sha256")
        sizes = [int(s) for s in f.get("file.size") or [] if isinstance(s, int | float)]
        host = (strs(f, "url.domain") or [endpoint(f)])[0]
        size = f" ({human_bytes(sizes[0])})" if sizes else ""
        sha = f", sha256 {hashes[0][:16]}…" if hashes else ""
        out.append(
            Finding(
                name="executable-download",
                severity=Severity.HIGH,
                explanation=(
                    f"{f.get('source.ip')} received a {kinds[0]} file{size} in cleartext from "
                    f"{host}{sha}"
                ),
                flow_ids=(flow_id(f),),
                evidence={"mime_types": kinds, "sha256": hashes[:10], "sizes": sizes[:10]},
            )
        )
    return out


def http_raw_ip(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Host header is an IP literal, or no Host at all to a public address (one finding per
    source and destination)."""
    groups: dict[tuple[str, str], list[FlowDoc]] = defaultdict(list)
    reasons: dict[tuple[str, str], str] = {}
    for f in flows:
        if not _is_http(f) or "ssdp" in protocols(f) or not strs(f, "http.request.method"):
            continue
        hosts = strs(f, "url.domain")
        literal = [h for h in hosts if is_ip_literal(h)]
        if literal:
            why = f"Host header is the IP literal {literal[0]}"
        elif not hosts and is_public(str(f.get("destination.ip") or "")):
            why = "requests have no Host header"
        else:
            continue
        key = (str(f.get("source.ip")), endpoint(f))
        groups[key].append(f)
        reasons.setdefault(key, why)
    out: list[Finding] = []
    for (src, dest), fs in groups.items():
        public = is_public(str(fs[0].get("destination.ip") or ""))
        methods = sorted({m for f in fs for m in strs(f, "http.request.method")})
        requests = sum(max(1, len(strs(f, "url.original"))) for f in fs)
        # Software updates and CDNs GET from raw IPs (measured: 2 of 39 benign captures);
        # sending data (POST/PUT) to a public IP literal is the C2 check-in shape.
        sends = bool({"POST", "PUT"} & set(methods))
        out.append(
            Finding(
                name="http-raw-ip",
                severity=Severity.MEDIUM if public and sends else Severity.LOW,
                explanation=(
                    f"{requests} HTTP {'/'.join(methods)} request(s) from {src} to "
                    f"{'public' if public else 'non-public'} {dest}: {reasons[(src, dest)]}"
                ),
                flow_ids=tuple(flow_id(f) for f in fs),
                evidence={
                    "destination": dest,
                    "public": public,
                    "methods": methods,
                    "requests": requests,
                    "flows": len(fs),
                },
            )
        )
    return out


def user_agents(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Scripted/tool user agents, a missing user agent and very old Internet Explorer."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for f in flows:
        if not _is_http(f) or not strs(f, "http.request.method") or "ssdp" in protocols(f):
            continue
        uas = strs(f, "user_agent.original")
        if not uas:
            groups[("missing-user-agent", "")].append(flow_id(f))
        for ua in uas:
            if SCRIPTED_UA.match(ua.strip()):
                groups[("scripted-user-agent", ua)].append(flow_id(f))
            elif OLD_MSIE.search(ua):
                groups[("old-msie-user-agent", ua)].append(flow_id(f))
    out: list[Finding] = []
    for (name, ua), ids in sorted(groups.items()):
        text = {
            "missing-user-agent": f"{len(ids)} HTTP request flow(s) sent no User-Agent",
            "scripted-user-agent": f"{len(ids)} HTTP flow(s) sent by a script or tool: {ua!r}",
            "old-msie-user-agent": (
                f"{len(ids)} HTTP flow(s) claim a very old Internet Explorer: {ua[:80]!r}"
            ),
        }[name]
        out.append(
            Finding(
                name=name,
                severity=Severity.LOW,
                explanation=text,
                flow_ids=tuple(ids),
                evidence={"user_agent": ua, "flows": len(ids)},
            )
        )
    return out


def ip_lookup_service(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Asking a "what is my IP" service is a typical first step of stealers and bots."""
    cited: dict[str, list[str]] = defaultdict(list)
    for f in flows:
        for name in flow_names(f):
            if name in IP_LOOKUP_SERVICES:
                cited[name].append(flow_id(f))
    if not cited:
        return []
    names = sorted(cited)
    count = sum(len(v) for v in cited.values())
    return [
        Finding(
            name="ip-lookup-service",
            severity=Severity.MEDIUM,
            explanation=(
                f"host looked up its public IP address via {', '.join(names)} "
                f"({count} flow(s): DNS, HTTP or TLS)"
            ),
            flow_ids=tuple(dict.fromkeys(i for n in names for i in cited[n])),
            evidence={"services": names, "flows": count},
        )
    ]


def _script_endpoint(uri: str) -> bool:
    path = uri.split("?", 1)[0].lower()
    return path.endswith((".php", ".asp", ".aspx", ".jsp", ".cgi", ".pl")) or path in ("/", "")


def http_c2_traits(flows: list[FlowDoc], cfg: DetectionConfig) -> list[Finding]:
    """Check-in and exfiltration shapes of HTTP: host inventory or credentials in form fields,
    long encoded blobs in URIs, repeated small POSTs to one script endpoint."""
    out: list[Finding] = []
    posts: dict[tuple[str, str], list[tuple[FlowDoc, list[int]]]] = defaultdict(list)
    for f in flows:
        fields = [k.lower() for k in strs(f, "pcaptotal.http.request.form_field")]
        inventory = sorted({k for k in fields if k in INVENTORY_FIELDS})
        src, dest = str(f.get("source.ip")), endpoint(f)
        if len(inventory) >= cfg.inventory_min_fields:
            out.append(
                Finding(
                    name="http-host-inventory-form",
                    severity=Severity.MEDIUM,
                    explanation=(
                        f"{src} posted host-inventory form fields to {dest}: "
                        f"{', '.join(inventory[:10])} (loader/stealer check-in shape)"
                    ),
                    flow_ids=(flow_id(f),),
                    evidence={"fields": fields[:30]},
                    matched="&".join(f"{k}=" for k in inventory[:10]),
                )
            )
        creds = [k for k in fields if CREDENTIAL_FIELDS.match(k)]
        if creds and "tls" not in protocols(f):
            out.append(
                Finding(
                    name="http-cleartext-credentials",
                    severity=Severity.LOW,
                    explanation=f"{src} sent form field(s) {', '.join(creds[:3])} in cleartext "
                    f"HTTP to {dest}",
                    flow_ids=(flow_id(f),),
                    evidence={"fields": fields[:30]},
                )
            )
        for uri in request_targets(f):
            blob = _longest_blob(uri)
            if len(blob) >= cfg.uri_blob_min_chars and entropy(blob) >= cfg.uri_blob_min_entropy:
                out.append(
                    Finding(
                        name="http-encoded-uri-blob",
                        severity=Severity.LOW,
                        explanation=(
                            f"{src} -> {dest}: URI carries a {len(blob)}-char encoded blob "
                            f"(entropy {entropy(blob):.2f} bits/char)"
                        ),
                        flow_ids=(flow_id(f),),
                        evidence={"length": len(blob)},
                        matched=blob[:80],
                    )
                )
                break
        if "POST" in strs(f, "http.request.method"):
            for uri in request_targets(f):
                if _script_endpoint(uri):
                    sizes = [int(v) for v in values(f, "http.request.body.bytes")]
                    posts[(src, f"{dest}{uri.split('?', 1)[0][:60]}")].append((f, sizes))
    for (src, where), items in posts.items():
        sizes = [s for _, ss in items for s in ss]
        if len(items) < 3 or not sizes or max(sizes) > 4096:
            continue
        out.append(
            Finding(
                name="http-repeated-small-posts",
                severity=Severity.LOW,
                explanation=(
                    f"{src} POSTed {len(items)} times to the script endpoint {where} with small "
                    f"bodies ({min(sizes)}-{max(sizes)} B)"
                ),
                flow_ids=tuple(flow_id(f) for f, _ in items),
                evidence={"posts": len(items), "body_bytes": sizes[:50]},
            )
        )
    return out


_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")


def _longest_blob(uri: str) -> str:
    return max(_BLOB.findall(uri), key=len, default="")
