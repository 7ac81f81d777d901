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
from typing import Any

from pcaptotal.messages import CaptureSummary

from pcaptotal_parser.columns import AGGREGATOR, FAST_FIELDS, FIELDS, INDEX, SEPARATOR, Row
from pcaptotal_parser.flow_document import flow_document, iso_from_ns
from pcaptotal_parser.flow_rows import FlowTable
from pcaptotal_parser.flow_state import BURST_MIN_FRAME, FlowState, parse_epoch_ns
from pcaptotal_parser.layers import PLANS, plan
from pcaptotal_parser.transactions import Transactions

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
_HEAD_LEN = FAST_FIELDS + 1
# a line ending in this has every column from dns.id on empty: no facts, no summary names
_NO_FACTS = SEPARATOR * (len(INDEX) - INDEX["dns.id"])
# tcp.flags text -> bits (few distinct values; bounded against hostile input)
_FLAG_BITS: dict[str, int] = {}
_MAX_FLAG_TEXTS = 4096


class FlowBuilder(FlowTable):
    """Feed tshark lines with ``add_lines`` (or rows with ``add``); then ``records`` yields
    the flow documents with their transactions and ``summary`` the numbers."""

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
                flow = FlowState(
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
                flow.add_packet_facts(row, reverse)
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

    @classmethod
    def merged(cls, capture_id: str, parts: list[tuple[FlowBuilder, Sequence[int]]]) -> FlowBuilder:
        """One builder equal to a single pass over the file the parts were split from.

        ``parts``: each part's builder and the original frame number of each of its rows.
        Streams are renumbered in the order of their first frame in the original file (as
        tshark numbers them); other-IP flows, keyed by address pair, are merged.
        """
        out = cls(capture_id)
        ordered: list[tuple[int, int, int, FlowState]] = []
        others: dict[str, FlowState] = {}
        for number, (part, frames) in enumerate(parts):
            out._counter.merge(part._counter)
            out.malformed_rows += part.malformed_rows
            out.unattached += part.unattached
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
            yield flow_document(self.capture_id, flow)

    def records(self) -> Iterator[dict[str, Any]]:
        """Each flow document followed by its dns, http and tls records."""
        for flow in self._flows.values():
            doc = flow_document(self.capture_id, flow)
            yield doc
            if flow.tx is not None:
                yield from flow.tx.documents(doc, bool(flow.syn_from_b), iso_from_ns)

    def transactions(self, flow_key: str) -> Transactions | None:
        return self._flows[flow_key].tx

    def flow_document(self, flow_key: str) -> dict[str, Any]:
        return flow_document(self.capture_id, self._flows[flow_key])
