"""Wiring of the enricher's parts, shared by the all-in-one runner and the standalone process."""

from __future__ import annotations

from pcaptotal.context import Context

from pcaptotal_enricher.intel import FeedStore
from pcaptotal_enricher.worker import EnricherWorker


async def start_enricher(ctx: Context) -> FeedStore:
    """Load and watch the threat-intel feeds, then start consuming ``capture.parsed``."""
    store = FeedStore.from_settings(ctx.settings)
    await store.start()
    await EnricherWorker(ctx, steps=[store.enrichment()]).start()
    return store
