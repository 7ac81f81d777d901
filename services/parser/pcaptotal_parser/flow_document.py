"""One flow's state → its flow record (ECS names, as both index backends keep them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pcaptotal import keys
from pcaptotal.fields import DATASET_KINDS, ECS_VERSION, FLOW_FIELDS_BY_NAME
from pcaptotal.memory import capture_cache

from pcaptotal_parser.community_id import community_id
from pcaptotal_parser.facts import SIDE
from pcaptotal_parser.facts.services import ecs_mac
from pcaptotal_parser.flow_state import Endpoint, FlowState

# facts whose values are whole objects (``facts.dns``: each question and answer once per flow)
OBJECT_FACTS = frozenset({"dns.question", "dns.answers"})
_TCP_FLAG_NAMES = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"),
                   (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"))  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_from_ns(ns: int) -> str:
    """RFC 3339 UTC with ``Z`` and microseconds (what both index backends keep)."""
    seconds, micros = divmod(ns // 1000, 1_000_000)
    return f"{_iso_second(seconds)}.{micros:06d}Z"


# a capture's flows start and end within few distinct seconds: format each once
@capture_cache(maxsize=65536)
def _iso_second(seconds: int) -> str:
    when = _EPOCH + timedelta(seconds=seconds)
    return when.isoformat(timespec="seconds").removesuffix("+00:00")


def flow_document(capture_id: str, flow: FlowState) -> dict[str, Any]:
    """The flow record of one flow (source = the side that sent the first SYN, else the first
    sender)."""
    a, b = flow.a, flow.b
    fwd, rev = 0, 1
    if flow.syn_from_b:  # the SYN came from the side we first saw answering
        a, b, fwd, rev = b, a, 1, 0
    doc: dict[str, Any] = {
        "event.id": keys.flow_doc_id(capture_id, flow.key),
        "event.dataset": "flow",
        "event.kind": DATASET_KINDS["flow"],
        "ecs.version": ECS_VERSION,
        "pcaptotal.capture_id": capture_id,
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
    _put_community_id(doc, flow, a, b)
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


def _put_community_id(
    doc: dict[str, Any], flow: FlowState, a: Endpoint | None, b: Endpoint | None
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


def _put_endpoint(doc: dict[str, Any], side: str, endpoint: Endpoint | None) -> None:
    if endpoint is None:
        return
    ip, port = endpoint
    if ip:
        doc[f"{side}.ip"] = ip
    if port is not None:
        doc[f"{side}.port"] = port
