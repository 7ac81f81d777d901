"""Tantivy schemas and documents: what the embedded index stores for a record or a capture.

Each document's JSON is kept whole in the stored-only ``_source`` field; the typed fields of
``pcaptotal.fields`` are indexed (and fast, for ``exists`` and sorting) but not stored.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from ipaddress import ip_address
from typing import Any

import orjson
import tantivy

from pcaptotal.fields import FLOW_FIELDS, FLOW_FIELDS_BY_NAME, Field, FieldType, has_objects
from pcaptotal.query.tantivy_compiler import to_micros

ID = "event.id"  # the document id (a declared keyword field)
SOURCE = "_source"
SORT_FIELD = "@timestamp"  # hits come back oldest first, ties by event.id
DATASET_FIELD = "event.dataset"
CAPTURE_FIELD = "pcaptotal.capture_id"


def _add_field(sb: tantivy.SchemaBuilder, f: Field) -> None:
    t, name = f.type, f.name
    if t is FieldType.KEYWORD:
        sb.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    elif t is FieldType.TEXT:
        sb.add_text_field(name, fast=True, tokenizer_name="default", index_option="position")
    elif t is FieldType.IP:
        sb.add_ip_addr_field(name, indexed=True, fast=True)
    elif t in (FieldType.LONG, FieldType.DATE):  # dates as µs, see query.tantivy_compiler
        sb.add_integer_field(name, indexed=True, fast=True)
    elif t is FieldType.FLOAT:
        sb.add_float_field(name, indexed=True, fast=True)
    elif t is FieldType.BOOL:
        sb.add_boolean_field(name, indexed=True, fast=True)
    else:  # pragma: no cover - a new FieldType must be mapped here
        raise ValueError(f"no tantivy mapping for field type {t}")


def tantivy_schema(fields: Sequence[Field] = FLOW_FIELDS) -> tantivy.Schema:
    """The records schema, derived from the one field declaration."""
    sb = tantivy.SchemaBuilder()
    sb.add_bytes_field(SOURCE, stored=True)
    for f in fields:
        _add_field(sb, f)
    return sb.build()


def captures_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("status", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("created", indexed=True, fast=True)  # µs, for newest-first listing
    sb.add_integer_field("updated", indexed=True, fast=True)  # µs, for "changed since"
    sb.add_text_field("verdict", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_bytes_field(SOURCE, stored=True)
    return sb.build()


# -- documents -----------------------------------------------------------------------------------


def _date_micros(value: Any) -> int:
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, str):
        return to_micros(datetime.fromisoformat(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1000  # epoch millis, as Elasticsearch reads numbers in date fields
    raise ValueError("not a date")


def _add_value(d: tantivy.Document, f: Field, v: Any) -> None:
    t, name = f.type, f.name
    if t in (FieldType.KEYWORD, FieldType.TEXT):
        if isinstance(v, (dict, list, tuple)):
            raise ValueError("not a scalar")
        d.add_text(name, v if isinstance(v, str) else json.dumps(v))
    elif t is FieldType.IP:
        d.add_ip_addr(name, str(ip_address(v)))
    elif t is FieldType.LONG:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("not an integer")
        d.add_integer(name, v)
    elif t is FieldType.FLOAT:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("not a number")
        d.add_float(name, float(v))
    elif t is FieldType.DATE:
        d.add_integer(name, _date_micros(v))
    elif t is FieldType.BOOL:
        if not isinstance(v, bool):
            raise ValueError("not a boolean")
        d.add_boolean(name, v)


def flow_document(doc: dict[str, Any]) -> tantivy.Document:
    """A tantivy document for one record; ValueError names the field and value it cannot take.

    Fields are read as Elasticsearch reads them (``fields.values_of``: flat keys and arrays of
    objects), so both backends index the same values. A record with objects is walked once
    (``_declared_values``) rather than once per declared field: bulk indexing spends its time
    here.
    """
    doc_id = doc.get(ID)
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"document without a string {ID}: {str(doc)[:200]}")
    d = tantivy.Document()
    if has_objects(doc):
        items: Iterable[tuple[str, Any]] = _declared_values(doc).items()
    else:  # the common case: flat keys only
        items = ((k, v) for k, v in doc.items() if k in FLOW_FIELDS_BY_NAME)
    for name, value in items:
        f = FLOW_FIELDS_BY_NAME[name]
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if v is None:
                continue
            try:
                _add_value(d, f, v)
            except (ValueError, TypeError, OverflowError) as exc:
                raise ValueError(
                    f"flow {doc_id}: bad {f.type.value} value {v!r} for '{f.name}' ({exc})"
                ) from None
    d.add_bytes(SOURCE, _dump(doc))
    return d


class _Unusual(Exception):
    """A value the fast path does not take as is: ``flow_document`` decides (and names it)."""


# Fields whose values need converting or a check ``Document.from_dict`` does not make (it
# takes booleans as numbers); keyword, text and boolean values it checks as strictly as
# ``flow_document`` does (a non-string or a null is a ValueError, and the record goes there).
_PREPARED = {
    f.name: f.type
    for f in FLOW_FIELDS
    if f.type in (FieldType.IP, FieldType.DATE, FieldType.LONG, FieldType.FLOAT)
}
_PLAIN = frozenset((str, int, float, bool, type(None)))


@lru_cache(maxsize=1)
def _schema() -> tantivy.Schema:
    return tantivy_schema()


def flow_documents(docs: Sequence[dict[str, Any]]) -> list[tantivy.Document]:
    """``[flow_document(d) for d in docs]``: the same documents, built with one tantivy call
    per record (``Document.from_dict``, which ignores undeclared keys) instead of one per
    value, which cost ~85 us per record. A record with a value of an unusual type goes through
    ``flow_document``, which also names a bad value."""
    ips: dict[str, str] = {}  # address -> its normal form, for this batch only
    out: list[tantivy.Document] = []
    schema = _schema()
    for doc in docs:
        try:
            fields = _fields(doc, ips)
            fields[SOURCE] = [_dump(doc)]
            out.append(tantivy.Document.from_dict(fields, schema))
        except (_Unusual, ValueError, TypeError, OverflowError):
            out.append(flow_document(doc))
    return out


def flow_json(doc: dict[str, Any], ips: dict[str, str]) -> str | None:
    """The record as the JSON document ``IndexWriter.add_json`` takes: the fields
    ``flow_documents`` gives tantivy, ``_source`` in base64 (as tantivy reads bytes from JSON).
    Made where the record already is (the enricher's analysis process), so that the index
    writer only parses it. None for a record ``flow_documents`` would hand to
    ``flow_document`` (a value of an unusual type, or a bad one, which that then names)."""
    try:
        fields = _fields(doc, ips)
        fields[SOURCE] = base64.b64encode(_dump(doc)).decode("ascii")
        return orjson.dumps(fields).decode()
    except (_Unusual, ValueError, TypeError, OverflowError, orjson.JSONEncodeError):
        return None


def _fields(doc: dict[str, Any], ips: dict[str, str]) -> dict[str, Any]:
    """``doc`` with its dates, addresses and numbers as ``flow_document`` adds them."""
    doc_id = doc.get(ID)
    if not isinstance(doc_id, str) or not doc_id:
        raise _Unusual
    fields: dict[str, Any] = dict(doc)
    holders: list[str] = []  # keys holding objects (or nested lists)
    for name, value in doc.items():
        t = type(value)
        kind = _PREPARED.get(name)
        if t is str:
            if kind is FieldType.IP:
                fields[name] = ips.get(value) or _ip_text(value, ips)
            elif kind is FieldType.DATE:
                fields[name] = to_micros(datetime.fromisoformat(value))
            elif kind is not None:
                raise _Unusual
        elif t is int:
            if kind is FieldType.IP or kind is FieldType.DATE:
                raise _Unusual
        elif t is float:
            if kind is not None and kind is not FieldType.FLOAT:
                raise _Unusual
        elif t is list:
            if not set(map(type, value)) <= _PLAIN:  # objects or nested lists: as values_of
                holders.append(name)
            elif not value:  # flow_document adds nothing for it (from_dict would add an entry)
                del fields[name]
            elif kind is not None:
                fields[name] = _prepared(kind, value, ips)
        elif t not in _PLAIN:
            holders.append(name)
        elif kind is not None:  # a boolean or null where a number, address or date goes
            raise _Unusual
    if holders and not _add_nested(doc, holders, fields, ips):
        return _object_fields(doc, ips)
    return fields


def _add_nested(
    doc: dict[str, Any], holders: list[str], fields: dict[str, Any], ips: dict[str, str]
) -> bool:
    """The values under ``holders`` read as ``_declared_values`` reads them (the same walk,
    over those keys only, in the record's order), into ``fields``. False when a name also
    has a plain key (the order of its values would need the whole walk)."""
    nested: dict[str, list[Any]] = {}
    for key in holders:
        del fields[key]
        value = doc[key]
        if key in FLOW_FIELDS_BY_NAME:
            _leaves(value, nested.setdefault(key, []))
        if key in _OBJECT_PREFIXES:
            _descend(value, key + ".", nested)
    for name, values in nested.items():
        if name in fields:
            return False
        if values:
            kind = _PREPARED.get(name)
            fields[name] = values if kind is None else _prepared(kind, values, ips)
    return True


def _object_fields(doc: dict[str, Any], ips: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, values in _declared_values(doc).items():
        if values:
            kind = _PREPARED.get(name)
            fields[name] = values if kind is None else _prepared(kind, values, ips)
    return fields


def _prepared(kind: FieldType, value: Any, ips: dict[str, str]) -> list[Any]:
    values = value if type(value) is list else [value]
    types = set(map(type, values))
    if kind is FieldType.IP and types == {str}:
        return [ips.get(v) or _ip_text(v, ips) for v in values]
    if kind is FieldType.DATE and types == {str}:
        return [to_micros(datetime.fromisoformat(v)) for v in values]
    if kind is FieldType.LONG and types == {int}:
        return values
    if kind is FieldType.FLOAT and types <= {int, float}:
        return values
    raise _Unusual


def _ip_text(v: str, ips: dict[str, str]) -> str:
    """``str(ip_address(v))``, remembered. A dotted quad inet_pton takes (decimal, no leading
    zeros: what ip_address takes) is already in that form, ~10x faster to check."""
    try:
        socket.inet_pton(socket.AF_INET, v)
        normal = v
    except (OSError, ValueError):
        normal = str(ip_address(v))
    ips[v] = normal
    return normal


def _declared_values(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{declared field: its values} as ``fields.values_of`` reads them (object keys joined with
    dots, arrays of objects and nested lists flattened, ``None`` dropped), in one walk."""
    out: dict[str, list[Any]] = {}
    _walk(doc, "", out)
    return out


def _walk(node: Mapping[str, Any], prefix: str, out: dict[str, list[Any]]) -> None:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in FLOW_FIELDS_BY_NAME:
            values_of_leaf = out.setdefault(path, [])
            _leaves(value, values_of_leaf)
        if path in _OBJECT_PREFIXES:
            _descend(value, path + ".", out)


def _descend(value: Any, prefix: str, out: dict[str, list[Any]]) -> None:
    if isinstance(value, Mapping):
        _walk(value, prefix, out)
    elif isinstance(value, list):
        for item in value:
            _descend(item, prefix, out)


def _leaves(value: Any, out: list[Any]) -> None:
    if isinstance(value, list):
        for item in value:
            _leaves(item, out)
    elif value is not None:
        out.append(value)


# Every proper dotted prefix of a declared field: only keys on these paths can hold objects
# whose parts are declared fields.
_OBJECT_PREFIXES = frozenset(
    ".".join(parts[:i])
    for parts in (f.name.split(".") for f in FLOW_FIELDS)
    for i in range(1, len(parts))
)


def capture_document(doc: dict[str, Any]) -> tantivy.Document:
    capture_id = doc.get("id")
    if not isinstance(capture_id, str) or not capture_id:
        raise ValueError(f"capture document without a string id: {str(doc)[:200]}")
    d = tantivy.Document()
    d.add_text("id", capture_id)
    for name in ("status", "verdict"):
        if isinstance(doc.get(name), str):
            d.add_text(name, doc[name])
    for name in ("created", "updated"):
        if doc.get(name) is not None:
            try:
                d.add_integer(name, _date_micros(doc[name]))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"capture {capture_id}: bad {name} {doc[name]!r}") from exc
    d.add_bytes(SOURCE, _dump(doc))
    return d


# orjson writes what json.dumps(ensure_ascii=False, separators=(",", ":"), default=str) writes
# for JSON documents, ~15x faster; datetimes and dataclasses go through default=str as there.
# What it refuses (NaN, integers past 64 bits) goes the json way, so nothing changes but time.
_ORJSON_OPTS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _dump(doc: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(doc, default=str, option=_ORJSON_OPTS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _load(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> dict[str, Any]:
    return _parse(searcher.doc(address)[SOURCE][0])


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        source: dict[str, Any] = orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN and the like, which json.dumps may have written
        source = json.loads(raw)
    return source
