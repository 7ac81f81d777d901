"""Response bodies of the per-capture views (``views``)."""

from __future__ import annotations

from typing import Any

from pcaptotal.captures import Status
from pcaptotal.messages import Verdict
from pydantic import BaseModel, ConfigDict, Field, create_model

from pcaptotal_search_api.record_models import RECORD_MODELS, RecordDoc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordPage(_Strict):
    """One page of a capture's records, in ``sort`` order then ``event.id``."""

    total: int = Field(description="records matching, over every page")
    hits: list[RecordDoc] = Field(
        description="records (ECS documents; the fields of GET /v1/fields), of any kind"
    )
    cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


def _page(dataset: str) -> type[RecordPage]:
    """The page of one kind. Its hits are declared as the record model itself (the routes
    send them as stored, ``JSONResponse``): a model behind ``declared_as`` alone would be
    inlined in the OpenAPI document, a second copy of the component."""
    model = RECORD_MODELS[dataset]
    hits: Any = list[model]  # type: ignore[valid-type]
    return create_model(
        model.__name__.removesuffix("Record") + "Page",
        __base__=RecordPage,
        __doc__=f"One page of a capture's {dataset} records, in ``sort`` order then ``event.id``.",
        hits=(hits, Field(description=f"{dataset} records (the fields of GET /v1/fields)")),
    )


# event.dataset -> the page of records of that kind (the views of one kind answer these)
PAGES: dict[str, type[RecordPage]] = {ds: _page(ds) for ds in RECORD_MODELS}


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
    status: Status
    verdict: Verdict | None = None
    risk_score: float | None = Field(default=None, ge=0, le=100, description="0-100")
    reasons: list[str] = Field(default_factory=list)
    flows: FlowAnalysis
    dns: DnsAnalysis
    http: HttpAnalysis
    tls: TlsAnalysis
    files: FileAnalysis
    findings: FindingAnalysis
