"""``python -m pcaptotal_runner`` / ``pcaptotal``: all four services in one process."""

from __future__ import annotations

import uvicorn
from pcaptotal.logs import configure_logging
from pcaptotal.settings import Settings

from pcaptotal_runner.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
