"""``python -m pcaptotal_search_api``: the public read gateway on its own."""

from __future__ import annotations

from pcaptotal.logs import configure_logging
from pcaptotal.service import create_http_app, serve_http
from pcaptotal.settings import Settings

from pcaptotal_search_api.compat import create_compat_router
from pcaptotal_search_api.routes import create_router


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    # Reads need only the index and blob store: a bus outage must not take search offline.
    app = create_http_app(
        "PcapTotal search API",
        settings,
        [create_router(), create_compat_router()],
        ready_checks=("index", "blobstore"),
    )
    serve_http(app, settings)


if __name__ == "__main__":
    main()
