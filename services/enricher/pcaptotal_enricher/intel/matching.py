"""Which flow fields are checked against which indicator types, and the resulting hits.

Flow documents are flat ECS dicts; a field may be absent, a scalar or a list. Fields that the
parser does not produce yet (``file.hash.*``, ``tls.server.hash.sha1``) are simply absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pcaptotal_enricher.intel.model import Confidence, Group, IndicatorType, Kind
from pcaptotal_enricher.intel.normalize import normalise_url, strip_port


class Indicators(Protocol):
    """The lookups matching needs (``indicator_set.IndicatorSet``, which imports this
    module, has them)."""

    def lookup_ip(self, text: str) -> list[tuple[str, Group]] | None: ...

    def lookup_domain(self, name: str) -> list[tuple[str, Group]]: ...

    def lookup(self, kind: str, value: str) -> Group | None: ...

    def active(self) -> frozenset[str]: ...


_T = Kind
# Fields compared verbatim (lowercased for hex digests) with one indicator type each.
# Types as plain str values: hashing a StrEnum member runs Python code (8x slower).
_IPV4, _IPV6, _DOMAIN, _URL = _T.IPV4.value, _T.IPV6.value, _T.DOMAIN.value, _T.URL.value
# Fields compared verbatim (lowercased for hex digests) with one indicator type each.
_EXACT_FIELDS: dict[str, tuple[str, bool]] = {
    "tls.client.ja3": (_T.JA3.value, True),
    "tls.server.ja3s": (_T.JA3S.value, True),
    "file.hash.md5": (_T.MD5.value, True),
    "file.hash.sha1": (_T.SHA1.value, True),
    "file.hash.sha256": (_T.SHA256.value, True),
    "tls.server.hash.sha1": (_T.X509_SHA1.value, True),
    "user_agent.original": (_T.USER_AGENT.value, False),
}
# What each matchable flow field holds: addresses, DNS names, either, or HTTP request paths.
_ROLE_IP, _ROLE_NAME, _ROLE_HOST, _ROLE_URL, _ROLE_EXACT = range(5)
_ROLES: dict[str, int] = {
    "source.ip": _ROLE_IP,
    "destination.ip": _ROLE_IP,
    "dns.question.name": _ROLE_NAME,
    "tls.client.server_name": _ROLE_NAME,
    "dns.answers.data": _ROLE_HOST,
    "url.domain": _ROLE_HOST,
    "url.original": _ROLE_URL,
    **dict.fromkeys(_EXACT_FIELDS, _ROLE_EXACT),
}
_FIELD_ORDER = {name: index for index, name in enumerate(_ROLES)}
# Arrays of ECS objects flows carry (parser: one per distinct DNS question / answer): the part
# of each object that is matched, as the dotted field it is (a flat key reads the same).
_OBJECT_PARTS: dict[str, tuple[str, str]] = {
    "dns.question": ("name", "dns.question.name"),
    "dns.answers": ("data", "dns.answers.data"),
}
_MATCHED_KEYS = frozenset(_ROLES) | frozenset(_OBJECT_PARTS)
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


def _host(indicators: Indicators, field: str, raw: str) -> list[tuple[str, Group]]:
    """A name that may be an address (``Host: 1.2.3.4:8080``, a DNS A answer) or a DNS name."""
    host = strip_port(raw) if field == "url.domain" else raw
    if not host:
        return []
    if host[0].isdigit() or ":" in host:
        found = indicators.lookup_ip(host)
        if found is not None:
            return found
    return indicators.lookup_domain(host)


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


def match_flow(indicators: Indicators, flow: dict[str, Any]) -> list[Hit]:
    """Every indicator the flow touches, once per (indicator, feed, field, flow value), in
    field order (deterministic documents).

    Written for the hot path (>= 100k flows/s): one C-level intersection picks the flow's
    matchable fields, and types that no feed has cost nothing.
    """
    present = flow.keys() & _MATCHED_KEYS
    if not present:
        return []
    active = indicators.active()
    hits: list[Hit] = []
    for name in present:
        raw = flow[name]
        if raw is None:
            continue
        field = name
        if name in _OBJECT_PARTS:
            part, field = _OBJECT_PARTS[name]
            objects = raw if isinstance(raw, list) else (raw,)
            raw = [o[part] for o in objects if isinstance(o, dict) and o.get(part)]
        values = raw if isinstance(raw, list) else (raw,)
        role = _ROLES[field]
        if role == _ROLE_IP:
            # Values are str by the field schema (ip / keyword): no str() on the hot path.
            if _IPV4 in active or _IPV6 in active:
                for value in values:
                    found = indicators.lookup_ip(value)
                    if found:
                        _add(hits, found, field, value)
        elif role == _ROLE_NAME:
            if _DOMAIN in active:
                for value in values:
                    found = indicators.lookup_domain(value)
                    if found:
                        _add(hits, found, field, value)
        elif role == _ROLE_HOST:
            for value in values:
                found = _host(indicators, field, value)
                if found:
                    _add(hits, found, field, value)
        elif role == _ROLE_URL:
            if _URL in active:
                for url in flow_urls(flow):
                    key = normalise_url(url)
                    group = indicators.lookup(_URL, key) if key else None
                    if key and group:
                        _add(hits, [(key, group)], field, url)
        else:
            kind, lower = _EXACT_FIELDS[field]
            if kind in active:
                for value in values:
                    text = value.lower() if lower else value.strip()
                    group = indicators.lookup(kind, text)
                    if group:
                        _add(hits, [(text, group)], field, value)
    if len(hits) > 1:
        hits = sorted(dict.fromkeys(hits), key=_hit_order)
    return hits


def _hit_order(hit: Hit) -> tuple[int, str, str, str]:
    return _FIELD_ORDER[hit.field], hit.atomic, hit.indicator, hit.feed
