"""Feed loaders on sample files in the publishers' exact shapes (see tests/data/intel-formats.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pcaptotal_enricher.intel import Confidence, IndicatorType, detect_format, read_feed
from pcaptotal_enricher.intel.model import Indicator

T = IndicatorType


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def values(indicators: list[Indicator], kind: IndicatorType | None = None) -> set[str]:
    return {i.value for i in indicators if kind is None or i.type is kind}


# -- plain lists -------------------------------------------------------------------------------

PLAIN = (
    "# my blocklist\r\n"
    "1.2.3.4\r\n"
    "10.20.0.0/16 # office range\r\n"
    "2001:DB8::1\r\n"
    "Evil.Example.COM.\r\n"
    "HTTP://Evil.Example.com:80/Gate.php?id=1#frag\r\n"
    "44d88612fea8a8f36de82e1278abb02f\r\n"
    "3395856ce81f2b7382dee72602f798b642f14140\r\n"
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\r\n"
    "5.6.7.8,9.9.9.9\r\n"
    "203.0.113.7:8080\r\n"
    "not a value!\r\n"
    "\r\n"
    "300.1.2.3\r\n"
)


def test_plain_list_detects_each_type_and_reports_malformed_lines(tmp_path: Path) -> None:
    indicators, stats = read_feed(write(tmp_path, "blocklist.txt", PLAIN))
    assert stats.format == "plain"
    assert values(indicators, T.IPV4) == {
        "1.2.3.4", "10.20.0.0/16", "5.6.7.8", "9.9.9.9", "203.0.113.7",
    }  # fmt: skip
    assert values(indicators, T.IPV6) == {"2001:db8::1"}
    assert values(indicators, T.DOMAIN) == {"evil.example.com"}
    assert values(indicators, T.URL) == {"http://evil.example.com/Gate.php?id=1"}
    assert values(indicators, T.SHA1) == {"3395856ce81f2b7382dee72602f798b642f14140"}
    assert len(values(indicators, T.SHA256)) == 1
    # no hint in the name: a 32-hex value is loaded as both a file MD5 and a JA3
    assert (
        values(indicators, T.MD5)
        == values(indicators, T.JA3)
        == {"44d88612fea8a8f36de82e1278abb02f"}
    )
    assert stats.malformed == 2
    assert [e.line for e in stats.errors] == [12, 14]
    assert "not an IP" in stats.errors[0].reason
    assert stats.indicators == len(indicators) == 12
    assert stats.by_type["ipv4-addr"] == 5
    assert all(i.meta.confidence is Confidence.MEDIUM for i in indicators)


@pytest.mark.parametrize(
    ("name", "kinds"),
    [("ja3_list.txt", {T.JA3}), ("ja3s.txt", {T.JA3S}), ("md5-hashes.txt", {T.MD5})],
)
def test_plain_list_name_says_what_a_32_hex_value_is(
    tmp_path: Path, name: str, kinds: set[IndicatorType]
) -> None:
    indicators, _ = read_feed(write(tmp_path, name, "e7d705a3286e19ea42f587b344ee6865\n"))
    assert {i.type for i in indicators} == kinds


def test_hosts_file_variant(tmp_path: Path) -> None:
    text = (
        "# URLhaus hostfile\n"
        "127.0.0.1\tlocalhost\n"
        "0.0.0.0 evil.example.com\n"
        "127.0.0.1\tBAD-Host.example.net\n"
        "0.0.0.0 under_score.example.org\n"
        "0.0.0.0 !!!\n"
    )
    indicators, stats = read_feed(write(tmp_path, "urlhaus-hosts.txt", text))
    assert stats.format == "hosts"
    assert values(indicators) == {
        "evil.example.com", "bad-host.example.net", "under_score.example.org",
    }  # fmt: skip
    assert stats.skipped == {"hosts-file local entry": 1}
    assert stats.malformed == 1 and stats.errors[0].line == 6


# -- abuse.ch -------------------------------------------------------------------------------

URLHAUS = (
    "################################################################\n"
    "# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #\n"
    "################################################################\n"
    "#\n"
    "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"
    '"1","2026-08-27 10:00:00","http://example.com/a.exe","online","","malware_download",'
    '"exe,Emotet","https://urlhaus.abuse.ch/url/1/","reporter1"\n'
    '"2","2026-08-27 10:01:00","HTTP://Other.Example.org:80/x/y.bin#z","offline","",'
    '"malware_download","","https://urlhaus.abuse.ch/url/2/","reporter2"\n'
    '"3","2026-08-27 10:02:00","http://[broken","online","","malware_download","",'
    '"https://urlhaus.abuse.ch/url/3/","reporter3"\n'
    '"4","2026-08-27 10:03:00","too few columns"\n'
)


def test_urlhaus_csv(tmp_path: Path) -> None:
    indicators, stats = read_feed(write(tmp_path, "urlhaus.csv", URLHAUS))
    assert stats.format == "urlhaus-csv"
    by_value = {i.value: i.meta for i in indicators}
    assert set(by_value) == {"http://example.com/a.exe", "http://other.example.org/x/y.bin"}
    first = by_value["http://example.com/a.exe"]
    assert first.tags == ("exe", "Emotet", "malware_download")
    assert first.confidence is Confidence.HIGH
    assert by_value["http://other.example.org/x/y.bin"].confidence is Confidence.MEDIUM
    assert stats.malformed == 2
    assert [e.line for e in stats.errors] == [8, 9]
    assert "columns" in stats.errors[1].reason


def test_feodo_csv_both_header_styles(tmp_path: Path) -> None:
    new = (
        '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
        '"2025-12-30 13:56:31","50.16.16.211","443","online","2026-03-12","QakBot"\n'
        '"2025-12-30 13:56:31","not-an-ip","443","online","2026-03-12","QakBot"\n'
    )
    old = (
        "# Feodo Tracker Botnet C2 IP Blocklist\n"
        "# Firstseen,DstIP,DstPort,LastOnline,Malware\n"
        "2021-01-17 07:44:46,51.75.162.4,443,2021-01-18,Dridex\n"
        "# END 1 entries\n"
    )
    for name, text, ip, family in [
        ("ipblocklist.csv", new, "50.16.16.211", "QakBot"),
        ("ipblocklist-old.csv", old, "51.75.162.4", "Dridex"),
    ]:
        indicators, stats = read_feed(write(tmp_path, name, text))
        assert stats.format == "feodo-csv"
        assert [(i.value, i.meta.family, i.meta.confidence) for i in indicators] == [
            (ip, family, Confidence.HIGH)
        ]
    assert stats.malformed == 0
    _, new_stats = read_feed(tmp_path / "ipblocklist.csv")
    assert new_stats.malformed == 1 and new_stats.errors[0].line == 3


def test_feodo_json(tmp_path: Path) -> None:
    doc = [
        {"ip_address": "50.16.16.211", "port": 443, "status": "online", "hostname": None,
         "as_number": 14618, "as_name": "AMAZON-AES", "country": "US",
         "first_seen": "2025-12-30 13:56:31", "last_online": "2026-03-12", "malware": "QakBot"},
        {"ip_address": "999.1.1.1", "port": 443, "malware": "QakBot"},
    ]  # fmt: skip
    indicators, stats = read_feed(write(tmp_path, "ipblocklist.json", json.dumps(doc)))
    assert stats.format == "feodo-json"
    assert [(i.value, i.meta.family) for i in indicators] == [("50.16.16.211", "QakBot")]
    assert stats.malformed == 1


THREATFOX = (
    "################################################################\n"
    "# ThreatFox IOCs: CSV export                                   #\n"
    "################################################################\n"
    '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware",'
    '"malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised",'
    '"reference","tags","anonymous","reporter"\n'
    '"2026-07-04 21:46:30", "1844853", "64.227.143.36:5555", "ip:port", "botnet_cc", '
    '"win.cobalt_strike", "Agentemis,BEACON", "Cobalt Strike", "", "100", "0", "", "c2", "0", '
    '"reporter1"\n'
    '"2026-07-04 21:47:00", "1844854", "Bad.Example.net", "domain", "botnet_cc", '
    '"win.emotet", "", "Emotet", "", "50", "0", "", "", "0", "reporter1"\n'
    '"2026-07-04 21:48:00", "1844855", "http://hacked.example.org/wp/x.php", "url", '
    '"payload_delivery", "win.x", "", "Unknown malware", "", "80", "1", "", "", "0", "r"\n'
    '"2026-07-04 21:49:00", "1844856", "d41d8cd98f00b204e9800998ecf8427e", "md5_hash", '
    '"payload", "win.x", "", "IcedID", "", "10", "0", "", "", "0", "r"\n'
    '"2026-07-04 21:50:00", "1844857", "abc", "sha3_384_hash", "payload", "win.x", "", '
    '"IcedID", "", "10", "0", "", "", "0", "r"\n'
    '"2026-07-04 21:51:00", "1844858", "nonsense:port", "ip:port", "botnet_cc", "win.x", "", '
    '"IcedID", "", "10", "0", "", "", "0", "r"\n'
    "# Number of entries: 6\n"
)


def test_threatfox_csv(tmp_path: Path) -> None:
    indicators, stats = read_feed(write(tmp_path, "threatfox.csv", THREATFOX))
    assert stats.format == "threatfox-csv"
    got = {i.value: i.meta for i in indicators}
    cs = got["64.227.143.36"]
    assert (cs.type, cs.family, cs.tags, cs.confidence) == (
        T.IPV4, "Cobalt Strike", ("c2", "botnet_cc"), Confidence.HIGH,
    )  # fmt: skip
    assert got["bad.example.net"].confidence is Confidence.MEDIUM
    hacked = got["http://hacked.example.org/wp/x.php"]
    assert hacked.family is None  # "Unknown malware" names no family
    assert "compromised" in hacked.tags and hacked.confidence is Confidence.MEDIUM
    assert got["d41d8cd98f00b204e9800998ecf8427e"].confidence is Confidence.LOW
    assert stats.skipped == {"unsupported ioc_type sha3_384_hash": 1}
    assert stats.malformed == 1 and stats.errors[0].line == 10


def test_threatfox_csv_older_export_without_is_compromised(tmp_path: Path) -> None:
    text = (
        '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware",'
        '"malware_alias","malware_printable","last_seen_utc","confidence_level","reference",'
        '"tags","anonymous","reporter"\n'
        '"2021-07-04 21:46:30", "1", "evil.example.com", "domain", "botnet_cc", "win.x", "", '
        '"AsyncRAT", "", "75", "", "rat", "0", "r"\n'
    )
    indicators, stats = read_feed(write(tmp_path, "tf-old.csv", text))
    assert [(i.value, i.meta.family, i.meta.tags) for i in indicators] == [
        ("evil.example.com", "AsyncRAT", ("rat", "botnet_cc"))
    ]
    assert stats.malformed == 0


def test_sslbl_ja3_header_is_a_comment(tmp_path: Path) -> None:
    text = (
        "################################################################\n"
        "# abuse.ch SSLBL JA3 Fingerprint Blacklist (CSV)               #\n"
        "################################################################\n"
        "#\n"
        "# ja3_md5,Firstseen,Lastseen,Listingreason\n"
        "e7d705a3286e19ea42f587b344ee6865,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex\n"
        "6734f37431670b3ab4292b8f60f29984,2017-07-14 18:08:15,2019-07-27 20:42:54,Tofsee C&C\n"
        "zzzz,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex\n"
        "# END (2 entries)\n"
    )
    indicators, stats = read_feed(write(tmp_path, "ja3_fingerprints.csv", text))
    assert stats.format == "sslbl-ja3-csv"
    assert [(i.type, i.meta.family, i.meta.tags) for i in indicators] == [
        (T.JA3, "Dridex", ()),
        (T.JA3, "Tofsee", ("c2",)),
    ]
    assert stats.malformed == 1 and stats.errors[0].line == 8


def test_sslbl_certificate_and_ip_lists(tmp_path: Path) -> None:
    certs = (
        "# abuse.ch SSLBL SSL Certificate Blacklist (CSV)\n"
        "# Listingdate,SHA1,Listingreason\n"
        "2022-01-02 03:04:05,2B7A6D6B3F5B9C0E1D2F3A4B5C6D7E8F90A1B2C3,TrickBot malware C&C\n"
    )
    indicators, stats = read_feed(write(tmp_path, "sslblacklist.csv", certs))
    assert stats.format == "sslbl-cert-csv"
    assert [(i.type, i.value, i.meta.family) for i in indicators] == [
        (T.X509_SHA1, "2b7a6d6b3f5b9c0e1d2f3a4b5c6d7e8f90a1b2c3", "TrickBot")
    ]
    ips = "# abuse.ch SSLBL\n# Firstseen,DstIP,DstPort\n2022-01-02 03:04:05,198.51.100.9,443\n"
    indicators, stats = read_feed(write(tmp_path, "sslipblacklist.csv", ips))
    assert [(i.value, i.meta.family) for i in indicators] == [("198.51.100.9", None)]


# -- STIX 2.1 ---------------------------------------------------------------------------------


def stix_indicator(n: int, pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **extra,
    }


def test_stix_bundle_single_comparisons_and_skipped_compound_patterns(tmp_path: Path) -> None:
    sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    malware = {
        "type": "malware", "spec_version": "2.1",
        "id": "malware--11111111-1111-4111-8111-111111111111",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "Emotet", "is_family": True,
    }  # fmt: skip
    objects = [
        stix_indicator(1, "[ipv4-addr:value = '198.51.100.1']", confidence=85, labels=["c2"]),
        stix_indicator(2, "[ipv6-addr:value = '2001:DB8::dead']"),
        stix_indicator(3, "[domain-name:value = 'Evil.Example.com']", indicator_types=["malicious-activity"]),
        stix_indicator(4, "[url:value = 'http://evil.example.com:80/x']"),
        stix_indicator(5, f"[file:hashes.'SHA-256' = '{sha256}']"),
        stix_indicator(6, "[file:hashes.MD5 = '44D88612FEA8A8F36DE82E1278ABB02F']"),
        stix_indicator(7, "[x509-certificate:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']"),
        stix_indicator(8, "[ipv4-addr:value = '198.51.100.2' OR domain-name:value = 'x.example.com']"),
        stix_indicator(9, "[ipv4-addr:value = '198.51.100.3'] FOLLOWEDBY [domain-name:value = 'y.example.com']"),
        stix_indicator(10, "[email-addr:value = 'a@example.com']"),
        stix_indicator(11, "[url:value LIKE 'http://%']"),
        stix_indicator(12, "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"),
        stix_indicator(13, "[ipv4-addr:value = '1.1.1.1']", valid_until="2026-01-02T00:00:00Z"),
        stix_indicator(14, "[ipv4-addr:value = '1.2.3.4'", name="broken pattern"),
        {"type": "indicator", "id": "indicator--missing-fields"},
        malware,
        {
            "type": "relationship", "spec_version": "2.1",
            "id": "relationship--22222222-2222-4222-8222-222222222222",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "relationship_type": "indicates",
            "source_ref": "indicator--00000000-0000-4000-8000-000000000001",
            "target_ref": malware["id"],
        },
    ]  # fmt: skip
    bundle = {"type": "bundle", "id": "bundle--33333333-3333-4333-8333-333333333333",
              "objects": objects}  # fmt: skip
    indicators, stats = read_feed(write(tmp_path, "feed.stix.json", json.dumps(bundle)))
    assert stats.format == "stix"
    got = {i.value: i for i in indicators}
    assert set(got) == {
        "198.51.100.1", "2001:db8::dead", "evil.example.com", "http://evil.example.com/x",
        sha256, "44d88612fea8a8f36de82e1278abb02f", "3395856ce81f2b7382dee72602f798b642f14140",
        "203.0.113.0/24",
    }  # fmt: skip
    first = got["198.51.100.1"].meta
    assert (first.family, first.tags, first.confidence) == ("Emotet", ("c2",), Confidence.HIGH)
    assert got["3395856ce81f2b7382dee72602f798b642f14140"].type is T.X509_SHA1
    assert got["44d88612fea8a8f36de82e1278abb02f"].type is T.MD5
    assert stats.skipped == {
        "compound pattern": 2,
        "unsupported object path email-addr:value": 1,
        "unsupported operator LIKE": 1,
        "expired (valid_until passed)": 1,
    }
    assert stats.malformed == 2
    assert [e.line for e in stats.errors] == [14, 15]


# -- MISP -------------------------------------------------------------------------------------


def misp_attr(kind: str, value: str, to_ids: bool = True, **extra: object) -> dict[str, object]:
    return {
        "uuid": f"5f0c0000-0000-4000-8000-{abs(hash((kind, value))) % 10**12:012d}",
        "type": kind, "category": "Network activity", "value": value, "to_ids": to_ids,
        "timestamp": "1700000000", "comment": "", **extra,
    }  # fmt: skip


def misp_event(
    uuid: str, attributes: list[dict[str, object]], **extra: object
) -> dict[str, object]:
    return {
        "Event": {
            "uuid": uuid, "info": "Emotet campaign", "date": "2026-08-01",
            "threat_level_id": "1", "analysis": "2", "distribution": "3",
            "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Tag": [{"name": "tlp:white"}, {"name": 'misp-galaxy:malpedia="Emotet"'},
                    {"name": "type:OSINT"}],
            "Attribute": attributes,
            **extra,
        }
    }  # fmt: skip


MISP_ATTRS = [
    misp_attr("ip-dst", "198.51.100.7"),
    misp_attr("ip-src", "2001:db8::7"),
    misp_attr("domain", "Evil.Example.com"),
    misp_attr("hostname", "c2.example.net"),
    misp_attr("url", "http://evil.example.com/gate.php"),
    misp_attr("md5", "44d88612fea8a8f36de82e1278abb02f"),
    misp_attr("ja3-fingerprint-md5", "e7d705a3286e19ea42f587b344ee6865"),
    misp_attr("user-agent", "EvilBot/1.0"),
    misp_attr("domain|ip", "pair.example.org|203.0.113.5"),
    misp_attr("ip-dst|port", "203.0.113.6|8443"),
    misp_attr(
        "filename|sha256", "a.exe|275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    ),
    misp_attr("hostname|port", "port.example.org|443"),
    misp_attr("ip-dst", "192.0.2.1", to_ids=False),
    misp_attr("comment", "just words"),
    misp_attr("ip-dst", "not-an-ip"),
    misp_attr("domain|ip", "only-one-part.example.org"),
]


def test_misp_event_json_with_pair_attributes(tmp_path: Path) -> None:
    event = misp_event("5f0c0000-aaaa-4000-8000-000000000001", MISP_ATTRS[:8],
                       Object=[{"name": "domain-ip", "Attribute": MISP_ATTRS[8:]}])  # fmt: skip
    indicators, stats = read_feed(write(tmp_path, "event.json", json.dumps(event)))
    assert stats.format == "misp-event"
    got = {(i.type, i.value) for i in indicators}
    assert got == {
        (T.IPV4, "198.51.100.7"), (T.IPV6, "2001:db8::7"), (T.DOMAIN, "evil.example.com"),
        (T.DOMAIN, "c2.example.net"), (T.URL, "http://evil.example.com/gate.php"),
        (T.MD5, "44d88612fea8a8f36de82e1278abb02f"), (T.JA3, "e7d705a3286e19ea42f587b344ee6865"),
        (T.USER_AGENT, "EvilBot/1.0"), (T.DOMAIN, "pair.example.org"), (T.IPV4, "203.0.113.5"),
        (T.IPV4, "203.0.113.6"), (T.DOMAIN, "port.example.org"),
        (T.SHA256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
    }  # fmt: skip
    meta = indicators[0].meta
    assert (meta.family, meta.tags, meta.confidence) == ("Emotet", ("type:OSINT",), Confidence.HIGH)
    assert stats.skipped == {"to_ids false": 1, "unsupported attribute type comment": 1}
    assert stats.malformed == 2
    assert "not a pair" in stats.errors[1].reason


def test_misp_feed_directory(tmp_path: Path) -> None:
    feed = tmp_path / "circl-osint"
    feed.mkdir()
    uuids = ["5f0c0000-aaaa-4000-8000-000000000001", "5f0c0000-aaaa-4000-8000-000000000002",
             "5f0c0000-aaaa-4000-8000-000000000003"]  # fmt: skip
    manifest = {u: {"info": "x", "date": "2026-08-01", "threat_level_id": "2", "Tag": []}
                for u in uuids}  # fmt: skip
    (feed / "manifest.json").write_text(json.dumps(manifest))
    (feed / "hashes.csv").write_text("44d88612fea8a8f36de82e1278abb02f,5f0c0000\n")
    (feed / f"{uuids[0]}.json").write_text(json.dumps(misp_event(uuids[0], MISP_ATTRS[:2])))
    (feed / f"{uuids[1]}.json").write_text(json.dumps(misp_event(uuids[1], MISP_ATTRS[8:9])))
    # the third event is in the manifest but its file is missing
    assert detect_format(feed) == "misp-feed"
    indicators, stats = read_feed(feed)
    assert values(indicators) == {"198.51.100.7", "2001:db8::7", "pair.example.org", "203.0.113.5"}
    assert stats.malformed == 1 and uuids[2] in stats.errors[0].reason


# -- Zeek intel ---------------------------------------------------------------------------------


def test_zeek_intel_tsv(tmp_path: Path) -> None:
    rows = [
        ("198.51.100.8", "Intel::ADDR", "my_source", "C2 server", "-"),
        ("203.0.113.0/24", "Intel::SUBNET", "my_source", "bad net", "-"),
        ("evil.example.com", "Intel::DOMAIN", "my_source", "C2 domain", "-"),
        ("evil.example.com/gate.php", "Intel::URL", "my_source", "-", "-"),
        ("44d88612fea8a8f36de82e1278abb02f", "Intel::FILE_HASH", "my_source", "-", "-"),
        ("3395856ce81f2b7382dee72602f798b642f14140", "Intel::CERT_HASH", "my_source", "-", "-"),
        ("EvilBot/1.0", "Intel::SOFTWARE", "my_source", "-", "-"),
        ("bad@example.com", "Intel::EMAIL", "my_source", "-", "-"),
        ("198.51.100.0/24", "Intel::ADDR", "my_source", "-", "-"),
        ("x", "Intel::NOPE", "my_source", "-", "-"),
    ]
    text = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"
    text += "".join("\t".join(r) + "\n" for r in rows) + "only\ttwo\n"
    indicators, stats = read_feed(write(tmp_path, "intel.dat", text))
    assert stats.format == "zeek-intel"
    assert {(i.type, i.value) for i in indicators} == {
        (T.IPV4, "198.51.100.8"), (T.IPV4, "203.0.113.0/24"), (T.DOMAIN, "evil.example.com"),
        (T.URL, "http://evil.example.com/gate.php"), (T.MD5, "44d88612fea8a8f36de82e1278abb02f"),
        (T.X509_SHA1, "3395856ce81f2b7382dee72602f798b642f14140"), (T.USER_AGENT, "EvilBot/1.0"),
    }  # fmt: skip
    assert indicators[0].meta.tags == ("my_source",)
    assert stats.skipped == {
        "Intel::EMAIL has no flow field to match": 1,
        "unsupported indicator_type Intel::NOPE": 1,
    }
    assert [e.line for e in stats.errors] == [10, 12]


# -- whole-feed failures --------------------------------------------------------------------------


def test_unreadable_feeds_report_an_error_and_no_indicators(tmp_path: Path) -> None:
    for name, text, reason in [
        ("broken.json", '{"type": "bundle", "objects": [', "invalid JSON"),
        ("other.json", '{"hello": "world"}', "unrecognised JSON"),
    ]:
        indicators, stats = read_feed(write(tmp_path, name, text))
        assert indicators == [] and stats.error is not None and reason in stats.error
