"""One flow's state while a capture's rows are added (``FlowState``), and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pcaptotal_parser.carving import object_names
from pcaptotal_parser.columns import INDEX, Row
from pcaptotal_parser.facts import SIDE, dns_transactions, packet_facts
from pcaptotal_parser.transactions import Transactions

MAX_VALUES_PER_FIELD = 1000  # bounds one flow document (an mDNS flow can ask for many names)
# Bursts of payload per direction (request/response exchanges inside one session) let the
# enricher see check-ins inside one long or keep-alive connection. A frame of >= 100 B carries
# payload (a bare TCP ACK with timestamps is 66 B on IPv4, 86 B on IPv6); frames closer than
# 0.5 s to the previous one (well above LAN/WAN round trips) belong to the same burst.
BURST_MIN_FRAME = 100
BURST_GAP_NS = 500_000_000
MAX_BURSTS = 300

Endpoint = tuple[str, int | None]

_DNS_ID = INDEX["dns.id"]
_HTTP_URI = INDEX["http.request.uri"]
_IMF_SUBJECT = INDEX["imf.subject"]
_FTP_DATA = INDEX["ftp-data.command"]


def parse_epoch_ns(text: str) -> int:
    """``1717511224.912203000`` → integer nanoseconds, exactly (no float rounding)."""
    negative = text.startswith("-")
    secs, _, frac = text.lstrip("-").partition(".")
    ns = int(secs or 0) * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if negative else ns


@dataclass(slots=True)
class FlowState:
    key: str
    stream: int | None
    transport: str
    iana_number: int
    network_type: str
    a: Endpoint | None = None  # first sender (provisional initiator)
    b: Endpoint | None = None
    a_raw: tuple[str, str] | None = None  # ``a`` as tshark prints it: compared per packet
    first_frame: int = 0  # frame (1-based row) that created the flow: orders split merges
    packets: list[int] = field(default_factory=lambda: [0, 0])  # a→b, b→a
    bytes: list[int] = field(default_factory=lambda: [0, 0])
    first_ns: int | None = None
    last_ns: int | None = None
    syn_from_b: bool | None = None  # who sent the first SYN without ACK
    tcp_flags: int = 0
    protocols: dict[str, None] = field(default_factory=dict)
    facts: dict[str, dict[Any, None]] = field(default_factory=dict)
    # The containers most flows never fill are made on first use (None until then): an empty
    # dict is 64 B, and a 200 MB flow-heavy capture holds ~47,000 flows until its records are
    # written.
    vlans: dict[str, None] | None = None
    outer_src: dict[str, None] | None = None
    outer_dst: dict[str, None] | None = None
    macs: list[str | None] = field(default_factory=lambda: [None, None])  # of a, of b
    # facts whose name depends on who sent them: (name template, sent by b) -> values
    sided: dict[tuple[str, bool], dict[Any, None]] = field(default_factory=dict)
    community_ids: dict[str, None] | None = None  # other-IP flows, per packet
    icmp_counts: dict[str, int] | None = None  # "type/code" -> packets
    # per direction (a→b, b→a): [first ns, last ns, bytes] of each burst of payload frames
    bursts: tuple[list[list[int]], list[list[int]]] = field(default_factory=lambda: ([], []))
    dns_pending: dict[str, None] | None = None  # query ids not yet answered
    dns_queries: int = 0
    # names tshark --export-objects would give this flow's objects: (protocol, name) -> count
    object_names: dict[tuple[str, str], int] | None = None
    tx: Transactions | None = None  # per-transaction records (dns, http, tls), when any

    def touch(self, ts_ns: int) -> None:
        if self.first_ns is None or ts_ns < self.first_ns:
            self.first_ns = ts_ns
        if self.last_ns is None or ts_ns > self.last_ns:
            self.last_ns = ts_ns

    def burst(self, reverse: bool, frame_len: int, ts_ns: int) -> None:
        """Add a payload frame (>= BURST_MIN_FRAME) to its direction's current burst."""
        runs = self.bursts[reverse]
        if runs and ts_ns - runs[-1][1] <= BURST_GAP_NS:
            run = runs[-1]
            if ts_ns > run[1]:
                run[1] = ts_ns
            run[2] += frame_len
        elif len(runs) < MAX_BURSTS:
            runs.append([ts_ns, ts_ns, frame_len])

    def set_ends(self, sender: Endpoint, receiver: Endpoint) -> None:
        self.a, self.b = sender, receiver
        self.a_raw = (sender[0], "" if sender[1] is None else str(sender[1]))

    def count(self, sender: Endpoint, receiver: Endpoint, frame_len: int, ts_ns: int) -> bool:
        """Count one packet; returns True when it went b→a."""
        if self.a is None or (self.packets[0] + self.packets[1] == 0 and sender != self.a):
            self.set_ends(sender, receiver)  # first real packet decides (over ICMP quotes)
        reverse = sender != self.a
        self.packets[reverse] += 1
        self.bytes[reverse] += frame_len
        self.touch(ts_ns)
        if frame_len >= BURST_MIN_FRAME and self.stream is not None:
            self.burst(reverse, frame_len, ts_ns)
        return reverse

    def count_raw(
        self, src: str, sport: str, dst: str, dport: str, frame_len: int, ts_ns: int
    ) -> bool:
        """``count`` on tshark's strings (the fast path: no tuples or ints per packet)."""
        a_raw = self.a_raw
        packets = self.packets
        if a_raw is None or (
            packets[0] + packets[1] == 0 and (src != a_raw[0] or sport != a_raw[1])
        ):
            self.set_ends(
                (src, int(sport) if sport.isdigit() else None),
                (dst, int(dport) if dport.isdigit() else None),
            )
            a_raw = self.a_raw
            assert a_raw is not None
        reverse = src != a_raw[0] or sport != a_raw[1]
        packets[reverse] += 1
        self.bytes[reverse] += frame_len
        first = self.first_ns
        if first is None or ts_ns < first:
            self.first_ns = ts_ns
        last = self.last_ns
        if last is None or ts_ns > last:
            self.last_ns = ts_ns
        if frame_len >= BURST_MIN_FRAME:
            self.burst(reverse, frame_len, ts_ns)
        return reverse

    def absorb(self, later: FlowState) -> None:
        """Merge the same flow seen in a later part (other-IP flows, keyed by address pair)."""
        same = later.a == self.a
        for i in (0, 1):
            j = i if same else 1 - i
            self.packets[i] += later.packets[j]
            self.bytes[i] += later.bytes[j]
            if self.macs[i] is None:
                self.macs[i] = later.macs[j]
        if later.first_ns is not None:
            self.touch(later.first_ns)
        if later.last_ns is not None:
            self.touch(later.last_ns)
        self.tcp_flags |= later.tcp_flags
        self.protocols.update(later.protocols)
        if later.vlans:
            self.vlans = {**(self.vlans or {}), **later.vlans}
        if later.outer_src:
            self.outer_src = {**(self.outer_src or {}), **later.outer_src}
        if later.outer_dst:
            self.outer_dst = {**(self.outer_dst or {}), **later.outer_dst}
        if later.community_ids:
            self.community_ids = {**(self.community_ids or {}), **later.community_ids}
        for name, values in later.facts.items():
            for value in values:
                self.add_fact(name, value)
        if later.icmp_counts:
            counts = self.icmp_counts = self.icmp_counts or {}
            for label, n in later.icmp_counts.items():
                counts[label] = counts.get(label, 0) + n

    def add_fact(self, name: str, value: Any) -> None:
        values = self.facts.setdefault(name, {})
        if len(values) < MAX_VALUES_PER_FIELD:
            values[value] = None

    def add_sided_fact(self, template: str, from_b: bool, value: Any) -> None:
        values = self.sided.setdefault((template, from_b), {})
        if len(values) < MAX_VALUES_PER_FIELD:
            values[value] = None

    def dns_message(self, transaction: str, response: bool) -> None:
        if response:
            if self.dns_pending:
                self.dns_pending.pop(transaction, None)
        else:
            self.dns_queries += 1
            pending = self.dns_pending
            if pending is None:
                pending = self.dns_pending = {}
            if len(pending) < MAX_VALUES_PER_FIELD:
                pending[transaction] = None

    def add_packet_facts(self, row: Row, sent_by_b: bool) -> None:
        """The facts of one packet of this flow (and its dns/http/tls transactions)."""
        facts = self.facts
        found = packet_facts(row)
        if found or row.cols[_DNS_ID]:
            tx = self.tx
            if tx is None:
                tx = self.tx = Transactions()
            tx.observe(row, found, sent_by_b, parse_epoch_ns(row.cols[0] or "0"))
        for name, value in found:
            if SIDE in name:
                self.add_sided_fact(name, sent_by_b, value)
                continue
            values = facts.get(name)  # ``add_fact`` inline: a DNS packet has a dozen facts
            if values is None:
                values = facts[name] = {}
            if len(values) < MAX_VALUES_PER_FIELD:
                values[value] = None
        cols = row.cols
        if cols[_DNS_ID]:
            for transaction, response in dns_transactions(row):
                self.dns_message(transaction, response)
        if cols[_HTTP_URI] or cols[_IMF_SUBJECT] or cols[_FTP_DATA]:
            names = self.object_names
            if names is None:
                names = self.object_names = {}
            for key in object_names(row):
                if len(names) < MAX_VALUES_PER_FIELD:
                    names[key] = names.get(key, 0) + 1
