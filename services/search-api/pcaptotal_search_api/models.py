"""Response bodies of the public read API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class SearchResponse(BaseModel):
    total: int
    hits: list[dict[str, Any]]


class FieldView(BaseModel):
    name: str
    type: str
    multi: bool
    description: str


class FieldList(BaseModel):
    fields: list[FieldView]
