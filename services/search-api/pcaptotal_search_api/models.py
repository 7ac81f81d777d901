"""Response bodies of the public read API."""

from __future__ import annotations

from typing import Any

from pcaptotal.messages import CaptureSummary
from pydantic import BaseModel, ConfigDict, Field


class CaptureView(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: str = Field(description="stored | parsing | enriching | done | failed")
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    summary: CaptureSummary = Field(default_factory=CaptureSummary)


class CaptureList(BaseModel):
    captures: list[CaptureView]


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
