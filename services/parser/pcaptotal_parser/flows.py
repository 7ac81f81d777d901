"""tshark rows → flow records and the capture summary. Pure: no I/O, no clock.

One flow per ``tcp.stream``, per ``udp.stream``, and per (unordered address pair, IP protocol)
for other IP traffic (ICMP, ICMPv6, GRE, ESP, ...). A packet counts toward every flow of every
IP/transport header it carries that is not quoted in an ICMP error: a Teredo packet counts toward
the outer UDP flow and the inner IPv6 flow. Headers quoted in ICMP errors only make sure their
stream has a flow (tshark gives them a stream number) without adding packets to it. IPv4/IPv6
fragments that tshark reassembles later are added to the flow of the reassembled datagram.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pcaptotal import keys
from pcaptotal.fields import DATASET_KINDS, ECS_VERSION, FLOW_FIELDS_BY_NAME
from pcaptotal.messages import CaptureSummary

from pcaptotal_parser.carving import object_names
from pcaptotal_parser.columns import AGGREGATOR, FAST_FIELDS, FIELDS, INDEX, SEPARATOR, Row
from pcaptotal_parser.community_id import ICMP, ICMP6, community_id
from pcaptotal_parser.facts import SIDE, dns_transactions, packet_facts
from pcaptotal_parser.facts.services import ecs_mac
from pcaptotal_parser.layers import (
    PLANS,
    IpLayer,
    Layers,
    payload_number,
    plan,
    transport_name,
)
from pcaptotal_parser.summary import SummaryCounter
from pcaptotal_parser.transactions import Transactions

# facts whose values are whole objects (``facts.dns``: each question and answer once per flow)
OBJECT_FACTS = frozenset({"dns.question", "dns.answers"})
MAX_VALUES_PER_FIELD = 1000  # bounds one flow document (an mDNS flow can ask for many names)
# Bursts of payload per direction (request/response exchanges inside one session) let the
# enricher see check-ins inside one long or keep-alive connection. A frame of >= 100 B carries
# payload (a bare TCP ACK with timestamps is 66 B on IPv4, 86 B on IPv6); frames closer than
# 0.5 s to the previous one (well above LAN/WAN round trips) belong to the same burst.
BURST_MIN_FRAME = 100
BURST_GAP_NS = 500_000_000
MAX_BURSTS = 300

_TCP_FLAG_NAMES = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"),
                   (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"))  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Endpoint = tuple[str, int | None]

_REST_SEPS = len(INDEX) - FAST_FIELDS - 1  # separators after the leading columns
# the leading columns, in the order ``add_lines`` unpacks them
_HEAD_FIELDS = (
    "frame.time_epoch", "frame.len", "frame.protocols", "eth.src", "vlan.id",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags",
    "udp.stream", "udp.srcport", "udp.dstport",
)  # fmt: skip
if FIELDS[:FAST_FIELDS] != _HEAD_FIELDS:
    raise RuntimeError("columns.FIELDS no longer starts with the columns flows unpacks")
FragmentKey = tuple[int, str, str, str]
_HEAD_LEN = FAST_FIELDS + 1
_DNS_ID = INDEX["dns.id"]
_HTTP_URI = INDEX["http.request.uri"]
_IMF_SUBJECT = INDEX["imf.subject"]
_FTP_DATA = INDEX["ftp-data.command"]
# a line ending in this has every column from dns.id on empty: no facts, no summary names
_NO_FACTS = SEPARATOR * (len(INDEX) - INDEX["dns.id"])
# tcp.flags text -> bits (few distinct values; bounded against hostile input)
_FLAG_BITS: dict[str, int] = {}
_MAX_FLAG_TEXTS = 4096


def parse_epoch_ns(text: str) -> int:
    """``1717511224.912203000`` → integer nanoseconds, exactly (no float rounding)."""
    negative = text.startswith("-")
    secs, _, frac = text.lstrip("-").partition(".")
    ns = int(secs or 0) * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if negative else ns


def iso_from_ns(ns: int) -> str:
    """RFC 3339 UTC with ``Z`` and microseconds (what both index backends keep)."""
    when = _EPOCH + timedelta(microseconds=ns // 1000)
    return when.isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


@dataclass(slots=True)
class _Flow:
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

    def absorb(self, later: _Flow) -> None:
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


class FlowBuilder:
    """Feed rows with ``add``; then ``flows`` yields flow documents and ``summary`` the numbers."""

    def __init__(self, capture_id: str) -> None:
        self.capture_id = capture_id
        self._flows: dict[str, _Flow] = {}
        self._other = 0
        self._counter = SummaryCounter()
        # fragments waiting for the packet that completes their datagram
        self._fragments: dict[FragmentKey, list[tuple[int, int]]] = {}
        self.malformed_rows = 0
        self.fast = True  # tests turn the fast path off to compare it with the general one

    # -- input -------------------------------------------------------------------------------
    def add_lines(self, lines: list[str]) -> None:
        """Add a batch of tshark output lines (the parser's hot loop).

        Most packets are one IP header carrying one TCP/UDP header: those are counted here,
        inline, on the leading columns, without building layers, endpoints or a ``Row``
        (their facts, when they have any, go through a ``Row``). Packets without any IP or
        transport header and without facts only count in the totals. Everything else goes
        through ``add``, which handles any packet; ``fast = False`` sends every packet there.
        """
        flows = self._flows
        fragments = self._fragments
        counter = self._counter
        fast = self.fast
        flag_bits = _FLAG_BITS
        plans = PLANS
        for line in lines:
            # Most packets need only the leading columns: split those, the rest on demand.
            head = line.split(SEPARATOR, FAST_FIELDS)
            if len(head) != _HEAD_LEN or head[FAST_FIELDS].count(SEPARATOR) != _REST_SEPS:
                self.malformed_rows += 1
                continue
            (ts, flen_text, protocols, eth, vlans, ip_src, ip_dst, ip6_src, ip6_dst,
             tcp_stream, tcp_sport, tcp_dport, raw_flags, udp_stream, udp_sport, udp_dport,
             _rest) = head  # fmt: skip
            packet_plan = plans.get(protocols) or plan(protocols)
            simple = packet_plan.simple
            if not simple or fragments or not fast:
                if (
                    fast
                    and packet_plan.bare
                    and not tcp_stream
                    and not udp_stream
                    and line.endswith(_NO_FACTS)
                ):  # ARP, STP, ...: nothing but the totals
                    counter.packets += 1
                    counter.bytes += int(flen_text) if flen_text.isdigit() else 0
                    continue
                self.add(Row(line.split(SEPARATOR)))
                continue
            tcp = simple == "tcp"
            if tcp:
                stream, sport, dport = tcp_stream, tcp_sport, tcp_dport
            else:
                stream, sport, dport = udp_stream, udp_sport, udp_dport
            if not stream.isdigit():
                self.add(Row(line.split(SEPARATOR)))
                continue
            frame_len = int(flen_text) if flen_text.isdigit() else 0
            counter.packets += 1
            counter.bytes += frame_len
            ts_ns = (
                int(ts[:-10] + ts[-9:]) if len(ts) > 10 and ts[-10] == "." else parse_epoch_ns(ts)
            )
            key = ("tcp-" if tcp else "udp-") + stream
            flow = flows.get(key)
            if flow is None:
                flow = _Flow(
                    key,
                    int(stream),
                    simple,
                    6 if tcp else 17,
                    "ipv4" if packet_plan.version == 4 else "ipv6",
                    first_frame=counter.packets,
                )
                flows[key] = flow
                # a flow's stream is counted when the flow is made (here or in ``add``)
                (counter.tcp_streams if tcp else counter.udp_streams).add(stream)
            if packet_plan.version == 4:
                src, dst = ip_src, ip_dst
            else:
                src, dst = ip6_src, ip6_dst
            a_raw = flow.a_raw
            packets = flow.packets
            if a_raw is None or packets[0] + packets[1] == 0:
                reverse = flow.count_raw(src, sport, dst, dport, frame_len, ts_ns)
            else:  # ``count_raw`` inline: a flow's later packets
                reverse = src != a_raw[0] or sport != a_raw[1]
                packets[reverse] += 1
                flow.bytes[reverse] += frame_len
                last = flow.last_ns
                if last is None:
                    flow.touch(ts_ns)
                elif ts_ns > last:  # first <= last: only last moves
                    flow.last_ns = ts_ns
                else:
                    first = flow.first_ns
                    if first is None or ts_ns < first:
                        flow.first_ns = ts_ns
                if frame_len >= BURST_MIN_FRAME:
                    flow.burst(reverse, frame_len, ts_ns)
            if tcp and raw_flags:
                flags = flag_bits.get(raw_flags)
                if flags is None:
                    try:
                        flags = int(raw_flags, 16)
                    except ValueError:
                        flags = 0
                    if len(flag_bits) < _MAX_FLAG_TEXTS:
                        flag_bits[raw_flags] = flags
                flow.tcp_flags |= flags
                if flags & 0x12 == 0x02 and flow.syn_from_b is None:
                    flow.syn_from_b = reverse
            if packet_plan.apps:
                for app in packet_plan.apps:
                    flow.protocols[app] = None
            # facts and the summary's application numbers read only the trailing columns
            if packet_plan.facts and not line.endswith(_NO_FACTS):
                row = Row(head[:FAST_FIELDS] + head[FAST_FIELDS].split(SEPARATOR))
                counter.add_app(row)
                self._packet_facts(row, flow, reverse)
            if eth and flow.macs[reverse] is None:
                flow.macs[reverse] = eth.split(AGGREGATOR, 1)[0]
            if vlans:
                seen_vlans = flow.vlans
                if seen_vlans is None:
                    seen_vlans = flow.vlans = {}
                for vlan in vlans.split(AGGREGATOR):
                    seen_vlans[vlan] = None

    def add_line(self, line: str) -> None:
        self.add_lines([line])

    def add(self, row: Row) -> None:
        self._counter.add(row)
        frame_len = int(row.raw("frame.len") or 0)
        ts_ns = parse_epoch_ns(row.raw("frame.time_epoch") or "0")
        layers = plan(row.raw("frame.protocols")).layers
        live_ips = [ip for ip in layers.ips if not ip.quoted]
        touched: list[tuple[_Flow, IpLayer | None, bool]] = []
        touched += self._add_other_ip(row, live_ips, frame_len, ts_ns)
        touched += self._add_transports(row, layers, frame_len, ts_ns)
        if not touched:
            return
        # Facts belong to the innermost live transport flow; a packet without one (ICMP) has
        # at most facts of the headers it quotes, which describe another packet.
        transports = [(f, r) for f, _, r in touched if not f.key.startswith("ip-")]
        if transports:
            self._packet_facts(row, *transports[-1])
        eth_src = row.first("eth.src")
        vlans = row.values("vlan.id")
        outer_src, outer_dst = _ip_addrs(row, live_ips[0]) if len(live_ips) > 1 else (None, None)
        for flow, owner, from_b in touched:
            if eth_src is not None and flow.macs[from_b] is None:
                flow.macs[from_b] = eth_src
            if vlans:
                if flow.vlans is None:
                    flow.vlans = {}
                for vlan in vlans:
                    flow.vlans[vlan] = None
            # flows of any IP header inside the outermost one are tunnelled
            if outer_src is not None and outer_dst is not None and owner is not live_ips[0]:
                if flow.outer_src is None:
                    flow.outer_src = {}
                if flow.outer_dst is None:
                    flow.outer_dst = {}
                flow.outer_src[outer_src] = None
                flow.outer_dst[outer_dst] = None

    @staticmethod
    def _packet_facts(row: Row, fact_flow: _Flow, sent_by_b: bool) -> None:
        facts = fact_flow.facts
        found = packet_facts(row)
        if found or row.cols[_DNS_ID]:
            tx = fact_flow.tx
            if tx is None:
                tx = fact_flow.tx = Transactions()
            tx.observe(row, found, sent_by_b, parse_epoch_ns(row.cols[0] or "0"))
        for name, value in found:
            if SIDE in name:
                fact_flow.add_sided_fact(name, sent_by_b, value)
                continue
            values = facts.get(name)  # ``add_fact`` inline: a DNS packet has a dozen facts
            if values is None:
                values = facts[name] = {}
            if len(values) < MAX_VALUES_PER_FIELD:
                values[value] = None
        cols = row.cols
        if cols[_DNS_ID]:
            for transaction, response in dns_transactions(row):
                fact_flow.dns_message(transaction, response)
        if cols[_HTTP_URI] or cols[_IMF_SUBJECT] or cols[_FTP_DATA]:
            names = fact_flow.object_names
            if names is None:
                names = fact_flow.object_names = {}
            for key in object_names(row):
                if len(names) < MAX_VALUES_PER_FIELD:
                    names[key] = names.get(key, 0) + 1

    def _add_other_ip(
        self, row: Row, live_ips: list[IpLayer], frame_len: int, ts_ns: int
    ) -> list[tuple[_Flow, IpLayer | None, bool]]:
        touched: list[tuple[_Flow, IpLayer | None, bool]] = []
        for ip in live_ips:
            if ip.payload in ("tcp", "udp"):
                continue
            header = "ip.proto" if ip.version == 4 else "ipv6.nxt"
            number = payload_number(ip, row.at(header, ip.occurrence))
            # TCP/UDP without a tcp/udp layer is a fragment (or a header cut short); 44 is an
            # IPv6 fragment whose payload tshark has not reassembled yet
            if number in (6, 17, 44):
                self._hold_fragment(row, ip, frame_len, ts_ns)
                continue
            src, dst = _ip_addrs(row, ip)
            if src is None or dst is None or number is None:
                continue
            lo, hi = sorted((src, dst))
            key = f"ip-{number}-{lo}-{hi}"
            flow = self._flows.get(key)
            if flow is None:
                flow = _Flow(
                    key,
                    None,
                    transport_name(number),
                    number,
                    f"ipv{ip.version}",
                    first_frame=self._counter.packets,
                )
                self._flows[key] = flow
                self._other += 1
            reverse = flow.count((src, None), (dst, None), frame_len, ts_ns)
            self._other_ip_ids(row, flow, number, src, dst)
            touched.append((flow, ip, reverse))
        return touched

    def _other_ip_ids(self, row: Row, flow: _Flow, number: int, src: str, dst: str) -> None:
        """Community IDs (and ICMP type/code counts) of one packet of a non-TCP/UDP flow."""
        sport = dport = None
        if number in (ICMP, ICMP6):
            prefix = "icmp" if number == ICMP else "icmpv6"
            itype, icode = row.first(f"{prefix}.type"), row.first(f"{prefix}.code")
            if itype and itype.isdigit() and icode and icode.isdigit():
                sport, dport = int(itype), int(icode)
                label = f"{itype}/{icode}"
                counts = flow.icmp_counts
                if counts is None:
                    counts = flow.icmp_counts = {}
                counts[label] = counts.get(label, 0) + 1
        elif number == 132:  # SCTP has ports
            sp, dp = row.first("sctp.srcport"), row.first("sctp.dstport")
            if sp and sp.isdigit() and dp and dp.isdigit():
                sport, dport = int(sp), int(dp)
        cid = community_id(number, src, dst, sport, dport)
        if cid is not None:
            ids = flow.community_ids
            if ids is None:
                ids = flow.community_ids = {}
            if len(ids) < MAX_VALUES_PER_FIELD:
                ids[cid] = None

    def _add_transports(
        self, row: Row, layers: Layers, frame_len: int, ts_ns: int
    ) -> list[tuple[_Flow, IpLayer | None, bool]]:
        touched: list[tuple[_Flow, IpLayer | None, bool]] = []
        for layer in layers.transports:
            flow = self._transport_flow(row, layer.proto, layer.occurrence, layer.ip)
            if flow is None:
                continue
            sender, receiver = _endpoints(row, layer.proto, layer.occurrence, layer.ip)
            if layer.quoted:  # an ICMP error's copy of a header: the flow exists, no packet
                if flow.a is None:
                    flow.set_ends(sender, receiver)
                flow.touch(ts_ns)
                continue
            reverse = flow.count(sender, receiver, frame_len, ts_ns)
            if layer.proto == "tcp":
                self._tcp_flags(row, layer.occurrence, flow, reverse)
            for proto in layer.protocols:
                flow.protocols[proto] = None
            if layer.ip is not None:
                self._attach_fragments(row, layer.ip, flow, sender, receiver)
            touched.append((flow, layer.ip, reverse))
        return touched

    # -- helpers -----------------------------------------------------------------------------
    def _transport_flow(
        self, row: Row, proto: str, occurrence: int, ip: IpLayer | None
    ) -> _Flow | None:
        stream = row.at(f"{proto}.stream", occurrence)
        if stream is None or not stream.isdigit():
            return None
        key = f"{proto}-{stream}"
        flow = self._flows.get(key)
        if flow is None:
            version = ip.version if ip is not None else 4
            flow = _Flow(
                key,
                int(stream),
                proto,
                6 if proto == "tcp" else 17,
                f"ipv{version}",
                first_frame=self._counter.packets,
            )
            self._flows[key] = flow
        return flow

    def _tcp_flags(self, row: Row, occurrence: int, flow: _Flow, reverse: bool) -> None:
        raw = row.at("tcp.flags", occurrence)
        if not raw:
            return
        try:
            flags = int(raw, 16)
        except ValueError:
            return
        flow.tcp_flags |= flags
        if flags & 0x12 == 0x02 and flow.syn_from_b is None:
            flow.syn_from_b = reverse

    def _hold_fragment(self, row: Row, ip: IpLayer, frame_len: int, ts_ns: int) -> None:
        """Keep a TCP/UDP fragment tshark could not decode yet (or a truncated header)."""
        key = _fragment_key(row, ip)
        if key is not None and _is_fragment(row, ip):
            self._fragments.setdefault(key, []).append((frame_len, ts_ns))

    def _attach_fragments(
        self, row: Row, ip: IpLayer, flow: _Flow, sender: Endpoint, receiver: Endpoint
    ) -> None:
        if not self._fragments:
            return
        key = _fragment_key(row, ip)
        for frame_len, ts_ns in self._fragments.pop(key, []) if key else []:
            flow.count(sender, receiver, frame_len, ts_ns)

    # -- output ------------------------------------------------------------------------------
    @property
    def unreassembled_fragments(self) -> int:
        return sum(len(v) for v in self._fragments.values())

    @property
    def flow_count(self) -> int:
        return len(self._flows)

    @classmethod
    def merged(cls, capture_id: str, parts: list[tuple[FlowBuilder, Sequence[int]]]) -> FlowBuilder:
        """One builder equal to a single pass over the file the parts were split from.

        ``parts``: each part's builder and the original frame number of each of its rows.
        Streams are renumbered in the order of their first frame in the original file (as
        tshark numbers them); other-IP flows, keyed by address pair, are merged.
        """
        out = cls(capture_id)
        ordered: list[tuple[int, int, int, _Flow]] = []
        others: dict[str, _Flow] = {}
        for number, (part, frames) in enumerate(parts):
            out._counter.merge(part._counter)
            out.malformed_rows += part.malformed_rows
            for frags in part._fragments.values():
                out._fragments.setdefault((0, "", "", str(number)), []).extend(frags)
            for seq, flow in enumerate(part._flows.values()):
                flow.first_frame = frames[flow.first_frame - 1] if flow.first_frame else 0
                if flow.stream is None:
                    earlier = others.get(flow.key)
                    if earlier is None:
                        others[flow.key] = flow
                    elif flow.first_frame < earlier.first_frame:
                        flow.absorb(earlier)
                        others[flow.key] = flow
                    else:
                        earlier.absorb(flow)
                        continue
                ordered.append((flow.first_frame, number, seq, flow))
        ordered.sort(key=lambda item: item[:3])
        counters = {"tcp": 0, "udp": 0}
        for _frame, _part, _seq, flow in ordered:
            if flow.stream is None:
                if others.get(flow.key) is not flow:
                    continue  # absorbed into the same flow of an earlier part
            else:
                flow.stream = counters[flow.transport]
                counters[flow.transport] += 1
                flow.key = f"{flow.transport}-{flow.stream}"
            out._flows[flow.key] = flow
        out._other = len(others)
        return out

    def object_index(self) -> dict[tuple[str, str], list[tuple[str, int]]]:
        """(export protocol, object name) -> [(flow key, occurrences)] in first-seen order."""
        index: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for key, flow in self._flows.items():
            for name, count in (flow.object_names or {}).items():
                index.setdefault(name, []).append((key, count))
        return index

    def flows_speaking(self, protocols: tuple[str, ...]) -> list[str]:
        return [k for k, f in self._flows.items() if any(p in f.protocols for p in protocols)]

    def flow_values(self, flow_key: str, name: str) -> dict[Any, None]:
        return self._flows[flow_key].facts.get(name, {})

    def add_flow_fact(self, flow_key: str, name: str, value: Any) -> None:
        self._flows[flow_key].add_fact(name, value)

    def summary(self) -> CaptureSummary:
        return self._counter.summary(other_flows=self._other)

    def flows(self) -> Iterator[dict[str, Any]]:
        for flow in self._flows.values():
            yield self._document(flow)

    def records(self) -> Iterator[dict[str, Any]]:
        """Each flow document followed by its dns, http and tls records."""
        for flow in self._flows.values():
            doc = self._document(flow)
            yield doc
            if flow.tx is not None:
                yield from flow.tx.documents(doc, bool(flow.syn_from_b), iso_from_ns)

    def transactions(self, flow_key: str) -> Transactions | None:
        return self._flows[flow_key].tx

    def flow_document(self, flow_key: str) -> dict[str, Any]:
        return self._document(self._flows[flow_key])

    def _document(self, flow: _Flow) -> dict[str, Any]:
        a, b = flow.a, flow.b
        fwd, rev = 0, 1
        if flow.syn_from_b:  # the SYN came from the side we first saw answering
            a, b, fwd, rev = b, a, 1, 0
        doc: dict[str, Any] = {
            "event.id": keys.flow_doc_id(self.capture_id, flow.key),
            "event.dataset": "flow",
            "event.kind": DATASET_KINDS["flow"],
            "ecs.version": ECS_VERSION,
            "pcaptotal.capture_id": self.capture_id,
            "pcaptotal.flow_key": flow.key,
        }
        if flow.stream is not None:
            doc["pcaptotal.stream"] = flow.stream
        _put_endpoint(doc, "source", a)
        _put_endpoint(doc, "destination", b)
        src_mac, dst_mac = flow.macs[fwd], flow.macs[rev]
        if src_mac:
            doc["source.mac"] = ecs_mac(src_mac)
        if dst_mac:
            doc["destination.mac"] = ecs_mac(dst_mac)
        self._put_community_id(doc, flow, a, b)
        doc["network.type"] = flow.network_type
        doc["network.transport"] = flow.transport
        doc["network.iana_number"] = flow.iana_number
        if flow.protocols:
            doc["network.protocol"] = list(flow.protocols)
        doc["source.bytes"] = flow.bytes[fwd]
        doc["source.packets"] = flow.packets[fwd]
        doc["destination.bytes"] = flow.bytes[rev]
        doc["destination.packets"] = flow.packets[rev]
        doc["network.bytes"] = flow.bytes[0] + flow.bytes[1]
        doc["network.packets"] = flow.packets[0] + flow.packets[1]
        if flow.first_ns is not None and flow.last_ns is not None:
            doc["@timestamp"] = doc["event.start"] = iso_from_ns(flow.first_ns)
            doc["event.end"] = iso_from_ns(flow.last_ns)
            doc["event.duration"] = flow.last_ns - flow.first_ns
        if flow.tcp_flags:
            doc["pcaptotal.tcp_flags"] = [n for bit, n in _TCP_FLAG_NAMES if flow.tcp_flags & bit]
        if flow.vlans:
            doc["network.vlan.id"] = list(flow.vlans)
        if flow.outer_src:
            doc["pcaptotal.outer.source.ip"] = list(flow.outer_src)
            doc["pcaptotal.outer.destination.ip"] = list(flow.outer_dst or ())
        for name, values in flow.facts.items():
            if name in OBJECT_FACTS:  # (key, value) pairs -> the ECS objects
                doc[name] = [dict(v) for v in values]
            else:
                doc[name] = list(values)
        for (template, from_b), values in flow.sided.items():
            side = "client" if from_b == bool(flow.syn_from_b) else "server"
            name = template.replace(SIDE, side)
            if name in FLOW_FIELDS_BY_NAME:  # e.g. client certificates: only some are indexed
                doc.setdefault(name, []).extend(values)
        if flow.icmp_counts:
            doc["pcaptotal.icmp.type_code"] = list(flow.icmp_counts)
            counts = flow.icmp_counts.items()
            doc["pcaptotal.icmp.type_code_count"] = [f"{k}={n}" for k, n in counts]
        if flow.dns_queries:
            doc["pcaptotal.dns.answered"] = not flow.dns_pending
        runs = flow.bursts[fwd]
        if len(runs) >= 3 and flow.first_ns is not None:  # fewer say nothing about timing
            doc["pcaptotal.client.burst_offset_ms"] = [
                (r[0] - flow.first_ns) // 1_000_000 for r in runs
            ]
            doc["pcaptotal.client.burst_bytes"] = [r[2] for r in runs]
        return doc

    @staticmethod
    def _put_community_id(
        doc: dict[str, Any], flow: _Flow, a: Endpoint | None, b: Endpoint | None
    ) -> None:
        if flow.stream is None:  # other IP protocols: hashed per packet (ICMP type/code)
            ids = list(flow.community_ids or ())
            if ids:
                doc["network.community_id"] = ids[0]
            if len(ids) > 1:
                doc["pcaptotal.community_ids"] = ids
            return
        if a is None or b is None or not a[0] or not b[0]:
            return
        cid = community_id(flow.iana_number, a[0], b[0], a[1] or 0, b[1] or 0)
        if cid is not None:
            doc["network.community_id"] = cid


def _ip_addrs(row: Row, ip: IpLayer) -> tuple[str | None, str | None]:
    prefix = "ip" if ip.version == 4 else "ipv6"
    return row.at(f"{prefix}.src", ip.occurrence), row.at(f"{prefix}.dst", ip.occurrence)


def _endpoints(
    row: Row, proto: str, occurrence: int, ip: IpLayer | None
) -> tuple[Endpoint, Endpoint]:
    src, dst = _ip_addrs(row, ip) if ip is not None else (None, None)
    sport = row.at(f"{proto}.srcport", occurrence)
    dport = row.at(f"{proto}.dstport", occurrence)
    return (
        (src or "", int(sport) if sport and sport.isdigit() else None),
        (dst or "", int(dport) if dport and dport.isdigit() else None),
    )


def _put_endpoint(doc: dict[str, Any], side: str, endpoint: Endpoint | None) -> None:
    if endpoint is None:
        return
    ip, port = endpoint
    if ip:
        doc[f"{side}.ip"] = ip
    if port is not None:
        doc[f"{side}.port"] = port


def _fragment_key(row: Row, ip: IpLayer) -> FragmentKey | None:
    src, dst = _ip_addrs(row, ip)
    if ip.version == 4:
        ident = row.at("ip.id", ip.occurrence)
    else:
        ident = row.first("ipv6.fraghdr.ident") if ip.fragment_header else None
    if src is None or dst is None or ident is None:
        return None
    return (ip.version, src, dst, ident)


def _is_fragment(row: Row, ip: IpLayer) -> bool:
    if ip.version == 6:
        return ip.fragment_header
    more = row.at("ip.flags.mf", ip.occurrence)
    offset = row.at("ip.frag_offset", ip.occurrence)
    return more in ("1", "True") or (offset not in (None, "", "0"))
