"""Response bodies of the public read API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pcaptotal_search_api.record_models import RecordDoc


class SearchResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int = Field(description="records matching the query")
    hits: list[RecordDoc] = Field(
        description="flow records, or the kinds the query names (event.dataset:...)"
    )


class FieldView(BaseModel):
    name: str
    type: str
    multi: bool
    description: str


class FieldList(BaseModel):
    fields: list[FieldView]
