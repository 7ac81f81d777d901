"""What the Index port's list and aggregation calls take and give, shared by both adapters:
sort keys, cursors, terms aggregations.

Cursors are search_after-style: the (sort value, ``event.id``) of the last hit, opaque to the
client (base64url JSON). Paging with them is stable while the capture's records do not change,
and costs the same on page 1000 as on page 1 (no offset window).

Aggregations are terms buckets, optionally with a sum per bucket. Both adapters ask their
backend for every bucket (up to ``MAX_BUCKETS``) and ``finish_terms`` orders and cuts them the
same way (count or sum descending, then key ascending), so both give the same answer, ties
included.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from pcaptotal.fields import FLOW_FIELDS_BY_NAME, Field, FieldType
from pcaptotal.query.errors import QueryError

MAX_BUCKETS = 10_000
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


@dataclass(slots=True)
class Bucket:
    key: str | int | float | bool
    count: int
    sum: float | None = None


@dataclass(slots=True)
class Aggregations:
    total: int
    terms: dict[str, list[Bucket]] = field(default_factory=dict)


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


def terms_request(aggs: Mapping[str, TermsAgg]) -> dict[str, Any]:
    """The Elasticsearch aggregation body (tantivy takes the same)."""
    body: dict[str, Any] = {}
    for name, agg in aggs.items():
        if agg.field not in FLOW_FIELDS_BY_NAME:
            raise QueryError(f"unknown field '{agg.field}'")
        spec: dict[str, Any] = {"terms": {"field": agg.field, "size": MAX_BUCKETS}}
        if agg.sum_field is not None:
            spec["aggs"] = {"sum": {"sum": {"field": agg.sum_field}}}
        body[name] = spec
    return body


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


def finish_terms(
    aggs: Mapping[str, TermsAgg], response: Mapping[str, Any]
) -> dict[str, list[Bucket]]:
    """Buckets from the backend's answer, ordered and cut the same way on both backends."""
    out: dict[str, list[Bucket]] = {}
    for name, agg in aggs.items():
        f = FLOW_FIELDS_BY_NAME[agg.field]
        buckets = []
        for b in (response.get(name) or {}).get("buckets", []):
            total = None
            if agg.sum_field is not None:
                value = (b.get("sum") or {}).get("value")
                total = float(value) if value is not None else 0.0
            buckets.append(Bucket(_key(f, b["key"]), int(b["doc_count"]), total))
        if agg.sum_field is not None:
            buckets.sort(key=lambda b: (-(b.sum or 0.0), -b.count, str(b.key)))
        else:
            buckets.sort(key=lambda b: (-b.count, str(b.key)))
        out[name] = buckets[: max(agg.size, 0)]
    return out
