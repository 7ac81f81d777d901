"""A capture of a bot polling its server: many HTTP downloads of one name.

Each poll is a TCP connection of its own (handshake, ``GET /gate.php``, a ``200`` with a body
that differs per poll), so tshark exports one object named ``gate.php`` per poll: past its
``gui.max_export_objects`` (1,000) it keeps the first 999 and the last one.
"""

from __future__ import annotations

import struct
from pathlib import Path

_ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
_SERVER = bytes([198, 51, 100, 7])
SYN, ACK, PSH_ACK = 0x02, 0x10, 0x18
SYN_ACK = SYN | ACK


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           payload: bytes = b"") -> bytes:  # fmt: skip
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    length = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0x4000, 64, 6, 0, src, dst)
    return _ETH + ip + tcp + payload


def write_beacons(path: Path, polls: int, target: str = "/gate.php") -> None:
    """``polls`` downloads of ``target`` from one server, one second apart."""
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(polls):
            client = bytes([10, 9, (i >> 8) & 0xFF, i & 0xFF])
            port = 40000 + i % 20000
            request = f"GET {target} HTTP/1.1\r\nHost: c2.example\r\n\r\n".encode()
            body = f"task {i}: sleep {i % 60}\n".encode()
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            c, s = 1000, 5000  # initial sequence numbers
            frames = [
                _frame(client, _SERVER, port, 80, c, 0, SYN),
                _frame(_SERVER, client, 80, port, s, c + 1, SYN_ACK),
                _frame(client, _SERVER, port, 80, c + 1, s + 1, ACK),
                _frame(client, _SERVER, port, 80, c + 1, s + 1, PSH_ACK, request),
                _frame(_SERVER, client, 80, port, s + 1, c + 1 + len(request), PSH_ACK, response),
            ]
            for j, frame in enumerate(frames):
                usec = j * 1000
                fh.write(struct.pack("<IIII", 1_700_000_000 + i, usec, len(frame), len(frame)))
                fh.write(frame)
