"""Response bodies of the public read API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pcaptotal_search_api.record_models import RecordDoc


class SearchResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int = Field(description="records matching the query")
    hits: list[RecordDoc] = Field(
        description="records of every kind (event.dataset tells which), or of the kinds "
        "dataset or the query names; oldest @timestamp first, ties by event.id"
    )
    next_cursor: str | None = Field(
        description="pass back as cursor for the hits after this page; null on the last page"
    )


class FieldView(BaseModel):
    name: str
    type: str
    multi: bool
    description: str


class FieldList(BaseModel):
    fields: list[FieldView]
