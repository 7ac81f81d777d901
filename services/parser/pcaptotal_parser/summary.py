"""The capture summary, counted per packet with the exact tshark definitions.

Each number is defined by a tshark field or display filter so that tshark itself is the oracle:
distinct ``tcp.stream`` / ``udp.stream`` values (every occurrence), distinct ``dns.qry.name`` in
packets where some ``dns.flags.response`` is 0 (values split on commas), packets carrying
``http.request``, distinct ``tls.handshake.extensions_server_name``. ``flows.other`` comes from
the flow builder (the other-IP flows it made).
"""

from __future__ import annotations

from pcaptotal.messages import CaptureSummary, FlowCounts

from pcaptotal_parser.columns import AGGREGATOR, INDEX, Row

_DNS_RESPONSE = INDEX["dns.flags.response"]
_DNS_QRY_NAME = INDEX["dns.qry.name"]
_HTTP_REQUEST = INDEX["http.request"]
_SNI = INDEX["tls.handshake.extensions_server_name"]


class SummaryCounter:
    """Accumulates the summary; memory grows with distinct streams and names, not packets."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.tcp_streams: set[str] = set()
        self.udp_streams: set[str] = set()
        self.dns_names: set[str] = set()
        self.http_requests = 0
        self.server_names: set[str] = set()
        # streams counted in other parts of a split capture (their numbers restart per part)
        self.merged_tcp = 0
        self.merged_udp = 0
        # packets the splitter's prefilter kept from tshark (``packets`` counts tshark's rows)
        self.withheld_packets = 0
        self.withheld_bytes = 0

    def add_withheld(self, packets: int, size: int) -> None:
        self.withheld_packets += packets
        self.withheld_bytes += size

    @property
    def all_packets(self) -> int:
        return self.packets + self.withheld_packets

    @property
    def all_bytes(self) -> int:
        return self.bytes + self.withheld_bytes

    def add(self, row: Row) -> None:
        self.packets += 1
        frame_len = row.raw("frame.len")
        if frame_len.isdigit():
            self.bytes += int(frame_len)
        self.tcp_streams.update(row.values("tcp.stream"))
        self.udp_streams.update(row.values("udp.stream"))
        self.add_app(row)

    def add_app(self, row: Row) -> None:
        """The application-layer numbers (only packets with an application protocol)."""
        cols = row.cols
        if "0" in cols[_DNS_RESPONSE].split(AGGREGATOR):
            names = cols[_DNS_QRY_NAME]
            if names:
                for value in names.split(AGGREGATOR):
                    self.dns_names.update(n for n in value.split(",") if n)
        if cols[_HTTP_REQUEST]:
            self.http_requests += 1
        sni = cols[_SNI]
        if sni:
            for value in sni.split(AGGREGATOR):
                self.server_names.update(n for n in value.split(",") if n)

    def merge(self, other: SummaryCounter) -> None:
        """Add the counts of another part (every stream lies wholly in one part)."""
        self.packets += other.packets
        self.bytes += other.bytes
        self.withheld_packets += other.withheld_packets
        self.withheld_bytes += other.withheld_bytes
        self.merged_tcp += len(other.tcp_streams) + other.merged_tcp
        self.merged_udp += len(other.udp_streams) + other.merged_udp
        self.dns_names |= other.dns_names
        self.http_requests += other.http_requests
        self.server_names |= other.server_names

    def summary(self, other_flows: int) -> CaptureSummary:
        return CaptureSummary(
            packets=self.all_packets,
            bytes=self.all_bytes,
            flows=FlowCounts(
                tcp=len(self.tcp_streams) + self.merged_tcp,
                udp=len(self.udp_streams) + self.merged_udp,
                other=other_flows,
            ),
            dns_query_names=len(self.dns_names),
            http_requests=self.http_requests,
            tls_server_names=len(self.server_names),
        )
