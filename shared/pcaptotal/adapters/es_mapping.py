"""Elasticsearch / OpenSearch index mappings and documents, derived from ``pcaptotal.fields``.

Storage conventions (the query compiler ``pcaptotal.query.es_compiler`` relies on them):

- ``"dynamic": false``: only declared fields are indexed; anything else a document carries
  stays in ``_source`` unindexed, as in tantivy. ES reads dotted names as object paths, so
  arrays of objects (``dns.answers``, ``threat.enrichments``) feed their declared sub-fields
  (``dns.answers.data``, ``threat.enrichments.indicator.name``); tantivy reads the same values
  through ``fields.values_of``.
- dates: ``date_nanos`` for the flow timestamps (``es_compiler.NANOS_DATE_FIELDS``): ES
  ``date`` keeps milliseconds only, so ``event.start:>=16:43:00.1235`` would match
  ``16:43:00.123456``, while tantivy compares microseconds. Other dates (certificate
  validity: whole seconds, any year, often ``9999-12-31``) are ``date``, whose range (unlike
  ``date_nanos``' 1970-2262) fits them.
- The document id is the declared keyword ``event.id``: sent as the ``_id`` of the bulk action
  as well, and the sort tiebreak (ES cannot sort on ``_id`` by default). Documents carry no
  ``_id`` field (a reserved name in ES).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

from pcaptotal.fields import FLOW_FIELDS, Field, FieldType, values_of
from pcaptotal.query.es_compiler import NANOS_MAX, NANOS_MIN, is_nanos

ID = "event.id"  # see module doc
MAX_RESULT_WINDOW = 10_000  # ES's default index.max_result_window: from + size beyond it fails
DEFAULT_PREFIX = "pcaptotal"
# Lucene refuses terms over 32766 bytes (a whole bulk item fails); longer keyword values are
# kept in _source but not indexed. 8191 characters is the most that always fits in UTF-8.
KEYWORD_IGNORE_ABOVE = 8191
MAX_ID_BYTES = 512  # ES limit on _id
TEXT_ANALYZER = "pcaptotal_text"
_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
_NANOS_FORMAT = "strict_date_optional_time_nanos||epoch_millis"

_PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,200}")


def index_names(prefix: str = DEFAULT_PREFIX) -> tuple[str, str]:
    """``(<prefix>-flows, <prefix>-captures)``; ES index names must be lowercase."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"bad index prefix {prefix!r} (lowercase letters, digits, _ . -)")
    return f"{prefix}-flows", f"{prefix}-captures"


def field_mapping(f: Field) -> dict[str, Any]:
    t = f.type
    if t is FieldType.KEYWORD:
        return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if t is FieldType.TEXT:
        return {"type": "text", "analyzer": TEXT_ANALYZER}
    if t is FieldType.IP:
        return {"type": "ip"}
    if t is FieldType.LONG:
        return {"type": "long", "coerce": False}  # tantivy refuses "80" and 8.5 too
    if t is FieldType.FLOAT:
        return {"type": "double", "coerce": False}
    if t is FieldType.DATE:
        if is_nanos(f):
            return {"type": "date_nanos", "format": _NANOS_FORMAT}
        return {"type": "date", "format": _DATE_FORMAT}
    if t is FieldType.BOOL:
        return {"type": "boolean"}
    raise ValueError(f"no Elasticsearch mapping for field type {t}")  # pragma: no cover


def flow_mappings(fields: Sequence[Field] = FLOW_FIELDS) -> dict[str, Any]:
    props = {f.name: field_mapping(f) for f in fields}
    return {"dynamic": False, "properties": props}


# tantivy's "default" tokenizer for text fields: split on non-alphanumerics, drop tokens of 40+
# bytes, lowercase. This is the closest ES analyzer (length counts characters, not bytes).
_ANALYSIS = {
    "analyzer": {
        TEXT_ANALYZER: {
            "type": "custom",
            "tokenizer": "pcaptotal_words",
            "filter": ["pcaptotal_short", "lowercase"],
        }
    },
    "tokenizer": {"pcaptotal_words": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"}},
    "filter": {"pcaptotal_short": {"type": "length", "max": 39}},
}


def flow_index_body() -> dict[str, Any]:
    """Body of ``PUT <prefix>-flows`` (usable as an index template's ``template`` too)."""
    return {"settings": {"analysis": _ANALYSIS}, "mappings": flow_mappings()}


def capture_index_body() -> dict[str, Any]:
    """Capture documents: what ``find_captures`` filters and sorts on is indexed; the rest kept."""
    return {
        "mappings": {
            "dynamic": False,
            "properties": {
                "id": {"type": "keyword"},
                "status": {"type": "keyword"},
                "created": {"type": "date", "format": _DATE_FORMAT},
                "updated": {"type": "date", "format": _DATE_FORMAT},
                "verdict": {"type": "keyword"},
            },
        }
    }


# -- documents -----------------------------------------------------------------------------------

# The ISO forms ES's strict_date_optional_time reads exactly as Python does (µs at most, as
# tantivy keeps); anything else is refused up front rather than half-written by a bulk.
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def _check_date(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, int) and not isinstance(v, bool):
        return v  # epoch millis
    if isinstance(v, str) and _ISO_DATE.fullmatch(v):
        datetime.fromisoformat(v)  # a real date
        return v
    raise ValueError("not an ISO-8601 date")


def _check_nanos(v: Any) -> Any:
    out = _check_date(v)
    when = (
        datetime.fromtimestamp(out / 1000, UTC)
        if isinstance(out, int)
        else datetime.fromisoformat(out)
    )
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not NANOS_MIN <= when <= NANOS_MAX:
        raise ValueError("outside 1970..2262")
    return out


def _check_value(f: Field, v: Any) -> Any:
    """The value as sent to ES; ValueError/TypeError when tantivy would refuse it too."""
    t = f.type
    if t in (FieldType.KEYWORD, FieldType.TEXT):
        if isinstance(v, (dict, list, tuple)):
            raise ValueError("not a scalar")
        return v
    if t is FieldType.IP:
        if not isinstance(v, str):
            raise ValueError("not an address string")
        ip_address(v)
        return v
    if t is FieldType.LONG:
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
            raise ValueError("not a 64-bit integer")
        return v
    if t is FieldType.FLOAT:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError("not a finite number")
        return v
    if t is FieldType.DATE:
        return _check_nanos(v) if is_nanos(f) else _check_date(v)
    if t is FieldType.BOOL:
        if not isinstance(v, bool):
            raise ValueError("not a boolean")
        return v
    raise ValueError(f"unsupported field type {t}")  # pragma: no cover


def flow_source(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(id, body)`` for one record; ValueError names the field and value ES would refuse.

    Values inside objects (``dns.answers``: [{...}]) are checked, flat keys also converted
    (datetimes to ISO text).
    """
    doc_id = doc.get(ID)
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"document without a string {ID}: {str(doc)[:200]}")
    if len(doc_id.encode()) > MAX_ID_BYTES:
        raise ValueError(f"record {doc_id[:80]}...: {ID} is longer than {MAX_ID_BYTES} bytes")
    body = {k: v for k, v in doc.items() if k != "_id"}  # reserved in ES
    for f in FLOW_FIELDS:
        value = doc.get(f.name)
        if value is None:
            nested = values_of(doc, f.name)
            if not nested:
                continue
            value = nested
            flat = False
        else:
            flat = True
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        try:
            out = [None if v is None else _check_value(f, v) for v in values]
        except (ValueError, TypeError, OverflowError) as exc:
            bad = next(v for v in values if not _ok(f, v))
            raise ValueError(
                f"flow {doc_id}: bad {f.type.value} value {bad!r} for '{f.name}' ({exc})"
            ) from None
        if flat and any(o is not v for o, v in zip(out, values, strict=True)):  # datetimes
            body[f.name] = out if isinstance(value, (list, tuple)) else out[0]
    return doc_id, body


def _ok(f: Field, v: Any) -> bool:
    if v is None:
        return True
    try:
        _check_value(f, v)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def hit_document(doc_id: str, source: dict[str, Any]) -> dict[str, Any]:
    """The record as it was added (``event.id`` is in it already)."""
    out = dict(source)
    out.setdefault(ID, doc_id)
    return out
