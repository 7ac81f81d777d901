"""Plain indicator lists (one value per line, type auto-detected) and hosts files.

A bare 32-hex value is an MD5 of a file, a JA3 or a JA3S: nothing in the value says which. The
feed's ``hash_kinds`` decides; without it, the file name does (``ja3s`` → JA3S, ``ja3`` → JA3,
``md5``/``hash``/``file`` → file MD5), and with no hint the value is loaded as BOTH a file MD5
and a JA3 (two indicators, two counts in ``by_type``). A 40-hex value is a file SHA-1, or an
X.509 certificate SHA-1 when the name says ``cert``/``x509``/``ssl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pcaptotal_enricher.intel.formats.base import FeedContext
from pcaptotal_enricher.intel.model import Indicator, IndicatorType, Kind
from pcaptotal_enricher.intel.normalize import (
    normalise_domain,
    normalise_hash,
    normalise_ip,
    normalise_url,
)

_T = Kind
# Inline comments need whitespace before them: a URL may carry a '#fragment'.
_INLINE_COMMENT = re.compile(r"\s[#;]")
_HOSTS_LINE = re.compile(r"^\s*(0\.0\.0\.0|127\.0\.0\.1|::1?|::)\s+\S")
_LOCAL_HOSTS = {"localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0"}


def hash_kinds_for(feed_name: str) -> tuple[tuple[IndicatorType, ...], tuple[IndicatorType, ...]]:
    """What 32-hex and 40-hex values of a feed are, judged by its name (see module doc)."""
    name = feed_name.lower()
    if "ja3s" in name:
        md5: tuple[IndicatorType, ...] = (_T.JA3S,)
    elif "ja3" in name:
        md5 = (_T.JA3,)
    elif any(word in name for word in ("md5", "hash", "file")):
        md5 = (_T.MD5,)
    else:
        md5 = (_T.MD5, _T.JA3)
    sha1 = (_T.X509_SHA1,) if any(w in name for w in ("cert", "x509", "ssl")) else (_T.SHA1,)
    return md5, sha1


def strip_comment(line: str) -> str:
    text = line.strip()
    if not text or text[0] in "#;":
        return ""
    match = _INLINE_COMMENT.search(text)
    return text[: match.start()].strip() if match else text


def tokens(text: str) -> Iterator[str]:
    """Values on one line: whitespace, tab or comma separated (commas stay inside URLs)."""
    for word in text.split():
        if "://" in word:
            yield word
        else:
            yield from (part for part in word.split(",") if part)


def _ip_with_port(token: str) -> tuple[IndicatorType, str] | None:
    """``1.2.3.4:443`` or ``[2001:db8::1]:443``: the address, port dropped (lists of C2
    endpoints are matched on the address)."""
    if token.startswith("[") and "]:" in token:
        return normalise_ip(token[1 : token.index("]")])
    host, sep, port = token.rpartition(":")
    if sep and port.isdigit() and "." in host and ":" not in host:
        return normalise_ip(host)
    return None


def classify(
    token: str,
    md5_kinds: tuple[IndicatorType, ...],
    sha1_kinds: tuple[IndicatorType, ...],
) -> list[tuple[IndicatorType, str]] | str:
    """The indicator(s) one plain-list value stands for, or the reason it is malformed."""
    if "://" in token:
        url = normalise_url(token)
        return [(_T.URL, url)] if url else "unparseable URL"
    if token[0].isdigit() or token[0] == "[" or ":" in token:  # spare names a failed parse
        ip = normalise_ip(token) or _ip_with_port(token)
        if ip is not None:
            return [ip]
    digest = normalise_hash(token)
    if digest is not None:
        kind, value = digest
        if kind is _T.MD5:
            return [(k, value) for k in md5_kinds]
        if kind is _T.SHA1:
            return [(k, value) for k in sha1_kinds]
        return [digest]
    domain = normalise_domain(token)
    if domain is not None:
        return [(_T.DOMAIN, domain)]
    host, slash, _ = token.partition("/")
    if slash and (normalise_domain(host) or normalise_ip(host)):
        url = normalise_url(token)  # "evil.com/gate.php": a URL without its scheme
        if url:
            return [(_T.URL, url)]
    return "not an IP, CIDR, domain, URL or hash"


def parse_plain(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    md5_kinds, sha1_kinds = hash_kinds_for(feed.name)
    if feed.hash_kinds:
        md5_kinds = feed.hash_kinds
    for number, line in enumerate(lines, 1):
        problem = None  # a line counts once as malformed, with its first bad value
        text = line.strip()
        if not text or text[0] in "#;":
            continue
        if " " in text or "\t" in text or "," in text:
            words: Iterable[str] = tokens(strip_comment(text))
        else:
            words = (text,)  # the common case: one bare value
        for token in words:
            result = classify(token, md5_kinds, sha1_kinds)
            if isinstance(result, str):
                problem = problem or f"{result}: {token[:80]!r}"
                continue
            for kind, value in result:
                yield feed.indicator(kind, value)
        if problem:
            feed.stats.bad(number, problem)


def looks_like_hosts(lines: list[str]) -> bool:
    """Most data lines are ``0.0.0.0 host`` / ``127.0.0.1<TAB>host``."""
    data = [line for line in lines if strip_comment(line)]
    return bool(data) and sum(1 for line in data if _HOSTS_LINE.match(line)) * 2 > len(data)


def parse_hosts(lines: Iterable[str], feed: FeedContext) -> Iterator[Indicator]:
    for number, line in enumerate(lines, 1):
        words = strip_comment(line).split()
        if not words:
            continue
        if len(words) < 2 or normalise_ip(words[0]) is None:
            feed.stats.bad(number, f"not 'address host...': {line.strip()[:80]!r}")
            continue
        for host in words[1:]:
            if host.lower() in _LOCAL_HOSTS or host.startswith("ip6-"):
                feed.stats.skip("hosts-file local entry")
                continue
            domain = normalise_domain(host)
            if domain is None:
                feed.stats.bad(number, f"not a host name: {host[:80]!r}")
                continue
            yield feed.indicator(_T.DOMAIN, domain)
