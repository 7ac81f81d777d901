"""Per-transaction records beside the flows: one ``dns`` record per query/response pair, one
``http`` record per request/response pair, one ``tls`` record per handshake.

The flow builder hands each packet's facts (and row) to the ``Transactions`` of the flow they
belong to; the records are made when the flow documents are (``documents``), so they carry the
flow's final key, endpoints and Community ID. Pairing rules:

- DNS: a response answers the open query with the same transaction id on the flow; a response
  with no open query, or a query never answered, is a record of its own (``dns.type`` says
  ``query`` when no response was seen). RTT = response time - query time (``event.duration``).
- HTTP/1.x: responses answer requests in order (pipelining is first-in first-out).
- TLS: a ClientHello starts a handshake; the ServerHello, certificates and JA3S that follow
  belong to it (a server's facts before any ClientHello start one too).

Pure: no I/O, no clock. Bounded: at most ``MAX_TRANSACTIONS`` records per flow and kind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pcaptotal.fields import DATASET_KINDS, ECS_VERSION, FLOW_FIELDS_BY_NAME

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.dns import DnsMessage, dns_messages
from pcaptotal_parser.facts.http import url_parts
from pcaptotal_parser.facts.types import SIDE, Fact

MAX_TRANSACTIONS = 1000

# fields copied from the flow document onto each of its records (the link to the flow)
LINK_FIELDS = (
    "pcaptotal.capture_id",
    "pcaptotal.flow_key",
    "network.community_id",
    "network.type",
    "network.transport",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
)

_HTTP_REQUEST = {
    "http.request.method",
    "url.domain",
    "url.original",
    "user_agent.original",
    "http.request.referrer",
    "http.request.body.bytes",
}
_HTTP_RESPONSE = {
    "http.response.status_code",
    "http.response.mime_type",
    "pcaptotal.http.response.server",
    "pcaptotal.http.response.location",
    "http.response.body.bytes",
}
_TLS_CLIENT = {
    "tls.client.server_name",
    "tls.client.ja3",
    "tls.client.ja4",
    "tls.client.supported_protocols",
}
_TLS_HANDSHAKE = {"tls.version", "tls.cipher", "tls.next_protocol", "tls.server.ja3s"}
# fields of a tls record that are lists by nature (the rest take the handshake's one value)
_TLS_LISTS = {
    "tls.client.supported_protocols",
    "tls.server.x509.alternative_names",
    "pcaptotal.tls.server.chain.subject",
    "pcaptotal.tls.server.chain.hash.sha1",
    "tls.client.x509.alternative_names",
    "pcaptotal.tls.client.chain.subject",
    "pcaptotal.tls.client.chain.hash.sha1",
}


@dataclass(slots=True)
class DnsTx:
    transaction: str
    query_ns: int | None = None
    response_ns: int | None = None
    query: DnsMessage | None = None
    response: DnsMessage | None = None


@dataclass(slots=True)
class HttpTx:
    request_ns: int | None = None
    response_ns: int | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # request target as sent (tshark names HTTP objects after it)
    files: list[dict[str, Any]] = field(default_factory=list)  # carved bodies, file.* fields
    file_hashes: set[str] | None = None  # SHA-256 of ``files``, made with the first one


@dataclass(slots=True)
class TlsTx:
    start_ns: int
    end_ns: int
    client: bool = False  # a ClientHello was seen
    facts: dict[str, dict[Any, None]] = field(default_factory=dict)
    sided: dict[tuple[str, bool], dict[Any, None]] = field(default_factory=dict)


@dataclass(slots=True)
class Transactions:
    dns: list[DnsTx] = field(default_factory=list)
    dns_open: dict[str, DnsTx] = field(default_factory=dict)
    http: list[HttpTx] = field(default_factory=list)
    http_open: deque[HttpTx] = field(default_factory=deque)
    tls: list[TlsTx] = field(default_factory=list)

    # -- input -------------------------------------------------------------------------------
    def observe(self, row: Row, facts: list[Fact], sent_by_b: bool, ts_ns: int) -> None:
        """One packet's facts (already computed by the flow builder) and its row."""
        has_dns = has_http = has_tls = False
        for name, _value in facts:
            if name.startswith("dns."):
                has_dns = True
            elif name.startswith(("http.", "url.", "user_agent.", "pcaptotal.http.")):
                has_http = True
            elif name.startswith(("tls.", "pcaptotal.tls.")):
                has_tls = True
        if has_dns or row.raw("dns.id"):
            self._dns(row, ts_ns)
        if has_http:
            self._http(row, facts, ts_ns)
        if has_tls:
            self._tls(facts, sent_by_b, ts_ns)

    def _dns(self, row: Row, ts_ns: int) -> None:
        for message in dns_messages(row):
            tid = message.transaction
            if not message.response:
                if tid in self.dns_open or len(self.dns) >= MAX_TRANSACTIONS:
                    continue  # a retransmission keeps the first query's time
                tx = DnsTx(tid, query_ns=ts_ns, query=message)
                self.dns.append(tx)
                self.dns_open[tid] = tx
                continue
            open_tx = self.dns_open.pop(tid, None)
            if open_tx is None:
                if len(self.dns) >= MAX_TRANSACTIONS:
                    continue
                open_tx = DnsTx(tid)
                self.dns.append(open_tx)
            open_tx.response_ns, open_tx.response = ts_ns, message

    def _http(self, row: Row, facts: list[Fact], ts_ns: int) -> None:
        # a packet with several messages: their facts cannot be told apart; the first
        # value of each goes to one record
        request = _first_values(facts, _HTTP_REQUEST)
        response = _first_values(facts, _HTTP_RESPONSE)
        if "http.request.method" in request and len(self.http) < MAX_TRANSACTIONS:
            tx = HttpTx(request_ns=ts_ns, request=request, target=row.first("http.request.uri"))
            self.http.append(tx)
            self.http_open.append(tx)
        if "http.response.status_code" in response:
            if self.http_open:
                tx = self.http_open.popleft()
            elif len(self.http) < MAX_TRANSACTIONS:
                tx = HttpTx()
                self.http.append(tx)
            else:
                return
            tx.response_ns, tx.response = ts_ns, response

    def _tls(self, facts: list[Fact], sent_by_b: bool, ts_ns: int) -> None:
        client_hello = any(n in _TLS_CLIENT for n, _ in facts)
        if not client_hello and not any(n in _TLS_HANDSHAKE or SIDE in n for n, _ in facts):
            return  # e.g. a heartbeat: no handshake fact
        current = self.tls[-1] if self.tls else None
        if current is None or (client_hello and current.client):
            if len(self.tls) >= MAX_TRANSACTIONS:
                return
            current = TlsTx(ts_ns, ts_ns)
            self.tls.append(current)
        current.client |= client_hello
        current.end_ns = max(current.end_ns, ts_ns)
        for name, value in facts:
            if not name.startswith(("tls.", "pcaptotal.tls.")):
                continue
            if SIDE in name:
                current.sided.setdefault((name, sent_by_b), {})[value] = None
            elif name in FLOW_FIELDS_BY_NAME:
                current.facts.setdefault(name, {})[value] = None

    # -- output ------------------------------------------------------------------------------
    def documents(
        self, flow_doc: dict[str, Any], client_is_b: bool, iso: Any
    ) -> Iterator[dict[str, Any]]:
        """The records of this flow; ``iso`` turns epoch nanoseconds into RFC 3339 text."""
        link = {k: flow_doc[k] for k in LINK_FIELDS if k in flow_doc}
        link["pcaptotal.flow_id"] = flow_doc["event.id"]
        capture_id = flow_doc["pcaptotal.capture_id"]
        key = flow_doc["pcaptotal.flow_key"]
        for n, dns in enumerate(self.dns):
            doc = _record(capture_id, f"dns-{key}-{n}", "dns", link)
            _times(doc, dns.query_ns, dns.response_ns, iso)
            _dns_fields(doc, dns)
            yield doc
        for n, http in enumerate(self.http):
            doc = _record(capture_id, f"http-{key}-{n}", "http", link)
            _times(doc, http.request_ns, http.response_ns, iso)
            _http_fields(doc, http)
            yield doc
        for n, tls in enumerate(self.tls):
            doc = _record(capture_id, f"tls-{key}-{n}", "tls", link)
            _times(doc, tls.start_ns, tls.end_ns, iso)
            _tls_fields(doc, tls, client_is_b)
            yield doc


def _first_values(facts: list[Fact], names: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in facts:
        if name in names and name not in out:
            out[name] = value
    return out


def record_id(capture_id: str, record_key: str) -> str:
    return f"{capture_id}-{record_key}"


def _record(capture_id: str, key: str, dataset: str, link: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event.id": record_id(capture_id, key),
        "event.dataset": dataset,
        "event.kind": DATASET_KINDS[dataset],
        "ecs.version": ECS_VERSION,
    }
    doc.update(link)
    doc["network.protocol"] = [dataset]
    return doc


def _times(doc: dict[str, Any], first: int | None, second: int | None, iso: Any) -> None:
    times = [t for t in (first, second) if t is not None]
    if not times:
        return
    start, end = min(times), max(times)
    doc["@timestamp"] = doc["event.start"] = iso(start)
    doc["event.end"] = iso(end)
    if first is not None and second is not None:
        doc["event.duration"] = end - start  # the round trip, in ns


def _dns_fields(doc: dict[str, Any], tx: DnsTx) -> None:
    doc["dns.id"] = tx.transaction
    doc["dns.type"] = "answer" if tx.response is not None else "query"
    doc["pcaptotal.dns.answered"] = tx.response is not None
    message = tx.query or tx.response
    if message is not None and message.questions:
        doc["dns.question"] = message.questions
    elif tx.response is not None and tx.response.questions:
        doc["dns.question"] = tx.response.questions
    if tx.response is not None:
        if tx.response.rcode:
            doc["dns.response_code"] = tx.response.rcode
        if tx.response.answers:
            doc["dns.answers"] = tx.response.answers
            resolved = [a["data"] for a in tx.response.answers if a.get("type") in ("A", "AAAA")]
            if resolved:
                doc["dns.resolved_ip"] = list(dict.fromkeys(resolved))


def _http_fields(doc: dict[str, Any], tx: HttpTx) -> None:
    req, resp = tx.request, tx.response
    if "http.request.method" in req:
        doc["http.request.method"] = req["http.request.method"]
    if "url.domain" in req:
        doc["url.domain"] = req["url.domain"]
    url = req.get("url.original")  # the full URL already (facts.http.url_facts)
    if isinstance(url, str):
        doc["url.original"] = url
        scheme, path, query = url_parts(url)
        if scheme:
            doc["url.scheme"] = scheme
        if path:
            doc["url.path"] = path
        if query:
            doc["url.query"] = query
    for name in ("user_agent.original", "http.request.referrer", "http.request.body.bytes"):
        if name in req:
            doc[name] = req[name]
    for name in _HTTP_RESPONSE:
        if name in resp:
            doc[name] = resp[name]
    if tx.files:
        for name in tx.files[0]:
            doc[name] = [f[name] for f in tx.files]


def _tls_fields(doc: dict[str, Any], tx: TlsTx, client_is_b: bool) -> None:
    values: dict[str, list[Any]] = {n: list(v) for n, v in tx.facts.items()}
    for (template, from_b), found in tx.sided.items():
        side = "client" if from_b == client_is_b else "server"
        name = template.replace(SIDE, side)
        if name in FLOW_FIELDS_BY_NAME:  # as on flows: client certificates only in part
            values.setdefault(name, []).extend(found)
    for name in sorted(values):
        seen = values[name]
        doc[name] = list(dict.fromkeys(seen)) if name in _TLS_LISTS else seen[0]
