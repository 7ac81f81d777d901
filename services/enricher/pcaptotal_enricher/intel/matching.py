"""Which flow fields are checked against which indicator types, and the resulting hits.

Flow documents are flat ECS dicts; a field may be absent, a scalar or a list. Fields that the
parser does not produce yet (``file.hash.*``, ``tls.server.hash.sha1``) are simply absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcaptotal_enricher.intel.indicator_set import Group, IndicatorSet
from pcaptotal_enricher.intel.model import Confidence, IndicatorType, Kind
from pcaptotal_enricher.intel.normalize import normalise_url, parse_ip, strip_port

_T = Kind
# Fields compared verbatim (lowercased for hex digests) with one indicator type each.
# Types as plain str values: hashing a StrEnum member runs Python code (8x slower).
_EXACT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("tls.client.ja3", _T.JA3.value, True),
    ("tls.server.ja3s", _T.JA3S.value, True),
    ("file.hash.md5", _T.MD5.value, True),
    ("file.hash.sha1", _T.SHA1.value, True),
    ("file.hash.sha256", _T.SHA256.value, True),
    ("tls.server.hash.sha1", _T.X509_SHA1.value, True),
    ("user_agent.original", _T.USER_AGENT.value, False),
)
_IPV4, _IPV6, _DOMAIN, _URL = _T.IPV4.value, _T.IPV6.value, _T.DOMAIN.value, _T.URL.value
_DOMAIN_FIELDS = ("dns.question.name", "tls.client.server_name")
_MAX_URLS = 256  # host x path combinations built per flow


@dataclass(frozen=True, slots=True)
class Hit:
    indicator: str  # the listed value (a parent domain or network for suffix/CIDR matches)
    type: IndicatorType
    feed: str
    field: str  # the flow field that matched
    atomic: str  # the flow's value in that field
    family: str | None
    tags: tuple[str, ...]
    confidence: Confidence


def _each(value: Any) -> list[Any] | tuple[Any, ...]:
    return value if isinstance(value, list) else (value,)


def _add(hits: list[Hit], found: list[tuple[str, Group]], field: str, atomic: str) -> None:
    for value, group in found:
        for meta in group:
            hits.append(
                Hit(
                    value,
                    meta.type,
                    meta.feed,
                    field,
                    atomic,
                    meta.family,
                    meta.tags,
                    meta.confidence,
                )
            )


def _host(indicators: IndicatorSet, field: str, raw: str) -> list[tuple[str, Group]]:
    """A name that may be an address (``Host: 1.2.3.4:8080``, a DNS A answer) or a DNS name."""
    host = strip_port(raw) if field == "url.domain" else raw
    if host and (host[0].isdigit() or ":" in host) and parse_ip(host) is not None:
        return indicators.lookup_ip(host)
    return indicators.lookup_domain(host) if host else []


def flow_urls(flow: dict[str, Any]) -> list[str]:
    """Absolute URLs of the flow's HTTP requests: ``url.original`` as-is when absolute (proxy
    requests), else ``http://<url.domain><url.original>``. The two fields are independent
    lists, so every host is combined with every path (capped; a spurious combination can only
    match a URL someone listed)."""
    paths = [str(p) for p in _each(flow.get("url.original")) if p]
    hosts = [str(h) for h in _each(flow.get("url.domain")) if h]
    urls: list[str] = []
    for path in paths:
        if "://" in path[:16]:
            urls.append(path)
            continue
        path = path if path.startswith("/") else f"/{path}"
        urls.extend(f"http://{host}{path}" for host in hosts[: _MAX_URLS - len(urls)])
    return urls


def match_flow(indicators: IndicatorSet, flow: dict[str, Any]) -> list[Hit]:
    """Every indicator the flow touches, once per (indicator, feed, field, flow value).

    Written for the hot path (≥ 100k flows/s): absent fields and indicator types no feed has
    cost one dict lookup each.
    """
    hits: list[Hit] = []
    active = indicators.active()
    get = flow.get
    if _IPV4 in active or _IPV6 in active:
        for field in ("source.ip", "destination.ip"):
            raw = get(field)
            if raw is not None:
                for ip in _each(raw):
                    found = indicators.lookup_ip(str(ip))
                    if found:
                        _add(hits, found, field, str(ip))
    for field in _DOMAIN_FIELDS:
        raw = get(field)
        if raw is not None and _DOMAIN in active:
            for name in _each(raw):
                found = indicators.lookup_domain(str(name))
                if found:
                    _add(hits, found, field, str(name))
    for field in ("dns.answers.data", "url.domain"):
        raw = get(field)
        if raw is not None:
            for name in _each(raw):
                found = _host(indicators, field, str(name))
                if found:
                    _add(hits, found, field, str(name))
    if _URL in active and get("url.original") is not None:
        for url in flow_urls(flow):
            key = normalise_url(url)
            group = indicators.lookup(_URL, key) if key else None
            if key and group:
                _add(hits, [(key, group)], "url.original", url)
    for field, kind, lower in _EXACT_FIELDS:
        raw = get(field)
        if raw is not None and kind in active:
            for value in _each(raw):
                text = str(value).lower() if lower else str(value).strip()
                group = indicators.lookup(kind, text)
                if group:
                    _add(hits, [(text, group)], field, str(value))
    return list(dict.fromkeys(hits)) if len(hits) > 1 else hits
