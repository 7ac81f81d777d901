"""What an uploader says about a capture: tags, source, description and the targeted sector.

Stored on the capture document under ``context`` (the document's own ``tags`` are the malware
families feeds named; these are the uploader's). The sector comes from a fixed taxonomy, the
STIX 2.1 industry-sector open vocabulary (``industry-sector-ov``), so statistics by sector
group the same words.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CONTEXT_FIELD = "context"
MAX_TAGS = 50


class Sector(StrEnum):
    """STIX 2.1 ``industry-sector-ov``."""

    AGRICULTURE = "agriculture"
    AEROSPACE = "aerospace"
    AUTOMOTIVE = "automotive"
    CHEMICAL = "chemical"
    COMMERCIAL = "commercial"
    COMMUNICATIONS = "communications"
    CONSTRUCTION = "construction"
    DEFENSE = "defense"
    EDUCATION = "education"
    ENERGY = "energy"
    ENTERTAINMENT = "entertainment"
    FINANCIAL_SERVICES = "financial-services"
    GOVERNMENT = "government"
    GOVERNMENT_EMERGENCY_SERVICES = "government-emergency-services"
    GOVERNMENT_LOCAL = "government-local"
    GOVERNMENT_NATIONAL = "government-national"
    GOVERNMENT_PUBLIC_SERVICES = "government-public-services"
    GOVERNMENT_REGIONAL = "government-regional"
    HEALTHCARE = "healthcare"
    HOSPITALITY_LEISURE = "hospitality-leisure"
    INFRASTRUCTURE = "infrastructure"
    INFRASTRUCTURE_DAMS = "infrastructure-dams"
    INFRASTRUCTURE_NUCLEAR = "infrastructure-nuclear"
    INFRASTRUCTURE_WATER = "infrastructure-water"
    INSURANCE = "insurance"
    MANUFACTURING = "manufacturing"
    MINING = "mining"
    NON_PROFIT = "non-profit"
    PHARMACEUTICALS = "pharmaceuticals"
    RETAIL = "retail"
    TECHNOLOGY = "technology"
    TELECOMMUNICATIONS = "telecommunications"
    TRANSPORTATION = "transportation"
    UTILITIES = "utilities"


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=4000)]


class CaptureContext(BaseModel):
    """The context as stored and shown; every field optional."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    source: Source | None = Field(default=None, description="where the capture comes from")
    description: Description | None = None
    sector: Sector | None = Field(default=None, description="targeted sector (STIX 2.1)")


class ContextPatch(BaseModel):
    """An edit: the fields given replace the stored ones (null clears one)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    source: Source | None = None
    description: Description | None = None
    sector: Sector | None = None


def merged(doc: dict[str, Any], patch: ContextPatch) -> CaptureContext:
    """The document's context with ``patch`` applied (only the fields it sets)."""
    current = CaptureContext.model_validate(doc.get(CONTEXT_FIELD) or {})
    changes = patch.model_dump(exclude_unset=True)
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    return current.model_copy(update=changes)


def stored(context: CaptureContext) -> dict[str, Any]:
    return context.model_dump(mode="json")
