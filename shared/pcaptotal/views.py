"""What the Index port's list and aggregation calls take and give, shared by both adapters:
sort keys, cursors, terms aggregations.

Cursors are search_after-style: the (sort value, ``event.id``) of the last hit, opaque to the
client (base64url JSON). Paging with them is stable while the capture's records do not change,
and costs the same on page 1000 as on page 1 (no offset window).

Aggregations are terms buckets, optionally with a sum, the first and last date (``span_field``)
and nested terms (``by``) per bucket, and date histograms (fixed intervals, optionally with
nested terms). Both adapters ask their backend for every bucket (up to ``MAX_BUCKETS``) and
``finish_aggs`` orders and cuts them the same way (count or sum descending, then key
ascending), so both give the same answer, ties included. Dates differ per backend only in
their unit (Elasticsearch: epoch ms; tantivy: the µs integers it indexes), which ``Backend``
says.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any, Literal

from pcaptotal.fields import FLOW_FIELDS_BY_NAME, Field, FieldType
from pcaptotal.query.errors import QueryError
from pcaptotal.query.es_compiler import NANOS_DATE_FIELDS

MAX_BUCKETS = 10_000
Backend = Literal["es", "tantivy"]
# µs per date unit of each backend's aggregation answers
_DATE_UNIT_US: dict[str, int] = {"es": 1_000, "tantivy": 1}
DEFAULT_SORT = "@timestamp"
_SORTABLE = (FieldType.DATE, FieldType.LONG, FieldType.FLOAT)


@dataclass(slots=True)
class Page:
    total: int
    hits: list[dict[str, Any]]
    cursor: str | None = None  # pass back for the next page; None: this was the last


@dataclass(frozen=True, slots=True)
class TermsAgg:
    """Buckets of ``field``'s values: the ``size`` largest by document count, or by the sum
    of ``sum_field`` over the bucket's documents when given."""

    field: str
    size: int = 10
    sum_field: str | None = None
    span_field: str | None = None  # a date field: its first and last value per bucket
    by: TermsAgg | None = None  # nested terms per bucket (every bucket, then cut to size)


@dataclass(frozen=True, slots=True)
class DateHistogramAgg:
    """Document counts per fixed ``interval_s`` of the date ``field`` (buckets start at
    multiples of the interval since the epoch; empty ones are left out), with nested terms
    per bucket when ``by`` is given."""

    field: str
    interval_s: int
    by: TermsAgg | None = None


Agg = TermsAgg | DateHistogramAgg


@dataclass(slots=True)
class Bucket:
    key: str | int | float | bool
    count: int
    sum: float | None = None
    first: datetime | None = None  # span_field's min, UTC
    last: datetime | None = None  # span_field's max, UTC
    sub: list[Bucket] | None = None  # the ``by`` buckets


@dataclass(slots=True)
class HistogramBucket:
    start: datetime  # UTC
    count: int
    sub: list[Bucket] | None = None


@dataclass(slots=True)
class Aggregations:
    total: int
    terms: dict[str, list[Bucket]] = field(default_factory=dict)
    histograms: dict[str, list[HistogramBucket]] = field(default_factory=dict)


def sort_field(name: str) -> Field:
    """The declared single-valued date/number field ``name``; QueryError otherwise."""
    f = FLOW_FIELDS_BY_NAME.get(name)
    if f is None or f.multi or f.type not in _SORTABLE:
        choices = ", ".join(
            sorted(
                g.name for g in FLOW_FIELDS_BY_NAME.values() if not g.multi and g.type in _SORTABLE
            )
        )
        raise QueryError(f"cannot sort on '{name[:100]}': sort on one of {choices}")
    return f


def parse_sort(text: str | None) -> tuple[Field, bool]:
    """``"@timestamp"`` / ``"-network.bytes"`` (descending) → (field, descending)."""
    text = (text or DEFAULT_SORT).strip()
    descending = text.startswith("-")
    return sort_field(text.lstrip("-+")), descending


def encode_cursor(value: Any, doc_id: str) -> str:
    raw = json.dumps([value, doc_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    """(sort value, event.id) of a cursor; QueryError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, doc_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise QueryError("bad cursor: pass back the cursor of the previous page") from None
    if not isinstance(doc_id, str) or isinstance(value, (dict, list)):
        raise QueryError("bad cursor: pass back the cursor of the previous page")
    return value, doc_id


def _field(name: str, *types: FieldType) -> Field:
    f = FLOW_FIELDS_BY_NAME.get(name)
    if f is None:
        raise QueryError(f"unknown field '{name[:100]}'")
    if types and f.type not in types:
        raise QueryError(f"'{name}' is not a {' or '.join(t.value for t in types)} field")
    return f


def _terms_spec(agg: TermsAgg, backend: Backend) -> dict[str, Any]:
    _field(agg.field)
    spec: dict[str, Any] = {"terms": {"field": agg.field, "size": MAX_BUCKETS}}
    subs: dict[str, Any] = {}
    if agg.sum_field is not None:
        subs["sum"] = {"sum": {"field": agg.sum_field}}
    if agg.span_field is not None:
        _field(agg.span_field, FieldType.DATE)
        if backend == "es":  # min/max cut date_nanos to ms; sort values keep every digit
            for name, order in (("first", "asc"), ("last", "desc")):
                sort = [{agg.span_field: {"order": order}}]
                subs[name] = {"top_hits": {"size": 1, "sort": sort, "_source": False}}
        else:
            subs["first"] = {"min": {"field": agg.span_field}}
            subs["last"] = {"max": {"field": agg.span_field}}
    if agg.by is not None:
        subs["by"] = _terms_spec(agg.by, backend)
    if subs:
        spec["aggs"] = subs
    return spec


def _histogram_spec(agg: DateHistogramAgg, backend: Backend) -> dict[str, Any]:
    _field(agg.field, FieldType.DATE)
    if agg.interval_s <= 0:
        raise QueryError("a histogram interval must be positive")
    spec: dict[str, Any]
    if backend == "es":
        spec = {
            "date_histogram": {
                "field": agg.field,
                "fixed_interval": f"{agg.interval_s}s",
                "min_doc_count": 1,
            }
        }
    else:  # tantivy indexes dates as µs integers: a plain histogram over them
        spec = {
            "histogram": {
                "field": agg.field,
                "interval": agg.interval_s * 1_000_000,
                "min_doc_count": 1,
            }
        }
    if agg.by is not None:
        spec["aggs"] = {"by": _terms_spec(agg.by, backend)}
    return spec


def agg_request(aggs: Mapping[str, Agg], backend: Backend = "es") -> dict[str, Any]:
    """The backend's aggregation body (tantivy takes the Elasticsearch form)."""
    return {
        name: _histogram_spec(agg, backend)
        if isinstance(agg, DateHistogramAgg)
        else _terms_spec(agg, backend)
        for name, agg in aggs.items()
    }


# -- short top lists ---------------------------------------------------------------------------
# A terms aggregation cut to a few values is asked for its first FIRST_ASK values (not every
# value, up to MAX_BUCKETS) and proven exact: at a million records, counting and returning
# every address of the malicious captures' flows was most of a cold ``/v1/stats``.

_TOP_FIELD_TYPES = (FieldType.KEYWORD, FieldType.IP)  # keys a terms filter takes as they are
# Values asked first, at least: on the bench's million records, the malicious captures' top
# destinations could be proven exact from 400 on tantivy (with 100, the error bound was above
# the tenth count); the first answer costs about the same either way.
FIRST_ASK = 400


def short_top(agg: Agg) -> bool:
    """By count only (no sum, span or nested terms), a few values, of a keyword or address."""
    if not isinstance(agg, TermsAgg) or agg.sum_field or agg.span_field or agg.by:
        return False
    f = FLOW_FIELDS_BY_NAME.get(agg.field)
    return f is not None and f.type in _TOP_FIELD_TYPES and first_ask(agg) < MAX_BUCKETS


def first_ask(agg: TermsAgg) -> int:
    return max(FIRST_ASK, 4 * agg.size)


def ask_short_tops(aggs: Mapping[str, Agg], request: dict[str, Any]) -> dict[str, TermsAgg]:
    """The short top lists of ``aggs``, their part of ``request`` (``agg_request``'s body)
    asking for their first values only."""
    tops = {n: a for n, a in aggs.items() if isinstance(a, TermsAgg) and short_top(a)}
    for name, agg in tops.items():
        request[name]["terms"]["size"] = first_ask(agg)
    return tops


@dataclass(frozen=True, slots=True)
class TopCheck:
    """What the first answer of a short top list allows: ``exact`` as it is; else count the
    ``recount`` values again (none: hopeless, ask for every value) and keep that answer when
    its ``size``-th count is above ``bound``, the most any other value can count."""

    exact: bool
    recount: list[Any]
    bound: int


def check_top(agg: TermsAgg, first: Mapping[str, Any]) -> TopCheck:
    """Both backends count per segment (shard) and keep its ``segment_size`` (``shard_size``)
    largest values: a value left out of one is undercounted, by at most that one's smallest
    kept count, and ``doc_count_error_upper_bound`` is the sum of those (0: every count is
    exact). A value the first answer does not hold counts at most its last count (when the
    answer was cut) plus that error."""
    buckets = list(first.get("buckets") or [])
    error = int(first.get("doc_count_error_upper_bound") or 0)
    cut = len(buckets) >= first_ask(agg)
    if not cut and error == 0:  # every value, each counted exactly
        return TopCheck(True, [], 0)
    bound = (int(buckets[-1]["doc_count"]) if cut else 0) + error
    if len(buckets) < agg.size:
        return TopCheck(False, [], bound)
    wanted = int(buckets[agg.size - 1]["doc_count"])
    if error == 0 and wanted > bound:  # exact counts, and no other value reaches the cut
        return TopCheck(True, [], bound)
    # Counted again, a held value gains at most ``error``: hopeless if even that is too few.
    keys = [b["key"] for b in buckets] if wanted + error > bound else []
    return TopCheck(False, keys, bound)


def recounted(agg: TermsAgg, check: TopCheck, again: Mapping[str, Any]) -> dict[str, Any] | None:
    """The exact answer from ``again`` (every value of the records holding one of
    ``check.recount``, asked for up to MAX_BUCKETS values), or None when it proves nothing."""
    wanted = set(check.recount)
    exact = [b for b in again.get("buckets") or [] if b["key"] in wanted]
    if int(again.get("doc_count_error_upper_bound") or 0) != 0 or len(exact) != len(wanted):
        return None
    counts = sorted((int(b["doc_count"]) for b in exact), reverse=True)
    if counts[agg.size - 1] <= check.bound:
        return None
    return {"buckets": exact, "sum_other_doc_count": 0, "doc_count_error_upper_bound": 0}


def terms_request(aggs: Mapping[str, TermsAgg]) -> dict[str, Any]:
    """The Elasticsearch aggregation body of terms aggregations (tantivy takes the same)."""
    return agg_request(aggs)


def _date(raw: Any, backend: Backend) -> datetime | None:
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        return None
    micros = round(raw * _DATE_UNIT_US[backend])
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _key(f: Field, raw: Any) -> str | int | float | bool:
    if f.type is FieldType.IP and isinstance(raw, str):
        ip = ip_address(raw)
        mapped = getattr(ip, "ipv4_mapped", None)
        return str(mapped or ip)
    if f.type is FieldType.BOOL:
        return bool(raw) if not isinstance(raw, str) else raw == "true"
    if f.type is FieldType.LONG and isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, (str, int, float, bool)):
        return raw
    return str(raw)


def _span_date(name: str, answer: Any, backend: Backend) -> datetime | None:
    if not isinstance(answer, Mapping):
        return None
    if backend == "tantivy":
        return _date(answer.get("value"), backend)
    hits = (answer.get("hits") or {}).get("hits") or []
    sort = hits[0].get("sort") if hits else None
    if not sort or not isinstance(sort[0], int):
        return None
    if name in NANOS_DATE_FIELDS:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=sort[0] // 1000)
    return _date(sort[0], backend)


def _contenders(raw: list[Any], size: int) -> list[Any]:
    """The raw buckets that can be among the ``size`` largest by count: every one counting at
    least the ``size``-th largest count (the ties at the cut all stay, to be ordered by key).
    Building buckets (addresses parsed, keys compared as text) for every one of thousands of
    values was most of a top list's time (the stats' top destinations: 10,000 values)."""
    if len(raw) <= size:
        return raw
    if size <= 0:
        return []
    floor = heapq.nlargest(size, (int(b["doc_count"]) for b in raw))[-1]
    return [b for b in raw if int(b["doc_count"]) >= floor]


def _terms_buckets(agg: TermsAgg, answer: Mapping[str, Any], backend: Backend) -> list[Bucket]:
    f = FLOW_FIELDS_BY_NAME[agg.field]
    buckets = []
    raw = list(answer.get("buckets", []))
    if agg.sum_field is None:  # ordered by count: only the contenders for the cut
        raw = _contenders(raw, agg.size)
    for b in raw:
        total = None
        if agg.sum_field is not None:
            value = (b.get("sum") or {}).get("value")
            total = float(value) if value is not None else 0.0
        bucket = Bucket(_key(f, b["key"]), int(b["doc_count"]), total)
        if agg.span_field is not None:
            bucket.first = _span_date(agg.span_field, b.get("first"), backend)
            bucket.last = _span_date(agg.span_field, b.get("last"), backend)
        if agg.by is not None:
            bucket.sub = _terms_buckets(agg.by, b.get("by") or {}, backend)
        buckets.append(bucket)
    if agg.sum_field is not None:
        buckets.sort(key=lambda b: (-(b.sum or 0.0), -b.count, str(b.key)))
    else:
        buckets.sort(key=lambda b: (-b.count, str(b.key)))
    return buckets[: max(agg.size, 0)]


def _histogram_buckets(
    agg: DateHistogramAgg, answer: Mapping[str, Any], backend: Backend
) -> list[HistogramBucket]:
    out = []
    for b in answer.get("buckets", []):
        count = int(b["doc_count"])
        start = _date(b.get("key"), backend)
        if count <= 0 or start is None:
            continue
        sub = _terms_buckets(agg.by, b.get("by") or {}, backend) if agg.by is not None else None
        out.append(HistogramBucket(start, count, sub))
    out.sort(key=lambda h: h.start)
    return out


def finish_aggs(
    aggs: Mapping[str, Agg], response: Mapping[str, Any], backend: Backend = "es"
) -> Aggregations:
    """Buckets from the backend's answer (``total`` left 0 for the caller to set), ordered
    and cut the same way on both backends."""
    out = Aggregations(0)
    for name, agg in aggs.items():
        answer = response.get(name) or {}
        if isinstance(agg, DateHistogramAgg):
            out.histograms[name] = _histogram_buckets(agg, answer, backend)
        else:
            out.terms[name] = _terms_buckets(agg, answer, backend)
    return out


def finish_terms(
    aggs: Mapping[str, TermsAgg], response: Mapping[str, Any]
) -> dict[str, list[Bucket]]:
    """Terms buckets from an Elasticsearch-shaped answer (see ``finish_aggs``)."""
    return finish_aggs(aggs, response).terms
