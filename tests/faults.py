"""Fault injection for the e2e tiers: a TCP proxy to cut, and a capture big enough to kill a
worker in the middle of.

Tests never stop a server they did not start: to take RabbitMQ or S3 away from the services,
the services talk to them through a ``TcpProxy`` and the test cuts the proxy (connections
reset, new ones refused), then restores it on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port


class TcpProxy:
    """127.0.0.1:<port> → target, in a thread of its own; ``cut()`` / ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _run(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a dead peer would."""
        self._run(self._cut())

    def restore(self) -> None:
        self._run(self._listen())

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def is_open(self) -> bool:
        return self._server is not None

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort() if self._server is None else dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@dataclass(frozen=True)
class SyntheticCapture:
    path: Path
    summary: dict[str, object]  # what it holds by construction (the oracle for this file)


def write_udp_capture(path: Path, packets: int, flows: int = 2000) -> SyntheticCapture:
    """A classic pcap of ``packets`` small UDP datagrams spread over ``flows`` 5-tuples: many
    flows, realistic for the parser's work per packet, quick to write. Ports are ones no
    dissector claims, so the summary is known without running tshark over it."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    payload = b"pcaptotal-fault-test"
    udp_len = 8 + len(payload)
    ip_len = 20 + udp_len
    with path.open("wb") as fh:
        fh.write(header)
        for i in range(packets):
            flow = i % flows
            sport = 10000 + flow
            src = bytes([10, 1, (flow >> 8) & 0xFF, flow & 0xFF])
            dst = bytes([192, 0, 2, 1 + flow % 200])
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, i & 0xFFFF, 0, 64, 17, 0, src, dst)
            udp = struct.pack("!HHHH", sport, 40000 + flow % 7, udp_len, 0)
            eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
            frame = eth + ip + udp + payload
            sec, usec = 1_700_000_000 + i // 1000, (i % 1000) * 1000
            fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    frame_len = 14 + ip_len
    summary: dict[str, object] = {
        "packets": packets,
        "bytes": packets * frame_len,
        "flows": {"tcp": 0, "udp": min(flows, packets), "other": 0},
        "dns_query_names": 0,
        "http_requests": 0,
        "tls_server_names": 0,
    }
    return SyntheticCapture(path, summary)


def write_script(directory: Path, name: str, text: str) -> Path:
    """An executable script (e.g. one that stands in for tshark)."""
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path
