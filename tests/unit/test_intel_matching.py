"""IndicatorSet lookups, flow matching and the threat.* enrichment on realistic flow documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.fields import values_of
from pcaptotal_enricher.intel import IndicatorSet, IndicatorType, intel_enrichment
from pcaptotal_enricher.intel.matching import flow_urls
from pcaptotal_enricher.intel.normalize import normalise_domain, normalise_ip, normalise_url

T = IndicatorType
JA3 = "e7d705a3286e19ea42f587b344ee6865"
SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Evil.COM:80/a/B?x=1#frag", "http://evil.com/a/B?x=1"),
        ("https://evil.com:443", "https://evil.com/"),
        ("http://evil.com.:8080/x", "http://evil.com:8080/x"),
        ("http://user:pw@evil.com/x", "http://evil.com/x"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("evil.com/gate.php", "http://evil.com/gate.php"),
        ("http://bücher.example/x", "http://xn--bcher-kva.example/x"),
        ("http://evil.com:99999/", None),
        ("http://", None),
    ],
)
def test_normalise_url(raw: str, expected: str | None) -> None:
    assert normalise_url(raw) == expected


def test_normalise_ip_and_domain() -> None:
    assert normalise_ip("::ffff:1.2.3.4") == (T.IPV4, "1.2.3.4")
    assert normalise_ip("2001:0DB8:0000::0001") == (T.IPV6, "2001:db8::1")
    assert normalise_ip("10.1.2.3/8") == (T.IPV4, "10.0.0.0/8")
    assert normalise_ip("10.1.2.3/32") == (T.IPV4, "10.1.2.3")
    assert normalise_ip("01.2.3.4") is None
    assert normalise_domain("*.Evil.Example.COM.") == "evil.example.com"
    assert normalise_domain("localhost") is None
    assert normalise_domain("1.2.3.4") is None


def feed(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def indicators(tmp_path: Path) -> IndicatorSet:
    s = IndicatorSet()
    s.add_feed(
        feed(tmp_path, "ips.txt", "198.51.100.7\n2001:db8::bad\n10.66.0.0/16\n2001:db8:aa::/48\n")
    )
    s.add_feed(feed(tmp_path, "domains.txt", "evil.example.com\nduck.example.org\n"))
    s.add_feed(feed(tmp_path, "urls.txt", "HTTP://Evil.Example.com:80/gate.php?id=1#x\n"))
    s.add_feed(feed(tmp_path, "ja3_fingerprints.txt", f"{JA3}\n"))
    s.add_feed(feed(tmp_path, "hashes.txt", f"{SHA256}\n"))
    feodo = (
        '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
        '"2025-12-30 13:56:31","198.51.100.7","443","online","2026-03-12","QakBot"\n'
        '"2025-12-30 13:56:31","10.66.1.0/24","443","online","2026-03-12","QakBot"\n'
    )
    s.add_feed(feed(tmp_path, "feodo.csv", feodo))
    event = {"Event": {"uuid": "e1", "threat_level_id": "1", "Tag": [], "Attribute": [
        {"type": "domain|ip", "value": "pair.example.net|203.0.113.5", "to_ids": True},
        {"type": "ip-dst|port", "value": "203.0.113.6|8443", "to_ids": True},
        {"type": "user-agent", "value": "EvilBot/1.0", "to_ids": True},
    ]}}  # fmt: skip
    s.add_feed(feed(tmp_path, "misp.json", json.dumps(event)))
    return s


def summary(hits: list[Any]) -> set[tuple[str, str, str, str]]:
    return {(h.field, h.atomic, h.indicator, h.feed) for h in hits}


def test_ipv4_exact_and_cidr_from_several_feeds(indicators: IndicatorSet) -> None:
    flow = {"source.ip": "10.66.1.20", "destination.ip": "198.51.100.7", "destination.port": 443}
    assert summary(indicators.match_flow(flow)) == {
        ("source.ip", "10.66.1.20", "10.66.0.0/16", "ips.txt"),
        ("source.ip", "10.66.1.20", "10.66.1.0/24", "feodo.csv"),
        ("destination.ip", "198.51.100.7", "198.51.100.7", "ips.txt"),
        ("destination.ip", "198.51.100.7", "198.51.100.7", "feodo.csv"),
    }


def test_ipv6_exact_cidr_and_mapped_ipv4(indicators: IndicatorSet) -> None:
    flow = {"source.ip": "2001:DB8::BAD", "destination.ip": "2001:db8:aa:1::5"}
    assert summary(indicators.match_flow(flow)) == {
        ("source.ip", "2001:DB8::BAD", "2001:db8::bad", "ips.txt"),
        ("destination.ip", "2001:db8:aa:1::5", "2001:db8:aa::/48", "ips.txt"),
    }
    mapped = indicators.match_flow({"destination.ip": "::ffff:198.51.100.7"})
    assert {h.indicator for h in mapped} == {"198.51.100.7"}


def test_domain_exact_and_subdomain_in_dns_sni_and_host(indicators: IndicatorSet) -> None:
    flow = {
        "source.ip": "192.168.1.10",
        "destination.ip": "192.168.1.1",
        "dns.question.name": ["a.b.Evil.Example.com.", "www.example.com"],
        "dns.answers.data": ["cdn.duck.example.org", "203.0.113.5", "93.184.216.34"],
        "tls.client.server_name": ["evil.example.com"],
        "url.domain": ["pair.example.net:8080"],
    }
    assert summary(indicators.match_flow(flow)) == {
        ("dns.question.name", "a.b.Evil.Example.com.", "evil.example.com", "domains.txt"),
        ("dns.answers.data", "cdn.duck.example.org", "duck.example.org", "domains.txt"),
        ("dns.answers.data", "203.0.113.5", "203.0.113.5", "misp.json"),
        ("tls.client.server_name", "evil.example.com", "evil.example.com", "domains.txt"),
        ("url.domain", "pair.example.net:8080", "pair.example.net", "misp.json"),
    }


def test_not_a_suffix_match_across_label_boundaries(indicators: IndicatorSet) -> None:
    flow = {"dns.question.name": ["notevil.example.com", "evil.example.com.au"]}
    assert indicators.match_flow(flow) == []


def test_url_built_from_host_and_path_and_normalised(indicators: IndicatorSet) -> None:
    flow = {
        "url.domain": ["EVIL.example.com"],
        "url.original": ["/gate.php?id=1", "/other"],
        "user_agent.original": ["EvilBot/1.0"],
    }
    hits = indicators.match_flow(flow)
    assert ("url.original", "http://EVIL.example.com/gate.php?id=1",
            "http://evil.example.com/gate.php?id=1", "urls.txt") in summary(hits)  # fmt: skip
    assert ("user_agent.original", "EvilBot/1.0", "EvilBot/1.0", "misp.json") in summary(hits)
    proxy = {"url.original": ["http://evil.example.com:80/gate.php?id=1"]}
    assert {h.type for h in indicators.match_flow(proxy)} == {T.URL}


def test_flow_urls_combines_hosts_and_paths() -> None:
    flow = {"url.domain": ["a.example", "b.example"], "url.original": ["/x", "http://c/y"]}
    assert flow_urls(flow) == ["http://a.example/x", "http://b.example/x", "http://c/y"]
    assert flow_urls({"url.original": ["/x"]}) == []


def test_ja3_hashes_and_missing_fields(indicators: IndicatorSet) -> None:
    flow = {
        "tls.client.ja3": [JA3.upper()],
        "tls.server.ja3s": [JA3],  # listed as a JA3 (client) fingerprint only
        "file.hash.sha256": [SHA256],
    }
    hits = indicators.match_flow(flow)
    assert {(h.field, h.type) for h in hits} == {
        ("tls.client.ja3", T.JA3),
        ("file.hash.sha256", T.SHA256),
    }
    assert indicators.match_flow({}) == []
    assert indicators.match_flow({"source.ip": None, "dns.question.name": []}) == []


def test_enrichment_adds_ecs_threat_fields(indicators: IndicatorSet) -> None:
    step = intel_enrichment(lambda: indicators)
    hit_flow: dict[str, Any] = {
        "source.ip": "192.168.1.10",
        "destination.ip": "198.51.100.7",
        "tls.client.ja3": [JA3],
        "tags": ["existing"],
    }
    clean: dict[str, Any] = {"source.ip": "192.168.1.10", "destination.ip": "192.0.2.1"}
    out = step([hit_flow, clean])
    assert out[1] == {"source.ip": "192.168.1.10", "destination.ip": "192.0.2.1"}
    flow = out[0]
    # the hits sit once, in ECS's threat.enrichments layout (no flat threat.indicator.*)
    assert not [k for k in flow if k.startswith("threat.") and k != "threat.enrichments"]

    def read(name: str) -> list[str]:
        return list(dict.fromkeys(values_of(flow, name)))

    assert read("threat.enrichments.indicator.name") == ["198.51.100.7", JA3]
    assert read("threat.enrichments.indicator.type") == ["ipv4-addr", "ja3"]
    # hits come in field order, then by value and feed: documents are deterministic
    assert read("threat.enrichments.indicator.provider") == [
        "feodo.csv",
        "ips.txt",
        "ja3_fingerprints.txt",
    ]
    assert read("threat.enrichments.indicator.confidence") == ["High", "Medium"]
    assert read("threat.enrichments.software.name") == ["QakBot"]
    assert read("threat.enrichments.matched.field") == ["destination.ip", "tls.client.ja3"]
    assert flow["tags"] == ["existing", "c2"]
    feodo = [e for e in flow["threat.enrichments"] if e["indicator"]["provider"] == "feodo.csv"]
    assert feodo == [
        {
            "indicator": {"name": "198.51.100.7", "type": "ipv4-addr", "provider": "feodo.csv",
                          "confidence": "High"},
            "matched": {"field": "destination.ip", "atomic": "198.51.100.7",
                        "type": "indicator_match_rule"},
            "software": {"name": "QakBot"},
            "tags": ["c2"],
        }
    ]  # fmt: skip
    json.dumps(flow)  # the document stays JSON


def test_duplicate_entries_share_one_group(tmp_path: Path) -> None:
    s = IndicatorSet()
    s.add_feed(feed(tmp_path, "a.txt", "evil.example.com\nEVIL.example.com.\n"))
    assert len(s) == 1
    assert len(s.match_flow({"dns.question.name": "evil.example.com"})) == 1
