"""Registered domains from the bundled Public Suffix List (not a hand-written suffix list)."""

from __future__ import annotations

import pytest
from pcaptotal_enricher.heuristics.names import registered_domain


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.b.example.com", "example.com"),
        ("x.example.co.uk", "example.co.uk"),
        # suffixes a short hand-written list got wrong
        ("www.example.ltd.uk", "example.ltd.uk"),
        ("a.b.example.com.cn", "example.com.cn"),
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),  # an exception rule (!city.kawasaki.jp)
        ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp"),  # a wildcard rule (*.kawasaki.jp)
        # private-section suffixes are not used: CDN hosts stay under their provider
        ("d1234abcd.cloudfront.net", "cloudfront.net"),
        # a public suffix on its own, an unknown TLD, a malformed name: never an error
        ("co.uk", "co.uk"),
        ("host.example.unknowntld", "example.unknowntld"),
        ("a..b.com", "a..b.com"),
    ],
)
def test_registered_domain(name: str, expected: str) -> None:
    assert registered_domain(name) == expected
