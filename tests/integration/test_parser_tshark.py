"""The parser's tshark pass + flow builder on every shared capture, against tshark's own numbers."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.fields import values_of
from pcaptotal_parser.parse import ParseResult, parse_capture
from pcaptotal_parser.tshark import TsharkError

from tests.paths import COMMUNITY_ID, PCAPS, shared_captures
from tests.tshark_oracle import field_values, oracle_summary

pytestmark = pytest.mark.integration

CAPTURES = shared_captures()
EXTRA = [COMMUNITY_ID / n for n in ("icmp.pcap", "icmp6.pcap", "sctp.pcap", "ipv6.pcap")]
ALL = CAPTURES + EXTRA


async def parse(path: Path, tmp_path: Path) -> ParseResult:
    return await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)


def flows_of(result: ParseResult) -> list[dict[str, Any]]:
    return list(result.flows.flows())


def test_capture_set_present() -> None:
    assert len(CAPTURES) == 33


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
async def test_summary_equals_tshark(path: Path, tmp_path: Path, tshark: str) -> None:
    result = await parse(path, tmp_path)
    assert result.summary.model_dump() == oracle_summary(path)
    docs = flows_of(result)
    # every flow the summary counts is a document, and no packet is in two flows of one kind
    flows = result.summary.flows
    assert len(docs) == flows.tcp + flows.udp + flows.other
    assert len({d["event.id"] for d in docs}) == len(docs)
    for doc in docs:
        assert doc["network.packets"] == doc["source.packets"] + doc["destination.packets"]
        assert doc["event.start"] <= doc["event.end"]
        assert doc["event.start"].endswith("Z")


async def test_damaged_capture_keeps_what_tshark_read(tmp_path: Path, tshark: str) -> None:
    result = await parse(PCAPS / "suricata-verify_damaged-file-tls-der.pcap", tmp_path)
    assert result.summary.packets == 6
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "damaged or corrupt" in warning and "6 packets" in warning
    assert str(tmp_path) not in warning  # tshark names a temp path; the user never saw it


async def test_text_file_is_refused_with_a_reason(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a capture\n" * 20)
    with pytest.raises(TsharkError) as err:
        await parse(path, tmp_path)
    assert "isn't a capture file in a format TShark understands" in err.value.reason
    assert err.value.reason.startswith("tshark cannot read the capture")


async def test_random_bytes_with_pcap_magic_are_refused(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "random.pcap"
    rnd = random.Random(7)
    path.write_bytes(bytes.fromhex("d4c3b2a1") + rnd.randbytes(4096))
    with pytest.raises(TsharkError) as err:
        await parse(path, tmp_path)
    assert err.value.reason.startswith("tshark cannot read the capture")


async def test_empty_file_is_refused(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(TsharkError, match="empty"):
        await parse(path, tmp_path)


async def test_timeout_kills_tshark(tmp_path: Path, tshark: str) -> None:
    with pytest.raises(TsharkError, match="timed out after"):
        await parse_capture(
            PCAPS / "corelight_agenttesla-smtp-sandbox.pcap", "c" * 64, timeout_s=0.01
        )


@pytest.mark.parametrize(
    "name", ["tcpdump_quic-handshake-snaplen256.pcap", "tcpdump_dns-badlabel-malformed.pcap"]
)
async def test_truncated_and_malformed_packets_parse(
    name: str, tmp_path: Path, tshark: str
) -> None:
    result = await parse(PCAPS / name, tmp_path)
    assert result.warnings == []
    docs = flows_of(result)
    assert [d["network.transport"] for d in docs] == ["udp"]


async def test_tls_facts(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_tls12-chrome34-google.pcap"
    (doc,) = flows_of(await parse(path, tmp_path))
    assert doc["tls.client.server_name"] == ["google.de"]
    assert doc["tls.client.ja3"] == field_values(path, "tls.handshake.ja3")
    assert doc["tls.server.ja3s"] == field_values(path, "tls.handshake.ja3s")
    assert doc["tls.version"] == ["1.2"]
    assert doc["tls.server.x509.subject.common_name"] == ["*.google.de"]
    assert doc["tls.server.x509.issuer.distinguished_name"] == [
        "C=US, O=Google Inc, CN=Google Internet Authority G2"
    ]
    # tshark's own reading of the leaf certificate's validity
    not_before, not_after = field_values(path, "x509af.utcTime")[:2]
    assert doc["tls.server.x509.not_before"] == [
        not_before.replace(" (UTC)", "Z").replace(" ", "T")
    ]
    assert doc["tls.server.x509.not_after"] == [not_after.replace(" (UTC)", "Z").replace(" ", "T")]
    assert doc["network.protocol"] == ["tls"]
    assert {"SYN", "ACK"} <= set(doc["pcaptotal.tcp_flags"])


async def test_tls13_version_from_supported_versions(tmp_path: Path, tshark: str) -> None:
    (doc,) = flows_of(await parse(PCAPS / "zeek_tls13-chrome125-kyber.pcap", tmp_path))
    assert doc["tls.version"] == ["1.3"]
    assert doc["tls.client.server_name"] == ["lh3.google.com"]
    (doc,) = flows_of(await parse(PCAPS / "zeek_tls12-heise-stream.pcap", tmp_path))
    assert doc["tls.version"] == ["1.2"]  # the client offered 1.3, the server chose 1.2


async def test_http_facts(tmp_path: Path, tshark: str) -> None:
    (doc,) = flows_of(await parse(PCAPS / "zeek_http-zip-download.pcap", tmp_path))
    assert doc["http.request.method"] == ["GET"]
    # the full URL, as tshark completes it (http.request.full_uri), with its parts split out
    assert doc["url.original"] == ["http://localhost:8080/a.zip"]
    assert doc["url.original"] == field_values(
        PCAPS / "zeek_http-zip-download.pcap", "http.request.full_uri"
    )
    assert doc["url.path"] == ["/a.zip"] and "url.query" not in doc
    assert doc["http.response.status_code"] == [200]
    assert doc["http.response.mime_type"] == ["application/zip"]
    assert doc["destination.port"] == 8080
    assert doc["network.protocol"] == ["http"]
    assert doc["source.packets"] + doc["destination.packets"] == 12


async def test_dns_facts(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_wikipedia-dns-http.pcap"
    docs = flows_of(await parse(path, tmp_path))
    names = {n for d in docs for n in values_of(d, "dns.question.name")}
    assert names == set(field_values(path, "dns.qry.name"))
    assert {"upload.wikimedia.org", "meta.wikimedia.org"} <= names
    codes = {c for d in docs for c in d.get("dns.response_code", [])}
    assert codes == {"NOERROR", "NXDOMAIN"}
    types = {t for d in docs for t in values_of(d, "dns.question.type")}
    assert {"A", "AAAA"} <= types and not any(t.isdigit() for t in types)  # named, not numbers
    answers = {a for d in docs for a in values_of(d, "dns.answers.data")}
    assert "208.80.152.3" in answers
    for doc in docs:
        if "dns.question" in doc:
            assert doc["network.protocol"][0] in ("dns", "mdns", "llmnr")
        if doc.get("destination.port") == 53:
            assert doc["network.protocol"] == ["dns"]


async def test_tcp_initiator_is_the_syn_sender(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_http-bro.org-browse.pcap"
    docs = flows_of(await parse(path, tmp_path))
    syn_senders = field_values(path, "ip.src", "tcp.flags == 0x002")
    for doc in docs:
        assert doc["source.ip"] in syn_senders
        assert doc["destination.port"] == 80


async def test_teredo_outer_and_inner_flows(tmp_path: Path, tshark: str) -> None:
    docs = flows_of(await parse(PCAPS / "zeek_teredo-tunnel.pcap", tmp_path))
    outer = [d for d in docs if "teredo" in d.get("network.protocol", [])]
    assert outer and all(d["network.type"] == "ipv4" for d in outer)
    assert all("pcaptotal.outer.source.ip" not in d for d in outer)
    inner = [d for d in docs if d["network.type"] == "ipv6"]
    assert {d["network.transport"] for d in inner} == {"ipv6-icmp", "ipv6-nonxt"}
    tunnel_ends = {d["source.ip"] for d in outer} | {d["destination.ip"] for d in outer}
    for doc in inner:  # the inner packets also counted toward the outer UDP flows
        assert set(doc["pcaptotal.outer.source.ip"]) <= tunnel_ends
        assert set(doc["pcaptotal.outer.destination.ip"]) <= tunnel_ends


async def test_vlan_ids(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_vlan-mpls-http.pcap"
    docs = flows_of(await parse(path, tmp_path))
    vlans = {v for d in docs for v in d.get("network.vlan.id", [])}
    assert vlans == set(field_values(path, "vlan.id"))


async def test_icmp_errors_quote_udp_without_counting_packets(tmp_path: Path, tshark: str) -> None:
    docs = flows_of(await parse(COMMUNITY_ID / "icmp.pcap", tmp_path))
    by_transport = {d["network.transport"]: d for d in docs}
    assert by_transport["udp"]["network.packets"] == 0  # seen only inside an ICMP error
    assert sum(d["network.packets"] for d in docs) == 4


@pytest.fixture
def big_capture(tmp_path: Path) -> Path:
    big = tmp_path / "big.pcap"
    src = PCAPS / "corelight_agenttesla-smtp-sandbox.pcap"
    subprocess.run(["mergecap", "-a", "-w", str(big), *[str(src)] * 100], check=True)
    return big


# A benchmark, not a check: it runs only when asked (PCAPTOTAL_BENCH=1) and says so when skipped.
@pytest.mark.skipif(
    not os.environ.get("PCAPTOTAL_BENCH"), reason="benchmark: runs only with PCAPTOTAL_BENCH=1"
)
async def test_throughput(big_capture: Path, tmp_path: Path, tshark: str) -> None:
    """Prints packets/s on the biggest capture repeated 100 times (not a timed assertion)."""
    result = await parse(big_capture, tmp_path)
    seconds = result.tshark.seconds
    print(
        f"\n{result.summary.packets} packets in {seconds:.2f} s: "
        f"{result.summary.packets / seconds:,.0f} packets/s"
    )
