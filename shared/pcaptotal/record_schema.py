"""The records of a capture as typed models: one per ``event.dataset``, derived from the field
schema (``pcaptotal.fields``), so every contract declares the same record shape.

The search API declares them in its OpenAPI document (``pcaptotal_search_api.record_models``)
and the ``flows.enriched`` events in the AsyncAPI document (``flow_event_record``: the flow
record plus ``pcaptotal.omitted_fields``), so a subscriber generating code from the events reads
the same typed flow as an HTTP client.

Built from ``FLOW_FIELDS``: a field added there appears in both documents with no edit. Every
model forbids unknown keys, so a document that carries a field the schema does not declare
fails the strict schema tests instead of reaching clients untyped. The models are built on
first use (a few hundred ms), not at import: every service imports the event messages, and
only schema generation and the search API need them.

Records are served and published as the index stored them (dicts): the models declare their
shape (``declared_as``) and are not run over every record, which would cost a validation of up
to 10,000 documents per search; ``tests/integration/test_record_schema.py`` runs them over every
record of the shared captures, and the event tests validate real events against the AsyncAPI
document.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, TypeAdapter, create_model
from pydantic import Field as PydanticField
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from pcaptotal.fields import DATASET_KINDS, FLOW_FIELDS, STORED_OBJECTS, Field, FieldType
from pcaptotal.finding_view import EvidenceValue, FindingView
from pcaptotal.verdicts import Verdict

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_SCALARS: dict[FieldType, type] = {
    FieldType.IP: str,
    FieldType.KEYWORD: str,
    FieldType.TEXT: str,
    FieldType.LONG: int,
    FieldType.FLOAT: float,
    FieldType.DATE: datetime,
    FieldType.BOOL: bool,
}
# Fields every record carries (tests/integration/test_record_schema.py checks the documents).
REQUIRED = frozenset({"@timestamp", "ecs.version", "event.id", "pcaptotal.capture_id"})
# Required too: the discriminators, set by ``_record_model`` from ``DATASET_KINDS``.
DISCRIMINATORS = ("event.dataset", "event.kind")
# Single-valued on a flow; a list on a file or finding record linked to several flows.
_LISTED_WHEN_LINKED = frozenset({"network.community_id", "pcaptotal.flow_key"})
# Keys that hold arrays of ECS objects (their members are the declared sub-fields).
OBJECT_ARRAYS = ("dns.question", "dns.answers", "threat.enrichments")
# Members that hold an array inside each object (the declared sub-field says only "multi").
_ARRAY_MEMBERS: dict[str, dict[str, Any]] = {"threat.enrichments": {"tags": list[str]}}
# Stored objects with a model of their own (the rest are in ``OBJECT_ARRAYS``).
_STORED_TYPES: dict[str, Any] = {
    "pcaptotal.findings": list[FindingView],
    "pcaptotal.finding.evidence": dict[str, EvidenceValue],
}
# Event-only keys of a published flow (``flow_event_record``).
OMITTED_FIELDS = "pcaptotal.omitted_fields"
VERDICT_FIELD = "pcaptotal.verdict"


def _py_name(dotted: str) -> str:
    name = dotted.lstrip("@").replace(".", "_")
    return name + "_" if name in {"class", "type", "id"} else name


def _camel(dotted: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in dotted.replace("_", ".").split("."))


def _field_type(f: Field) -> Any:
    scalar = _SCALARS[f.type]
    # Flow documents keep a list per multi-valued field; a transaction record may hold one value.
    listed = f.multi or f.name in _LISTED_WHEN_LINKED
    return scalar | list[scalar] if listed else scalar  # type: ignore[valid-type]


def _object_model(name: str, members: dict[str, Any]) -> type[BaseModel]:
    """A strict model of dotted ``members`` (``indicator.name`` -> ``indicator: {name}``)."""
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, typ in members.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = typ
        else:
            direct[head] = typ
    fields: dict[str, Any] = {
        _py_name(k): (t | None, PydanticField(default=None, alias=k)) for k, t in direct.items()
    }
    for head, sub in nested.items():
        model = _object_model(name + _camel(head), sub)
        fields[_py_name(head)] = (model | None, PydanticField(default=None, alias=head))
    return create_model(name, __config__=_STRICT, **fields)


def _object_array(group: str) -> Any:
    members = {
        f.name[len(group) + 1 :]: _SCALARS[f.type]
        for f in FLOW_FIELDS
        if f.name.startswith(group + ".")
    }
    members.update(_ARRAY_MEMBERS.get(group, {}))
    return list[_object_model(_camel(group), members)]  # type: ignore[misc]


def _spec(typ: Any, f: Field) -> tuple[Any, Any]:
    described = f.description or None
    if f.name in REQUIRED:
        return typ, PydanticField(alias=f.name, description=described)
    return typ, PydanticField(default=None, alias=f.name, description=described)


def _record_fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in FLOW_FIELDS:
        if f.name not in DISCRIMINATORS:
            out[_py_name(f.name)] = _spec(_field_type(f), f)
    stored = {o.name: o for o in STORED_OBJECTS}
    for group in OBJECT_ARRAYS:
        described = stored.get(group) or Field(group, FieldType.OBJECT, multi=True)
        out[_py_name(group)] = _spec(_object_array(group), described)
    for obj in STORED_OBJECTS:
        if obj.name not in OBJECT_ARRAYS:
            out[_py_name(obj.name)] = _spec(_STORED_TYPES[obj.name], obj)
    return out


def _record_model(dataset: str, kind: str, fields: dict[str, Any]) -> type[BaseModel]:
    dataset_type: Any = Literal[dataset]
    kind_type: Any = Literal[kind]
    doc = f"A {dataset} record (event.dataset = {dataset}): the fields of GET /v1/fields."
    return create_model(
        f"{_camel(dataset)}Record",
        __config__=_STRICT,
        __doc__=doc,
        event_dataset=(dataset_type, PydanticField(alias="event.dataset")),
        event_kind=(kind_type, PydanticField(alias="event.kind")),
        **fields,
    )


@cache
def record_models() -> dict[str, type[BaseModel]]:
    """One strict model per ``event.dataset`` (the same objects on every call, so a schema
    that names one twice gets one component)."""
    fields = _record_fields()
    return {ds: _record_model(ds, kind, fields) for ds, kind in DATASET_KINDS.items()}


@cache
def record_union() -> Any:
    """Any record, told apart by ``event.dataset``."""
    return Annotated[
        Union[tuple(record_models().values())],  # noqa: UP007 (a runtime-built union)
        PydanticField(discriminator="event_dataset"),
    ]


@cache
def flow_event_record() -> type[BaseModel]:
    """A flow as ``flows.enriched`` events carry it: the flow record of the HTTP API, with its
    verdict always set and ``pcaptotal.omitted_fields`` when the flow was cut to fit a body."""
    flow = record_models()["flow"]
    return create_model(
        "FlowEventRecord",
        __base__=flow,
        __doc__="A flow record (the FlowRecord of the HTTP API, strict) as flows.enriched "
        "events carry it: its verdict is the batch's, and a flow too large for a message body "
        "on its own travels with its largest fields left out, named in "
        f"{OMITTED_FIELDS} (the search API serves it whole).",
        pcaptotal_verdict=(Verdict, PydanticField(alias=VERDICT_FIELD, description="the verdict")),
        pcaptotal_omitted_fields=(
            list[str] | None,
            PydanticField(
                default=None,
                alias=OMITTED_FIELDS,
                description="fields left out because the flow alone exceeded the body bound",
            ),
        ),
    )


def event_kept_fields() -> frozenset[str]:
    """Fields a published flow keeps even when cut to fit a body: the ones its schema
    requires."""
    return REQUIRED | frozenset(DISCRIMINATORS) | {VERDICT_FIELD}


def declared_as(typ: Callable[[], Any]) -> type[Any]:
    """A JSON object at run time (kept as given), declared in the schema as ``typ()`` (called
    when a schema is generated, so the models are built only then)."""

    class _Declared:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
            return core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())

        @classmethod
        def __get_pydantic_json_schema__(
            cls, schema: CoreSchema, handler: GetJsonSchemaHandler
        ) -> JsonSchemaValue:
            return handler(TypeAdapter(typ()).core_schema)

    return _Declared
