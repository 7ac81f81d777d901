"""DGA-like names, DNS tunnelling and dynamic-DNS hosts."""

from __future__ import annotations

from typing import Any

from pcaptotal_enricher.heuristics import DetectionConfig, Severity
from pcaptotal_enricher.heuristics.dns import dga_domains, dns_tunnelling, dynamic_dns
from pcaptotal_enricher.heuristics.names import registered_domain

CFG = DetectionConfig()


def dns(i: int, name: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"cap-udp-{i}",
        "source.ip": "10.0.0.5",
        "destination.ip": "10.0.0.1",
        "destination.port": 53,
        "network.transport": "udp",
        "network.protocol": ["dns"],
        "dns.question.name": [name],
        "dns.question.type": ["A"],
        "dns.response_code": ["NOERROR"],
    }
    doc.update(kw)
    return doc


def test_registered_domain() -> None:
    assert registered_domain("a.b.example.com") == "example.com"
    assert registered_domain("x.example.co.uk") == "example.co.uk"


def test_dga_names_flagged_with_numbers() -> None:
    flows = [dns(0, "xkqzvbrtplmw.com", **{"dns.response_code": ["NXDOMAIN"]})]
    [f] = dga_domains(flows, CFG)
    assert f.severity is Severity.MEDIUM
    assert "xkqzvbrtplmw.com" in f.explanation and "entropy" in f.explanation
    assert "consonant run 12" in f.explanation and "1 answered NXDOMAIN" in f.explanation


def test_many_dga_names_are_high() -> None:
    names = ["qwx7k2vbn9zt.net", "zp4kq8xw2mvr.org", "h7xq2kzvw9pt.info", "b9qz4xw7kvtm.biz"]
    names.append("t4kq9zxv2wbp.com")
    [f] = dga_domains([dns(i, n) for i, n in enumerate(names)], CFG)
    assert f.severity is Severity.HIGH and f.evidence["names"]


def test_ordinary_and_common_names_are_not_dga() -> None:
    names = [
        "www.wikipedia.org",
        "elquijotebanquetes.com",
        "settings-win.data.microsoft.com",
        "ns-1984.awsdns-56.co.uk",
        "p31-keyvalueservice.icloud.com",
        "BRWC0CB383D1F42",  # single label (a printer), never a DGA candidate
        "upload.wikimedia.org.ncsa.uiuc.edu",
        "gomez._sftp-ssh._tcp.local",
    ]
    assert dga_domains([dns(i, n) for i, n in enumerate(names)], CFG) == []


def test_tunnelling_many_long_random_subdomains() -> None:
    chunks = [
        f"{i:02x}a9f3c1e7b2d4f6a8c0e1b3d5f7a9c2e4f6b8d0a1c3e5f7b9d2f4a6c8e0b1d3" for i in range(40)
    ]
    flows = [
        dns(i, f"{c}.t.evil-tunnel.net", **{"dns.question.type": ["TXT"]})
        for i, c in enumerate(chunks)
    ]
    [f] = dns_tunnelling(flows, CFG)
    assert f.severity is Severity.HIGH
    assert "evil-tunnel.net" in f.explanation and "40 unique subdomains" in f.explanation
    assert "40 TXT queries" in f.explanation and f.evidence["longest_label"] >= 60


def test_normal_dns_is_not_tunnelling() -> None:
    flows = [dns(i, n) for i, n in enumerate(["www.example.com", "mail.example.com"] * 10)]
    flows.append(dns(99, "flkr._domainkey.flickr.com", **{"dns.question.type": ["TXT"]}))
    flows += [dns(100 + i, f"{i}.1.168.192.in-addr.arpa") for i in range(60)]
    assert dns_tunnelling(flows, CFG) == []


def test_dynamic_dns_then_connection_is_medium() -> None:
    q = dns(0, "carlos.con-ip.com", **{"dns.answers.data": ["181.131.218.39"]})
    conn = {"_id": "cap-tcp-0", "destination.ip": "181.131.218.39", "destination.port": 4041}
    [f] = dynamic_dns([q, conn], CFG)
    assert f.severity is Severity.MEDIUM and "181.131.218.39" in f.explanation
    assert set(f.flow_ids) == {"cap-udp-0", "cap-tcp-0"}
    [lone] = dynamic_dns([dns(1, "home.duckdns.org")], CFG)
    assert lone.severity is Severity.LOW
    assert dynamic_dns([dns(2, "www.example.com")], CFG) == []
