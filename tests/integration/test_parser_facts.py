"""Protocol facts and Community IDs against tshark's own output and the Community ID baseline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.fields import FLOW_FIELDS_BY_NAME, leaf_paths, values_of
from pcaptotal_parser.parse import parse_capture

from tests.paths import COMMUNITY_ID, PCAPS, shared_captures
from tests.tshark_oracle import field_values, tshark_lines

pytestmark = pytest.mark.integration

CAPTURES = shared_captures()


async def flows(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)
    return list(result.flows.flows())


def _first(path: Path, field: str, display_filter: str) -> list[str]:
    """The first value of ``field`` in each packet (values may hold commas)."""
    args = ("-Y", display_filter, "-T", "fields", "-E", "occurrence=f", "-e", field)
    return [line for line in tshark_lines(path, *args) if line]


def values(docs: Iterable[dict[str, Any]], name: str) -> set[Any]:
    """Every value of ``name`` in ``docs``, flat or inside arrays of objects (``dns.answers``)."""
    return {v for doc in docs for v in values_of(doc, name)}


def rows(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    args = ["-Y", display_filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    for name in fields:
        args += ["-e", name]
    return [line.split("\t") for line in tshark_lines(path, *args)]


# -- Community ID ----------------------------------------------------------------------------


async def test_community_ids_equal_the_spec_baseline(tmp_path: Path, tshark: str) -> None:
    captures = sorted(COMMUNITY_ID.glob("*.pcap"))
    assert len(captures) == 8
    docs = [d for path in captures for d in await flows(path, tmp_path)]
    baseline = json.loads((COMMUNITY_ID / "baseline_deflt.json").read_text())
    for entry in baseline:
        ends = {(entry["saddr"], entry["sport"]), (entry["daddr"], entry["dport"])}
        ports = entry["proto"] in (6, 17)
        matching = [
            d
            for d in docs
            if d.get("network.iana_number") == entry["proto"]
            and (
                {
                    (d.get("source.ip"), d.get("source.port")),
                    (d.get("destination.ip"), d.get("destination.port")),
                }
                == ends
                if ports
                else {d.get("source.ip"), d.get("destination.ip")}
                == {entry["saddr"], entry["daddr"]}
            )
        ]
        assert len(matching) == 1, entry
        (doc,) = matching
        ids = doc.get("pcaptotal.community_ids") or [doc["network.community_id"]]
        assert entry["communityid"] in ids, entry
        if ports:
            assert doc["network.community_id"] == entry["communityid"]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
async def test_every_ip_flow_has_a_community_id(path: Path, tmp_path: Path, tshark: str) -> None:
    for doc in await flows(path, tmp_path):
        if "source.ip" in doc:
            assert doc["network.community_id"].startswith("1:"), doc
        for name, value in doc.items():  # and every field is declared, single or multi
            if isinstance(value, list) and value and isinstance(value[0], dict):
                # an array of ECS objects (dns.question): its parts are multi-valued fields
                assert all(FLOW_FIELDS_BY_NAME[p].multi for p in leaf_paths({name: value}))
            elif name != "_id":
                declared = FLOW_FIELDS_BY_NAME[name]
                assert declared.multi == isinstance(value, list), name


# -- TLS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
async def test_tls_fingerprints_and_certificates_equal_tshark(
    path: Path, tmp_path: Path, tshark: str
) -> None:
    docs = await flows(path, tmp_path)
    assert values(docs, "tls.client.ja3") == set(field_values(path, "tls.handshake.ja3"))
    assert values(docs, "tls.server.ja3s") == set(field_values(path, "tls.handshake.ja3s"))
    ja4s = values(docs, "tls.client.ja4")
    hellos = len(set(field_values(path, "frame.number", "tls.handshake.type == 1")))
    assert (len(ja4s) > 0) == (hellos > 0)
    # leaf certificates of Certificate messages sent by servers, as tshark reads them
    leaf_serials: set[str] = set()
    leaf_sha1: set[str] = set()
    not_before: set[str] = set()
    for serials, certs, times in rows(
        path, "tls.handshake.type == 11", "x509af.serialNumber", "tls.handshake.certificate",
        "x509af.utcTime",
    ):  # fmt: skip
        if serials:
            leaf_serials.add(serials.split(",")[0].upper())
        if certs:
            leaf_sha1.add(hashlib.sha1(bytes.fromhex(certs.split(",")[0])).hexdigest().upper())
        if times:
            not_before.add(times.split(",")[0].replace(" (UTC)", "Z").replace(" ", "T"))
    sent_by_servers = values(docs, "tls.server.hash.sha1")
    assert sent_by_servers <= leaf_sha1
    assert len(sent_by_servers | values(docs, "tls.client.hash.sha1")) == len(leaf_sha1 - {""})
    assert {s.lstrip("0") for s in values(docs, "tls.server.x509.serial_number")} <= {
        s.lstrip("0") for s in leaf_serials
    }
    assert values(docs, "tls.server.x509.not_before") <= not_before


async def test_tls_negotiated_parameters(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_tls12-chrome34-google.pcap"
    (doc,) = await flows(path, tmp_path)
    assert doc["tls.cipher"] == ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
    assert doc["tls.next_protocol"] == ["spdy/3.1"]
    assert doc["tls.server.x509.alternative_names"] == field_values(
        path, "x509ce.dNSName", "tls.handshake.type == 11"
    )
    assert doc["tls.server.x509.serial_number"] == ["5F16E91E8E863F49"]
    assert doc["pcaptotal.tls.server.x509.self_signed"] == [False]
    assert len(doc["pcaptotal.tls.server.chain.subject"]) == 3
    assert doc["tls.client.ja4"][0].startswith("t12d")
    (doc,) = await flows(PCAPS / "zeek_tls13-chrome125-kyber.pcap", tmp_path)
    # Chrome 125's well-known JA4 (hand-checked against the spec: 15 ciphers, 16 extensions)
    assert doc["tls.client.ja4"] == ["t13d1516h2_8daaf6152771_02713d6af862"]
    assert doc["tls.cipher"] == ["TLS_AES_128_GCM_SHA256"]


@pytest.mark.parametrize(
    "name", ["zeek_quic-curl-http3-google.pcap", "zeek_quic-chromium-cirrus.pcap"]
)
async def test_quic_version_sni_and_ja4(name: str, tmp_path: Path, tshark: str) -> None:
    path = PCAPS / name
    (doc,) = await flows(path, tmp_path)
    assert doc["pcaptotal.quic.version"] == ["1"]
    assert doc["tls.client.server_name"] == field_values(
        path, "tls.handshake.extensions_server_name"
    )
    assert all(j.startswith("q13d") for j in doc["tls.client.ja4"])


# -- DNS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["zeek_dns-edns-ecs.pcap", "zeek_wikipedia-dns-http.pcap", "tcpdump_dns-over-tcp.pcap"]
)
async def test_dns_answers_and_classes(name: str, tmp_path: Path, tshark: str) -> None:
    path = PCAPS / name
    docs = await flows(path, tmp_path)
    assert values(docs, "dns.question.class") == {"IN"}
    ttls = {int(v) for v in field_values(path, "dns.resp.ttl")}
    assert values(docs, "dns.answers.ttl") <= ttls
    answered = {int(v) for v in field_values(path, "dns.count.answers", "dns.flags.response == 1")}
    assert bool(values(docs, "dns.answers.type")) == (answered != {0})
    for doc in docs:
        if "dns.question" in doc and doc.get("destination.port") == 53:
            assert isinstance(doc["pcaptotal.dns.answered"], bool)


@pytest.mark.parametrize(
    "name", ["zeek_dns-edns-ecs.pcap", "zeek_wikipedia-dns-http.pcap", "tcpdump_dns-over-tcp.pcap"]
)
async def test_dns_objects_line_up_with_tshark(name: str, tmp_path: Path, tshark: str) -> None:
    """Questions and answers are whole ECS objects: each response's answer section, record by
    record (the dns records keep every message; flows keep each distinct object once)."""
    path = PCAPS / name
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)
    records = list(result.records())
    await result.discard_files()
    answers = [a for r in records if r["event.dataset"] == "dns" for a in r.get("dns.answers", [])]
    counts = field_values(path, "dns.count.answers", "dns.flags.response == 1")
    assert len(answers) == sum(int(c) for c in counts)
    # every answer's parts are tshark's: its owner name, type, class and the data of its type
    names = set(field_values(path, "dns.resp.name"))
    addresses = set(field_values(path, "dns.a")) | set(field_values(path, "dns.aaaa"))
    for answer in answers:
        assert answer["name"] in names and answer["class"] == "IN"
        if answer["type"] in ("A", "AAAA"):
            assert answer["data"] in addresses
    flows = [r for r in records if r["event.dataset"] == "flow"]
    for flow in flows:
        for key, parts in (("dns.question", {"name", "type", "class"}), ("dns.answers", None)):
            objects = flow.get(key, [])
            assert isinstance(objects, list) and all(isinstance(o, dict) for o in objects)
            assert len({json.dumps(o, sort_keys=True) for o in objects}) == len(objects)
            if parts:
                assert all(set(o) == parts for o in objects)
    flat = {a["data"] for a in answers if "data" in a}
    assert values(flows, "dns.answers.data") == flat


async def test_dns_unanswered_query(tmp_path: Path, tshark: str) -> None:
    docs = await flows(PCAPS / "zeek_dns-edns-ecs.pcap", tmp_path)
    answered = values(docs, "pcaptotal.dns.answered")
    assert True in answered


# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
async def test_http_headers_equal_tshark(path: Path, tmp_path: Path, tshark: str) -> None:
    docs = await flows(path, tmp_path)
    # url.original is the full URL, as tshark completes it; path and query split out of it.
    # Without a Host header there is nothing to complete it with (tshark gives no full_uri)
    # and an asterisk-form target (SSDP's M-SEARCH *) is no URL: both kept as sent, where
    # tshark glues "*" to the host (http://239.255.255.250:1900*)
    requests = "http.request"
    full = {u for u in _first(path, "http.request.full_uri", requests) if not u.endswith("*")}
    urls = values(docs, "url.original")
    raw = _first(path, "http.request.uri", requests)
    assert {u for u in urls if "://" in u} == full and {u for u in urls if "://" not in u} <= {
        t for t in raw if "://" not in t
    }
    targets = [t for t in raw if t.startswith("/")]
    assert values(docs, "url.path") >= {t.partition("?")[0] for t in targets}
    assert values(docs, "url.query") >= {q for t in targets if (q := t.partition("?")[2])}
    assert values(docs, "http.request.referrer") == set(field_values(path, "http.referer"))
    assert values(docs, "pcaptotal.http.response.server") == set(
        field_values(path, "http.server", "http.response")
    )
    assert values(docs, "pcaptotal.http.response.location") == set(
        field_values(path, "http.location", "http.response")
    )


async def test_http_body_sizes(tmp_path: Path, tshark: str) -> None:
    docs = await flows(PCAPS / "zeek_http-zip-download.pcap", tmp_path)
    assert docs[0]["http.response.body.bytes"] == [14638]  # the manifest's 14,638 B zip
    path = PCAPS / "corelight_caldera-ragdoll-http-c2.pcap"
    docs = await flows(path, tmp_path)
    posted = {int(v) for v in field_values(path, "http.content_length", "http.request")}
    assert values(docs, "http.request.body.bytes") == posted


# -- mail, file transfer, shells, DHCP, ICMP -------------------------------------------------


async def test_smtp(tmp_path: Path, tshark: str) -> None:
    docs = await flows(PCAPS / "zeek_smtp.pcap", tmp_path)
    assert "gurpartap@patriots.in" in values(docs, "email.from.address")
    assert "raj_deol2002in@yahoo.co.in" in values(docs, "email.to.address")
    assert values(docs, "email.subject") == set(
        field_values(PCAPS / "zeek_smtp.pcap", "imf.subject")
    )
    assert values(docs, "pcaptotal.smtp.auth_mechanism") == {"LOGIN"}
    docs = await flows(PCAPS / "corelight_agenttesla-smtp-sandbox.pcap", tmp_path)
    assert "cnc@trisquarespl.com" in values(docs, "pcaptotal.smtp.mail_from")


async def test_ftp_commands_user_files_and_data_connections(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_ftp-over-ipv6.pcap"
    docs = await flows(path, tmp_path)
    assert values(docs, "user.name") == {"anonymous"}
    assert values(docs, "pcaptotal.ftp.command") == {
        c.upper() for c in field_values(path, "ftp.request.command")
    }
    assert values(docs, "pcaptotal.ftp.file") == {"robots.txt"}
    data = [d for d in docs if "ftp-data" in d.get("network.protocol", [])]
    assert {c for d in data for c in d["pcaptotal.ftp.data_command"]} == set(
        field_values(path, "ftp-data.command")
    )


async def test_ssh_software_by_side(tmp_path: Path, tshark: str) -> None:
    docs = await flows(PCAPS / "slips_iot-telnet-scan.pcap", tmp_path)
    ssh = [d for d in docs if "ssh" in d.get("network.protocol", [])]
    assert ssh
    for doc in ssh:
        assert doc["destination.port"] == 22
        assert doc["pcaptotal.ssh.server.software"] == ["SSH-2.0-OpenSSH_6.7p1 Raspbian-5"]
        assert doc["pcaptotal.ssh.client.software"] == ["SSH-2.0-OpenSSH_7.4"]


async def test_dhcp(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_dhcp-dora.pcap"
    docs = await flows(path, tmp_path)
    assert values(docs, "pcaptotal.dhcp.message_type") == {
        "DISCOVER", "OFFER", "REQUEST", "ACK", "NAK", "DECLINE", "RELEASE", "INFORM"
    }  # fmt: skip
    assert values(docs, "pcaptotal.dhcp.client_mac") == {"90-B1-1C-99-49-29"}
    assert values(docs, "pcaptotal.dhcp.hostname") == {"btest.is.cool"}
    assert values(docs, "pcaptotal.dhcp.requested_address") == set(
        field_values(path, "dhcp.option.requested_ip_address")
    )
    assert values(docs, "pcaptotal.dhcp.assigned_address") == {"128.2.6.97", "128.2.6.189"}


async def test_icmp_type_code_counts(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_icmp-5-pings.pcap"
    (doc,) = await flows(path, tmp_path)
    pairs = [r for r in rows(path, "icmp", "icmp.type", "icmp.code")]
    expected = {f"{t}/{c}={pairs.count([t, c])}" for t, c in pairs}
    assert set(doc["pcaptotal.icmp.type_code_count"]) == expected


async def test_source_mac(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_http-zip-download.pcap"
    (doc,) = await flows(path, tmp_path)
    (first,) = rows(path, "frame.number == 1", "eth.src")
    assert doc["source.mac"] == first[0].replace(":", "-").upper()
