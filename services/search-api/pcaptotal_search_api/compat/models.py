"""The PacketTotal-shaped answers of the compat routes (what each field maps to is in the
README, "PacketTotal API compatibility")."""

from __future__ import annotations

from typing import Any

from pcaptotal.access.usage import QuotaView
from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    # PacketTotal clients read the fields they know and ignore the rest.
    model_config = ConfigDict(extra="allow")


class PcapMetadata(_Open):
    md5: str | None
    sha256: str | None
    capture_id: str | None = Field(description="the PcapTotal id (/v1/captures/{id})")
    name: str | None
    file_size: int | None
    visibility: str
    status: str | None
    submitted: str | None
    analysis_started: str | None
    analysis_completed: str | None
    sources: list[str]


class AnalysisSummary(_Open):
    verdict: str | None
    score: float | None = Field(description="0-100")
    reasons: list[str]
    tags: list[str] = Field(description="malware families named by feeds")
    signature_count: int = Field(description="heuristic findings and intel hits")
    signatures: list[dict[str, Any]] = Field(description="per finding name: severity, count")
    summary: dict[str, Any] = Field(description="packets, bytes, flows, DNS names, HTTP, SNIs")
    warnings: list[str]
    error: str | None


class PcapInfo(_Open):
    pcap_metadata: PcapMetadata
    analysis_summary: AnalysisSummary


class PcapAnalysis(PcapInfo):
    analysis: dict[str, Any] = Field(
        description="connections, dns, http, tls, files and signatures (findings) as "
        "GET /v1/captures/{id}/analysis reports them"
    )


class MatchedTerm(_Open):
    field: str
    value: str | int | float | bool
    pcaps_with_value: int
    weight: float


class SimilarPcap(_Open):
    md5: str | None
    capture_id: str
    name: str | None
    verdict: str | None
    score: float = Field(description="0..1: the share of this pcap's compared weight")
    matched_terms: list[MatchedTerm]


class SimilarGraph(_Open):
    pcap_metadata: PcapMetadata
    intensity: str
    weighting_mode: str
    prioritize_uncommon_fields: bool
    pcaps_in_index: int
    similar_pcaps: list[SimilarPcap]


class SearchResults(_Open):
    query: str
    total: int = Field(description="records matching")
    returned: int
    results: list[dict[str, Any]] = Field(description="records, each with its pcap's md5")


class DeepSearchCreated(_Open):
    search_id: str
    status: str
    results_url: str


class DeepSearchResults(_Open):
    search_id: str
    query: str
    status: str = Field(description="running, done or failed")
    started: str
    finished: str | None = None
    error: str | None = None
    total: int | None = None
    truncated: bool = False
    results: list[dict[str, Any]] = Field(default_factory=list)


class UploadUsage(_Open):
    count: int
    bytes: int


class Usage(_Open):
    key_id: str | None
    owner: str
    role: str
    day: str = Field(description="the UTC day counted")
    requests_made: int = Field(description="keyed requests today, over every service")
    uploads: UploadUsage
    quota: QuotaView
    resets_at: str = Field(description="when the counters reset: the next 00:00 UTC")
