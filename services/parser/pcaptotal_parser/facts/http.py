"""HTTP/1.x facts of request and response headers, and body sizes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.types import Fact

_PART_NAME = re.compile(r'(?:^|;)\s*name="?([^";]*)"?', re.IGNORECASE)


def host_without_port(host: str) -> str:
    """``example.com:8080`` → ``example.com``; ``[2001:db8::1]:80`` → ``2001:db8::1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    return host


def full_url(uri: str, host: str | None) -> str:
    """The request URL: ``uri`` when absolute (proxy requests), else ``http://<Host><uri>`` for
    an origin-form target (``/path?query``); other targets (CONNECT's ``host:port``, ``*``)
    and requests without a Host header stay as sent."""
    if "://" in uri.split("/", 1)[0] or uri.lower().startswith(("http://", "https://")):
        return uri
    if host and uri.startswith("/"):
        return f"http://{host}{uri}"
    return uri


def url_parts(url: str) -> tuple[str | None, str | None, str | None]:
    """(scheme, path, query) of a request URL or origin-form target, path ``/`` when empty;
    no path for other targets (``host:port``, ``*``) or a URL that does not parse."""
    absolute = "://" in url
    if not absolute and not url.startswith("/"):
        return None, None, None
    try:
        parts = urlsplit(url if absolute else f"http://x{url}")
    except ValueError:  # e.g. an unclosed IPv6 bracket in the authority
        return None, None, None
    return (parts.scheme if absolute else None), parts.path or "/", parts.query or None


def url_facts(uri: str, host: str | None) -> Iterator[Fact]:
    """``url.original`` (the full URL), ``url.scheme``, ``url.path`` and ``url.query``."""
    url = full_url(uri, host)
    yield "url.original", url
    scheme, path, query = url_parts(url)
    if scheme:
        yield "url.scheme", scheme
    if path:
        yield "url.path", path
    if query:
        yield "url.query", query


def body_bytes(row: Row) -> int | None:
    """Body size of the packet's HTTP message: Content-Length, else the sum of its chunks.

    (A body delimited by the connection closing has neither and is not sized.)
    """
    lengths = row.values("http.content_length")
    if lengths and lengths[0].isdigit():
        return int(lengths[0])
    chunks = row.values("http.chunk_size")
    if chunks:
        return sum(int(c) for c in chunks if c.isdigit())
    return None


def http_facts(row: Row) -> Iterator[Fact]:
    methods = row.values("http.request.method")
    for method in methods:
        yield "http.request.method", method
    hosts = row.values("http.host")
    for host in hosts:
        yield "url.domain", host_without_port(host)
    for uri in row.values("http.request.uri"):
        yield from url_facts(uri, hosts[0] if hosts else None)
    for agent in row.values("http.user_agent"):
        yield "user_agent.original", agent
    for key in row.values("urlencoded-form.key"):
        yield "pcaptotal.http.request.form_field", key[:64]
    if methods:  # multipart/form-data parts of a request: their field names
        for disposition in row.values("mime_multipart.header.content-disposition"):
            match = _PART_NAME.search(disposition)
            if match:
                yield "pcaptotal.http.request.form_field", match.group(1)[:64]
    for referrer in row.values("http.referer"):
        yield "http.request.referrer", referrer
    codes = row.values("http.response.code")
    for code in codes:
        if code.isdigit():
            yield "http.response.status_code", int(code)
    size = body_bytes(row)
    if codes:  # a Content-Type on a request describes the upload, not the response
        for ctype in row.values("http.content_type"):
            mime = ctype.split(";", 1)[0].strip().lower()
            if mime:
                yield "http.response.mime_type", mime
        for server in row.values("http.server"):
            yield "pcaptotal.http.response.server", server
        for location in row.values("http.location"):
            yield "pcaptotal.http.response.location", location
        if size is not None:
            yield "http.response.body.bytes", size
    elif methods and size is not None:
        yield "http.request.body.bytes", size
