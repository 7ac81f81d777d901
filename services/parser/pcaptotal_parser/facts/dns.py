"""DNS facts: questions (name, type, class), response codes, answers (name, type, class, TTL,
data), questions and answers as whole ECS objects."""

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


def dns_class_name(raw: str) -> str:
    try:
        value = int(raw, 0) & 0x7FFF  # mDNS uses the top bit for "unicast response wanted"
    except ValueError:
        return raw
    return DNS_CLASSES.get(value, str(value))


_RESPONSE = INDEX["dns.flags.response"]
_RCODE = INDEX["dns.flags.rcode"]
_RESP_TYPE = INDEX["dns.resp.type"]
# dns.qry.class / dns.resp.class text -> class name (few distinct values; bounded against
# hostile input)
_CLASS_NAMES: dict[str, str] = {}
_MAX_CLASS_TEXTS = 1024

Question = tuple[tuple[str, str], ...]  # a question's (key, value) pairs (an ObjectValue)


def _class_name(raw: str) -> str:
    name = _CLASS_NAMES.get(raw)
    if name is None:
        name = dns_class_name(raw)
        if len(_CLASS_NAMES) < _MAX_CLASS_TEXTS:
            _CLASS_NAMES[raw] = name
    return name


def dns_facts(row: Row) -> list[Fact]:
    """``dns.question`` objects {name, type, class} of every message, ``dns.response_code``
    and the ``dns.answers`` objects {name, type, class, ttl, data} of every response: each
    question and answer whole, so its parts line up as ECS has them."""
    cols = row.cols
    facts: list[Fact] = [("dns.question", q) for q in _last.questions(row)]
    if "1" in cols[_RESPONSE].split(AGGREGATOR):
        raw = cols[_RCODE]
        if raw:
            for rcode in raw.split(AGGREGATOR):
                facts.append(("dns.response_code", DNS_RCODES.get(rcode, rcode)))
        if cols[_RESP_TYPE]:
            responses = [flag == "1" for flag in row.values("dns.flags.response")]
            for message, answer in _last.answers(row, len(responses)):
                if message < len(responses) and responses[message]:
                    facts.append(("dns.answers", tuple(answer.items())))
    return facts


def _questions(row: Row) -> Iterator[Question]:
    types = row.values("dns.qry.type")
    classes = row.values("dns.qry.class")
    for i, name in enumerate(row.values("dns.qry.name")):
        question: list[tuple[str, str]] = [("name", name)]
        if i < len(types):
            question.append(("type", DNS_TYPES.get(types[i], types[i])))
        if i < len(classes):
            question.append(("class", _class_name(classes[i])))
        yield tuple(question)


def _answer_records(row: Row, messages: int) -> Iterator[tuple[int, dict[str, str | int]]]:
    """(message index, answer object) of the answer-section records of the packet's messages.

    ``dns.resp.type`` and ``dns.resp.name`` list the records of all sections (answers,
    authority, additional) of all messages in order; ``dns.resp.ttl`` and ``dns.resp.class``
    skip the EDNS OPT pseudo-record, which has neither; each type's data column holds one
    value per record of that type. The per-message counts say which records are answers.
    """
    types = row.values("dns.resp.type")
    if not types:
        return
    names = row.values("dns.resp.name")
    ttls = row.values("dns.resp.ttl")
    classes = row.values("dns.resp.class")
    data = {code: deque(row.values(column)) for code, column in _DATA_COLUMNS.items()}
    answers = row.values("dns.count.answers")
    auth = row.values("dns.count.auth_rr")
    additional = row.values("dns.count.add_rr")
    pos = fixed_pos = 0
    for i in range(max(messages, len(answers))):
        n_ans = _int(_at(answers, i))
        n_all = n_ans + _int(_at(auth, i)) + _int(_at(additional, i))
        for j, rtype in enumerate(types[pos : pos + n_all]):
            ttl = rclass = None
            if rtype != _OPT:
                ttl, rclass = _at(ttls, fixed_pos), _at(classes, fixed_pos)
                fixed_pos += 1
            queue = data.get(rtype)
            value = queue.popleft() if queue else None
            if j >= n_ans:
                continue
            answer: dict[str, str | int] = {}
            name = _at(names, pos + j)
            if name is not None:
                answer["name"] = name
            answer["type"] = DNS_TYPES.get(rtype, rtype)
            if rclass:
                answer["class"] = _class_name(rclass)
            if ttl is not None and ttl.isdigit():
                answer["ttl"] = int(ttl)
            if value is not None:
                answer["data"] = value
            yield i, answer
        pos += n_all


class _LastPacket:
    """The questions and answer records of the last DNS packet read: its flow facts
    (``dns_facts``) and its transactions (``dns_messages``) both need them, one after the
    other (reading them was ~10 % of the parse's row handling on the flow-heavy capture).
    A packet is its columns list, held here, so its identity cannot be reused meanwhile."""

    def __init__(self) -> None:
        self._cols: list[str] | None = None
        self._questions: list[Question] = []
        self._answers: dict[int, list[tuple[int, dict[str, str | int]]]] = {}

    def _packet(self, row: Row) -> None:
        if row.cols is not self._cols:
            self._cols = row.cols
            self._questions = list(_questions(row))
            self._answers = {}

    def questions(self, row: Row) -> list[Question]:
        self._packet(row)
        return self._questions

    def answers(self, row: Row, messages: int) -> list[tuple[int, dict[str, str | int]]]:
        self._packet(row)
        found = self._answers.get(messages)
        if found is None:
            found = self._answers[messages] = list(_answer_records(row, messages))
        return found


_last = _LastPacket()


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
    objects: questions ``name``, ``type``, ``class``; answers ``name``, ``type``, ``class``,
    ``ttl``, ``data``)."""

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
    messages[0].questions.extend(dict(q) for q in _last.questions(row))
    rcodes = row.values("dns.flags.rcode")
    responses = [m for m in messages if m.response]
    for message, rcode in zip(responses, rcodes, strict=False):
        message.rcode = DNS_RCODES.get(rcode, rcode)
    if responses:
        for index, answer in _last.answers(row, len(messages)):
            if index < len(messages) and messages[index].response:
                messages[index].answers.append(answer)
    return messages
