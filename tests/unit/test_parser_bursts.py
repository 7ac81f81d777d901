"""Bursts of client payload inside one session (``pcaptotal.client.burst_*``), on synthetic
tshark rows, through both the fast path and the general one."""

from __future__ import annotations

from typing import Any

import pytest
from pcaptotal_parser.columns import FIELDS, SEPARATOR
from pcaptotal_parser.flows import FlowBuilder

_BY_KEY = {name.replace(".", "_"): name for name in FIELDS}


def tcp(ts: float, sender_is_client: bool, size: int, flags: str = "0x0018") -> str:
    cols = [""] * len(FIELDS)
    src, dst = ("10.0.0.1", "10.0.0.2") if sender_is_client else ("10.0.0.2", "10.0.0.1")
    sport, dport = ("5000", "7010") if sender_is_client else ("7010", "5000")
    values = {
        "frame_time_epoch": f"{ts:.6f}",
        "frame_len": str(size),
        "frame_protocols": "eth:ethertype:ip:tcp",
        "ip_src": src,
        "ip_dst": dst,
        "ip_proto": "6",
        "tcp_stream": "0",
        "tcp_srcport": sport,
        "tcp_dstport": dport,
        "tcp_flags": flags,
    }
    for key, value in values.items():
        cols[FIELDS.index(_BY_KEY[key])] = value
    return SEPARATOR.join(cols)


@pytest.mark.parametrize("fast", [True, False])
def test_client_bursts_every_check_in(fast: bool) -> None:
    lines = [tcp(1000.0, True, 74, "0x0002"), tcp(1000.01, False, 74, "0x0012")]
    for i in range(8):  # every 20 s: a 2-frame request, the reply, a bare ACK
        t = 1001.0 + 20 * i
        lines += [tcp(t, True, 300), tcp(t + 0.05, True, 200), tcp(t + 0.1, False, 900)]
        lines.append(tcp(t + 0.12, True, 66, "0x0010"))
    builder = FlowBuilder("c" * 64)
    builder.fast = fast
    builder.add_lines(lines)
    [doc] = list(builder.flows())
    offsets: list[Any] = doc["pcaptotal.client.burst_offset_ms"]
    assert offsets == [1000 + 20_000 * i for i in range(8)]
    assert doc["pcaptotal.client.burst_bytes"] == [500] * 8


def test_no_bursts_when_the_client_only_acknowledges() -> None:
    lines = [tcp(1000.0, True, 74, "0x0002"), tcp(1000.01, False, 74, "0x0012")]
    for i in range(8):  # the server pushes a line every 30 s (a benign ticker)
        lines += [tcp(1001.0 + 30 * i, False, 98), tcp(1001.05 + 30 * i, True, 66, "0x0010")]
    builder = FlowBuilder("c" * 64)
    builder.add_lines(lines)
    [doc] = list(builder.flows())
    assert "pcaptotal.client.burst_offset_ms" not in doc
