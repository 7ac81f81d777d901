"""``python -m pcaptotal_ingest``: the upload API on its own, with the reconciler (outbox
relay and stuck-capture sweep)."""

from __future__ import annotations

from fastapi import FastAPI
from pcaptotal.context import Context
from pcaptotal.logs import configure_logging
from pcaptotal.reconcile import Reconciler
from pcaptotal.service import create_http_app, serve_http
from pcaptotal.settings import Settings

from pcaptotal_ingest import create_compat_upload_router, create_router


def build_app(settings: Settings) -> FastAPI:
    app: FastAPI

    async def on_start(ctx: Context) -> None:
        app.state.reconciler = Reconciler(ctx)
        await app.state.reconciler.start()

    async def on_stop(ctx: Context) -> None:
        await app.state.reconciler.stop()

    app = create_http_app(
        "PcapTotal ingest",
        settings,
        [create_router(), create_compat_upload_router()],
        on_start=on_start,
        on_stop=on_stop,
    )
    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
