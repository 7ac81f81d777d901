"""The records of a capture as the API serves them: one model per ``event.dataset``, derived from
the field schema (``pcaptotal.fields``), so a client generated from the OpenAPI document reads
every record field typed.

Built from ``FLOW_FIELDS`` at import: a field added there appears here (and in the OpenAPI
document) with no edit. Every model forbids unknown keys, so a document that carries a field
the schema does not declare fails the strict schema tests (``tests/e2e/test_capture_views.py``,
the schemathesis run) instead of reaching clients untyped.

Records are served as the index stored them (dicts): the models declare their shape in the
OpenAPI document (``RecordDoc``, ``view_models.PAGES``) and are not run over every hit of every
answer, which would cost a validation of up to 10,000 documents per search;
``tests/integration/test_record_schema.py`` runs them over every record of the shared captures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pcaptotal.fields import DATASET_KINDS, FLOW_FIELDS, STORED_OBJECTS, Field, FieldType
from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, TypeAdapter, create_model
from pydantic import Field as PydanticField
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from pcaptotal_search_api.capture_view import EvidenceValue, FindingView

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
        if f.name not in ("event.dataset", "event.kind"):
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


_FIELDS = _record_fields()
RECORD_MODELS: dict[str, type[BaseModel]] = {
    ds: _record_model(ds, kind, _FIELDS) for ds, kind in DATASET_KINDS.items()
}
# Any record, told apart by ``event.dataset``.
Record: Any = Annotated[
    Union[tuple(RECORD_MODELS.values())],  # noqa: UP007 (a runtime-built union)
    PydanticField(discriminator="event_dataset"),
]


def declared_as(typ: Any) -> type[Any]:
    """A JSON object at run time (served as stored), declared in the schema as ``typ``."""
    target = TypeAdapter(typ)

    class _Declared:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
            return core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())

        @classmethod
        def __get_pydantic_json_schema__(
            cls, schema: CoreSchema, handler: GetJsonSchemaHandler
        ) -> JsonSchemaValue:
            return handler(target.core_schema)

    return _Declared


# A record of any kind: a plain dict to the code, the union to the OpenAPI document. (A single
# model behind ``declared_as`` is inlined by FastAPI, a second copy of the component: the pages
# of one kind, ``view_models.PAGES``, declare the model itself and their route answers JSON.)
RecordDoc = Annotated[dict[str, Any], declared_as(Record)]
