"""Process entry points shared by every service when it runs on its own (containers, k8s).

Workers: start adapters, subscribe, and on SIGTERM/SIGINT stop consuming, let in-flight work
finish, then close. HTTP services: one FastAPI app whose lifespan owns the Context.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI

from pcaptotal.access.hosts import install_trusted_hosts
from pcaptotal.access.http import install_access, start_access
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.context import Context
from pcaptotal.health import create_health_router
from pcaptotal.logs import TraceMiddleware, configure_logging
from pcaptotal.memory import tune_malloc
from pcaptotal.metrics import instrument_http
from pcaptotal.settings import Settings
from pcaptotal.tmpfiles import clean_stale_tmp
from pcaptotal.web import install_problem_details

log = structlog.get_logger(__name__)

StartWorker = Callable[[Context], Awaitable[None]]

# uvloop's event loop and httptools' HTTP parser (both dependencies), named rather than left to
# uvicorn's "auto", which falls back to asyncio and h11 unnoticed when they are missing: on the
# bench's capture GETs the pair cost ~0.55-0.70 ms of runner CPU per request vs ~0.79-0.95 ms.
LOOP = "uvloop"
HTTP = "httptools"


async def _run_worker(name: str, settings: Settings, start: StartWorker) -> None:
    clean_stale_tmp(settings.tmp_dir)
    base = make_context(settings)
    await start_context(base)
    ctx = base.with_retry(settings.worker_retry_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # /healthz, /readyz (broker, blob store, index) and /metrics for probes and Prometheus.
    http = _worker_http_server(name, settings, ctx)
    http_task = asyncio.create_task(_serve_http(http, name, settings))
    try:
        await start(ctx)
        log.info("worker started", service=name)
        await stop.wait()
        log.info("worker stopping: finishing in-flight work", service=name)
        await ctx.bus.stop_consuming()
    finally:
        http.should_exit = True
        await http_task
        await close_context(base)
    log.info("worker stopped", service=name)


async def _serve_http(server: uvicorn.Server, name: str, settings: Settings) -> None:
    """The probe/metrics server; if its port is taken the worker keeps working without it
    (uvicorn exits the process on a failed bind; a probe then reports the pod unhealthy)."""
    try:
        await server.serve()
    except (SystemExit, OSError) as exc:
        log.error(
            "worker HTTP server not running: /healthz, /readyz and /metrics unavailable",
            service=name,
            port=settings.http_port,
            error=repr(exc),
        )


class _NoSignalServer(uvicorn.Server):
    """The worker owns SIGTERM/SIGINT (drain first, then stop this server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _worker_http_server(name: str, settings: Settings, ctx: Context) -> uvicorn.Server:
    app = FastAPI(title=f"PcapTotal {name}", version="0.1.0")
    app.state.ctx = ctx
    app.include_router(create_health_router(("index", "blobstore", "bus")))
    instrument_http(app, name)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # configure_logging's JSON handler
        access_log=False,
        lifespan="off",
        loop=LOOP,
        http=HTTP,
    )
    return _NoSignalServer(config)


def run_worker(name: str, start: StartWorker) -> None:
    tune_malloc()
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(_run_worker(name, settings, start))


def create_http_app(
    title: str,
    settings: Settings,
    routers: list[APIRouter],
    *,
    on_start: StartWorker | None = None,
    on_stop: StartWorker | None = None,
    ready_checks: tuple[str, ...] = ("index", "blobstore", "bus"),
    service: str | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clean_stale_tmp(settings.tmp_dir)
        base = make_context(settings)
        await start_context(base)
        # Requests wait out a short blip, then answer 503; background work waits for minutes.
        app.state.ctx = base.with_retry(settings.request_retry_s)
        await start_access(app, settings, embedded=False)  # keys; reads scoped to the caller
        worker_ctx = base.with_retry(settings.worker_retry_s)
        if on_start is not None:
            await on_start(worker_ctx)
        try:
            yield
        finally:
            await base.bus.stop_consuming()
            if on_stop is not None:
                await on_stop(worker_ctx)
            await close_context(base)

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    install_access(app)  # before the routers: every route gets the role check
    instrument_http(app, service or title.removeprefix("PcapTotal ").replace(" ", "-"))
    app.add_middleware(TraceMiddleware)
    install_problem_details(app)
    for router in [*routers, create_health_router(ready_checks)]:
        app.include_router(router)
    install_trusted_hosts(app, settings)  # last added: outermost, runs first
    return app


def serve_http(app: FastAPI, settings: Settings) -> None:
    tune_malloc()  # before the server's and the adapters' threads start
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # configure_logging's JSON handler, not uvicorn's text one
        access_log=False,  # one line per request is what the HTTP metrics are for
        timeout_graceful_shutdown=30,
        loop=LOOP,
        http=HTTP,
    )
