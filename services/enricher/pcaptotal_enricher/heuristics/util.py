"""Defensive accessors over flow documents (multi-valued fields are lists; ``dns.question`` and
``dns.answers`` are arrays of ECS objects whose sub-fields read like flat fields here)."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Any

FlowDoc = dict[str, Any]
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

# Per-capture caches of address and time parsing. Every heuristic walks the flows in the same
# order, so an LRU smaller than the capture's distinct values misses on every call (a
# flow-heavy capture has ~100,000 addresses: with 65,536 entries parse_ip hit nothing). Large
# enough for that, and emptied after each capture (``clear_caches``) so nothing is kept.
_CACHE_SIZE = 1 << 18


# The accessors below run ~2 million times per 50,000 flows (every heuristic reads every flow):
# each takes the common case (a plain str/int value, or no value) first, with the same result.
_SPLITS: dict[str, tuple[str, str]] = {}  # field -> (parent, leaf): a few dozen names


def _in_objects(flow: FlowDoc, field: str) -> list[Any] | None:
    """``field`` read through an array of objects one level up (``dns.answers.data`` from
    ``dns.answers: [{"data": ...}]``), or None when the flow has no such array."""
    split = _SPLITS.get(field)
    if split is None:
        root, _, leaf = field.rpartition(".")
        split = _SPLITS[field] = (root, leaf)
    root, leaf = split
    objects = flow.get(root)
    if not isinstance(objects, list):
        return None
    return [o[leaf] for o in objects if isinstance(o, dict) and o.get(leaf) is not None]


def values(flow: FlowDoc, field: str) -> list[Any]:
    """The values of ``field`` as a list (absent → empty, scalar → one-element list)."""
    v = flow.get(field)
    if v is None:
        v = _in_objects(flow, field)
        if v is None:
            return []
    return list(v) if isinstance(v, list | tuple) else [v]


def request_targets(flow: FlowDoc) -> list[str]:
    """The HTTP request targets (``/path?query``) of the flow: its ``url.original`` values are
    full URLs, whose scheme and authority the URI heuristics do not look at."""
    out: list[str] = []
    for url in strs(flow, "url.original"):
        i = url.find("://")
        if 0 < i < 16:
            j = url.find("/", i + 3)
            out.append(url[j:] if j >= 0 else "/")
        else:
            out.append(url)
    return out


def strs(flow: FlowDoc, field: str) -> list[str]:
    v = flow.get(field)
    if type(v) is str:
        return [v] if v else []
    if v is None:
        split = _SPLITS.get(field)
        if split is not None and flow.get(split[0]) is None:  # no array of objects either
            return []
        v = _in_objects(flow, field)
    if v is None or v == "" or v == []:  # the common case: the flow has no such field
        return []
    items = v if isinstance(v, list | tuple) else (v,)
    return [x if isinstance(x, str) else str(x) for x in items if x is not None and x != ""]


def num(flow: FlowDoc, field: str, default: float = 0.0) -> float:
    v = flow.get(field)
    if type(v) is int or type(v) is float:
        return float(v)
    if isinstance(v, list):
        v = v[0] if v else None
    if isinstance(v, bool) or v is None:
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


_PORT_FIELDS = {"destination": "destination.port", "source": "source.port"}


def port(flow: FlowDoc, side: str = "destination") -> int | None:
    v = flow.get(_PORT_FIELDS.get(side) or f"{side}.port")
    if type(v) is int:
        return v
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def flow_id(flow: FlowDoc) -> str:
    v = flow.get("event.id")
    if type(v) is str and v:
        return v
    return str(
        flow.get("event.id") or flow.get("_id") or flow.get("pcaptotal.flow_key") or id(flow)
    )


def protocols(flow: FlowDoc) -> set[str]:
    return {p.lower() for p in strs(flow, "network.protocol")}


def flags(flow: FlowDoc) -> set[str]:
    return {f.upper() for f in strs(flow, "pcaptotal.tcp_flags")}


def transport(flow: FlowDoc) -> str:
    v = flow.get("network.transport")
    if type(v) is str:
        return v.lower()
    return str(flow.get("network.transport") or "").lower()


def start_s(flow: FlowDoc) -> float | None:
    """``event.start`` as POSIX seconds (ISO-8601 string, datetime or epoch number)."""
    v = flow.get("event.start")
    if type(v) is str and v:
        return _iso_seconds(v)
    return _to_seconds(v)


def _to_seconds(v: Any) -> float | None:
    if isinstance(v, list):
        v = v[0] if v else None
    if isinstance(v, datetime):
        return v.timestamp()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v) / 1000.0 if v > 1e11 else float(v)  # epoch millis or seconds
    if isinstance(v, str) and v:
        return _iso_seconds(v)
    return None


@lru_cache(maxsize=_CACHE_SIZE)
def _iso_seconds(v: str) -> float | None:
    # several heuristics read every flow's start: parse each distinct string once
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def date_s(v: Any) -> float | None:
    return _to_seconds(v)


def duration_s(flow: FlowDoc) -> float:
    """``event.duration`` is nanoseconds (ECS)."""
    return num(flow, "event.duration") / 1e9


@lru_cache(maxsize=_CACHE_SIZE)
def parse_ip(text: str) -> IpAddr | None:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=_CACHE_SIZE)  # every heuristic asks about the same addresses
def is_public(text: str | None) -> bool:
    """Globally routable unicast (not private, loopback, link-local, multicast, reserved)."""
    addr = parse_ip(text) if text else None
    return addr is not None and addr.is_global and not addr.is_multicast


@lru_cache(maxsize=_CACHE_SIZE)  # every heuristic asks about the same addresses
def is_multicast_or_broadcast(text: str | None) -> bool:
    addr = parse_ip(text) if text else None
    if addr is None:
        return False
    if addr.is_multicast:
        return True
    if isinstance(addr, ipaddress.IPv4Address):
        if addr == ipaddress.IPv4Address("255.255.255.255"):
            return True
        return addr.is_private and str(addr).endswith(".255")  # a /24 broadcast
    return False


@lru_cache(maxsize=_CACHE_SIZE)  # every heuristic asks about the same addresses
def is_loopback(text: str | None) -> bool:
    addr = parse_ip(text) if text else None
    return addr is not None and (addr.is_loopback or addr.is_unspecified)


def is_ip_literal(host: str) -> bool:
    h = host.strip()
    if h.startswith("[") and "]" in h:
        h = h[1 : h.index("]")]
    elif h.count(":") == 1:  # host:port
        h = h.split(":", 1)[0]
    return parse_ip(h) is not None


def strip_port(host: str) -> str:
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and "]" in h:
        return h[1 : h.index("]")]
    if h.count(":") == 1:
        return h.split(":", 1)[0]
    return h


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def endpoint(flow: FlowDoc) -> str:
    dst = str(flow.get("destination.ip") or "?")
    p = port(flow)
    shown = f"[{dst}]" if ":" in dst else dst
    return f"{shown}:{p}" if p is not None else dst


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def clear_caches() -> None:
    """Forget the parsed addresses and times of the capture just analysed."""
    for cached in (_iso_seconds, parse_ip, is_public, is_multicast_or_broadcast, is_loopback):
        cached.cache_clear()
