"""Threat-intel feeds: loaders for the formats users have, a fast IndicatorSet, the flow
matching ``Enrichment`` step, the watched feed directory and its admin API.

Composition root::

    store = FeedStore.from_settings(settings)      # PCAPTOTAL_INTEL_DIR, _INTEL_MAX_*
    await store.start()                            # initial load + directory watch
    app.state.intel = store
    app.include_router(create_intel_router())
    EnricherWorker(ctx, steps=[store.enrichment(), ...])
"""

from pcaptotal_enricher.intel.api import create_intel_router
from pcaptotal_enricher.intel.enrichment import IntelEnrichment, apply_hits, intel_enrichment
from pcaptotal_enricher.intel.indicator_set import IndicatorSet, build_indicator_set
from pcaptotal_enricher.intel.load import detect_format, iter_feed, read_feed
from pcaptotal_enricher.intel.matching import Hit, match_flow
from pcaptotal_enricher.intel.model import (
    Confidence,
    FeedStats,
    Indicator,
    IndicatorMeta,
    IndicatorType,
)
from pcaptotal_enricher.intel.store import FeedStore

__all__ = [
    "Confidence",
    "FeedStats",
    "FeedStore",
    "Hit",
    "Indicator",
    "IndicatorMeta",
    "IndicatorSet",
    "IndicatorType",
    "IntelEnrichment",
    "apply_hits",
    "build_indicator_set",
    "create_intel_router",
    "detect_format",
    "intel_enrichment",
    "iter_feed",
    "match_flow",
    "read_feed",
]
