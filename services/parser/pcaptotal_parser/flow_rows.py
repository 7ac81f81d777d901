"""The flows of a capture and the general row path: any packet, as layers (tunnels, ICMP
quotes, fragments, other IP protocols). ``FlowBuilder`` (``flows``) adds the fast path."""

from __future__ import annotations

from pcaptotal_parser.columns import FIELDS, SEPARATOR, Row
from pcaptotal_parser.community_id import ICMP, ICMP6, community_id
from pcaptotal_parser.flow_state import (
    BURST_MIN_FRAME,
    MAX_VALUES_PER_FIELD,
    Endpoint,
    FlowState,
    parse_epoch_ns,
)
from pcaptotal_parser.layers import IpLayer, Layers, payload_number, plan, transport_name
from pcaptotal_parser.prefilter import NO_VLAN, SideRecord
from pcaptotal_parser.summary import SummaryCounter

FragmentKey = tuple[int, str, str, str]


class FlowTable:
    """Feed rows with ``add``: every flow they belong to is counted and gets their facts."""

    def __init__(self, capture_id: str) -> None:
        self.capture_id = capture_id
        self._flows: dict[str, FlowState] = {}
        self._other = 0
        self._counter = SummaryCounter()
        # fragments waiting for the packet that completes their datagram
        self._fragments: dict[FragmentKey, list[tuple[int, int]]] = {}
        self.malformed_rows = 0
        self.fast = True  # tests turn the fast path off to compare it with the general one
        # the prefilter's packets (``prefilter``): the flow (and the reverse flag of direction
        # 0) of each sealed epoch, and the last row's transport flow, which a bind reads
        self._epochs: dict[int, tuple[FlowState, bool]] = {}
        self._anchor: tuple[FlowState, bool, int] | None = None
        self.unattached = 0  # withheld packets of an epoch no row could be bound to

    def add(self, row: Row) -> None:
        self._anchor = None
        self._counter.add(row)
        frame_len = int(row.raw("frame.len") or 0)
        ts_ns = parse_epoch_ns(row.raw("frame.time_epoch") or "0")
        layers = plan(row.raw("frame.protocols")).layers
        live_ips = [ip for ip in layers.ips if not ip.quoted]
        touched: list[tuple[FlowState, IpLayer | None, bool]] = []
        touched += self._add_other_ip(row, live_ips, frame_len, ts_ns)
        touched += self._add_transports(row, layers, frame_len, ts_ns)
        if not touched:
            return
        # Facts belong to the innermost live transport flow; a packet without one (ICMP) has
        # at most facts of the headers it quotes, which describe another packet.
        transports = [(f, r) for f, _, r in touched if not f.key.startswith("ip-")]
        if transports:
            flow, reverse = transports[-1]
            flow.add_packet_facts(row, reverse)
            self._anchor = (flow, reverse, frame_len)
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

    def _add_other_ip(
        self, row: Row, live_ips: list[IpLayer], frame_len: int, ts_ns: int
    ) -> list[tuple[FlowState, IpLayer | None, bool]]:
        touched: list[tuple[FlowState, IpLayer | None, bool]] = []
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
                flow = FlowState(
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

    def _other_ip_ids(self, row: Row, flow: FlowState, number: int, src: str, dst: str) -> None:
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
    ) -> list[tuple[FlowState, IpLayer | None, bool]]:
        touched: list[tuple[FlowState, IpLayer | None, bool]] = []
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

    # -- packets tshark did not see (``prefilter``) ------------------------------------------------
    def add_anchor_line(self, line: str) -> None:
        """Add a tshark line through ``add``, which remembers its transport flow for ``bind``."""
        cols = line.split(SEPARATOR)
        if len(cols) != len(FIELDS):
            self._anchor = None
            self.malformed_rows += 1
            return
        self.add(Row(cols))

    def bind(self, epoch: int, direction: int, frame_len: int) -> None:
        """The row just added (``add_anchor_line``) sealed ``epoch``: its later packets, which
        the splitter withheld, belong to that row's flow. ``direction``: the row's, relative
        to the epoch's; ``frame_len`` checks that the row is the packet the splitter meant."""
        anchor, self._anchor = self._anchor, None
        if anchor is None or anchor[2] != frame_len or anchor[0].transport != "tcp":
            return  # its packets count in the totals only (``unattached``)
        flow, reverse, _ = anchor
        self._epochs[epoch] = (flow, reverse != bool(direction))

    def add_withheld(self, packet: SideRecord) -> None:
        """One packet of a sealed epoch, as tshark would have counted it in its flow."""
        frame_len, ts_ns = packet.frame_len, packet.ts_ns
        self._counter.add_withheld(1, frame_len)
        bound = self._epochs.get(packet.epoch)
        if bound is None:
            self.unattached += 1
            return
        flow, reverse0 = bound
        reverse = reverse0 != bool(packet.direction)
        flow.packets[reverse] += 1
        flow.bytes[reverse] += frame_len
        flow.touch(ts_ns)
        if frame_len >= BURST_MIN_FRAME:
            flow.burst(reverse, frame_len, ts_ns)
        flow.tcp_flags |= packet.flags
        if packet.vlan_a != NO_VLAN:
            if flow.vlans is None:
                flow.vlans = {}
            flow.vlans[str(packet.vlan_a)] = None
            if packet.vlan_b != NO_VLAN:
                flow.vlans[str(packet.vlan_b)] = None

    def add_counted(self, packets: int, size: int) -> None:
        """Packets that only count in the capture's totals (ARP, ...), withheld from tshark."""
        self._counter.add_withheld(packets, size)

    # -- helpers -----------------------------------------------------------------------------
    def _transport_flow(
        self, row: Row, proto: str, occurrence: int, ip: IpLayer | None
    ) -> FlowState | None:
        stream = row.at(f"{proto}.stream", occurrence)
        if stream is None or not stream.isdigit():
            return None
        key = f"{proto}-{stream}"
        flow = self._flows.get(key)
        if flow is None:
            version = ip.version if ip is not None else 4
            flow = FlowState(
                key,
                int(stream),
                proto,
                6 if proto == "tcp" else 17,
                f"ipv{version}",
                first_frame=self._counter.packets,
            )
            self._flows[key] = flow
        return flow

    def _tcp_flags(self, row: Row, occurrence: int, flow: FlowState, reverse: bool) -> None:
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
        self, row: Row, ip: IpLayer, flow: FlowState, sender: Endpoint, receiver: Endpoint
    ) -> None:
        if not self._fragments:
            return
        key = _fragment_key(row, ip)
        for frame_len, ts_ns in self._fragments.pop(key, []) if key else []:
            flow.count(sender, receiver, frame_len, ts_ns)

    # -- counts ------------------------------------------------------------------------------
    @property
    def unreassembled_fragments(self) -> int:
        return sum(len(v) for v in self._fragments.values())

    @property
    def flow_count(self) -> int:
        return len(self._flows)


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
