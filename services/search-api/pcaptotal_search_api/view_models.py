"""Response bodies of the per-capture views (``views``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordPage(_Strict):
    """One page of a capture's records, in ``sort`` order then ``event.id``."""

    total: int = Field(description="records matching, over every page")
    hits: list[dict[str, Any]] = Field(
        description="records (ECS documents; the fields of GET /v1/fields)"
    )
    cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


class BucketView(_Strict):
    key: str | int | float | bool
    count: int = Field(description="records with this value")
    sum: float | None = Field(default=None, description="the summed field, where one is")


class FlowAnalysis(_Strict):
    count: int
    top_talkers_by_bytes: list[BucketView] = Field(description="source.ip by network.bytes")
    top_talkers_by_flows: list[BucketView] = Field(description="source.ip by flows")
    top_destinations_by_bytes: list[BucketView] = Field(description="destination.ip by bytes")
    transports: list[BucketView]
    protocols: list[BucketView]
    destination_ports: list[BucketView]


class DnsAnalysis(_Strict):
    count: int = Field(description="dns records (query/response pairs)")
    top_names: list[BucketView]
    query_types: list[BucketView]
    response_codes: list[BucketView]
    nxdomain_ratio: float | None = Field(description="NXDOMAIN share of answered queries")


class HttpAnalysis(_Strict):
    count: int = Field(description="http records (request/response pairs)")
    hosts: list[BucketView]
    methods: list[BucketView]
    status_codes: list[BucketView]
    user_agents: list[BucketView]
    content_types: list[BucketView]


class TlsAnalysis(_Strict):
    count: int = Field(description="tls records (handshakes)")
    server_names: list[BucketView]
    versions: list[BucketView]
    ja3: list[BucketView]
    ja4: list[BucketView]
    issuers: list[BucketView]


class FileAnalysis(_Strict):
    count: int = Field(description="distinct carved files")
    types: list[BucketView]


class FindingAnalysis(_Strict):
    count: int = Field(description="finding records: heuristic findings and intel hits")
    names: list[BucketView]
    severities: list[BucketView]
    sources: list[BucketView]
    intel_providers: list[BucketView]


class AnalysisView(_Strict):
    """The capture report: aggregations over its records, and its verdict."""

    capture_id: str
    status: str
    verdict: str | None = None
    score: float | None = None
    reasons: list[str] = Field(default_factory=list)
    flows: FlowAnalysis
    dns: DnsAnalysis
    http: HttpAnalysis
    tls: TlsAnalysis
    files: FileAnalysis
    findings: FindingAnalysis
