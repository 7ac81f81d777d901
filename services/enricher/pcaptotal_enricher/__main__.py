"""``python -m pcaptotal_enricher``: the enricher worker on its own (a competing consumer),
with its feed admin API, /healthz and /readyz on ``PCAPTOTAL_HTTP_PORT``.

Replicas share feeds through ``PCAPTOTAL_INTEL_DIR`` (a shared volume in Kubernetes).
"""

from __future__ import annotations

from fastapi import FastAPI
from pcaptotal.context import Context
from pcaptotal.logs import configure_logging
from pcaptotal.service import create_http_app, serve_http
from pcaptotal.settings import Settings

from pcaptotal_enricher.app import start_enricher
from pcaptotal_enricher.intel import create_intel_router


def build_app(settings: Settings) -> FastAPI:
    app: FastAPI

    async def on_start(ctx: Context) -> None:
        app.state.intel = await start_enricher(ctx)

    async def on_stop(ctx: Context) -> None:
        await app.state.intel.stop()

    app = create_http_app(
        "PcapTotal enricher",
        settings,
        [create_intel_router()],
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
