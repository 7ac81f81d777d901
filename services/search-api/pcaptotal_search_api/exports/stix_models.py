"""The STIX 2.1 objects a capture's bundle holds (``stix.bundle``), as OpenAPI declares them.

Only the properties ``stix.bundle`` sets; strict, so a property added there without a line
here fails the schema tests rather than reaching clients undeclared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _StixObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec_version: Literal["2.1"]
    id: str = Field(description="<type>--<uuid5>, deterministic")
    created: datetime
    modified: datetime


class StixIdentity(_StixObject):
    type: Literal["identity"]
    name: str
    identity_class: str
    description: str | None = None


class StixIndicator(_StixObject):
    type: Literal["indicator"]
    created_by_ref: str
    name: str
    description: str
    pattern: str = Field(description="a STIX pattern, e.g. [ipv4-addr:value = '192.0.2.1']")
    pattern_type: Literal["stix"]
    pattern_version: str = Field(description="the STIX pattern language version (2.1)")
    valid_from: datetime
    indicator_types: list[str]
    labels: list[str]
    confidence: int = Field(ge=0, le=100)


class StixMalware(_StixObject):
    type: Literal["malware"]
    created_by_ref: str
    name: str
    is_family: bool


class StixRelationship(_StixObject):
    type: Literal["relationship"]
    created_by_ref: str
    relationship_type: Literal["indicates"]
    source_ref: str
    target_ref: str


StixObject = Annotated[
    StixIdentity | StixIndicator | StixMalware | StixRelationship, Field(discriminator="type")
]


class StixBundle(BaseModel):
    """A STIX 2.1 bundle: PcapTotal's identity, one indicator per observable, the malware
    families feeds named and the relationships between them."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["bundle"]
    id: str
    objects: list[StixObject]
