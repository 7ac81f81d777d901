"""Canonical forms of indicator values, shared by the loaders (feeds) and the matcher (flows).

Both sides go through the same functions so that a feed's ``HTTP://Evil.COM:80/a#x`` and a
flow's ``Host: evil.com`` + ``GET /a`` meet at one key: ``http://evil.com/a``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from pcaptotal_enricher.intel.model import IndicatorType, Kind

_T = Kind

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_V4_MAPPED = 0xFFFF << 32
_LABEL = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
# At least two labels and an alphabetic (or punycode) TLD: "1.2.3" is not a domain.
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_HASH_TYPES = {32: _T.MD5, 40: _T.SHA1, 64: _T.SHA256}


def parse_ip(text: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an IP address string, or None. Hot path: no ipaddress objects.

    IPv4-mapped IPv6 addresses come back as IPv4, so a feed's v4 address meets a v6 socket's
    view of the same host.
    """
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        if "%" in text:  # zone id (fe80::1%eth0) is local, not part of the address
            text = text.split("%", 1)[0]
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def normalise_ip(text: str) -> tuple[IndicatorType, str] | None:
    """Canonical address or network (``10.0.0.0/8``; a /32 or /128 becomes a plain address).

    Host bits set in a CIDR (``10.1.2.3/8``) are cleared: publishers write that and mean the
    network.
    """
    text = text.strip().strip("[]")
    if "/" not in text:
        if ":" not in text:
            try:  # inet_pton takes only the canonical dotted quad (no leading zeros, 4 parts)
                socket.inet_pton(socket.AF_INET, text)
            except (OSError, ValueError):  # ValueError: an embedded NUL
                return None
            return _T.IPV4, text
        parsed = parse_ip(text)
        if parsed is None:
            return None
        version, value = parsed
        if version == 4:
            return _T.IPV4, str(ipaddress.IPv4Address(value))
        return _T.IPV6, str(ipaddress.IPv6Address(value))
    try:
        net = ipaddress.ip_network(text.split("%", 1)[0], strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        if net.prefixlen < 96:
            return None  # a v6 prefix wider than the mapped range is not a v4 network
        net = ipaddress.IPv4Network(
            (int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96), strict=False
        )
    kind = _T.IPV4 if net.version == 4 else _T.IPV6
    if net.prefixlen == net.max_prefixlen:
        return kind, str(net.network_address)
    return kind, str(net)


def normalise_domain(text: str) -> str | None:
    """Lowercase, no trailing dot, IDN as punycode; a leading ``*.`` or ``.`` is dropped
    (subdomains match anyway). None if it is not a plausible DNS name."""
    name = text.strip().lower().rstrip(".")
    if name.startswith("*."):
        name = name[2:]
    name = name.lstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(name) > 253 or not _DOMAIN_RE.fullmatch(name):
        return None
    return name


# The common shape, normalised without urlsplit (5x faster on a 200k-URL feed): a scheme, a
# plain ASCII host name or IPv4 address, an optional port, no userinfo.
_SIMPLE_URL = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9._-]+?)\.?(?::(\d{1,5}))?([/?][^#]*)?(?:#.*)?"
)


def normalise_url(text: str, default_scheme: str = "http") -> str | None:
    """``scheme://host[:port]/path[?query]``: scheme and host lowercased, default port and
    fragment and userinfo dropped, empty path as ``/``; a URL without a scheme (Zeek intel,
    bare lists) gets ``default_scheme``. Path and query are kept byte for byte."""
    raw = text.strip()
    if not raw:
        return None
    if "://" not in raw:
        raw = f"{default_scheme}://{raw}"
    simple = _SIMPLE_URL.fullmatch(raw)
    if simple is not None:
        scheme, host, port_text, rest = simple.groups()
        scheme, host = scheme.lower(), host.lower()
        if port_text:
            number = int(port_text)
            if number > 65535:
                return None
            if _DEFAULT_PORTS.get(scheme) != number:
                host = f"{host}:{number}"
        if not rest:
            return f"{scheme}://{host}/"
        return f"{scheme}://{host}{rest}" if rest[0] == "/" else f"{scheme}://{host}/{rest}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # already lowercased, brackets removed
    if not scheme or not host:
        return None
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if ":" in host:
        v6 = normalise_ip(host)
        if v6 is None:
            return None
        host = f"[{v6[1]}]" if ":" in v6[1] else v6[1]
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def normalise_hash(text: str) -> tuple[IndicatorType, str] | None:
    """A hex digest of a known length (md5 / sha1 / sha256), lowercased; its file-hash type."""
    value = text.strip()
    kind = _HASH_TYPES.get(len(value))
    if kind is None or not _HEX_RE.fullmatch(value):
        return None
    return kind, value.lower()


def strip_port(host: str) -> str:
    """``evil.com:8080`` → ``evil.com``; ``[2001:db8::1]:80`` → ``2001:db8::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def normalise_ua(text: str) -> str | None:
    """User agents match exactly, surrounding whitespace aside."""
    value = text.strip()
    return value or None
