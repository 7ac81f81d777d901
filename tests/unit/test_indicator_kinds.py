"""The indicator route's kind inference: the value's shape picks the fields searched."""

from __future__ import annotations

import pytest
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal_search_api.indicators import FIELDS, Kind, infer_kind, normalise


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("192.0.2.1", Kind.IP),
        ("2001:db8::1", Kind.IP),
        ("d41d8cd98f00b204e9800998ecf8427e", Kind.MD5_OR_JA3),
        ("D41D8CD98F00B204E9800998ECF8427E", Kind.MD5_OR_JA3),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", Kind.SHA1),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Kind.SHA256),
        ("t13d1516h2_8daaf6152771_02713d6af862", Kind.JA4),  # ALPN h2
        ("t13d1516h2_8daaf615277_e5627efa2ab1", Kind.USER_AGENT),  # 11 hex digits: not a JA4
        ("t13d151600_8daaf6152771_e5627efa2ab1", Kind.JA4),
        ("http://upload.wikimedia.org/x.png", Kind.URL),
        ("upload.wikimedia.org", Kind.DOMAIN),
        ("Example.COM.", Kind.DOMAIN),
        ("Mozilla/5.0 (X11; Linux x86_64)", Kind.USER_AGENT),
        ("localhost", Kind.USER_AGENT),  # no dot: not taken for a DNS name
    ],
)
def test_infer_kind(value: str, kind: Kind) -> None:
    assert infer_kind(value) is kind


def test_every_searched_field_is_declared() -> None:
    for fields in FIELDS.values():
        assert all(f in FLOW_FIELDS_BY_NAME for f in fields)


def test_normalise() -> None:
    assert normalise(Kind.DOMAIN, "Example.COM.") == "example.com"
    assert str(normalise(Kind.IP, "::ffff:192.0.2.1")) == "192.0.2.1"
    assert normalise(Kind.USER_AGENT, "Mozilla/5.0 X") == "Mozilla/5.0 X"
