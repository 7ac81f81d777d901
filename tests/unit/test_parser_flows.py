"""Flow assembly on synthetic tshark rows (no tshark needed)."""

from __future__ import annotations

from typing import Any

from pcaptotal_parser.columns import AGGREGATOR, FIELDS, SEPARATOR, Row
from pcaptotal_parser.facts import host_without_port, tls_version_name
from pcaptotal_parser.flow_document import iso_from_ns
from pcaptotal_parser.flow_state import parse_epoch_ns
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.x509 import parse_certificate

CID = "a" * 64
_BY_KEY = {name.replace(".", "_"): name for name in FIELDS}


def row(**values: str | list[str]) -> str:
    """A tshark output line from ``field_name_with_dots_as_underscores=value``."""
    cols = [""] * len(FIELDS)
    for key, value in values.items():
        text = value if isinstance(value, str) else AGGREGATOR.join(value)
        cols[FIELDS.index(_BY_KEY[key])] = text
    return SEPARATOR.join(cols)


def tcp(ts: str, src: str, sport: int, dst: str, dport: int, flags: str, **extra: Any) -> str:
    return row(
        frame_time_epoch=ts,
        frame_len="60",
        frame_protocols="eth:ethertype:ip:tcp",
        ip_src=src,
        ip_dst=dst,
        ip_proto="6",
        tcp_stream="0",
        tcp_srcport=str(sport),
        tcp_dstport=str(dport),
        tcp_flags=flags,
        **extra,
    )


def build(*lines: str) -> tuple[FlowBuilder, list[dict[str, Any]]]:
    builder = FlowBuilder(CID)
    for line in lines:
        builder.add_line(line)
    return builder, list(builder.flows())


def test_row_field_names_round_trip() -> None:
    r = Row.from_mapping({"dns.qry.name": ["a,b", "c"]})
    assert r.values("dns.qry.name") == ["a,b", "c"]
    assert r.first("dns.a") is None
    assert Row.parse("too" + SEPARATOR + "short") is None


def test_tcp_flow_initiator_is_syn_sender_even_if_seen_second() -> None:
    _, (doc,) = build(
        tcp("10.5", "10.0.0.2", 80, "10.0.0.1", 5000, "0x0012"),  # SYN/ACK captured first
        tcp("10.0", "10.0.0.1", 5000, "10.0.0.2", 80, "0x0002"),
        tcp("11.25", "10.0.0.1", 5000, "10.0.0.2", 80, "0x0011"),
    )
    assert doc["event.id"] == f"{CID}-tcp-0" and doc["event.dataset"] == "flow"
    assert doc["pcaptotal.flow_key"] == "tcp-0"
    assert (doc["source.ip"], doc["source.port"]) == ("10.0.0.1", 5000)
    assert (doc["destination.ip"], doc["destination.port"]) == ("10.0.0.2", 80)
    assert (doc["source.packets"], doc["destination.packets"]) == (2, 1)
    assert doc["network.bytes"] == 180 and doc["network.packets"] == 3
    assert doc["event.start"] == doc["@timestamp"] == "1970-01-01T00:00:10.000000Z"
    assert doc["event.end"] == "1970-01-01T00:00:11.250000Z"
    assert doc["event.duration"] == 1_250_000_000
    assert doc["pcaptotal.tcp_flags"] == ["FIN", "SYN", "ACK"]
    assert doc["network.type"] == "ipv4" and doc["network.iana_number"] == 6


def test_other_ip_flow_per_unordered_pair_and_protocol() -> None:
    def icmp(src: str, dst: str) -> str:
        protocols = "eth:ethertype:ip:icmp:data"
        return row(
            frame_time_epoch="1.0",
            frame_len="98",
            frame_protocols=protocols,
            ip_src=src,
            ip_dst=dst,
            ip_proto="1",
        )

    builder, docs = build(
        icmp("1.1.1.1", "2.2.2.2"), icmp("2.2.2.2", "1.1.1.1"), icmp("1.1.1.1", "3.3.3.3")
    )
    assert builder.summary().flows.other == 2
    first = docs[0]
    assert first["pcaptotal.flow_key"] == "ip-1-1.1.1.1-2.2.2.2"
    assert first["network.transport"] == "icmp"
    assert (first["source.packets"], first["destination.packets"]) == (1, 1)
    assert "source.port" not in first and "pcaptotal.stream" not in first


def test_ipv6_extension_header_resolves_to_icmpv6() -> None:
    _, (doc,) = build(
        row(
            frame_time_epoch="1",
            frame_len="90",
            frame_protocols="eth:ethertype:ipv6:ipv6.hopopts:icmpv6",
            ipv6_src="fe80::1",
            ipv6_dst="ff02::16",
            ipv6_nxt="0",
        )
    )
    assert doc["network.iana_number"] == 58 and doc["network.transport"] == "ipv6-icmp"


def test_icmp_error_quote_creates_flow_without_packets() -> None:
    builder, docs = build(
        row(
            frame_time_epoch="1",
            frame_len="70",
            frame_protocols="eth:ethertype:ip:icmp:ip:udp:data",
            ip_src=["10.0.0.2", "10.0.0.1"],
            ip_dst=["10.0.0.1", "10.0.0.2"],
            ip_proto=["1", "17"],
            udp_stream="0",
            udp_srcport="4000",
            udp_dstport="53",
            dns_qry_name="x.example",
        )
    )
    summary = builder.summary()
    assert (summary.flows.udp, summary.flows.other) == (1, 1)
    by_key = {d["pcaptotal.flow_key"]: d for d in docs}
    assert by_key["udp-0"]["network.packets"] == 0
    assert by_key["udp-0"]["source.ip"] == "10.0.0.1"
    assert by_key["ip-1-10.0.0.1-10.0.0.2"]["network.packets"] == 1
    assert "dns.question" not in by_key["ip-1-10.0.0.1-10.0.0.2"]


def test_teredo_packet_counts_toward_outer_and_inner_flows() -> None:
    _, docs = build(
        row(
            frame_time_epoch="1",
            frame_len="120",
            frame_protocols="eth:ethertype:ip:udp:teredo:ipv6:tcp:http",
            ip_src="192.168.1.2",
            ip_dst="65.55.1.1",
            ip_proto="17",
            udp_stream="0",
            udp_srcport="3544",
            udp_dstport="3544",
            ipv6_src="2001::1",
            ipv6_dst="2001::2",
            ipv6_nxt="6",
            tcp_stream="0",
            tcp_srcport="1111",
            tcp_dstport="80",
            tcp_flags="0x0018",
            http_request="1",
            http_request_method="GET",
            http_host="example.com:8080",
        )
    )

    by_key = {d["pcaptotal.flow_key"]: d for d in docs}
    outer, inner = by_key["udp-0"], by_key["tcp-0"]
    assert outer["network.protocol"] == ["teredo"] and "http.request.method" not in outer
    assert outer["network.bytes"] == inner["network.bytes"] == 120
    assert inner["network.type"] == "ipv6" and inner["network.protocol"] == ["http"]
    assert inner["http.request.method"] == ["GET"] and inner["url.domain"] == ["example.com"]
    assert inner["pcaptotal.outer.source.ip"] == ["192.168.1.2"]
    assert "pcaptotal.outer.source.ip" not in outer


def test_ipv4_fragments_join_the_reassembled_udp_flow() -> None:
    frag = row(
        frame_time_epoch="1",
        frame_len="1514",
        frame_protocols="eth:ethertype:ip:data",
        ip_src="1.1.1.1",
        ip_dst="2.2.2.2",
        ip_proto="17",
        ip_id="0xd0fe",
        ip_flags_mf="1",
        ip_frag_offset="0",
    )
    last = row(
        frame_time_epoch="2",
        frame_len="300",
        frame_protocols="eth:ethertype:ip:udp:dns",
        ip_src="1.1.1.1",
        ip_dst="2.2.2.2",
        ip_proto="17",
        ip_id="0xd0fe",
        ip_flags_mf="0",
        ip_frag_offset="1480",
        udp_stream="0",
        udp_srcport="53",
        udp_dstport="5353",
    )
    builder, (doc,) = build(frag, last)
    assert doc["network.packets"] == 2 and doc["network.bytes"] == 1814
    assert builder.summary().flows.other == 0 and builder.unreassembled_fragments == 0


def test_summary_definitions() -> None:
    builder, _ = build(
        row(
            frame_time_epoch="1",
            frame_len="100",
            frame_protocols="eth:ethertype:ip:udp:mdns",
            ip_src="1.1.1.1",
            ip_dst="224.0.0.251",
            ip_proto="17",
            udp_stream="4",
            dns_flags_response="0",
            dns_qry_name=["a.local", "b.local"],
        ),
        row(
            frame_time_epoch="2",
            frame_len="100",
            frame_protocols="eth:ethertype:ip:udp:mdns",
            ip_src="1.1.1.2",
            ip_dst="224.0.0.251",
            ip_proto="17",
            udp_stream="4",
            dns_flags_response="1",
            dns_qry_name="c.local",
        ),
        row(frame_time_epoch="3", frame_len="50", frame_protocols="eth:ethertype:arp"),
    )
    summary = builder.summary()
    assert (summary.packets, summary.bytes) == (3, 250)
    assert summary.dns_query_names == 2  # names in responses do not count
    assert summary.flows.udp == 1


def test_dns_http_tls_facts() -> None:
    _, (doc,) = build(
        row(
            frame_time_epoch="1",
            frame_len="100",
            frame_protocols="eth:ethertype:ip:udp:dns",
            ip_src="10.0.0.53",
            ip_dst="10.0.0.1",
            ip_proto="17",
            udp_stream="0",
            udp_srcport="53",
            udp_dstport="3333",
            dns_flags_response="1",
            dns_qry_name="x.test",
            dns_qry_type="16",
            dns_flags_rcode="3",
            dns_count_answers="1",
            dns_resp_type="16",
            dns_resp_name="x.test",
            dns_resp_class="0x0001",
            dns_resp_ttl="60",
            dns_txt="v=spf1, -all",
        )
    )
    assert doc["dns.question"] == [{"name": "x.test", "type": "TXT"}]
    assert doc["dns.response_code"] == ["NXDOMAIN"]
    # one ECS answer object; a comma inside a value survives
    answer = {"name": "x.test", "type": "TXT", "class": "IN", "ttl": 60, "data": "v=spf1, -all"}
    assert doc["dns.answers"] == [answer]


def test_malformed_line_is_counted_not_fatal() -> None:
    builder, docs = build("garbage")
    assert builder.malformed_rows == 1 and docs == []


def test_helpers() -> None:
    assert parse_epoch_ns("1717511224.912203000") == 1_717_511_224_912_203_000
    assert iso_from_ns(1_717_511_224_912_203_999) == "2024-06-04T14:27:04.912203Z"
    assert tls_version_name("0x0303") == "1.2"
    assert tls_version_name("0x7f1c") == "1.3"
    assert host_without_port("[2001:db8::1]:80") == "2001:db8::1"
    assert host_without_port("2001:db8::1") == "2001:db8::1"
    assert parse_certificate(b"\x30\x82\xff") is None
