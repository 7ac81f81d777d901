"""Host-pair keys of the splitter on hand-built frames (no tshark needed)."""

from __future__ import annotations

import ipaddress

from pcaptotal_parser.host_pairs import host_pair

MAC = b"\x00\x11\x22\x33\x44\x55" * 2


def ipv4(src: str, dst: str, proto: int, payload: bytes = b"") -> bytes:
    header = bytearray(20)
    header[0] = 0x45
    header[9] = proto
    header[12:16] = ipaddress.IPv4Address(src).packed
    header[16:20] = ipaddress.IPv4Address(dst).packed
    return bytes(header) + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes = b"") -> bytes:
    header = bytearray(40)
    header[0] = 0x60
    header[6] = nxt
    header[8:24] = ipaddress.IPv6Address(src).packed
    header[24:40] = ipaddress.IPv6Address(dst).packed
    return bytes(header) + payload


def ether(ethertype: int, payload: bytes, vlans: int = 0) -> bytes:
    tags = b"".join(b"\x81\x00\x00\x01" for _ in range(vlans))
    return MAC + tags + ethertype.to_bytes(2, "big") + payload


def test_both_directions_share_a_key() -> None:
    one = host_pair(1, ether(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6)))
    other = host_pair(1, ether(0x0800, ipv4("10.0.0.2", "10.0.0.1", 6)))
    assert one is not None and one == other


def test_vlan_mpls_raw_null_and_ipv6() -> None:
    key = host_pair(1, ether(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17)))
    assert host_pair(1, ether(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17), vlans=2)) == key
    mpls = b"\x00\x01\x00\x40" + b"\x00\x02\x01\x40"  # two labels, bottom of stack on the 2nd
    assert host_pair(1, ether(0x8847, mpls + ipv4("10.0.0.2", "10.0.0.1", 6))) == key
    assert host_pair(101, ipv4("10.0.0.1", "10.0.0.2", 6)) == key
    assert host_pair(0, b"\x02\x00\x00\x00" + ipv4("10.0.0.1", "10.0.0.2", 6)) == key
    v6 = host_pair(1, ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 6)))
    assert v6 is not None and len(v6) == 32


def test_icmp_errors_go_with_the_packet_they_quote() -> None:
    flow = host_pair(1, ether(0x0800, ipv4("10.0.0.1", "8.8.8.8", 17)))
    quoted = ipv4("10.0.0.1", "8.8.8.8", 17, b"\x00" * 8)
    error = ipv4("192.0.2.1", "10.0.0.1", 1, bytes([11, 0, 0, 0, 0, 0, 0, 0]) + quoted)
    assert host_pair(1, ether(0x0800, error)) == flow
    echo = ipv4("192.0.2.1", "10.0.0.1", 1, bytes([8, 0, 0, 0, 0, 0, 0, 0]) + quoted)
    assert host_pair(1, ether(0x0800, echo)) != flow
    flow6 = host_pair(1, ether(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17)))
    quoted6 = ipv6("2001:db8::1", "2001:db8::2", 17, b"\x00" * 8)
    error6 = ipv6("2001:db8::ff", "2001:db8::1", 58, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + quoted6)
    assert host_pair(1, ether(0x86DD, error6)) == flow6


def test_not_ip() -> None:
    assert host_pair(1, ether(0x0806, b"\x00" * 28)) is None  # ARP
    assert host_pair(105, b"\x00" * 64) is None  # 802.11: not read
    assert host_pair(1, b"\x00" * 10) is None  # cut short
