"""The composition root: the only code that knows every service.

``create_app`` wires ingest, parser, enricher and search-api into one FastAPI app on the
adapters named by Settings (the embedded default: in-process bus, local blobs, tantivy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.captures import UNFINISHED
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.health import create_health_router
from pcaptotal.keys import capture_key
from pcaptotal.messages import CaptureStored
from pcaptotal.settings import Settings
from pcaptotal.web import install_problem_details
from pcaptotal_enricher.app import start_enricher
from pcaptotal_enricher.intel import create_intel_router
from pcaptotal_ingest import create_router as ingest_router
from pcaptotal_parser.worker import ParserWorker
from pcaptotal_search_api.routes import create_router as search_router

log = structlog.get_logger(__name__)


async def resume_unfinished(ctx: Context) -> int:
    """Re-queue captures a previous run left half-done (the in-process bus keeps nothing)."""
    resumed = 0
    docs = await ctx.index.find_captures([s.value for s in UNFINISHED], limit=10_000)
    for doc in docs:
        cid = doc["id"]
        key = capture_key(cid)
        info = await ctx.blobs.stat(key)
        if info is None:
            await fail_capture(
                ctx, cid, "resume", "capture bytes are missing from the blob store; upload it again"
            )
            continue
        await ctx.bus.publish(
            CaptureStored(
                capture_id=cid, blob_key=key, size=info.size, filename=doc.get("filename")
            )
        )
        resumed += 1
    return resumed


def create_app(settings: Settings, *, workers: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        ctx = make_context(settings)
        await start_context(ctx)
        app.state.ctx = ctx
        if workers:
            await ParserWorker(ctx).start()
            app.state.intel = await start_enricher(ctx)
            resumed = await resume_unfinished(ctx)
            if resumed:
                log.info("resumed unfinished captures", count=resumed)
        log.info("pcaptotal ready", data_dir=str(settings.data_dir.resolve()))
        try:
            yield
        finally:
            # Graceful: stop taking work, let in-flight stages finish, then close adapters.
            await ctx.bus.stop_consuming()
            if workers:
                await app.state.intel.stop()
            await close_context(ctx)

    app = FastAPI(
        title="PcapTotal",
        version="0.1.0",
        description="Upload packet captures; search their flows, DNS, HTTP and TLS facts.",
        lifespan=lifespan,
    )
    install_problem_details(app)
    app.include_router(ingest_router())
    app.include_router(search_router())
    app.include_router(create_intel_router())
    app.include_router(create_health_router())
    return app
