"""DNS facts: questions (name, type, class), response codes, answers (data, type, TTL)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from pcaptotal_parser.columns import AGGREGATOR, INDEX, Row
from pcaptotal_parser.facts.types import Fact

# tshark prints dns.qry.type as a number; names per the IANA DNS parameters registry.
DNS_TYPES: dict[str, str] = {
    "1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "13": "HINFO", "15": "MX",
    "16": "TXT", "17": "RP", "18": "AFSDB", "24": "SIG", "25": "KEY", "28": "AAAA",
    "29": "LOC", "33": "SRV", "35": "NAPTR", "36": "KX", "37": "CERT", "39": "DNAME",
    "41": "OPT", "43": "DS", "44": "SSHFP", "45": "IPSECKEY", "46": "RRSIG", "47": "NSEC",
    "48": "DNSKEY", "49": "DHCID", "50": "NSEC3", "51": "NSEC3PARAM", "52": "TLSA",
    "53": "SMIMEA", "55": "HIP", "59": "CDS", "60": "CDNSKEY", "61": "OPENPGPKEY",
    "62": "CSYNC", "63": "ZONEMD", "64": "SVCB", "65": "HTTPS", "99": "SPF", "249": "TKEY",
    "250": "TSIG", "251": "IXFR", "252": "AXFR", "255": "ANY", "256": "URI", "257": "CAA",
}  # fmt: skip

DNS_RCODES: dict[str, str] = {
    "0": "NOERROR", "1": "FORMERR", "2": "SERVFAIL", "3": "NXDOMAIN", "4": "NOTIMP",
    "5": "REFUSED", "6": "YXDOMAIN", "7": "YXRRSET", "8": "NXRRSET", "9": "NOTAUTH",
    "10": "NOTZONE", "11": "DSOTYPENI",
}  # fmt: skip

DNS_CLASSES: dict[int, str] = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}

_OPT = "41"  # the EDNS pseudo-record has no TTL field, so tshark prints no dns.resp.ttl for it

_DNS_ANSWER_FIELDS = (
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "dns.ns",
    "dns.ptr.domain_name",
    "dns.mx.mail_exchange",
    "dns.txt",
)


def dns_class_name(raw: str) -> str:
    try:
        value = int(raw, 0) & 0x7FFF  # mDNS uses the top bit for "unicast response wanted"
    except ValueError:
        return raw
    return DNS_CLASSES.get(value, str(value))


_QRY_NAME = INDEX["dns.qry.name"]
_QRY_TYPE = INDEX["dns.qry.type"]
_QRY_CLASS = INDEX["dns.qry.class"]
_RESPONSE = INDEX["dns.flags.response"]
_RCODE = INDEX["dns.flags.rcode"]
_RESP_TYPE = INDEX["dns.resp.type"]
_ANSWER_COLUMNS = tuple(INDEX[name] for name in _DNS_ANSWER_FIELDS)
# dns.qry.class text -> class name (few distinct values; bounded against hostile input)
_CLASS_NAMES: dict[str, str] = {}
_MAX_CLASS_TEXTS = 1024


def dns_facts(row: Row) -> list[Fact]:
    cols = row.cols
    facts: list[Fact] = []
    add = facts.append
    raw = cols[_QRY_NAME]
    if raw:
        for name in raw.split(AGGREGATOR):
            add(("dns.question.name", name))
    raw = cols[_QRY_TYPE]
    if raw:
        for qtype in raw.split(AGGREGATOR):
            add(("dns.question.type", DNS_TYPES.get(qtype, qtype)))
    raw = cols[_QRY_CLASS]
    if raw:
        for qclass in raw.split(AGGREGATOR):
            class_name = _CLASS_NAMES.get(qclass)
            if class_name is None:
                class_name = dns_class_name(qclass)
                if len(_CLASS_NAMES) < _MAX_CLASS_TEXTS:
                    _CLASS_NAMES[qclass] = class_name
            add(("dns.question.class", class_name))
    if "1" in cols[_RESPONSE].split(AGGREGATOR):
        raw = cols[_RCODE]
        if raw:
            for rcode in raw.split(AGGREGATOR):
                add(("dns.response_code", DNS_RCODES.get(rcode, rcode)))
        if cols[_RESP_TYPE]:
            facts += _answer_records(row)
    for column in _ANSWER_COLUMNS:
        raw = cols[column]
        if raw:
            for value in raw.split(AGGREGATOR):
                add(("dns.answers.data", value))
    return facts


def _answer_records(row: Row) -> Iterator[Fact]:
    """Type and TTL of the answer-section records of every DNS message in the packet.

    ``dns.resp.type`` lists the records of all sections (answers, authority, additional) of
    all messages; the per-message counts say which ones are answers.
    """
    types = row.values("dns.resp.type")
    if not types:
        return
    ttls = row.values("dns.resp.ttl")
    answers = row.values("dns.count.answers")
    auth = row.values("dns.count.auth_rr")
    additional = row.values("dns.count.add_rr")
    pos = ttl_pos = 0
    for i, count in enumerate(answers):
        n_ans = _int(count)
        n_all = n_ans + _int(_at(auth, i)) + _int(_at(additional, i))
        for j, rtype in enumerate(types[pos : pos + n_all]):
            ttl = None
            if rtype != _OPT:
                ttl = _at(ttls, ttl_pos)
                ttl_pos += 1
            if j < n_ans:
                yield "dns.answers.type", DNS_TYPES.get(rtype, rtype)
                if ttl is not None and ttl.isdigit():
                    yield "dns.answers.ttl", int(ttl)
        pos += n_all


def dns_transactions(row: Row) -> list[tuple[str, bool]]:
    """(transaction id, is_response) of each DNS message in the packet."""
    ids = row.values("dns.id")
    flags = row.values("dns.flags.response")
    return [(tid, flag == "1") for tid, flag in zip(ids, flags, strict=False)]


def _at(values: list[str], i: int) -> str | None:
    return values[i] if i < len(values) else None


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


# answer record type -> the tshark column holding its data (one value per record)
_DATA_COLUMNS: dict[str, str] = {
    "1": "dns.a",
    "28": "dns.aaaa",
    "5": "dns.cname",
    "2": "dns.ns",
    "12": "dns.ptr.domain_name",
    "15": "dns.mx.mail_exchange",
    "16": "dns.txt",
}


@dataclass(slots=True)
class DnsMessage:
    """One DNS message of a packet, in ECS's shape (``dns.question`` / ``dns.answers``
    objects: questions ``name``, ``type``, ``class``; answers ``type``, ``ttl``, ``data``)."""

    transaction: str
    response: bool
    questions: list[dict[str, str]] = field(default_factory=list)
    rcode: str | None = None
    answers: list[dict[str, str | int]] = field(default_factory=list)


def dns_messages(row: Row) -> list[DnsMessage]:
    """The DNS messages of one packet. A packet with several (DNS over TCP) has its columns
    concatenated: questions and answers are assigned by the per-message counts where tshark
    gives them (answers), else all to the first message (questions)."""
    ids = row.values("dns.id")
    flags = row.values("dns.flags.response")
    messages = [DnsMessage(t, f == "1") for t, f in zip(ids, flags, strict=False)]
    if not messages:
        return messages
    names = row.values("dns.qry.name")
    types = row.values("dns.qry.type")
    classes = row.values("dns.qry.class")
    first = messages[0]
    for i, name in enumerate(names):
        question = {"name": name}
        if i < len(types):
            question["type"] = DNS_TYPES.get(types[i], types[i])
        if i < len(classes):
            question["class"] = dns_class_name(classes[i])
        first.questions.append(question)
    rcodes = row.values("dns.flags.rcode")
    responses = [m for m in messages if m.response]
    for message, rcode in zip(responses, rcodes, strict=False):
        message.rcode = DNS_RCODES.get(rcode, rcode)
    if responses:
        _answers(row, messages)
    return messages


def _answers(row: Row, messages: list[DnsMessage]) -> None:
    """Walk every resource record of every message in order (answers, authority, additional),
    taking each record's TTL and data from the per-type columns, so they line up."""
    types = row.values("dns.resp.type")
    if not types:
        return
    ttls = row.values("dns.resp.ttl")
    data = {code: deque(row.values(column)) for code, column in _DATA_COLUMNS.items()}
    answers = row.values("dns.count.answers")
    auth = row.values("dns.count.auth_rr")
    additional = row.values("dns.count.add_rr")
    pos = ttl_pos = 0
    for i, message in enumerate(messages):
        n_ans = _int(_at(answers, i))
        n_all = n_ans + _int(_at(auth, i)) + _int(_at(additional, i))
        for j, rtype in enumerate(types[pos : pos + n_all]):
            ttl = None
            if rtype != _OPT:
                ttl = _at(ttls, ttl_pos)
                ttl_pos += 1
            queue = data.get(rtype)
            value = queue.popleft() if queue else None
            if j >= n_ans or not message.response:
                continue
            answer: dict[str, str | int] = {"type": DNS_TYPES.get(rtype, rtype)}
            if ttl is not None and ttl.isdigit():
                answer["ttl"] = int(ttl)
            if value is not None:
                answer["data"] = value
            message.answers.append(answer)
        pos += n_all
