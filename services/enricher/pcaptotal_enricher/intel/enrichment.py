"""The threat-intel ``Enrichment`` step: put each flow's hits on it under ECS ``threat.*``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pcaptotal_enricher.enrich import Enrichment, FlowDoc
from pcaptotal_enricher.intel.indicator_set import IndicatorSet
from pcaptotal_enricher.intel.matching import Hit


def hit_document(hit: Hit) -> dict[str, Any]:
    """One entry of ``threat.enrichments`` (ECS: indicator + matched, plus software/tags)."""
    doc: dict[str, Any] = {
        "indicator": {
            "name": hit.indicator,
            "type": hit.type.value,
            "provider": hit.feed,
            "confidence": hit.confidence.value,
        },
        "matched": {"field": hit.field, "atomic": hit.atomic, "type": "indicator_match_rule"},
    }
    if hit.family:
        doc["software"] = {"name": hit.family}
    if hit.tags:
        doc["tags"] = list(hit.tags)
    return doc


def _merge(flow: FlowDoc, field: str, values: Iterable[str | None]) -> None:
    """Append to a multi-valued field, keeping order and dropping duplicates."""
    current = flow.get(field)
    existing = current if isinstance(current, list) else [] if current is None else [current]
    merged = list(dict.fromkeys([*existing, *(v for v in values if v)]))
    if merged:
        flow[field] = merged


def apply_hits(flow: FlowDoc, hits: list[Hit]) -> FlowDoc:
    """Append the hits to ``threat.enrichments`` (their one home: the indexes and queries read
    ``threat.enrichments.indicator.name`` etc. through the objects) and their tags to ``tags``."""
    _merge(flow, "tags", (tag for h in hits for tag in h.tags))
    enrichments = flow.get("threat.enrichments")
    docs = [hit_document(h) for h in hits]
    flow["threat.enrichments"] = [*enrichments, *docs] if isinstance(enrichments, list) else docs
    return flow


class IntelEnrichment:
    """Matches every flow against the indicator set current at call time (the FeedStore may
    swap it between batches; one batch sees one set)."""

    def __init__(self, current: Callable[[], IndicatorSet]) -> None:
        self._current = current

    def __call__(self, flows: list[FlowDoc]) -> list[FlowDoc]:
        indicators = self._current()
        if len(indicators) == 0:
            return flows
        for flow in flows:
            hits = indicators.match_flow(flow)
            if hits:
                apply_hits(flow, hits)
        return flows


def intel_enrichment(current: Callable[[], IndicatorSet]) -> Enrichment:
    return IntelEnrichment(current)
