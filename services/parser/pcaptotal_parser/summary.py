"""The capture summary, counted per packet with the exact tshark definitions.

Each number is defined by a tshark field or display filter so that tshark itself is the oracle:
distinct ``tcp.stream`` / ``udp.stream`` values (every occurrence), distinct ``dns.qry.name`` in
packets where some ``dns.flags.response`` is 0 (values split on commas), packets carrying
``http.request``, distinct ``tls.handshake.extensions_server_name``. ``flows.other`` comes from
the flow builder (the other-IP flows it made).
"""

from __future__ import annotations

from pcaptotal.messages import CaptureSummary, FlowCounts

from pcaptotal_parser.columns import Row


class SummaryCounter:
    """Accumulates the summary; memory grows with distinct streams and names, not packets."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self._tcp_streams: set[str] = set()
        self._udp_streams: set[str] = set()
        self._dns_names: set[str] = set()
        self._http_requests = 0
        self._server_names: set[str] = set()

    def add(self, row: Row) -> None:
        self.packets += 1
        frame_len = row.raw("frame.len")
        if frame_len.isdigit():
            self.bytes += int(frame_len)
        self._tcp_streams.update(row.values("tcp.stream"))
        self._udp_streams.update(row.values("udp.stream"))
        if "0" in row.values("dns.flags.response"):
            for value in row.values("dns.qry.name"):
                self._dns_names.update(n for n in value.split(",") if n)
        if row.raw("http.request"):
            self._http_requests += 1
        for value in row.values("tls.handshake.extensions_server_name"):
            self._server_names.update(n for n in value.split(",") if n)

    def summary(self, other_flows: int) -> CaptureSummary:
        return CaptureSummary(
            packets=self.packets,
            bytes=self.bytes,
            flows=FlowCounts(
                tcp=len(self._tcp_streams), udp=len(self._udp_streams), other=other_flows
            ),
            dns_query_names=len(self._dns_names),
            http_requests=self._http_requests,
            tls_server_names=len(self._server_names),
        )
