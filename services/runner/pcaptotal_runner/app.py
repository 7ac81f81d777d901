"""The composition root: the only code that knows every service.

``create_app`` wires ingest, parser, enricher and search-api into one FastAPI app on the
adapters named by Settings (the embedded default: in-process bus, local blobs, tantivy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from pcaptotal.access.hosts import install_trusted_hosts
from pcaptotal.access.http import install_access, start_access
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.health import create_health_router
from pcaptotal.logs import TraceMiddleware
from pcaptotal.metrics import instrument_http
from pcaptotal.reconcile import Reconciler
from pcaptotal.settings import Settings
from pcaptotal.tmpfiles import clean_stale_tmp
from pcaptotal.web import install_problem_details
from pcaptotal_enricher.app import start_enricher
from pcaptotal_enricher.intel import create_intel_router
from pcaptotal_ingest import create_compat_upload_router
from pcaptotal_ingest import create_router as ingest_router
from pcaptotal_parser.worker import ParserWorker
from pcaptotal_search_api.compat import create_compat_router
from pcaptotal_search_api.routes import create_router as search_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, workers: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_tmp(settings.tmp_dir)
        base = make_context(settings)
        await start_context(base)
        # Requests wait out a short blip, then answer 503; the pipeline waits for minutes.
        app.state.ctx = base.with_retry(settings.request_retry_s)
        # Keys, the first admin key; request reads scoped to the caller's visibility.
        await start_access(app, settings, embedded=True)
        ctx = base.with_retry(settings.worker_retry_s)
        reconciler = Reconciler(ctx)
        if workers:
            await ParserWorker(ctx).start()
            app.state.intel = await start_enricher(ctx)
            # The in-process bus kept nothing: re-drive what the last run left unfinished.
            await reconciler.start(interrupted=True)
        log.info("pcaptotal ready", data_dir=str(settings.data_dir.resolve()))
        try:
            yield
        finally:
            # Graceful: stop taking work, let in-flight stages finish, then close adapters.
            await reconciler.stop()
            await base.bus.stop_consuming()
            if workers:
                await app.state.intel.stop()
            await close_context(base)

    app = FastAPI(
        title="PcapTotal",
        version="0.1.0",
        description="Upload packet captures; search their flows, DNS, HTTP and TLS facts.",
        lifespan=lifespan,
    )
    install_access(app)  # before the routers: every route gets the role check
    # Same observability as each service on its own: HTTP metrics and a trace id per request.
    instrument_http(app, "runner")
    app.add_middleware(TraceMiddleware)
    install_problem_details(app)
    # Reads first: routes are matched in order, and reads are most of the requests.
    app.include_router(search_router())
    app.include_router(ingest_router())
    # PacketTotal's API shapes (/compat/packettotal/v1): uploads are ingest's, reads search's
    app.include_router(create_compat_upload_router())
    app.include_router(create_compat_router())
    app.include_router(create_intel_router())
    app.include_router(create_health_router())
    install_trusted_hosts(app, settings)  # last added: outermost, runs first
    return app
