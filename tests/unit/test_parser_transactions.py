"""Per-transaction records (dns, http, tls) on synthetic tshark rows (no tshark needed)."""

from __future__ import annotations

from typing import Any

from pcaptotal_parser.flows import FlowBuilder

from tests.unit.test_parser_flows import CID, row


def tcp(ts: str, src: str, sport: int, dst: str, dport: int, flags: str, **extra: Any) -> str:
    return row(
        frame_time_epoch=ts,
        frame_len="60",
        frame_protocols=extra.pop("frame_protocols", "eth:ethertype:ip:tcp"),
        ip_src=src,
        ip_dst=dst,
        ip_proto="6",
        tcp_stream="0",
        tcp_srcport=str(sport),
        tcp_dstport=str(dport),
        tcp_flags=flags,
        **extra,
    )


def udp(ts: str, src: str, sport: int, dst: str, dport: int, **extra: Any) -> str:
    return row(
        frame_time_epoch=ts,
        frame_len="80",
        frame_protocols="eth:ethertype:ip:udp:dns",
        ip_src=src,
        ip_dst=dst,
        ip_proto="17",
        udp_stream="0",
        udp_srcport=str(sport),
        udp_dstport=str(dport),
        **extra,
    )


def records(*lines: str) -> list[dict[str, Any]]:
    builder = FlowBuilder(CID)
    for line in lines:
        builder.add_line(line)
    return list(builder.records())


def test_dns_query_and_response_are_one_record_with_aligned_answers() -> None:
    query = udp(
        "10.0",
        "10.0.0.1",
        5353,
        "10.0.0.53",
        53,
        dns_id="0x1a2b",
        dns_flags_response="0",
        dns_qry_name="www.example.org",
        dns_qry_type="1",
        dns_qry_class="0x0001",
        dns_count_answers="0",
        dns_count_auth_rr="0",
        dns_count_add_rr="0",
    )
    response = udp(
        "10.25",
        "10.0.0.53",
        53,
        "10.0.0.1",
        5353,
        dns_id="0x1a2b",
        dns_flags_response="1",
        dns_qry_name="www.example.org",
        dns_qry_type="1",
        dns_qry_class="0x0001",
        dns_flags_rcode="0",
        dns_count_answers="3",
        dns_count_auth_rr="0",
        dns_count_add_rr="0",
        dns_resp_type=["5", "1", "1"],
        dns_resp_ttl=["300", "60", "61"],
        dns_cname="web.example.org",
        dns_a=["192.0.2.1", "192.0.2.2"],
    )
    unanswered = udp(
        "11.0",
        "10.0.0.1",
        5353,
        "10.0.0.53",
        53,
        dns_id="0x0001",
        dns_flags_response="0",
        dns_qry_name="nope.example",
        dns_qry_type="28",
    )
    flow, dns, lost = records(query, response, unanswered)
    assert flow["event.dataset"] == "flow" and dns["event.dataset"] == "dns"
    assert dns["event.id"] == f"{CID}-dns-udp-0-0" and dns["pcaptotal.flow_id"] == flow["event.id"]
    assert dns["network.community_id"] == flow["network.community_id"]
    assert dns["dns.type"] == "answer" and dns["dns.response_code"] == "NOERROR"
    assert dns["dns.question"] == [{"name": "www.example.org", "type": "A", "class": "IN"}]
    assert dns["dns.answers"] == [
        {"type": "CNAME", "ttl": 300, "data": "web.example.org"},
        {"type": "A", "ttl": 60, "data": "192.0.2.1"},
        {"type": "A", "ttl": 61, "data": "192.0.2.2"},
    ]
    assert dns["dns.resolved_ip"] == ["192.0.2.1", "192.0.2.2"]
    assert dns["event.duration"] == 250_000_000  # the round trip
    assert dns["@timestamp"] == "1970-01-01T00:00:10.000000Z"
    assert lost["dns.type"] == "query" and lost["pcaptotal.dns.answered"] is False
    assert lost["dns.question"] == [{"name": "nope.example", "type": "AAAA"}]
    assert "event.duration" not in lost


def test_pipelined_http_responses_answer_requests_in_order() -> None:
    def get(ts: str, uri: str) -> str:
        return tcp(
            ts,
            "10.0.0.1",
            5000,
            "10.0.0.2",
            8080,
            "0x0018",
            frame_protocols="eth:ethertype:ip:tcp:http",
            http_request="1",
            http_request_method="GET",
            http_host="h.example:8080",
            http_request_uri=uri,
            http_user_agent="curl/8",
        )

    def ok(ts: str, code: str, ctype: str) -> str:
        return tcp(
            ts,
            "10.0.0.2",
            8080,
            "10.0.0.1",
            5000,
            "0x0018",
            frame_protocols="eth:ethertype:ip:tcp:http",
            http_response_code=code,
            http_content_type=ctype,
            http_content_length="12",
        )

    syn = tcp("1.0", "10.0.0.1", 5000, "10.0.0.2", 8080, "0x0002")
    _flow, first, second = records(
        syn,
        get("1.1", "/a?x=1"),
        get("1.2", "/b"),
        ok("1.3", "200", "text/html"),
        ok("1.5", "404", "text/plain; charset=utf-8"),
    )
    assert first["url.original"] == "http://h.example:8080/a?x=1"
    assert first["url.path"] == "/a" and first["url.query"] == "x=1"
    assert first["url.domain"] == "h.example" and first["user_agent.original"] == "curl/8"
    assert first["http.response.status_code"] == 200
    assert first["http.response.mime_type"] == "text/html"
    assert first["http.response.body.bytes"] == 12
    assert second["url.path"] == "/b" and second["http.response.status_code"] == 404
    assert second["event.duration"] == 300_000_000
    assert [first["event.id"], second["event.id"]] == [
        f"{CID}-http-tcp-0-0",
        f"{CID}-http-tcp-0-1",
    ]


def test_each_client_hello_starts_a_tls_record() -> None:
    def hello(ts: str, sni: str) -> str:
        return tcp(
            ts,
            "10.0.0.1",
            5000,
            "10.0.0.2",
            443,
            "0x0018",
            frame_protocols="eth:ethertype:ip:tcp:tls",
            tls_handshake_type="1",
            tls_handshake_version="0x0303",
            tls_handshake_extensions_server_name=sni,
            tls_handshake_ja3="a" * 32,
            tls_handshake_ciphersuite=["0x1301", "0xc02f"],
        )

    def server_hello(ts: str) -> str:
        return tcp(
            ts,
            "10.0.0.2",
            443,
            "10.0.0.1",
            5000,
            "0x0018",
            frame_protocols="eth:ethertype:ip:tcp:tls",
            tls_handshake_type="2",
            tls_handshake_version="0x0303",
            tls_handshake_extensions_supported_version="0x0304",
            tls_handshake_ciphersuite="0x1301",
            tls_handshake_ja3s="b" * 32,
        )

    syn = tcp("1.0", "10.0.0.1", 5000, "10.0.0.2", 443, "0x0002")
    _flow, first, second = records(
        syn, hello("1.1", "one.example"), server_hello("1.2"), hello("2.0", "two.example")
    )
    assert first["event.dataset"] == "tls" and first["tls.client.server_name"] == "one.example"
    assert first["tls.version"] == "1.3" and first["tls.cipher"] == "TLS_AES_128_GCM_SHA256"
    assert first["tls.server.ja3s"] == "b" * 32 and first["tls.client.ja3"] == "a" * 32
    assert first["tls.client.ja4"].startswith("t13") or first["tls.client.ja4"].startswith("t12")
    assert second["tls.client.server_name"] == "two.example" and "tls.version" not in second
