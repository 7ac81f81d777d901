"""Trusted hosts: the ``Host`` header values an HTTP service answers (PCAPTOTAL_TRUSTED_HOSTS).

A page on another site can make a browser send requests to a name it controls that resolves to
this service (DNS rebinding); the browser then treats the answers as same-origin. Answering only
the names the service is really reached by defeats that. Bound to loopback, the default is the
loopback names; bound elsewhere it is ``*`` (the names a container or pod is reached by are not
knowable here, and auth is on there), so operators list their names to narrow it.

Entries: exact names (``pcaptotal.example.com``, ``10.0.0.5``, ``::1``), ``*.example.com``
(any subdomain, not the domain itself), or ``*`` (any). Ports are ignored. An untrusted or
missing Host is ``400`` problem+json. The probe and scrape endpoints answer any Host: the
kubelet, Docker's HEALTHCHECK and Prometheus reach them by address, and they hold no capture
data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from pcaptotal.web import problem

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Paths served to any Host (see the module docstring).
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class HostSettings(Protocol):
    """What the check reads of a service's settings (``Settings``, the gateway's)."""

    @property
    def http_host(self) -> str: ...

    @property
    def trusted_hosts(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TrustedHosts:
    """A parsed allow-list."""

    names: frozenset[str]
    suffixes: tuple[str, ...]  # ".example.com" for "*.example.com"
    any: bool

    @classmethod
    def parse(cls, entries: str | list[str] | tuple[str, ...]) -> TrustedHosts:
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        names: set[str] = set()
        suffixes: list[str] = []
        any_host = False
        for raw in items:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            if entry == "*":
                any_host = True
            elif entry.startswith("*."):
                suffixes.append(entry[1:])
            elif "*" in entry:
                raise ValueError(f"trusted host {raw.strip()!r}: '*' only as '*' or '*.domain'")
            else:
                names.add(entry)
        return cls(frozenset(names), tuple(suffixes), any_host)

    def allows(self, host_header: str | None) -> bool:
        if self.any:
            return True
        name = host_name(host_header or "")
        if not name:
            return False
        return name in self.names or any(
            name.endswith(s) and len(name) > len(s) for s in self.suffixes
        )


def host_name(header: str) -> str:
    """The name in a Host header value, lower case, without port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8080
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    if value.count(":") == 1:  # name:port; more colons is a bare IPv6 address
        value = value.split(":", 1)[0]
    return value.rstrip(".")  # "example.com." names the same host


def is_loopback(host: str) -> bool:
    """A bind address only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def trusted_hosts(settings: HostSettings) -> TrustedHosts:
    """The allow-list ``settings`` give, or the default for the bind address."""
    given = settings.trusted_hosts.strip()
    if given:
        return TrustedHosts.parse(given)
    if is_loopback(settings.http_host):
        return TrustedHosts.parse(LOOPBACK_NAMES)
    return TrustedHosts.parse("*")


class TrustedHostMiddleware:
    """400 problem+json for a request whose Host is not on the list."""

    def __init__(self, app: ASGIApp, hosts: TrustedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.hosts.any:
            await self.app(scope, receive, send)
            return
        if scope.get("path") in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        host: str | None = None
        for k, v in scope.get("headers", ()):
            if k == b"host":
                host = v.decode("latin-1")
                break
        if self.hosts.allows(host):
            await self.app(scope, receive, send)
            return
        # The bad name is not echoed: it is attacker-chosen and lands in logs and pages.
        response = problem(
            400, "the Host header names a host this service does not answer", kind="untrusted-host"
        )
        await response(scope, receive, send)


def install_trusted_hosts(app: ASGIApp, settings: HostSettings) -> None:
    """Add the Host check to a FastAPI/Starlette app (outermost, so nothing runs before it)."""
    from starlette.applications import Starlette

    assert isinstance(app, Starlette)
    app.add_middleware(TrustedHostMiddleware, hosts=trusted_hosts(settings))
