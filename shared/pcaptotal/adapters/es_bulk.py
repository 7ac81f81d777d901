"""Elasticsearch bulk bodies for ``add_flows``: the bytes ``flow_source`` + one JSON line per
action and per source would make, built without ``flow_source``'s walk of every declared field
per record (``values_of`` for each of ~140 names: ~250 us a record, most of the enricher's time
against an Elasticsearch/OpenSearch server).

Per record only the declared keys it has are checked, and the declared names under a key that
holds objects (``dns.question``); a value the quick checks do not take goes to ``_check_value``
(the mapping's own check), and a record with a bad value to ``flow_source``, which names it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping, Sequence
from ipaddress import ip_address
from typing import Any

import orjson

from pcaptotal.adapters.es_mapping import ID, MAX_ID_BYTES, _check_value, flow_source
from pcaptotal.fields import FLOW_FIELDS, FLOW_FIELDS_BY_NAME, Field, FieldType, values_of

# the declared names a key can hold objects for: {"dns.question": ("dns.question.name", ...)}
_UNDER: dict[str, tuple[Field, ...]] = {}
for _f in FLOW_FIELDS:
    _parts = _f.name.split(".")
    for _i in range(1, len(_parts)):
        _prefix = ".".join(_parts[:_i])
        _UNDER[_prefix] = (*_UNDER.get(_prefix, ()), _f)
_ORDER = {f.name: i for i, f in enumerate(FLOW_FIELDS)}
# key -> (its declared field, the declared fields it may hold objects for)
_KEYS: dict[str, tuple[Field | None, tuple[Field, ...]]] = {
    k: (FLOW_FIELDS_BY_NAME.get(k), _UNDER.get(k, ())) for k in {*FLOW_FIELDS_BY_NAME, *_UNDER}
}
_TEXTS = (FieldType.KEYWORD, FieldType.TEXT)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63


class _Bad(Exception):
    """A value ``_check_value`` refuses: ``flow_source`` raises the error that names it."""


def bulk_bodies(docs: Sequence[dict[str, Any]], max_docs: int, max_bytes: int) -> list[bytes]:
    """NDJSON bulk bodies of ``index`` actions, at most ``max_docs`` documents or about
    ``max_bytes`` each; the last of several records with one id wins, at the first one's
    place (as ``dict(flow_source(d) for d in docs)`` orders them). ValueError as
    ``flow_source`` raises it."""
    ips: set[str] = set()  # addresses seen valid in this call
    latest: dict[str, dict[str, Any]] = {}
    for doc in docs:
        try:
            doc_id, body = _source(doc, ips)
        except _Bad:
            doc_id, body = flow_source(doc)  # raises, naming the field and value
        latest[doc_id] = body
    return list(_chunks(latest, max_docs, max_bytes))


def _source(doc: dict[str, Any], ips: set[str]) -> tuple[str, dict[str, Any]]:
    doc_id = doc.get(ID)
    # (4 bytes a character at most: only a long id needs encoding to measure)
    if not isinstance(doc_id, str) or not doc_id or len(doc_id) * 4 > MAX_ID_BYTES:
        return flow_source(doc)  # raises for a bad id, else is the slow path's answer
    body = {k: v for k, v in doc.items() if k != "_id"}  # reserved in ES
    nested: set[Field] = set()
    for key, value in doc.items():
        info = _KEYS.get(key)
        if info is None or value is None:
            continue
        f, under = info
        if f is not None:
            t = type(value)
            common = (t is str and f.type in _TEXTS) or (  # the common cases, inline
                t is int and f.type is FieldType.LONG and _LONG_MIN <= value < _LONG_MAX
            )
            if not common:
                checked = _checked(f, value, ips)
                if checked is not value:
                    body[key] = checked
        if under:
            nested.update(under)
    # names read through objects: checked only where the flat key is absent or null, as
    # flow_source does
    for f in sorted(nested, key=lambda f: _ORDER[f.name]):
        if doc.get(f.name) is None:
            for v in values_of(doc, f.name):
                _check(f, v, ips)
    return doc_id, body


def _checked(f: Field, value: Any, ips: set[str]) -> Any:
    """``value`` as flow_source leaves it in the body (a new list/value only for datetimes)."""
    if isinstance(value, (list, tuple)):
        out = [None if v is None else _check(f, v, ips) for v in value]
        if any(o is not v for o, v in zip(out, value, strict=True)):
            return out
        return value
    return _check(f, value, ips)


def _check(f: Field, v: Any, ips: set[str]) -> Any:
    t, kind = type(v), f.type
    if t is str and (kind is FieldType.KEYWORD or kind is FieldType.TEXT):
        return v
    if t is int and kind is FieldType.LONG and _LONG_MIN <= v < _LONG_MAX:
        return v
    if t is str and kind is FieldType.IP:
        if v in ips:
            return v
        try:
            socket.inet_pton(socket.AF_INET, v)  # a dotted quad ip_address takes
        except (OSError, ValueError):
            try:
                ip_address(v)
            except ValueError:
                raise _Bad from None
        ips.add(v)
        return v
    try:
        return _check_value(f, v)
    except (ValueError, TypeError, OverflowError):
        raise _Bad from None


def _chunks(docs: Mapping[str, dict[str, Any]], max_docs: int, max_bytes: int) -> Iterator[bytes]:
    lines: list[bytes] = []
    size = 0
    for doc_id, body in docs.items():
        action = dump({"index": {"_id": doc_id}})
        source = dump(body)
        lines += [action, source]
        size += len(action) + len(source)
        if len(lines) >= 2 * max_docs or size >= max_bytes:
            yield b"".join(lines)
            lines, size = [], 0
    if lines:
        yield b"".join(lines)


_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_ORJSON_OPTS |= orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_APPEND_NEWLINE


def dump(doc: Any) -> bytes:
    """One NDJSON line: what ``json.dumps(doc, ensure_ascii=False, separators=(",", ":"),
    default=str)`` writes, by orjson (~10x faster; datetimes and dataclasses through
    ``default=str`` as there); what orjson refuses (NaN, integers past 64 bits) the json way.
    """
    try:
        return orjson.dumps(doc, default=str, option=_ORJSON_OPTS)
    except (orjson.JSONEncodeError, TypeError):
        return (
            json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
        )


def as_json(docs: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for doc in docs:
        try:
            out.append(orjson.dumps(doc))
        except TypeError:  # an integer beyond 64 bits: the json module writes it
            out.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
    return out
