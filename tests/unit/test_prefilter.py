"""The splitter's prefilter on hand-made frames: what it keeps from tshark and what not.

(That a prefiltered split equals one tshark pass is proven on real captures in
``tests/integration/test_parser_prefilter.py``.)"""

from __future__ import annotations

import struct

from pcaptotal_parser.prefilter import (
    COUNT,
    KEEP,
    KEEP_BIND,
    NO_VLAN,
    WITHHOLD,
    Prefilter,
)

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def frame(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    flags: int,
    payload: bytes = b"",
    *,
    vlans: tuple[int, ...] = (),
    fragment: bool = False,
) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(tcp),
        1,
        0x2000 if fragment else 0x4000,  # MF, or DF
        64,
        6,
        0,
        src,
        dst,
    )
    tags = b"".join(struct.pack(">HH", 0x8100, vid) for vid in vlans)
    return b"\x02" * 6 + b"\x04" * 6 + tags + b"\x08\x00" + ip + tcp


def outbound(flags: int, payload: bytes = b"", **kw: object) -> bytes:
    return frame(CLIENT, SERVER, 50000, 443, flags, payload, **kw)  # type: ignore[arg-type]


def inbound(flags: int, payload: bytes = b"", **kw: object) -> bytes:
    return frame(SERVER, CLIENT, 443, 50000, flags, payload, **kw)  # type: ignore[arg-type]


HELLO = b"\x16\x03\x01\x00\x05hello"
SERVER_HELLO = b"\x16\x03\x03\x00\x05shell"
DATA = b"\x17\x03\x03\x00\x10" + b"x" * 16


def classify(prefilter: Prefilter, data: bytes) -> int:
    return prefilter.classify(data, 0, len(data))


def handshake(prefilter: Prefilter) -> list[int]:
    return [
        classify(prefilter, f)
        for f in (
            outbound(SYN),
            inbound(SYN | ACK),
            outbound(ACK),
            outbound(ACK | PSH, HELLO),
            inbound(ACK | PSH, SERVER_HELLO),
            outbound(ACK | PSH, DATA),
            inbound(ACK | PSH, DATA),
        )
    ]


def test_a_tls_session_is_sealed_once_both_sides_sent_application_data() -> None:
    prefilter = Prefilter()
    assert handshake(prefilter) == [KEEP] * 6 + [KEEP_BIND]
    epoch, sealed_by = prefilter.epoch, prefilter.direction
    assert sealed_by == 1  # the server's record sealed it; the client spoke TLS first
    assert classify(prefilter, outbound(ACK | PSH, DATA)) == WITHHOLD
    assert (prefilter.epoch, prefilter.direction, prefilter.flags) == (epoch, 0, ACK | PSH)
    assert classify(prefilter, inbound(ACK)) == WITHHOLD
    assert (prefilter.direction, prefilter.vlans) == (1, (NO_VLAN, NO_VLAN))
    assert classify(prefilter, inbound(FIN | ACK)) == WITHHOLD
    assert prefilter.flags == FIN | ACK


def test_application_data_before_any_handshake_record_seals_nothing() -> None:
    prefilter = Prefilter()
    frames = [outbound(ACK | PSH, DATA), inbound(ACK | PSH, DATA), outbound(ACK | PSH, DATA)]
    assert [classify(prefilter, f) for f in frames] == [KEEP, KEEP, KEEP]


def test_one_side_sealed_is_not_enough() -> None:
    prefilter = Prefilter()
    frames = [outbound(ACK | PSH, HELLO), outbound(ACK | PSH, DATA), outbound(ACK | PSH, DATA)]
    assert [classify(prefilter, f) for f in frames] == [KEEP, KEEP, KEEP]
    assert classify(prefilter, inbound(ACK)) == KEEP


def test_a_syn_ends_the_sealed_epoch() -> None:
    """tshark alone decides whether a SYN starts a new stream: what follows it is kept until
    the conversation seals again, under a new epoch."""
    prefilter = Prefilter()
    handshake(prefilter)
    first = prefilter.epoch
    assert classify(prefilter, outbound(SYN)) == KEEP
    assert classify(prefilter, outbound(ACK | PSH, DATA)) == KEEP
    assert handshake(prefilter)[-1] == KEEP_BIND
    assert prefilter.epoch != first


def test_ssh_banners_seal_a_session() -> None:
    prefilter = Prefilter()
    assert classify(prefilter, inbound(ACK | PSH, b"SSH-2.0-OpenSSH_9.6\r\n")) == KEEP
    assert classify(prefilter, outbound(ACK | PSH, b"SSH-2.0-PuTTY\r\n")) == KEEP_BIND
    assert prefilter.direction == 1  # the client's banner, after the server's
    assert classify(prefilter, outbound(ACK | PSH, b"\x00\x00\x05\xdc" + b"k" * 40)) == WITHHOLD


def test_vlan_ids_travel_with_a_withheld_packet() -> None:
    prefilter = Prefilter()
    for f in (
        outbound(ACK | PSH, HELLO, vlans=(10, 20)),
        outbound(ACK | PSH, DATA, vlans=(10, 20)),
        inbound(ACK | PSH, DATA, vlans=(10, 20)),
    ):
        classify(prefilter, f)
    assert classify(prefilter, inbound(ACK, vlans=(10, 30))) == WITHHOLD
    assert prefilter.vlans == (10, 30)
    assert classify(prefilter, inbound(ACK, vlans=(10, 20, 30))) == KEEP  # three tags: kept


def test_fragments_and_other_frames_reach_tshark() -> None:
    prefilter = Prefilter()
    handshake(prefilter)
    assert classify(prefilter, outbound(ACK | PSH, DATA, fragment=True)) == KEEP
    udp = bytearray(outbound(ACK))
    udp[14 + 9] = 17
    assert classify(prefilter, bytes(udp)) == KEEP
    assert classify(prefilter, b"\x00" * 10) == KEEP  # shorter than an Ethernet header


def test_arp_and_stp_only_count() -> None:
    prefilter = Prefilter()
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\0" * 20
    stp = b"\x01\x80\xc2\x00\x00\x00" + b"\x02" * 6 + b"\x00\x26" + b"\x42\x42\x03" + b"\0" * 35
    snap = b"\x01\x00\x0c\xcc\xcc\xcc" + b"\x02" * 6 + b"\x00\x26" + b"\xaa\xaa\x03" + b"\0" * 35
    assert classify(prefilter, arp) == COUNT
    assert classify(prefilter, stp) == COUNT
    assert classify(prefilter, snap) == KEEP  # CDP and other SNAP frames: tshark decodes them


def test_only_sessions_on_tshark_tls_and_ssh_ports_are_sealed() -> None:
    """On port 53 (or 21, 25, 80, ...) tshark's own dissector for that port reads the encrypted
    bytes, and may find "facts" there: such sessions always reach tshark whole."""
    prefilter = Prefilter()
    frames = [
        frame(CLIENT, SERVER, 50000, 53, ACK | PSH, HELLO),
        frame(CLIENT, SERVER, 50000, 53, ACK | PSH, DATA),
        frame(SERVER, CLIENT, 53, 50000, ACK | PSH, DATA),
        frame(SERVER, CLIENT, 53, 50000, ACK | PSH, DATA),
    ]
    assert [classify(prefilter, f) for f in frames] == [KEEP] * 4
    # the lower port decides (tshark tries its dissector first): 443 from client port 80 is
    # read as HTTP first; 8883 (MQTT over TLS) from client port 50000 is sealed
    for client_port, server_port, sealed in ((80, 443, False), (50000, 8883, True)):
        session = [
            frame(CLIENT, SERVER, client_port, server_port, ACK | PSH, HELLO),
            frame(CLIENT, SERVER, client_port, server_port, ACK | PSH, DATA),
            frame(SERVER, CLIENT, server_port, client_port, ACK | PSH, DATA),
            frame(SERVER, CLIENT, server_port, client_port, ACK),
        ]
        expected = [KEEP, KEEP, KEEP_BIND, WITHHOLD] if sealed else [KEEP] * 4
        assert [classify(prefilter, f) for f in session] == expected
