"""HTTP/1.x facts of request and response headers, and body sizes."""

from __future__ import annotations

import re
from collections.abc import Iterator

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
    for host in row.values("http.host"):
        yield "url.domain", host_without_port(host)
    for uri in row.values("http.request.uri"):
        yield "url.original", uri
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
